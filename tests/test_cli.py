"""The synthvid command line, run as a user runs it: a subprocess, real files, real exit codes."""

from __future__ import annotations

import importlib
import json
import os
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from genkit.world import COLORS, parse_prompt
from provenance.media import read_video

SUITE = [
    "a red circle moving left on a blue background",
    "a small white star moving up on a textured black background",
    "a cyan cross standing still on a magenta background with noise",
]


def test_help_lists_commands_with_descriptions_and_examples(synthvid):
    top = synthvid("--help", check_exit=0).stdout
    assert "world" in top and "Shapes world: render clips from prompts" in top
    world = synthvid("world", "--help", check_exit=0).stdout
    for command, description in [
        ("render", "Render a prompt or a prompt suite"),
        ("analyze", "Recover background, object colour"),
        ("vocab", "Print the shapes-world grammar"),
        ("prompts", "Print every prompt of the core grammar"),
    ]:
        assert command in world and description in world
        assert "Example: synthvid world " + command in synthvid("world", command, "--help", check_exit=0).stdout


def test_console_script_and_module_entry_point_agree(synthvid):
    script = Path(sys.executable).parent / "synthvid"
    done = subprocess.run([str(script), "--version"], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0
    assert done.stdout == synthvid("--version", check_exit=0).stdout
    assert done.stdout.startswith("synthvid ")


def test_help_does_not_import_heavy_libraries():
    code = "import sys, genkit.cli; print(' '.join(m for m in ('torch', 'diffusers', 'open_clip') if m in sys.modules))"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == ""


def test_verify_through_the_umbrella_imports_no_heavy_library(tmp_path, mp4):
    """``synthvid verify`` (the detector's estimate included) answers without torch, diffusers or open_clip."""
    code = (
        "import sys\nfrom genkit.cli import run\n"
        f"code = run(['verify', {str(mp4)!r}, '--json'])\n"
        "print('EXIT', code, 'HEAVY', sorted(m for m in ('torch', 'diffusers', 'open_clip') if m in sys.modules), file=sys.stderr)\n"
    )
    env = {**os.environ, "SYNTHVID_HOME": str(tmp_path / "home")}
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=120)
    assert "EXIT 1 HEAVY []" in done.stderr, done.stderr[-2000:]  # a clip without provenance: exit 1
    assert json.loads(done.stdout)[0]["verdict"] == "NO_PROVENANCE"


def test_every_genkit_command_module_is_mounted_by_the_umbrella():
    """genkit/commands/ holds one module per top-level command or group (its ``app``); the umbrella
    mounts each of them and defines no command of its own."""
    import pkgutil

    import genkit.commands
    from genkit import cli

    modules = {f"genkit.commands.{info.name}" for info in pkgutil.iter_modules(genkit.commands.__path__)}
    assert modules - {"genkit.commands.common"} <= set(cli.PACKAGE_CLIS)
    assert not cli.app.registered_commands
    assert [group.typer_instance for group in cli.app.registered_groups] == [importlib.import_module(name).app for name in cli.PACKAGE_CLIS]


def test_a_genkit_command_module_runs_without_the_umbrella(capsys):
    from genkit.commands import world
    from genkit.world import SHAPES
    from provenance.cli import run_typer_app

    code = run_typer_app(world.app, ["world", "vocab", "--json"], prog_name="synthvid", user_errors=world.USER_ERRORS)
    assert code == 0
    assert json.loads(capsys.readouterr().out)["shapes"] == list(SHAPES)


def test_render_suite_then_analyze_round_trip(synthvid, tmp_path):
    (tmp_path / "mine.txt").write_text("\n".join(SUITE) + "\n")
    done = synthvid("world", "render", "--suite", "mine.txt", "--out", "run", "--seed", "7", "--json", check_exit=0)
    summary = json.loads(done.stdout)
    run = tmp_path / "run"
    assert summary["count"] == 3 and summary["analyzer_agreement"]["all"] == 1.0

    table = pd.read_parquet(run / "results.parquet")
    assert list(table["prompt"]) == SUITE
    assert list(table["seed"]) == [7, 8, 9]
    assert table["match_all"].all()
    for column in ("prompt_id", "path", "frames", "width", "height", "fps", "render_seconds", "analyzed_shape", "match_motion"):
        assert column in table.columns
    record = json.loads((run / "run.json").read_text())
    assert record["status"] == "complete" and record["seed"] == 7 and record["rows"] == 3
    assert record["config"]["suite"] == "mine.txt" and record["versions"]["synthvid"]
    assert record["hardware"]["cpus"] >= 1 and "git" in record

    clips = [str(run / path) for path in table["path"]]
    analyzed = json.loads(synthvid("world", "analyze", *clips, "--json", check_exit=0).stdout)
    for result, prompt in zip(analyzed, SUITE):
        spec = parse_prompt(prompt)
        assert (result["background"], result["color"], result["shape"], result["motion"]) == (
            spec.background,
            spec.color,
            spec.shape,
            spec.motion,
        )
        assert (result["frames"], result["width"], result["height"]) == (16, 64, 64)


def test_render_one_prompt_with_size_frames_and_crf(synthvid, tmp_path):
    synthvid("world", "render", SUITE[0], "--out", "one", "--frames", "5", "--size", "48x32", "--fps", "10", "--crf", "30", check_exit=0)
    video = read_video(tmp_path / "one" / "clips" / "0000.mp4")
    assert (video.num_frames, video.width, video.height, video.fps) == (5, 48, 32, 10.0)


