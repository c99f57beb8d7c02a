"""FVD: InceptionI3d against pytorch-i3d's key layout, both checkpoint formats with random weights, the
torchmetrics Metric (agreement with torchmetrics' FID, state merging, N warning, FVD∞), extractors."""

from __future__ import annotations

import warnings
from collections import OrderedDict

import numpy as np
import pytest
import torch
from eval_helpers import world_clips

from eval.errors import EvalError, FramesError, ModelFileError
from eval.frechet import GaussianStats, frechet_distance_features
from eval.fvd import FrechetVideoDistance, I3DFeatures, TinyVideoFeatures, make_extractor
from eval.i3d import InceptionI3d, fuse_for_inference, load_i3d, preprocess_i3d, save_torchscript
from eval.video_encoder import TinyVideoConfig, TinyVideoEncoder
from genkit.world import render

# Transcribed from piergiaj/pytorch-i3d pytorch_i3d.py (InceptionI3d.__init__), independently of
# eval/i3d.py: the stem units (name, in, out, kernel) and the Inception blocks (name, in, outputs).
REFERENCE_STEM = (("Conv3d_1a_7x7", 3, 64, 7), ("Conv3d_2b_1x1", 64, 64, 1), ("Conv3d_2c_3x3", 64, 192, 3))
REFERENCE_MIXED = (
    ("Mixed_3b", 192, [64, 96, 128, 16, 32, 32]),
    ("Mixed_3c", 256, [128, 128, 192, 32, 96, 64]),
    ("Mixed_4b", 128 + 192 + 96 + 64, [192, 96, 208, 16, 48, 64]),
    ("Mixed_4c", 192 + 208 + 48 + 64, [160, 112, 224, 24, 64, 64]),
    ("Mixed_4d", 160 + 224 + 64 + 64, [128, 128, 256, 24, 64, 64]),
    ("Mixed_4e", 128 + 256 + 64 + 64, [112, 144, 288, 32, 64, 64]),
    ("Mixed_4f", 112 + 288 + 64 + 64, [256, 160, 320, 32, 128, 128]),
    ("Mixed_5b", 256 + 320 + 128 + 128, [256, 160, 320, 32, 128, 128]),
    ("Mixed_5c", 256 + 320 + 128 + 128, [384, 192, 384, 48, 128, 128]),
)


def reference_state_shapes(num_classes: int = 400, with_counters: bool = True) -> dict[str, tuple]:
    """Every key of pytorch-i3d's InceptionI3d state dict with its shape."""
    shapes: dict[str, tuple] = {}

    def unit(prefix: str, cin: int, cout: int, k: int) -> None:
        shapes[f"{prefix}.conv3d.weight"] = (cout, cin, k, k, k)
        for name in ("weight", "bias", "running_mean", "running_var"):
            shapes[f"{prefix}.bn.{name}"] = (cout,)
        if with_counters:
            shapes[f"{prefix}.bn.num_batches_tracked"] = ()

    for name, cin, cout, k in REFERENCE_STEM:
        unit(name, cin, cout, k)
    for name, cin, out in REFERENCE_MIXED:
        unit(f"{name}.b0", cin, out[0], 1)
        unit(f"{name}.b1a", cin, out[1], 1)
        unit(f"{name}.b1b", out[1], out[2], 3)
        unit(f"{name}.b2a", cin, out[3], 1)
        unit(f"{name}.b2b", out[3], out[4], 3)
        unit(f"{name}.b3b", cin, out[5], 1)
    shapes["logits.conv3d.weight"] = (num_classes, 1024, 1, 1, 1)
    shapes["logits.conv3d.bias"] = (num_classes,)
    return shapes


