"""VBench dimensions against the reference package itself: vbench 0.1.5 with ``--protocol vbench``.

vbench pins numpy<2 and transformers==4.33.2, which synthvid cannot take, so it is not in the ``refs``
extra; it installs beside our versions with ``pip install --no-deps vbench==0.1.5 openai-clip==1.0.1
decord==0.6.0 easydict einops`` and these tests skip without it. openai-clip imports ``pkg_resources``
(gone from setuptools ≥ 81) only for ``packaging``: this test process alone gets a one-attribute stand-in.

Random weights are saved in the formats VBench loads and VBench runs offline (``VBench.evaluate(...,
local=True, mode="custom_input")``) on lossless clips (RGB H.264 at QP 0: decord, OpenCV and PyAV
decode them to the same bytes, checked): blocky noise over a shared image, a new draw every frame (a
random ViT scores smooth clips ≈ 0.999), one square and one non-square clip whose centre-crop margin
rounds up (torchvision's ``round``), both over 16 frames, at 8 and 24 fps. ``synthvid eval --protocol
vbench`` scores the same files; tolerance: 1e-6 relative.

- Background consistency: a small CLIP built with openai-clip's own ``clip.model.CLIP`` (width 128, two
  layers, patch 32, 224²), float16, saved as a TorchScript archive at VBench's ``clip_model/ViT-B-32.pt``;
  we load it with ``load_clip(config.json, archive)``.
- Subject consistency: VBench calls ``torch.hub.load(source="local")`` on a clone of
  facebookresearch/dino. That code cannot be fetched here and stays out of this repository, so the
  hub folder holds a ViT written for this test in DINO's structure and parameter names (manual
  attention, DINO's ``interpolate_pos_encoding`` formula: bicubic with ``scale_factor=(H//16+0.1)/14``),
  at ViT-S/16 size under the name VBench asks for (``dino_vitb16``) to keep the test fast; its
  random weights are a DINO-format state dict that we load as ``timm:vit_small_patch16_224.dino``.
  Everything else is VBench's: frame reading, ``dino_transform``, the formula, the aggregation.
- Aesthetic quality: the same small CLIP with a 768-wide embedding (the width of ViT-L/14, which
  LAION's head takes) at VBench's ``clip_model/ViT-L-14.pt``, and a random ``Linear(768, 1)`` saved as
  VBench's ``aesthetic_model/emb_reader/sa_0_4_vit_l_14_linear.pth`` (bias 5, weights ~N(0, 1): frame
  scores spread around VBench's typical 0.5).
- Imaging quality: pyiqa's own ``MUSIQ`` class (installed without its dependencies by ``make test``)
  at random weights, its head's bias set to 50 (SPAQ's scores are 0–100), saved at VBench's
  ``pyiqa_model/musiq_spaq_ckpt-358bb6af.pth``; a third, wide clip (530×288) takes VBench's resize to a
  512 longer side.
- Temporal flickering: VBench's own code on the same files, no weights.
- Dynamic degree: VBench's ``DynamicDegree`` (OpenCV frame reading, subsampling to ~8 fps, RAFT's
  padding, ``get_score``, ``set_params``, ``check_move``) with its RAFT replaced by OpenCV DIS, the flow
  our vbench protocol uses (RAFT and DIS give different fields, so only the same flow can test the rules).
"""

from __future__ import annotations

import importlib.util
import json
import shutil
import sys
import types
from pathlib import Path

import numpy as np
import pytest
import torch

pytestmark = pytest.mark.slow  # vbench's own evaluate() on the same clips

pytest.importorskip("vbench")
pytest.importorskip("decord")
if importlib.util.find_spec("pkg_resources") is None:  # openai-clip: `from pkg_resources import packaging`
    import packaging.version

    sys.modules["pkg_resources"] = types.SimpleNamespace(packaging=packaging)
clip_package = pytest.importorskip("clip")

from eval_helpers import OpenAIArchive  # noqa: E402

from genkit.cli import run  # noqa: E402
from provenance.media import Video, read_video, write_video  # noqa: E402

RTOL = 1e-6
SIZES = {"square": ((96, 96), 18, 8.0), "nonsquare": ((90, 151), 20, 24.0)}  # (H, W), frames, fps

CLIP_CONFIG = {  # open_clip's description of the archive's model (OpenAI CLIPs use QuickGELU)
    "embed_dim": 64,  # 768 for the aesthetic head's archive
    "quick_gelu": True,
    "vision_cfg": {"image_size": 224, "layers": 2, "width": 128, "patch_size": 32, "head_width": 64},
    "text_cfg": {"context_length": 77, "vocab_size": 49408, "width": 64, "heads": 1, "layers": 1},
}

