"""FVD against the reference package itself: cd-fvd 0.1.1 (``pip install '.[refs]'``; skipped without it).

Random weights saved in the formats the references load (an I3D state dict and a StyleGAN-V-style
TorchScript archive; a VideoMAE-v2 checkpoint under ``module``), clips of blocky noise whose frames all
differ (random networks give near-constant features on smooth clips), square and non-square, more than
16 frames. A random I3D's BatchNorm statistics are set from a batch of such clips, or its features barely
vary. Tolerances are the issue's: features ≤ 1e-5 relative, FVD ≤ 1e-6 relative.

cd-fvd builds only ViT-g for VideoMAE (1 B parameters, minutes a clip on two cores): the VideoMAE test
swaps cd-fvd's ``vit_giant_patch14_224`` for cd-fvd's own ``VisionTransformer`` at width 128, depth 2
(patch 14, 224², 16 frames, ViT-g's MLP ratio and norms); everything else is cd-fvd's code path:
checkpoint loading from ``ckpt_path``, preprocessing, features, statistics and the distance.
"""

from __future__ import annotations

import functools
import warnings

import numpy as np
import pytest
import torch

cdfvd_fvd = pytest.importorskip("cdfvd.fvd")

from eval.fvd import FrechetVideoDistance  # noqa: E402
from eval.i3d import InceptionI3d, preprocess_i3d_cdfvd, save_torchscript  # noqa: E402

pytestmark = pytest.mark.slow  # every test loads cd-fvd and runs I3D or VideoMAE on CPU

FEATURE_RTOL = 1e-5
FVD_RTOL = 1e-6