def random_reference_state(seed: int = 0, **kwargs) -> OrderedDict:
    """Random weights under pytorch-i3d's keys (He-scaled convolutions, positive BN variances)."""
    g = torch.Generator().manual_seed(seed)
    state = OrderedDict()
    for key, shape in reference_state_shapes(**kwargs).items():
        if key.endswith("conv3d.weight"):
            fan_in = shape[1] * shape[2] * shape[3] * shape[4]
            state[key] = torch.randn(shape, generator=g) * (2.0 / fan_in) ** 0.5
        elif key.endswith("running_var") or key.endswith("bn.weight"):
            state[key] = torch.rand(shape, generator=g) * 0.5 + 0.75
        elif key.endswith("num_batches_tracked"):
            state[key] = torch.tensor(100)
        else:
            state[key] = torch.randn(shape, generator=g) * 0.1
    return state


def test_inception_i3d_has_exactly_the_reference_keys_and_shapes():
    ours = {k: tuple(v.shape) for k, v in InceptionI3d().state_dict().items()}
    assert ours == reference_state_shapes()


@pytest.fixture(scope="module")
def i3d_files(tmp_path_factory):
    """A random-weight I3D saved as a VideoGPT-style state dict, a legacy one (no BN counters, under
    DataParallel's ``module.``), and as a StyleGAN-V-style TorchScript archive."""
    folder = tmp_path_factory.mktemp("i3d")
    state = random_reference_state()
    torch.save(state, folder / "i3d_pretrained_400.pt")
    legacy = OrderedDict((f"module.{k}", v) for k, v in state.items() if not k.endswith("num_batches_tracked"))
    torch.save(legacy, folder / "legacy.pt")
    model = InceptionI3d()
    model.load_state_dict(state)
    save_torchscript(model, folder / "i3d_torchscript.pt")
    return folder


@pytest.fixture(scope="module")
def i3d_input():
    clip = render("a red circle moving left on a blue background", frames=16, size=64, seed=1).frames
    return preprocess_i3d(torch.from_numpy(clip)[None])


@pytest.mark.slow
def test_both_checkpoint_formats_give_the_same_features(i3d_files, i3d_input):
    with torch.inference_mode():
        eager = load_i3d(i3d_files / "i3d_pretrained_400.pt")(i3d_input)
        scripted = load_i3d(i3d_files / "i3d_torchscript.pt")(i3d_input)
    assert eager.shape == (1, 400) and torch.isfinite(eager).all() and eager.std() > 0
    torch.testing.assert_close(scripted, eager, rtol=1e-4, atol=1e-4)


@pytest.mark.slow
def test_legacy_state_dicts_load_and_folding_batchnorm_keeps_the_outputs(i3d_files):
    """No BN counters and a ``module.`` prefix (files older than PyTorch 0.4.1, DataParallel) load too;
    folding BatchNorm into the convolutions (the speed path) changes nothing, shown on one block."""
    model = load_i3d(i3d_files / "legacy.pt")
    reference = load_i3d(i3d_files / "i3d_pretrained_400.pt")
    for key, value in reference.state_dict().items():
        if not key.endswith("num_batches_tracked"):
            assert torch.equal(model.state_dict()[key], value), key
    x = torch.randn(2, 192, 4, 14, 14, generator=torch.Generator().manual_seed(0)).relu()
    with torch.inference_mode():
        before = model.Mixed_3b(x)
        after = fuse_for_inference(model).Mixed_3b(x.contiguous(memory_format=torch.channels_last_3d))
    assert isinstance(model.Mixed_3b.b1b.bn, torch.nn.Identity)
    torch.testing.assert_close(after, before, rtol=1e-4, atol=1e-4)