HUBCONF = '''"""A ViT-S/16 in DINO's structure, parameter names and forward (written for synthvid's tests), under the
name VBench loads. The class-token features; position embeddings interpolated as DINO's
interpolate_pos_encoding does for images other than 224 x 224."""
import math

import torch
from torch import nn

dependencies = ["torch"]


class Attention(nn.Module):
    def __init__(self, dim, heads):
        super().__init__()
        self.heads, self.scale = heads, (dim // heads) ** -0.5
        self.qkv, self.proj = nn.Linear(dim, dim * 3), nn.Linear(dim, dim)

    def forward(self, x):
        b, n, c = x.shape
        q, k, v = self.qkv(x).reshape(b, n, 3, self.heads, c // self.heads).permute(2, 0, 3, 1, 4)
        weights = ((q @ k.transpose(-2, -1)) * self.scale).softmax(dim=-1)
        return self.proj((weights @ v).transpose(1, 2).reshape(b, n, c))


class Mlp(nn.Module):
    def __init__(self, dim):
        super().__init__()
        self.fc1, self.act, self.fc2 = nn.Linear(dim, 4 * dim), nn.GELU(), nn.Linear(4 * dim, dim)

    def forward(self, x):
        return self.fc2(self.act(self.fc1(x)))


class Block(nn.Module):
    def __init__(self, dim, heads):
        super().__init__()
        self.norm1, self.attn = nn.LayerNorm(dim, eps=1e-6), Attention(dim, heads)
        self.norm2, self.mlp = nn.LayerNorm(dim, eps=1e-6), Mlp(dim)

    def forward(self, x):
        x = x + self.attn(self.norm1(x))
        return x + self.mlp(self.norm2(x))


class PatchEmbed(nn.Module):
    def __init__(self, dim, patch):
        super().__init__()
        self.patch = patch
        self.proj = nn.Conv2d(3, dim, kernel_size=patch, stride=patch)


class ViT(nn.Module):
    def __init__(self, dim=384, depth=12, heads=6, patch=16, image=224):
        super().__init__()
        self.patch_embed = PatchEmbed(dim, patch)
        self.cls_token = nn.Parameter(torch.zeros(1, 1, dim))
        self.pos_embed = nn.Parameter(torch.zeros(1, (image // patch) ** 2 + 1, dim))
        self.blocks = nn.ModuleList([Block(dim, heads) for _ in range(depth)])
        self.norm = nn.LayerNorm(dim, eps=1e-6)

    def positions(self, rows_px, cols_px, count):
        trained = self.pos_embed.shape[1] - 1
        if count == trained and rows_px == cols_px:
            return self.pos_embed
        rows = rows_px // self.patch_embed.patch + 0.1
        cols = cols_px // self.patch_embed.patch + 0.1
        side = math.sqrt(trained)
        grid = self.pos_embed[:, 1:].reshape(1, int(side), int(side), -1).permute(0, 3, 1, 2)
        grid = nn.functional.interpolate(grid, scale_factor=(rows / side, cols / side), mode="bicubic")
        grid = grid.permute(0, 2, 3, 1).reshape(1, -1, self.pos_embed.shape[-1])
        return torch.cat((self.pos_embed[:, :1], grid), dim=1)

    def forward(self, x):
        b, _, rows_px, cols_px = x.shape
        tokens = self.patch_embed.proj(x).flatten(2).transpose(1, 2)
        tokens = torch.cat((self.cls_token.expand(b, -1, -1), tokens), dim=1)
        tokens = tokens + self.positions(rows_px, cols_px, tokens.shape[1] - 1)
        for block in self.blocks:
            tokens = block(tokens)
        return self.norm(tokens)[:, 0]


def dino_vitb16(pretrained=True, path=None, **kwargs):
    model = ViT()
    if pretrained and path:
        model.load_state_dict(torch.load(path, map_location="cpu"), strict=True)
    return model
'''