def test_bad_prompt_exits_2_with_one_line_listing_the_vocabulary(synthvid, tmp_path):
    done = synthvid("world", "render", "a purple elephant moving left on a blue background", "--out", "run", check_exit=2)
    assert done.stdout == ""
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: prompt 'a purple elephant")
    assert all(color in lines[0] for color in COLORS)
    assert not (tmp_path / "run").exists()  # checked before anything was written


def test_bad_prompt_in_a_suite_names_the_file_and_prompt(synthvid, tmp_path):
    (tmp_path / "bad.csv").write_text("id,prompt\nok,a red circle moving left on a blue background\nnope,a dragon\n")
    done = synthvid("world", "render", "--suite", "bad.csv", "--out", "run", check_exit=2)
    assert done.stderr.startswith("error: bad.csv: prompt nope: prompt 'a dragon'")
    assert len(done.stderr.strip().splitlines()) == 1 and "Traceback" not in done.stderr


def test_debug_shows_the_traceback(synthvid):
    done = synthvid("--debug", "world", "render", "a dragon", "--out", "run", check_exit=2)
    assert "Traceback" in done.stderr and "PromptError" in done.stderr


@pytest.mark.parametrize(
    ("argv", "message", "error_class"),
    [
        (["provenance", "verify", "nowhere.mp4"], "error: nowhere.mp4: no such file", "MediaError"),
        pytest.param(  # python -m eval imports torch and open_clip: about 10 s on 2 cores
            ["eval", "eval", "--fake", "nowhere"], "error: nowhere: no such folder", "InputSetError", marks=pytest.mark.slow
        ),
        (["detectors", "detect", "train", "--data", "nowhere.csv", "--out", "x"], "error: nowhere.csv: no such file or folder", "DatasetError"),
    ],
)
def test_python_m_package_is_one_line_and_its_debug_shows_the_traceback(tmp_path, argv, message, error_class):
    """Every ``python -m <package>`` runs under provenance.cli.standalone_app and run_typer_app: a user error is
    one line and exit 2; ``--debug`` before the command adds the traceback."""
    package, *rest = argv
    for debug in ([], ["--debug"]):
        done = subprocess.run([sys.executable, "-m", package, *debug, *rest], capture_output=True, text=True, cwd=tmp_path, timeout=120)
        assert done.returncode == 2 and done.stdout == ""
        assert done.stderr.strip().splitlines()[-1] == message
        if debug:
            assert "Traceback" in done.stderr and error_class in done.stderr
        else:
            assert done.stderr.strip() == message


def test_missing_files_exit_2_with_one_line_each(synthvid, tmp_path, mp4):
    done = synthvid("world", "render", "--suite", "nowhere.txt", "--out", "run", check_exit=2)
    assert done.stderr.strip() == "error: nowhere.txt: no such file or bundled suite (bundled: shapes-full, shapes-smoke)"

    (tmp_path / "notes.mp4").write_text("not a video")
    done = synthvid("world", "analyze", "missing.mp4", str(mp4), "notes.mp4", "--json", check_exit=2)
    results = json.loads(done.stdout)
    assert [r.get("error", "ok") for r in results] == ["missing.mp4: no such file", "ok", results[2]["error"]]
    assert results[1]["shape"] == "circle"  # the good file among bad ones is still analyzed
    assert results[2]["error"].startswith("notes.mp4: not a readable video")
    assert done.stderr.strip().splitlines() == [f"error: {results[0]['error']}", f"error: {results[2]['error']}"]


def test_existing_run_needs_overwrite(synthvid, tmp_path):
    synthvid("world", "render", SUITE[0], "--out", "run", "--frames", "2", check_exit=0)
    done = synthvid("world", "render", SUITE[1], "--out", "run", "--frames", "2", check_exit=2)
    assert "already holds a run; pass --overwrite" in done.stderr
    synthvid("world", "render", SUITE[1], "--out", "run", "--frames", "2", "--overwrite", check_exit=0)
    assert list(pd.read_parquet(tmp_path / "run" / "results.parquet")["prompt"]) == [SUITE[1]]

    (tmp_path / "mine").mkdir()
    (tmp_path / "mine" / "thesis.tex").write_text("precious")
    done = synthvid("world", "render", SUITE[0], "--out", "mine", "--overwrite", check_exit=2)
    assert "is not a run folder" in done.stderr and (tmp_path / "mine" / "thesis.tex").exists()


def test_usage_errors_exit_2(synthvid):
    assert "give either a PROMPT or --suite" in synthvid("world", "render", "--out", "run", check_exit=2).stderr
    assert "--size" in synthvid("world", "render", SUITE[0], "--out", "run", "--size", "3x", check_exit=2).stderr
    synthvid("world", "render", SUITE[0], "--out", "run", "--frames", "0", check_exit=2)
    synthvid("no-such-command", check_exit=2)


def test_vocab_and_prompts_json(synthvid):
    vocab = json.loads(synthvid("world", "vocab", "--json", check_exit=0).stdout)
    assert list(vocab["colors"]) == list(COLORS) and vocab["core_prompts"] == 1680
    prompts = json.loads(synthvid("world", "prompts", "--json", check_exit=0).stdout)
    assert len(prompts) == 1680 and prompts[0] == "a red circle moving left on a green background"
