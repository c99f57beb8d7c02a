"""``synthvid eval``: a rendered run folder against its own world reference (FVD exactly 0) and another
seed's, plain folders with prompt files, unreadable clips, bad input; ``python -m eval`` stays light.

The commands run in-process through the umbrella's runner (the same code path as the console
script, without paying torch's import again per test); tiny random models stand in for the shipped ones.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from eval_helpers import rendered_world_run, save_tiny_clip

from eval.video_encoder import TinyVideoConfig, TinyVideoEncoder
from genkit.cli import run

PROMPTS = [
    "a red circle moving left on a blue background",
    "a green square moving right on a black background",
    "a yellow star standing still on a magenta background",
]


@pytest.fixture(scope="module")
def models(tmp_path_factory) -> list[str]:
    root = tmp_path_factory.mktemp("models")
    torch.manual_seed(0)
    TinyVideoEncoder(TinyVideoConfig(frames=8, size=32, channels=(8, 16, 16), groups=4, feature_dim=12)).save(root / "video")
    save_tiny_clip(root / "clip", seed=1)
    return ["--fvd-extractor", f"synthvid-tiny-video:{root / 'video'}", "--clip-model", f"local-dir:{root / 'clip'}"]


@pytest.fixture(scope="module")
def world_run(tmp_path_factory) -> tuple[Path, Path]:
    """A run folder from ``synthvid world render`` and its suite file."""
    return rendered_world_run(tmp_path_factory.mktemp("world"), PROMPTS, 32)


def eval_json(capsys, *args) -> tuple[int, dict | None, str]:
    """Exit code, the JSON printed, and stderr of ``synthvid eval ARGS --json``."""
    capsys.readouterr()
    code = run(["eval", *map(str, args), "--json"])
    captured = capsys.readouterr()
    return code, (json.loads(captured.out) if captured.out.strip() else None), captured.err


def test_run_folder_against_its_own_world_reference_and_another_seed(capsys, models, world_run):
    folder, suite = world_run
    bench_metrics = '{"fvd": {"value": 1.0}, "written_by": "synthvid bench"}\n'
    (folder / "metrics.json").write_text(bench_metrics)
    code, same, _ = eval_json(capsys, "--fake", folder, "--reference", f"world:{suite}", *models)
    assert code == 0, same
    assert same["metrics"] == ["fvd", "clipsim", "temporal"]  # a run folder brings its prompts
    assert same["fvd"]["n_real"] == same["fvd"]["n_fake"] == 3
    assert same["fvd"]["value"] == pytest.approx(0.0, abs=1e-6)  # the same renders, seeds and H.264 settings
    assert "fewer than 256" in same["fvd"]["warning"] and same["fvd"]["label"].startswith("FVD-tiny")
    assert -1.0 <= same["clipsim"]["value"] <= 1.0 and same["clipsim"]["clips"] == 3
    assert set(same["temporal"]) >= {
        "clip_temp",
        "subject_consistency",
        "background_consistency",
        "temporal_flickering",
        "warping_error",
        "motion_magnitude",
        "dynamic_degree",
    }
    rows = same["per_clip"]
    assert [row["prompt"] for row in rows] == PROMPTS and all(row["frames"] == 8 for row in rows)
    assert json.loads((folder / "eval.json").read_text())["fvd"]["value"] == same["fvd"]["value"]
    assert (folder / "metrics.json").read_text() == bench_metrics  # the bench's file is the bench's
    code, other, _ = eval_json(capsys, "--fake", folder, "--reference", f"world:{suite}", "--reference-seed", "50", "--metrics", "fvd", *models)
    assert code == 0 and other["fvd"]["value"] > 1e-6 and "clipsim" not in other
    # without FVD the clips are decoded 16 frames at a time, never whole: the same rows
    code, streamed, _ = eval_json(capsys, "--fake", folder, "--metrics", "clipsim,temporal", *models)
    assert code == 0 and [row["clip"] for row in streamed["per_clip"]] == [row["clip"] for row in rows]
    for whole_row, streamed_row in zip(rows, streamed["per_clip"]):
        whole_row.pop("in_domain")  # judged for FVD-tiny, an embedded encoder; the streamed run uses none
        assert streamed_row.keys() == whole_row.keys()
        for key, value in whole_row.items():
            assert streamed_row[key] == (pytest.approx(value, rel=1e-6, abs=1e-9) if isinstance(value, float) else value), key


def test_plain_folder_with_prompt_file_and_a_broken_clip(capsys, models, world_run, tmp_path):
    folder, _ = world_run
    clips = tmp_path / "clips"
    clips.mkdir()
    for index, source in enumerate(sorted((folder / "clips").glob("*.mp4"))):
        (clips / f"c{index}.mp4").write_bytes(source.read_bytes())
    (clips / "c9.mp4").write_bytes(b"\x00\x00\x00\x18ftypisom" + bytes(40))  # sorted last: no prompt needed for it
    prompts = tmp_path / "prompts.jsonl"
    prompts.write_text(
        "\n".join(json.dumps({"clip": f"c{i}.mp4", "prompt": p}) for i, p in enumerate(PROMPTS))
        + "\n"
        + json.dumps({"clip": "c9", "prompt": PROMPTS[0]})
        + "\n"
    )
    code, result, err = eval_json(capsys, "--fake", clips, "--real", folder, "--prompts", prompts, *models)
    assert code == 2  # the broken clip is reported, the others are scored
    assert [row["clip"] for row in result["per_clip"]] == ["c0.mp4", "c1.mp4", "c2.mp4"]
    assert len(result["failed"]) == 1 and result["failed"][0]["path"].endswith("c9.mp4")
    assert result["fvd"]["value"] == pytest.approx(0.0, abs=1e-6)  # the same three clips on both sides
    assert err.count("error: ") == 1 and "c9.mp4: " in err


def test_table_output_lists_every_clip(capsys, models, world_run):
    folder, _ = world_run
    capsys.readouterr()
    assert run(["eval", "--fake", str(folder), "--metrics", "temporal", *models]) == 0
    out = capsys.readouterr().out
    assert "Per-clip scores" in out and out.count("clips/") >= 3 and "Temporal (protocol synthvid):" in out


@pytest.mark.parametrize(
    "args,message",
    [
        (["--fake", "{tmp}/absent"], "absent: no such folder"),
        (["--fake", "{run}", "--metrics", "fvd"], "FVD needs a reference set"),
        (["--fake", "{tmp}/empty"], "holds no video files"),
        (["--fake", "{run}", "--prompts", "{tmp}/two.txt"], "has 2 prompts for 3 clips"),
        (
            ["--fake", "{run}", "--reference", "world:{tmp}/two.txt", "--metrics", "fvd", "--fvd-extractor", "i3d:{tmp}/none.pt"],
            "none.pt: no such I3D checkpoint",
        ),
        (["--fake", "{run}", "--protocol", "vbench2"], "unknown or repeated protocol 'vbench2'"),
        (["--fake", "{run}", "--protocol", "cd-fvd,fvd2048_16f"], "unknown or repeated protocol 'fvd2048_16f'"),
        (["--fake", "{run}", "--metrics", "clipsim", "--protocol", "vbench"], "vbench is a protocol of the temporal and aesthetic metrics"),
        (["--fake", "{run}", "--metrics", "aesthetic"], "aesthetic quality needs --aesthetic-head FILE"),
        (
            ["--fake", "{run}", "--aesthetic-head", "{tmp}/none.pth"],
            "none.pth: no such LAION aesthetic head checkpoint: VBench uses LAION's sa_0_4_vit_l_14_linear.pth",
        ),
        (["--fake", "{run}", "--aesthetic-head", "{tmp}/two.txt"], "two.txt: not a LAION aesthetic head checkpoint"),
        (["--fake", "{run}", "--aesthetic-head", "{tmp}/head768.pth"], "tensor weight has shape [1, 768], the aesthetic head on 96-wide"),
        (["--fake", "{run}", "--metrics", "imaging"], "imaging quality needs --musiq FILE"),
        (["--fake", "{run}", "--metrics", "smoothness"], "motion smoothness needs --amt FILE"),
        (["--fake", "{run}", "--raft", "{tmp}/none.pth"], "none.pth: --raft is the flow of VBench's dynamic degree"),
        (["--fake", "{run}", "--metrics", "temporal", "--protocol", "vbench", "--raft", "{tmp}/none.pth"], "none.pth: no such RAFT checkpoint"),
        (["--fake", "{run}", "--metrics", "temporal", "--protocol", "vbench", "--raft", "{tmp}/head768.pth"], "head768.pth: keys differ from RAFT"),
        (["--fake", "{run}", "--musiq", "{tmp}/none.pth"], "none.pth: no such MUSIQ checkpoint: VBench's imaging quality uses pyiqa's"),
        (["--fake", "{run}", "--musiq", "{tmp}/two.txt"], "two.txt: not a MUSIQ checkpoint"),
        (["--fake", "{run}", "--musiq", "{tmp}/head768.pth"], "head768.pth: keys differ from pyiqa's MUSIQ"),
        (
            ["--fake", "{run}", "--metrics", "temporal", "--protocol", "vbench", "--subject-encoder", "timm:resnet18"],
            "the vbench protocol runs subject consistency's encoder as DINO's ViT",
        ),
    ],
)
def test_bad_input_exits_2_with_one_line(capsys, world_run, tmp_path, args, message):
    folder, _ = world_run
    (tmp_path / "empty").mkdir()
    (tmp_path / "two.txt").write_text("a red circle moving left on a blue background\na blue circle moving up on a red background\n")
    torch.save(torch.nn.Linear(768, 1).state_dict(), tmp_path / "head768.pth")  # LAION's ViT-L/14 head; the tiny CLIP is narrower
    argv = [a.format(tmp=tmp_path, run=folder) for a in args]
    capsys.readouterr()
    assert run(["eval", *argv]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("error: ") and message in err[0], err


def test_module_entry_point_help_imports_nothing_heavy():
    code = (
        "import sys, runpy; sys.argv = ['eval', '--help']\n"
        "try:\n    runpy.run_module('eval', run_name='__main__')\nexcept SystemExit:\n    pass\n"
        "print('HEAVY:' + ' '.join(m for m in ('torch', 'open_clip', 'torchmetrics', 'genkit', 'av') if m in sys.modules))"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert "eval" in done.stdout
    assert "eval-train" not in done.stdout  # training needs the shapes world: a genkit command (synthvid eval-train)
    assert done.stdout.strip().splitlines()[-1] == "HEAVY:", done.stdout[-300:]


def test_reference_statistics_file_replaces_the_clips_end_to_end(capsys, models, world_run, tmp_path):
    folder, suite = world_run
    stats = tmp_path / "world.npz"
    code, direct, _ = eval_json(
        capsys, "--fake", folder, "--reference", f"world:{suite}", "--reference-seed", "50", "--metrics", "fvd", "--save-reference", stats, *models
    )
    assert code == 0 and stats.is_file() and direct["fvd"]["protocol"] == "synthvid"
    assert direct["fvd"]["label"].endswith("protocol synthvid") and "÷N−1" in direct["fvd"]["protocol_description"]
    code, from_file, _ = eval_json(capsys, "--fake", folder, "--reference", stats, "--metrics", "fvd", *models)
    assert code == 0 and from_file["reference"] == str(stats) and from_file["fvd"]["n_real"] == 3
    assert from_file["fvd"]["value"] == pytest.approx(direct["fvd"]["value"], rel=1e-9) and direct["fvd"]["value"] > 1e-6
    other = tmp_path / "other-video"
    torch.manual_seed(7)  # the same architecture, other weights: statistics of another feature space
    TinyVideoEncoder(TinyVideoConfig(frames=8, size=32, channels=(8, 16, 16), groups=4, feature_dim=12)).save(other)
    argv = [
        "eval",
        "--fake",
        str(folder),
        "--reference",
        str(stats),
        "--metrics",
        "fvd",
        "--fvd-extractor",
        f"synthvid-tiny-video:{other}",
        *models[2:],
    ]
    capsys.readouterr()
    assert run(argv) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith(f"error: {stats}: made with synthvid-tiny-video (weights sha256 "), err
    capsys.readouterr()
    assert run(["eval", "--fake", str(folder), "--metrics", "fvd", "--protocol", "cd-fvd", "--reference", f"world:{suite}", *models]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "protocol cd-fvd is defined for i3d and videomae features, not synthvid-tiny-video" in err[0], err


@pytest.mark.slow
def test_python_m_eval_says_world_references_need_the_umbrella(tmp_path):
    """eval cannot render the shapes world (genkit sits above it): only `synthvid eval` hands the renderer in."""
    done = subprocess.run(
        [sys.executable, "-m", "eval", "eval", "--fake", str(tmp_path), "--reference", "world:shapes-smoke"],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 2
    assert "run `synthvid eval`" in done.stderr and "Traceback" not in done.stderr, done.stderr


def test_aesthetic_quality_is_the_heads_rating_over_ten_averaged_over_frames(capsys, models, world_run, tmp_path):
    from eval.encoders import load_clip
    from provenance.media import read_video

    folder, _ = world_run
    clip_args = models[2:]
    constant, first_axis = torch.nn.Linear(32, 1), torch.nn.Linear(32, 1)
    with torch.no_grad():
        constant.weight.zero_(), constant.bias.fill_(7.0)
        first_axis.weight.zero_(), first_axis.weight[0, 0].fill_(1.0), first_axis.bias.zero_()
    torch.save(constant.state_dict(), tmp_path / "constant.pth")
    torch.save(first_axis.state_dict(), tmp_path / "first_axis.pth")
    code, result, err = eval_json(capsys, "--fake", folder, "--metrics", "aesthetic", *clip_args, "--aesthetic-head", tmp_path / "constant.pth")
    assert code == 0, err
    assert result["metrics"] == ["aesthetic"] and result["aesthetic"]["clips"] == len(PROMPTS)
    assert result["aesthetic"]["value"] == pytest.approx(0.7) and all(row["aesthetic_quality"] == pytest.approx(0.7) for row in result["per_clip"])
    code, result, err = eval_json(capsys, "--fake", folder, "--metrics", "aesthetic", *clip_args, "--aesthetic-head", tmp_path / "first_axis.pth")
    assert code == 0, err
    encoder = load_clip(clip_args[1])
    expected = [float(encoder.encode_frames(read_video(folder / row["clip"]).frames)[:, 0].mean()) / 10 for row in result["per_clip"]]
    assert [row["aesthetic_quality"] for row in result["per_clip"]] == pytest.approx(expected, rel=1e-5)
    assert result["aesthetic"]["value"] == pytest.approx(sum(expected) / len(expected), rel=1e-5)
    assert len(set(round(v, 6) for v in expected)) > 1  # the clips differ, so the mean proves the per-clip order too
    assert result["aesthetic"]["protocol"] == "synthvid" and "notes" not in result["aesthetic"]