def test_state_dict_loading_refuses_other_networks_with_one_line(tmp_path):
    bad = random_reference_state()
    bad["Mixed_9z.b0.conv3d.weight"] = torch.zeros(1)
    torch.save(bad, tmp_path / "other.pt")
    with pytest.raises(ModelFileError, match="unexpected") as info:
        load_i3d(tmp_path / "other.pt")
    assert str(info.value).startswith(f"{tmp_path / 'other.pt'}: ") and "\n" not in str(info.value)
    (tmp_path / "junk.pt").write_bytes(b"not a checkpoint")
    with pytest.raises(ModelFileError, match="neither a TorchScript archive nor a torch state dict"):
        load_i3d(tmp_path / "junk.pt")
    with pytest.raises(ModelFileError, match="i3d_torchscript.pt"):
        load_i3d(tmp_path / "absent.pt")


def test_i3d_preprocessing_is_the_original_one():
    clip = torch.zeros(1, 20, 48, 80, 3, dtype=torch.uint8)
    clip[..., 0] = 255  # pure red, then some motion in frame 3
    clip[:, 3, :10, :10] = 0
    x = preprocess_i3d(clip)
    assert x.shape == (1, 3, 16, 224, 224)  # first 16 frames, 224×224, channels first
    assert torch.allclose(x[0, 0, 0], torch.ones(224, 224)) and torch.allclose(x[0, 1, 0], -torch.ones(224, 224))
    assert x[0, 0, 3].min() == -1.0  # the dark corner of frame 3 is still frame 3
    with pytest.raises(FramesError, match="at least 16 frames"):
        preprocess_i3d(clip[:, :8])


def test_i3d_extractor_loads_both_formats_and_counts_features(i3d_files):
    scripted = I3DFeatures(i3d_files / "i3d_torchscript.pt")
    assert scripted.num_features == 400 and scripted.label.startswith("FVD (I3D")
    assert make_extractor(f"i3d:{i3d_files / 'i3d_pretrained_400.pt'}").num_features == 400


# ------------------------------------------------------------------------------ the Metric


def small_tiny_encoder(folder, seed: int = 0):
    torch.manual_seed(seed)
    model = TinyVideoEncoder(TinyVideoConfig(frames=8, size=32, channels=(8, 16, 16), groups=4, feature_dim=12))
    return model.save(folder)


@pytest.fixture(scope="module")
def tiny_extractor(tmp_path_factory):
    return TinyVideoFeatures(small_tiny_encoder(tmp_path_factory.mktemp("tiny-video")))


def clips(count: int, seed: int, *, frames: int = 8) -> np.ndarray:
    return world_clips(count, seed, frames=frames, size=32)[0]


@pytest.mark.slow
def test_fvd_agrees_with_torchmetrics_fid_given_the_same_extractor(tiny_extractor):
    from torchmetrics.image.fid import FrechetInceptionDistance

    real, fake = clips(24, 1), clips(20, 2)
    fake[:, :, ::2] = 255 - fake[:, :, ::2]  # a visible difference
    ours = FrechetVideoDistance(tiny_extractor)
    theirs = FrechetInceptionDistance(feature=tiny_extractor)  # a custom feature network gets the clips as they are
    for start in (0, 12):
        ours.update(real[start : start + 12], real=True)
        theirs.update(torch.from_numpy(real[start : start + 12]), real=True)
    ours.update(list(fake), real=False)
    theirs.update(torch.from_numpy(fake), real=False)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        result = ours.compute()
    assert int(result["n_real"]) == 24 and int(result["n_fake"]) == 20
    assert float(result["fvd"]) > 0
    assert abs(float(result["fvd"]) - float(theirs.compute())) / float(result["fvd"]) <= 1e-6


def test_states_merge_like_a_distributed_sync(tiny_extractor):
    features = tiny_extractor(clips(16, 3))  # once: float32 convolutions vary with the batch split
    whole, part_a, part_b = (FrechetVideoDistance(tiny_extractor) for _ in range(3))
    whole.update_features(features[:10], real=True)
    whole.update_features(features[10:], real=False)
    part_a.update_features(features[:6], real=True)
    part_a.update_features(features[10:13], real=False)
    part_b.update_features(features[6:10], real=True)
    part_b.update_features(features[13:], real=False)
    assert part_a._reductions["real_outer"] is not None  # declared with a reduction: syncs across processes
    part_a.merge_state(part_b)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        merged, single = part_a.compute(), whole.compute()
    # 10 samples in 12 dimensions: zero eigenvalues, whose square roots turn 1e-16 rounding into ~1e-8
    assert float(merged["fvd"]) == pytest.approx(float(single["fvd"]), rel=1e-7)
    assert int(merged["n_real"]) == 10 and int(merged["n_fake"]) == 6