def varying_clip(frames: int, height: int, width: int, seed: int, block: int = 6) -> np.ndarray:
    """A shared blocky image under fresh blocky noise whose weight grows frame by frame, in a new colour
    tint every frame (noise alone averages out in a random CLIP's class token)."""
    rng = np.random.default_rng(seed)
    rows, cols = -(-height // block), -(-width // block)
    base = rng.uniform(0, 255, (rows, cols, 3))
    out = []
    for t in range(frames):
        weight = 0.15 + 0.8 * t / (frames - 1)
        image = ((1 - weight) * base + weight * rng.uniform(0, 255, (rows, cols, 3))) * rng.uniform(0.1, 1.0, 3)
        out.append(image.repeat(block, 0).repeat(block, 1)[:height, :width])
    return np.ascontiguousarray(np.stack(out).round().astype(np.uint8))


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    """VBench's cache folder with the random weights, the clips, and our model arguments."""
    from clip.model import CLIP, convert_weights
    from timm import create_model

    root = tmp_path_factory.mktemp("vbench")
    cache, videos = root / "cache", root / "videos"
    videos.mkdir()
    for seed, (name, ((height, width), frames, fps)) in enumerate(SIZES.items()):
        frames_ = varying_clip(frames, height, width, seed)
        write_video(Video(frames_, fps, {}), videos / f"{name}.mp4", lossless=True)
        assert np.array_equal(read_video(videos / f"{name}.mp4").frames, frames_)

    (cache / "clip_model").mkdir(parents=True)
    for seed, (embed_dim, name, config) in enumerate(((64, "ViT-B-32.pt", "clip.json"), (768, "ViT-L-14.pt", "ViT-L-14-tiny.json"))):
        torch.manual_seed(seed)
        clip_model = CLIP(
            embed_dim=embed_dim,
            image_resolution=224,
            vision_layers=2,
            vision_width=128,
            vision_patch_size=32,
            context_length=77,
            vocab_size=49408,
            transformer_width=64,
            transformer_heads=1,
            transformer_layers=1,
        )
        clip_model.eval()
        with torch.no_grad():  # patch embeddings that outweigh the constant class and position embeddings
            clip_model.visual.conv1.weight.mul_(8)
        convert_weights(clip_model)  # float16, as OpenAI ships its weights
        example = torch.zeros(1, 3, 224, 224, dtype=torch.float16)
        archive = torch.jit.trace(OpenAIArchive(clip_model, input_resolution=224, context_length=77), example)
        assert archive.state_dict()["visual.conv1.weight"].dtype == torch.float16
        torch.jit.save(archive, str(cache / "clip_model" / name))
        (root / config).write_text(json.dumps({**CLIP_CONFIG, "embed_dim": embed_dim}))
    head = torch.nn.Linear(768, 1)
    with torch.no_grad():
        head.weight.normal_(generator=torch.Generator().manual_seed(2))
        head.bias.fill_(5.0)
    (cache / "aesthetic_model" / "emb_reader").mkdir(parents=True)
    torch.save(head.state_dict(), cache / "aesthetic_model" / "emb_reader" / "sa_0_4_vit_l_14_linear.pth")

    torch.manual_seed(1)
    dino = create_model("vit_small_patch16_224.dino", pretrained=False, num_classes=0)
    hub = cache / "dino_model" / "facebookresearch_dino_main"
    hub.mkdir(parents=True)
    (hub / "hubconf.py").write_text(HUBCONF)
    torch.save(dino.state_dict(), cache / "dino_model" / "dino_vitbase16_pretrain.pth")
    ours = [
        "--clip-model",
        root / "clip.json",
        "--clip-pretrained",
        cache / "clip_model" / "ViT-B-32.pt",
        "--subject-encoder",
        f"timm:vit_small_patch16_224.dino:{cache / 'dino_model' / 'dino_vitbase16_pretrain.pth'}",
    ]
    return cache, videos, ours, root


def vbench_evaluate(cache, videos, out, dimensions: list[str], monkeypatch) -> dict:
    import vbench
    import vbench.utils

    monkeypatch.setattr(vbench.utils, "CACHE_DIR", str(cache))
    runner = vbench.VBench("cpu", None, str(out))
    runner.evaluate(videos_path=str(videos), name="ref", dimension_list=dimensions, local=True, mode="custom_input")
    results = json.loads((out / "ref_eval_results.json").read_text())
    return {dim: (value, {item["video_path"].rsplit("/", 1)[-1]: item["video_results"] for item in rows}) for dim, (value, rows) in results.items()}


def synthvid_eval(capsys, videos, ours, protocol: list[str] = ("--protocol", "vbench")) -> dict:
    capsys.readouterr()
    code = run(["eval", "--fake", str(videos), "--metrics", "temporal", *protocol, *map(str, ours), "--json"])
    captured = capsys.readouterr()
    assert code == 0, captured.err
    return json.loads(captured.out)


def gap(ours: float, theirs: float) -> float:
    return abs(ours - theirs) / abs(theirs)


def test_consistency_and_flickering_equal_vbench(reference, capsys, monkeypatch, tmp_path):
    cache, videos, ours, _ = reference
    dimensions = ["subject_consistency", "background_consistency", "temporal_flickering"]
    theirs = vbench_evaluate(cache, videos, tmp_path, dimensions, monkeypatch)
    result = synthvid_eval(capsys, videos, ours)
    summary, rows = result["temporal"], {row["clip"]: row for row in result["per_clip"]}
    assert summary["protocol"] == "vbench" and "VBench 0.1.5" in summary["protocol_description"]
    gaps = {}
    for dim in dimensions:
        value, per_clip = theirs[dim]
        assert 0.05 < value < 0.99, f"{dim}: reference value {value} too close to 1; the clips would prove nothing"
        gaps[dim] = {"set": gap(summary[dim], value), **{name: gap(rows[name][dim], v) for name, v in per_clip.items()}}
    # the default protocol is not VBench's on the non-square clip (bicubic + antialias, floor crop, timm positions)
    default = synthvid_eval(capsys, videos, ours, protocol=[])
    assert default["temporal"]["protocol"] == "synthvid"
    nonsquare = {row["clip"]: row for row in default["per_clip"]}["nonsquare.mp4"]
    gaps["synthvid protocol, subject, nonsquare"] = gap(nonsquare["subject_consistency"], theirs["subject_consistency"][1]["nonsquare.mp4"])
    print("relative gaps to vbench:", json.dumps(gaps))
    assert gaps.pop("synthvid protocol, subject, nonsquare") > 1e-4
    assert all(g <= RTOL for clip_gaps in gaps.values() for g in clip_gaps.values()), gaps


def test_aesthetic_quality_equals_vbench(reference, capsys, monkeypatch, tmp_path):
    cache, videos, _, root = reference
    value, per_clip = vbench_evaluate(cache, videos, tmp_path, ["aesthetic_quality"], monkeypatch)["aesthetic_quality"]
    head = cache / "aesthetic_model" / "emb_reader" / "sa_0_4_vit_l_14_linear.pth"
    ours = ["--clip-model", root / "ViT-L-14-tiny.json", "--clip-pretrained", cache / "clip_model" / "ViT-L-14.pt", "--aesthetic-head", head]
    capsys.readouterr()
    assert run(["eval", "--fake", str(videos), "--metrics", "aesthetic", "--protocol", "vbench", *map(str, ours), "--json"]) == 0
    result = json.loads(capsys.readouterr().out)
    summary, rows = result["aesthetic"], {row["clip"]: row for row in result["per_clip"]}
    assert summary["protocol"] == "vbench" and summary["clips"] == len(SIZES) and "notes" not in summary  # a ViT-L-14 name: VBench's setup
    assert abs(per_clip["square.mp4"] - per_clip["nonsquare.mp4"]) > 1e-3, per_clip  # the clips tell apart
    gaps = {"set": gap(summary["value"], value), **{name: gap(rows[name]["aesthetic_quality"], v) for name, v in per_clip.items()}}
    print("aesthetic quality, relative gaps to vbench:", json.dumps(gaps))
    assert all(g <= RTOL for g in gaps.values()), gaps
    # synthvid's default protocol (antialiased resize) is another preprocessing: the non-square clip moves
    capsys.readouterr()
    assert run(["eval", "--fake", str(videos), "--metrics", "aesthetic", *map(str, ours), "--json"]) == 0
    default = {row["clip"]: row for row in json.loads(capsys.readouterr().out)["per_clip"]}
    assert gap(default["nonsquare.mp4"]["aesthetic_quality"], per_clip["nonsquare.mp4"]) > 1e-5


def test_imaging_quality_equals_vbench(reference, capsys, monkeypatch, tmp_path):
    musiq_arch = pytest.importorskip("pyiqa.archs.musiq_arch")
    cache, videos, _, _ = reference
    folder = tmp_path / "videos"
    folder.mkdir()
    for name in SIZES:
        shutil.copy(videos / f"{name}.mp4", folder)
    write_video(Video(varying_clip(6, 288, 530, seed=7), 8.0, {}), folder / "wide.mp4", lossless=True)
    torch.manual_seed(3)
    musiq = musiq_arch.MUSIQ(pretrained=False, num_class=1)
    with torch.no_grad():
        musiq.head.bias.fill_(50.0)
    weights = cache / "pyiqa_model" / "musiq_spaq_ckpt-358bb6af.pth"
    weights.parent.mkdir(exist_ok=True)
    torch.save(musiq.state_dict(), weights)
    value, per_clip = vbench_evaluate(cache, folder, tmp_path / "out", ["imaging_quality"], monkeypatch)["imaging_quality"]
    capsys.readouterr()
    assert run(["eval", "--fake", str(folder), "--metrics", "imaging", "--musiq", str(weights), "--json"]) == 0
    result = json.loads(capsys.readouterr().out)
    summary, rows = result["imaging"], {row["clip"]: row for row in result["per_clip"]}
    assert summary["clips"] == 3 and summary["protocol"] == "vbench"
    assert len({round(v, 4) for v in per_clip.values()}) == 3, per_clip  # the clips tell apart
    # VBench keeps per-clip scores in MUSIQ's 0–100 and divides the set's mean by 100
    gaps = {"set": gap(summary["value"], value), **{name: gap(rows[name]["imaging_quality"], v / 100) for name, v in per_clip.items()}}
    print("imaging quality, relative gaps to vbench:", json.dumps(gaps))
    assert all(g <= RTOL for g in gaps.values()), gaps


class DISAsRAFT(torch.nn.Module):
    """RAFT's call signature over OpenCV DIS (preset MEDIUM on grey frames): the flow synthvid's vbench protocol uses."""

    def forward(self, image1, image2, iters=20, test_mode=True):
        import cv2

        def grey(image):
            return cv2.cvtColor(np.ascontiguousarray(image[0].permute(1, 2, 0).numpy().astype(np.uint8)), cv2.COLOR_RGB2GRAY)

        flow = cv2.DISOpticalFlow_create(cv2.DISOPTICAL_FLOW_PRESET_MEDIUM).calc(grey(image1), grey(image2), None)
        return None, torch.from_numpy(flow).permute(2, 0, 1)[None]


def test_dynamic_degree_with_raft_equals_vbench(reference, capsys, tmp_path):
    """VBench's own DynamicDegree with its RAFT, loading the original raft-things.pth layout (random
    weights, DataParallel keys), against ``--raft`` on a clip large enough for torchvision's RAFT."""
    from easydict import EasyDict
    from vbench.dynamic_degree import DynamicDegree
    from vbench.third_party.RAFT.core.raft import RAFT

    _, _, ours, _ = reference
    torch.manual_seed(4)
    original = RAFT(EasyDict(small=False, mixed_precision=False, alternate_corr=False))
    weights = tmp_path / "raft-things.pth"
    torch.save({f"module.{k}": v for k, v in original.state_dict().items()}, weights)
    folder = tmp_path / "videos"
    folder.mkdir()
    write_video(Video(varying_clip(16, 136, 200, seed=9, block=8), 24.0, {}), folder / "raft.mp4", lossless=True)
    detector = DynamicDegree(EasyDict(model=str(weights), small=False, mixed_precision=False, alternate_corr=False), "cpu")
    frames = detector.get_frames(str(folder / "raft.mp4"))
    detector.set_params(frame=frames[0], count=len(frames))
    with torch.no_grad():  # as DynamicDegree.infer runs it
        theirs = [detector.get_score(a, detector.model(a, b, iters=20, test_mode=True)[1]) for a, b in zip(frames[:-1], frames[1:])]
    row = synthvid_eval(capsys, folder, [*ours, "--raft", weights])["per_clip"][0]
    assert len(theirs) == 5 and min(theirs) > 0
    print("dynamic degree with RAFT, relative gap of the mean statistic:", gap(row["motion_magnitude"], float(np.mean(theirs))))
    assert gap(row["motion_magnitude"], float(np.mean(theirs))) <= RTOL, (row["motion_magnitude"], theirs)
    assert row["dynamic"] == detector.check_move(theirs)
    temporal = synthvid_eval(capsys, folder, [*ours, "--raft", weights])["temporal"]
    assert not any("DIS" in note for note in temporal["notes"])


def test_motion_smoothness_equals_vbench(reference, capsys, monkeypatch, tmp_path):
    """VBench's own motion_smoothness with its AMT-S (config AMT-S.yaml, random weights saved as
    amt-s.pth holds them) against ``--metrics smoothness --amt``; clips of odd and even frame counts,
    large enough for AMT's correlation pyramid (≥ 128 px)."""
    pytest.importorskip("omegaconf")
    # vbench's AMT code appends its own folder to sys.path, whose regular package `benchmarks` would then
    # win over this repository's benchmarks/ folder (a namespace package) in later tests: undone at the end
    monkeypatch.setattr(sys, "path", list(sys.path))
    from omegaconf import OmegaConf
    from vbench.third_party.amt.utils.build_utils import build_from_cfg

    cache = tmp_path / "cache"
    config = OmegaConf.load(str(Path(vbench_package_dir()) / "third_party" / "amt" / "cfgs" / "AMT-S.yaml")).network
    torch.manual_seed(5)
    weights = cache / "amt_model" / "amt-s.pth"
    weights.parent.mkdir(parents=True)
    torch.save({"state_dict": build_from_cfg(config).state_dict()}, weights)
    folder = tmp_path / "videos"
    folder.mkdir()
    write_video(Video(varying_clip(9, 136, 200, seed=11, block=8), 8.0, {}), folder / "odd.mp4", lossless=True)
    write_video(Video(varying_clip(10, 144, 130, seed=12, block=8), 8.0, {}), folder / "even.mp4", lossless=True)
    value, per_clip = vbench_evaluate(cache, folder, tmp_path / "out", ["motion_smoothness"], monkeypatch)["motion_smoothness"]
    capsys.readouterr()
    assert run(["eval", "--fake", str(folder), "--metrics", "smoothness", "--amt", str(weights), "--json"]) == 0
    result = json.loads(capsys.readouterr().out)
    rows = {row["clip"]: row for row in result["per_clip"]}
    assert result["smoothness"]["clips"] == 2 and 0.05 < value < 0.99, value
    assert abs(per_clip["odd.mp4"] - per_clip["even.mp4"]) > 1e-3, per_clip
    gaps = {"set": gap(result["smoothness"]["value"], value), **{name: gap(rows[name]["motion_smoothness"], v) for name, v in per_clip.items()}}
    print("motion smoothness, relative gaps to vbench:", json.dumps(gaps))
    assert all(g <= RTOL for g in gaps.values()), gaps


def vbench_package_dir() -> str:
    import vbench

    return str(Path(vbench.__file__).parent)


def test_dynamic_degree_rules_equal_vbench(reference, capsys):
    from easydict import EasyDict
    from vbench.dynamic_degree import DynamicDegree
    from vbench.third_party.RAFT.core.utils_core.utils import InputPadder

    from eval.temporal import dynamic_pairs, is_dynamic

    _, videos, ours, _ = reference
    detector = DynamicDegree.__new__(DynamicDegree)  # everything but load_model (RAFT weights): DIS flows instead
    detector.args, detector.device, detector.model = EasyDict(small=False), "cpu", DISAsRAFT()
    rows = {row["clip"]: row for row in synthvid_eval(capsys, videos, ours)["per_clip"]}
    for name, ((height, width), count, fps) in SIZES.items():
        path = str(videos / f"{name}.mp4")
        frames = detector.get_frames(path)
        assert len(frames) == len(range(0, count, max(1, round(fps / 8))))
        detector.set_params(frame=frames[0], count=len(frames))
        theirs = []
        for image1, image2 in zip(frames[:-1], frames[1:]):
            image1, image2 = InputPadder(image1.shape).pad(image1, image2)
            theirs.append(detector.get_score(image1, detector.model(image1, image2)[1]))
        clip = read_video(videos / f"{name}.mp4")
        mine = dynamic_pairs(clip.frames, clip.fps, "vbench")
        assert len(mine) == len(theirs) and min(theirs) > 0
        print(f"dynamic degree, {name}: {len(theirs)} pairs, largest relative gap {np.max(np.abs(mine - theirs) / np.abs(theirs)):.2e}")
        assert np.max(np.abs(mine - theirs) / np.abs(theirs)) <= RTOL, (name, mine, theirs)
        assert is_dynamic(mine, height, width, fps, "vbench") == detector.check_move(theirs)
        # the rule alone: every frame count up to 12 (round(4·n/16) is 0 for n ≤ 2 and halves go to even),
        # every number of pairs above the threshold
        for n in range(1, 13):
            detector.set_params(frame=torch.zeros(1, 3, height, width), count=n)
            for above in range(n):
                scores = [2 * detector.params["thres"]] * above + [detector.params["thres"]] * (n - 1 - above)
                assert is_dynamic(np.array(scores), height, width, fps, "vbench") == detector.check_move(scores), (n, above)
        assert rows[f"{name}.mp4"]["dynamic"] == detector.infer(path)