def noise_clips(count: int, frames: int, height: int, width: int, seed: int, block: int = 4) -> np.ndarray:
    """uint8 ``[count, frames, height, width, 3]`` of random ``block``-pixel squares, new in every frame."""
    rng = np.random.default_rng(seed)
    coarse = rng.integers(0, 256, (count, frames, -(-height // block), -(-width // block), 3), dtype=np.uint8)
    return np.ascontiguousarray(coarse.repeat(block, 2).repeat(block, 3)[:, :, :height, :width])


def relative(ours, theirs) -> float:
    ours, theirs = np.asarray(ours, dtype=np.float64), np.asarray(theirs, dtype=np.float64)
    return float(np.linalg.norm(ours - theirs) / np.linalg.norm(theirs))


def cdfvd_run(model: str, path, real: np.ndarray, fake: np.ndarray) -> tuple[np.ndarray, np.ndarray, float]:
    """cd-fvd's features of both sets and its FVD (``cdfvd(...).compute_fvd``, CPU)."""
    evaluator = cdfvd_fvd.cdfvd(model, ckpt_path=str(path), device="cpu", compute_feats=True)
    value = float(evaluator.compute_fvd(real, fake))
    return evaluator.real_stats.get_all(), evaluator.fake_stats.get_all(), value


def ours_run(spec: str, protocol: str, real: np.ndarray, fake: np.ndarray) -> tuple[np.ndarray, np.ndarray, float]:
    metric = FrechetVideoDistance(spec, protocol=protocol, keep_features=True)
    metric.update(real, real=True)
    metric.update(fake, real=False)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # fewer than 256 clips
        value = float(metric.compute()["fvd"])
    return torch.cat(metric.real_features).numpy(), torch.cat(metric.fake_features).numpy(), value


def assert_agree(ours, theirs, what: str) -> None:
    real_gap, fake_gap = relative(ours[0], theirs[0]), relative(ours[1], theirs[1])
    fvd_gap = abs(ours[2] - theirs[2]) / theirs[2]
    assert np.asarray(theirs[0]).std(0).mean() > 1e-3, f"{what}: near-constant reference features, the test would prove nothing"
    assert real_gap <= FEATURE_RTOL and fake_gap <= FEATURE_RTOL, (what, real_gap, fake_gap)
    assert theirs[2] > 0 and fvd_gap <= FVD_RTOL, (what, ours[2], theirs[2], fvd_gap)


@pytest.fixture(scope="module")
def i3d_checkpoints(tmp_path_factory):
    """A random I3D with BatchNorm statistics from a batch of noise clips: as a state dict (cd-fvd's and
    VideoGPT's i3d_pretrained_400.pt format) and as a StyleGAN-V-style TorchScript archive."""
    folder = tmp_path_factory.mktemp("i3d-ref")
    torch.manual_seed(0)
    model = InceptionI3d()
    for module in model.modules():
        if isinstance(module, torch.nn.BatchNorm3d):
            module.reset_running_stats()
            module.momentum = None  # a cumulative average: one batch sets the statistics
    model.train()
    with torch.no_grad():
        model(preprocess_i3d_cdfvd(torch.from_numpy(noise_clips(2, 16, 32, 32, seed=99))))
    model.eval()
    torch.save(model.state_dict(), folder / "i3d_pretrained_400.pt")
    save_torchscript(model, folder / "i3d_torchscript.pt")
    return folder


@pytest.mark.slow
def test_i3d_features_and_fvd_under_cd_fvd_equal_cdfvd(i3d_checkpoints):
    """Every frame (18 and 20, not 16), a square and a non-square set, ÷N, cd-fvd's sqrtm distance."""
    path = i3d_checkpoints / "i3d_pretrained_400.pt"
    real, fake = noise_clips(3, 18, 32, 32, seed=1), noise_clips(3, 20, 24, 40, seed=2, block=8)
    theirs = cdfvd_run("i3d", path, real, fake)
    assert_agree(ours_run(f"i3d:{path}", "cd-fvd", real, fake), theirs, "i3d cd-fvd")


def stylegan_v_reference(archive, real: np.ndarray, fake: np.ndarray, frames: int, subsample: int = 1):
    """StyleGAN-V's ``compute_fvd`` on clips already in memory, from the parts cd-fvd ships of it: the frames
    its dataset loads (``arange(0, frames·subsample, subsample)`` from the first, as for generated sets), the
    detector call ``(uint8 [b, c, t, h, w] contiguous, rescale=True, resize=True, return_features=True)``,
    ``FeatureStats`` (cd-fvd's copy of StyleGAN-V's, ÷N, at most 2048 items) and the sqrtm distance."""
    from cdfvd.utils.metric_utils import FeatureStats

    detector = torch.jit.load(str(archive)).eval()
    index = np.arange(0, frames * subsample, subsample)
    sets = []
    for clips in (real, fake):
        stats = FeatureStats(capture_all=True, capture_mean_cov=True, max_items=2048)
        images = torch.from_numpy(clips[:, index]).permute(0, 4, 1, 2, 3).contiguous()
        with torch.no_grad():
            stats.append_torch(detector(images, rescale=True, resize=True, return_features=True), num_gpus=1, rank=0)
        sets.append(stats)
    value = float(cdfvd_fvd.cdfvd.compute_fvd_from_stats(None, fake_stats=sets[1], real_stats=sets[0]))
    return sets[0].get_all(), sets[1].get_all(), value


@pytest.mark.slow
def test_stylegan_v_presets_equal_stylegan_v_on_its_archive_format(i3d_checkpoints):
    """fvd2048_16f and fvd2048_128f_subsample8f (on 130-frame clips: every 8th of the first 128), with the
    TorchScript archive and with the state dict, against StyleGAN-V's pipeline above. cd-fvd on the same 16
    frames is ~1e-5 off in features (it resizes [0, 255] and rescales after, StyleGAN-V's detector rescales
    first, and float rounding differs): the two references are not interchangeable at these tolerances."""
    archive, state = i3d_checkpoints / "i3d_torchscript.pt", i3d_checkpoints / "i3d_pretrained_400.pt"
    real, fake = noise_clips(2, 16, 32, 32, seed=3), noise_clips(2, 16, 24, 40, seed=4, block=8)
    theirs = stylegan_v_reference(archive, real, fake, 16)
    for path in (archive, state):
        assert_agree(ours_run(f"i3d:{path}", "fvd2048_16f", real, fake), theirs, f"fvd2048_16f {path.name}")
    cdfvd_theirs = cdfvd_run("i3d", state, real, fake)
    assert relative(theirs[0], cdfvd_theirs[0]) < 1e-4 and abs(theirs[2] - cdfvd_theirs[2]) / cdfvd_theirs[2] < 1e-5
    long_real, long_fake = noise_clips(2, 130, 32, 32, seed=5), noise_clips(2, 130, 24, 40, seed=6, block=8)
    theirs = stylegan_v_reference(archive, long_real, long_fake, 16, subsample=8)
    assert_agree(ours_run(f"i3d:{state}", "fvd2048_128f_subsample8f", long_real, long_fake), theirs, "fvd2048_128f_subsample8f")


def test_videomae_v2_features_and_fvd_under_cd_fvd_equal_cdfvd(tmp_path, monkeypatch):
    import cdfvd.third_party.VideoMAEv2.utils as videomae_utils
    from cdfvd.third_party.VideoMAEv2.videomaev2_finetune import VisionTransformer
    from torch import nn

    small = functools.partial(
        VisionTransformer,
        patch_size=14,
        embed_dim=128,
        depth=2,
        num_heads=2,
        mlp_ratio=48 / 11,
        qkv_bias=True,
        norm_layer=functools.partial(nn.LayerNorm, eps=1e-6),
    )
    monkeypatch.setattr(videomae_utils, "vit_giant_patch14_224", lambda pretrained=False, **kwargs: small(**kwargs))
    torch.manual_seed(0)
    model = small(img_size=224, num_classes=174, all_frames=16, tubelet_size=2, use_mean_pooling=True)
    g = torch.Generator().manual_seed(1)
    with torch.no_grad():  # norms and biases far from their 1/0 start, weights at unit gain: features that vary
        for name, p in model.named_parameters():
            if "norm" in name or "bias" in name:
                p.copy_(torch.randn(p.shape, generator=g) * 0.5 + (1.0 if name.endswith("weight") else 0.0))
            else:
                p.copy_(torch.randn(p.shape, generator=g) * p.shape[-1] ** -0.5 * (1 if p.ndim == 2 else 3))
    path = tmp_path / "vit_g_hybrid_pt_1200e_ssv2_ft.pth"
    torch.save({"module": model.state_dict()}, path)
    # 18 frames: 9 tubelets where the model has 8, so the position table is interpolated as cd-fvd does
    real, fake = noise_clips(3, 18, 32, 32, seed=7), noise_clips(3, 18, 24, 40, seed=8, block=8)
    theirs = cdfvd_run("videomae", path, real, fake)
    assert_agree(ours_run(f"videomae:{path}", "cd-fvd", real, fake), theirs, "videomae cd-fvd")
    old = ours_run(f"videomae:{path}", "synthvid", real, fake)  # mean/std, antialias, 16 frames: another protocol
    assert relative(old[0], theirs[0]) > 0.1