def test_small_sets_warn_and_fvd_infinity_is_reported(tiny_extractor):
    metric = FrechetVideoDistance(tiny_extractor, keep_features=True)
    features = torch.from_numpy(np.random.default_rng(0).normal(size=(60, 12)))
    metric.update_features(features[:30], real=True)
    metric.update_features(features[30:] + 0.5, real=False)
    with pytest.warns(UserWarning, match="fewer than 256"):
        result = metric.compute()
    expected = frechet_distance_features(features[:30].numpy(), features[30:].numpy() + 0.5)
    assert float(result["fvd"]) == pytest.approx(expected, rel=1e-9)
    assert "fvd_inf" in result and np.isfinite(float(result["fvd_inf"]))
    metric.reset()
    assert int(metric.real_count) == 0 and metric.real_features == []


def test_fvd_tiny_is_labelled_zero_for_one_set_and_positive_between_two(tiny_extractor):
    real = clips(12, 4)
    scores = []
    for fake in (real, 255 - real):
        metric = FrechetVideoDistance(tiny_extractor)
        metric.update(real, real=True)
        metric.update(fake, real=False)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            scores.append(float(metric.compute()["fvd"]))
    assert metric.label == "FVD-tiny (not comparable to published FVD), protocol synthvid"
    assert 0.0 <= scores[0] < 1e-9 < scores[1]


def test_videomae_extractor_matches_transformers_own_preprocessing(tmp_path):
    from transformers import VideoMAEConfig, VideoMAEImageProcessor, VideoMAEModel

    torch.manual_seed(0)
    config = VideoMAEConfig(
        image_size=32, patch_size=16, num_frames=4, tubelet_size=2, hidden_size=24, num_hidden_layers=1, num_attention_heads=2, intermediate_size=48
    )
    VideoMAEModel(config).save_pretrained(tmp_path / "videomae")
    processor = VideoMAEImageProcessor(
        size={"shortest_edge": 32}, crop_size={"height": 32, "width": 32}, image_mean=[0.485, 0.456, 0.406], image_std=[0.229, 0.224, 0.225]
    )
    processor.save_pretrained(tmp_path / "videomae")
    extractor = make_extractor(f"videomae:{tmp_path / 'videomae'}")
    videos = clips(2, 6, frames=6)
    ours = extractor(videos)
    pixel_values = processor([list(clip[:4]) for clip in videos], return_tensors="pt")["pixel_values"]
    with torch.inference_mode():
        theirs = extractor.model(pixel_values=pixel_values).last_hidden_state.mean(1)
    assert ours.shape == (2, 24)
    torch.testing.assert_close(ours, theirs, rtol=1e-4, atol=1e-4)


def test_unknown_extractor_and_missing_model_are_one_line_errors(tmp_path):
    with pytest.raises(EvalError, match="unknown FVD extractor"):
        make_extractor("inception-v9")
    with pytest.raises(ModelFileError, match="synthvid eval-train video") as info:
        make_extractor(f"synthvid-tiny-video:{tmp_path}")
    assert "\n" not in str(info.value)


