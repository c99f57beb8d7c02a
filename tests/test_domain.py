"""Domain honesty: scores of the embedded encoders (synthvid-tiny-clip, FVD-tiny) on clips that are not
shapes-world clips say so in the console, the JSON and report.html, and name what to use instead.

Real footage comes from the shared real-world corpus (skipped when absent); shapes-world clips are
renders. The shipped embedded models score them, as a user would run them.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from eval_helpers import rendered_world_run

from genkit.cli import run
from genkit.world import render, sample_prompts
from genkit.world.analyze import is_world_clip
from provenance.media import read_video, write_video

pytestmark = pytest.mark.slow  # real clips through the CLIP and analyzer paths, benchmark runs

REALWORLD = Path(__file__).resolve().parents[2] / "shared" / "realworld"
# Small camera clips and generated clips of the corpus (names in its manifest.jsonl).
REAL_FILES = ["real/DeepLabCut/data__vid2.mov", "real/DOVER/demo__FEQ-gdkTN4Q_000008_000018.mp4", "real/LivePortrait/driving__d1.mp4"]
AI_FILES = ["ai/AnimateDiff/model_01__01_a4e85ea.gif", "ai/Show-1/gallery__03.mp4", "ai/LaVie/assets__jungle_river_at_sunset__ultra_quality.gif"]
SUITE = [
    "a red circle moving left on a blue background",
    "a green square moving right on a textured black background",
    "a yellow star standing still on a magenta background with noise",
]


def corpus(files: list[str]) -> list[Path]:
    paths = [REALWORLD / name for name in files]
    if not all(p.is_file() for p in paths):
        pytest.skip(f"the real-world corpus is not at {REALWORLD}")
    return paths


@pytest.fixture(scope="module")
def real_folder(tmp_path_factory) -> Path:
    """A folder of links to real camera clips (never copies of them)."""
    folder = tmp_path_factory.mktemp("real")
    for path in corpus(REAL_FILES):
        (folder / path.name).symlink_to(path)
    return folder


@pytest.fixture(scope="module")
def world_folder(tmp_path_factory) -> tuple[Path, Path]:
    return rendered_world_run(tmp_path_factory.mktemp("world"), SUITE, 64)


def test_world_check_tells_renders_from_real_and_generated_footage():
    rng = np.random.default_rng(0)
    for i, prompt in enumerate(sample_prompts(12, rng)):
        clip = render(prompt, frames=8 + 4 * (i % 3), size=[32, 64, (90, 151)][i % 3], seed=i)
        assert is_world_clip(clip), prompt.text
    for name in REAL_FILES + AI_FILES:
        (path,) = corpus([name])
        assert not is_world_clip(read_video(path, max_frames=32)), name


def test_world_check_survives_h264(tmp_path):
    clip = render("a small cyan cross moving up on a textured yellow background with noise", frames=16, size=64, seed=3)
    write_video(clip, tmp_path / "clip.mp4", crf=28)
    assert is_world_clip(read_video(tmp_path / "clip.mp4"))


def eval_run(capsys, *args) -> tuple[int, str, str]:
    capsys.readouterr()
    code = run(["eval", *map(str, args)])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


ENCODED = {"clip_temp", "subject_consistency", "background_consistency"}


def test_real_clips_get_out_of_domain_notes_in_json_and_console(capsys, real_folder, tmp_path):
    code, out, err = eval_run(
        capsys,
        "--fake",
        real_folder,
        "--real",
        real_folder,
        "--metrics",
        "fvd,temporal",
        "--max-frames",
        "16",
        "--json",
        "--out",
        tmp_path / "m.json",
    )
    assert code == 0, err
    result = json.loads(out)
    assert result == json.loads((tmp_path / "m.json").read_text())
    domain = result["domain"]
    assert set(domain) == ENCODED | {"fvd"}
    for metric, note in domain.items():
        assert note.startswith("out-of-domain: "), (metric, note)
    assert "6 of 6 clips" in domain["fvd"] and "--fvd-extractor i3d:i3d_pretrained_400.pt --protocol cd-fvd" in domain["fvd"]
    assert "3 of 3 clips" in domain["clip_temp"]
    assert "--clip-model ViT-B-32-quickgelu --clip-pretrained ViT-B-32.pt" in domain["background_consistency"]
    assert "dino_vitbase16_pretrain.pth" in domain["subject_consistency"]
    assert all(row["in_domain"] is False for row in result["per_clip"])
    code, out, err = eval_run(capsys, "--fake", real_folder, "--metrics", "temporal", "--max-frames", "16")
    assert code == 0, err
    for metric in ENCODED:
        assert f"{metric}: out-of-domain: 3 of 3 clips are not shapes-world clips" in out, out
    # an encoder that is not an embedded one gets no note
    code, out, err = eval_run(capsys, "--fake", real_folder, "--metrics", "temporal", "--max-frames", "4", "--clip-model", "ViT-B-32", "--json")
    assert code == 0, err
    assert "domain" not in json.loads(out) and "in_domain" not in json.loads(out)["per_clip"][0]


def test_renders_get_in_domain_notes(capsys, world_folder):
    folder, suite = world_folder
    code, out, err = eval_run(capsys, "--fake", folder, "--reference", f"world:{suite}", "--json")
    assert code == 0, err
    domain = json.loads(out)["domain"]
    assert set(domain) == ENCODED | {"fvd", "clipsim"}
    assert all(note.startswith("in-domain: all ") for note in domain.values()), domain
    assert "all 6 clips" in domain["fvd"] and "all 3 clips" in domain["clipsim"]
    code, out, err = eval_run(capsys, "--fake", folder, "--metrics", "clipsim,temporal")
    assert code == 0, err
    assert "clipsim: in-domain" in out and "out-of-domain" not in out and "domain unknown" not in out


def test_python_m_eval_says_domain_unknown(capsys, world_folder):
    from eval.cli import USER_ERRORS, _standalone_app
    from provenance.cli import run_typer_app

    folder, _ = world_folder
    capsys.readouterr()
    code = run_typer_app(
        _standalone_app(), ["eval", "--fake", str(folder), "--metrics", "clipsim", "--json"], prog_name="python -m eval", user_errors=USER_ERRORS
    )
    captured = capsys.readouterr()
    assert code == 0, captured.err
    note = json.loads(captured.out)["domain"]["clipsim"]
    assert note.startswith("domain unknown: embedded encoders are trained on the shapes world only"), note
    assert "--clip-model ViT-B-32-quickgelu" in note


def real_run_folder(root: Path) -> Path:
    """A run folder whose table lists real clips (links), with prompts, as `synthvid generate` writes one."""
    folder = root / "real-run"
    (folder / "clips").mkdir(parents=True)
    paths = []
    for path in corpus(REAL_FILES):
        (folder / "clips" / path.name).symlink_to(path)
        paths.append(f"clips/{path.name}")
    pd.DataFrame({"path": paths, "prompt": ["a person moving"] * len(paths), "prompt_id": [f"p{i}" for i in range(len(paths))]}).to_parquet(
        folder / "results.parquet", index=False
    )
    return folder


def test_report_html_warns_on_real_clips_and_not_on_renders(capsys, world_folder, tmp_path):
    real = real_run_folder(tmp_path)
    world, _ = world_folder
    for folder in (real, world):
        code, _, err = eval_run(capsys, "--fake", folder, "--metrics", "clipsim,temporal", "--max-frames", "16")
        assert code == 0, err
        assert "domain" in json.loads((folder / "eval.json").read_text())  # synthvid eval's own file
        assert run(["report", str(folder)]) == 0
    page = (real / "report.html").read_text()
    assert page.count('<p class="warn">') == 4 and "clipsim: out-of-domain: 3 of 3 clips" in page
    assert "--clip-model ViT-B-32-quickgelu --clip-pretrained ViT-B-32.pt" in page
    page = (world / "report.html").read_text()
    assert '<p class="warn">' not in page and "out-of-domain" not in page and "clipsim: in-domain: all 3 clips" in page


def test_bench_of_world_prompts_is_in_domain(tmp_path):
    from bench_helpers import SMALL, bench, write_suite

    write_suite(tmp_path, SUITE)
    bench(tmp_path, "bench", "suite.txt", "--out", "run", "--metrics", "clipsim,temporal,fvd", "--no-provenance", *SMALL)
    metrics = json.loads((tmp_path / "run" / "metrics.json").read_text())
    assert set(metrics["domain"]) == ENCODED | {"fvd", "clipsim"}
    assert all(note.startswith("in-domain: all ") for note in metrics["domain"].values()), metrics["domain"]
    assert "all 6 clips" in metrics["domain"]["fvd"]  # 3 items and the suite's 3 world renders
    assert pd.read_parquet(tmp_path / "run" / "results.parquet")["in_domain"].all()
    assert run(["report", str(tmp_path / "run")]) == 0
    assert '<p class="warn">' not in (tmp_path / "run" / "report.html").read_text()