def test_shipped_tiny_video_encoder_loads_and_fits_the_size_budget():
    from eval.video_encoder import DEFAULT_DIR

    assert sum(f.stat().st_size for f in DEFAULT_DIR.iterdir()) <= 10 * 1024**2
    assert (DEFAULT_DIR / "MODEL_CARD.md").is_file()
    extractor = make_extractor()  # the default: synthvid-tiny-video
    assert extractor.num_features == 128 and extractor.label == "FVD-tiny (not comparable to published FVD), protocol synthvid"
    features = extractor(clips(3, 12, frames=16))
    assert features.shape == (3, 128) and torch.isfinite(features).all()


def test_shipped_tiny_video_features_move_further_as_noise_blur_and_shuffling_grow():
    """What FVD-tiny is for: its features drift from the clean clips' further at each stronger fault."""
    from provenance.watermark.attacks import gaussian_blur, gaussian_noise

    extractor = make_extractor()
    clean = world_clips(8, 21, frames=16, size=64)[0]  # the size it was trained at
    reference = extractor(clean).double().mean(0)
    rng = np.random.default_rng(0)

    def shuffled(share: float) -> np.ndarray:
        out = clean.copy()
        moved = rng.choice(16, round(16 * share), replace=False)
        out[:, moved] = clean[:, rng.permutation(moved)]
        return out

    faults = {
        "noise": [np.stack([gaussian_noise(c, sigma, rng) for c in clean]) for sigma in (5, 20, 40)],
        "blur": [np.stack([gaussian_blur(c, sigma) for c in clean]) for sigma in (0.5, 1.5, 3.0)],
        "shuffle": [shuffled(share) for share in (0.25, 0.5, 1.0)],
    }
    for name, levels in faults.items():
        drift = [float((extractor(x).double().mean(0) - reference).norm()) for x in levels]
        assert drift[0] < drift[1] < drift[2], (name, drift)


# ------------------------------------------------------------------------------ protocols


def test_protocol_presets_take_the_frames_and_divisors_of_their_references():
    from eval.fvd import PROTOCOLS

    clip = torch.arange(130, dtype=torch.uint8).view(1, 130, 1, 1, 1).expand(1, 130, 2, 2, 3)
    taken = {name: p.select_frames(clip, "test")[0, :, 0, 0, 0].tolist() for name, p in PROTOCOLS.items() if p.frames != 0}
    assert taken["cd-fvd"] == list(range(130))  # every frame
    assert taken["fvd2048_16f"] == list(range(16))
    assert taken["fvd2048_128f"] == list(range(128))
    assert taken["fvd2048_128f_subsample8f"] == list(range(0, 128, 8))
    assert PROTOCOLS["synthvid"].ddof == 1 and all(p.ddof == 0 for n, p in PROTOCOLS.items() if n != "synthvid")
    assert (PROTOCOLS["cd-fvd"].max_real, PROTOCOLS["cd-fvd"].max_fake) == (None, 2048)
    assert all((p.max_real, p.max_fake, p.discard_short) == (2048, 2048, True) for n, p in PROTOCOLS.items() if n.startswith("fvd2048"))
    with pytest.raises(FramesError, match="at least 128 frames"):
        PROTOCOLS["fvd2048_128f_subsample8f"].select_frames(clip[:, :127], "I3D")


def test_protocols_cap_the_sets_discard_short_clips_and_name_themselves(i3d_files):
    metric = FrechetVideoDistance(f"i3d:{i3d_files / 'i3d_pretrained_400.pt'}", protocol="fvd2048_16f")
    assert metric.label == "FVD (I3D, Kinetics-400 logits), protocol fvd2048_16f" and metric.ddof == 0
    features = torch.from_numpy(np.random.default_rng(0).normal(size=(2050, 400)))
    metric.update_features(features[:2000], real=True)
    metric.update_features(features[2000:], real=True)  # StyleGAN-V reads the first 2048 clips of a set
    assert int(metric.real_count) == 2048
    metric.update(np.zeros((3, 8, 16, 16, 3), np.uint8), real=False)  # shorter than 16 frames: discarded, counted
    assert int(metric.fake_count) == 0 and int(metric.fake_skipped) == 3
    expected = GaussianStats.from_features(features[:2048].numpy(), ddof=0)
    np.testing.assert_allclose(metric.stats(real=True).sigma, expected.sigma, rtol=1e-9, atol=1e-12)


def test_protocols_refuse_extractors_they_do_not_define(tmp_path, tiny_extractor):
    with pytest.raises(EvalError, match="protocol cd-fvd is defined for i3d and videomae features, not synthvid-tiny-video"):
        make_extractor("synthvid-tiny-video", protocol="cd-fvd")
    with pytest.raises(EvalError, match="unknown FVD protocol 'fvd9000'"):
        FrechetVideoDistance(tiny_extractor, protocol="fvd9000")
    from transformers import VideoMAEConfig, VideoMAEModel

    VideoMAEModel(
        VideoMAEConfig(
            image_size=32,
            patch_size=16,
            num_frames=4,
            tubelet_size=2,
            hidden_size=24,
            num_hidden_layers=1,
            num_attention_heads=2,
            intermediate_size=48,
        )
    ).save_pretrained(tmp_path / "hf")
    with pytest.raises(ModelFileError, match="needs a VideoMAE-v2 checkpoint file as cd-fvd loads it"):
        make_extractor(f"videomae:{tmp_path / 'hf'}", protocol="cd-fvd")
    with pytest.raises(EvalError, match="the extractor was built for protocol synthvid, not fvd2048_16f"):
        FrechetVideoDistance(tiny_extractor, protocol="fvd2048_16f")


# ------------------------------------------------------------------------------ reference statistics files


def test_reference_statistics_round_trip_and_refuse_another_protocol_or_weights(tmp_path, i3d_files):
    from eval.fvd import ReferenceStats

    features = torch.from_numpy(np.random.default_rng(1).normal(size=(40, 400)))
    spec = f"i3d:{i3d_files / 'i3d_pretrained_400.pt'}"
    whole = FrechetVideoDistance(spec, protocol="cd-fvd")
    whole.update_features(features[:24], real=True)
    whole.update_features(features[24:] + 0.3, real=False)
    saved = whole.reference_stats().save(tmp_path / "ref.npz")
    stats = ReferenceStats.load(saved)
    assert (stats.n, stats.ddof, stats.extractor, stats.protocol) == (24, 0, "i3d", "cd-fvd") and len(stats.weights_sha256) == 64
    reloaded = FrechetVideoDistance(spec, protocol="cd-fvd")
    reloaded.load_reference(saved)
    reloaded.update_features(features[24:] + 0.3, real=False)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        # 24 samples in 400 dimensions: sums rebuilt from mean and covariance round at 1e-16, zero eigenvalues make that ~1e-9
        assert float(reloaded.compute()["fvd"]) == pytest.approx(float(whole.compute()["fvd"]), rel=1e-7)
    with pytest.raises(EvalError, match="under protocol cd-fvd; this run asks for i3d .* under protocol synthvid") as info:
        FrechetVideoDistance(spec, protocol="synthvid").load_reference(saved)
    assert str(info.value).startswith(f"{saved}: ") and "\n" not in str(info.value)
    with pytest.raises(EvalError, match=r"made with i3d \(weights sha256 [0-9a-f]{12}\)"):
        FrechetVideoDistance(f"i3d:{i3d_files / 'i3d_torchscript.pt'}", protocol="cd-fvd").load_reference(saved)
    (tmp_path / "junk.npz").write_bytes(b"PK\x03\x04 not a zip")
    with pytest.raises(EvalError, match="junk.npz: not an FVD statistics file"):
        ReferenceStats.load(tmp_path / "junk.npz")
    np.savez(tmp_path / "other.npz", mu=np.zeros(3))
    with pytest.raises(EvalError, match="other.npz: not an FVD statistics file"):
        ReferenceStats.load(tmp_path / "other.npz")
