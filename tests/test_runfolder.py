"""genkit.runfolder: the layout of a run, and that a failing run keeps what it had done."""

from __future__ import annotations

import json

import pandas as pd
import pytest

from genkit.errors import RunFolderError, SuiteError
from genkit.runfolder import RunFolder, agreement, render_world_suite
from genkit.suites import SuiteItem


def test_a_failing_run_keeps_its_rows_and_says_why(tmp_path):
    with pytest.raises(RuntimeError):
        with RunFolder.create(tmp_path / "run", {"seed": 3}) as run:
            run.add({"prompt_id": "a", "value": 1})
            run.add({"prompt_id": "b", "value": 2})
            raise RuntimeError("disk on fire")
    assert list(pd.read_parquet(tmp_path / "run" / "results.parquet")["prompt_id"]) == ["a", "b"]
    record = json.loads((tmp_path / "run" / "run.json").read_text())
    assert record["status"] == "failed" and record["error"] == "RuntimeError: disk on fire"
    assert record["rows"] == 2 and record["seed"] == 3
    assert record["versions"]["python"] and record["versions"]["numpy"] and record["hardware"]["cpus"] >= 1


def test_an_interrupted_run_is_marked_interrupted(tmp_path):
    with pytest.raises(KeyboardInterrupt):
        with RunFolder.create(tmp_path / "run", {}) as run:
            run.add({"prompt_id": "a"})
            raise KeyboardInterrupt
    assert json.loads((tmp_path / "run" / "run.json").read_text())["status"] == "interrupted"


def test_clip_names_are_safe_and_unique(tmp_path):
    run = RunFolder.create(tmp_path / "run", {})
    paths = [run.clip_path(i) for i in ("a b", "a_b", "../../etc/passwd", "", "ok-1")]
    assert [p.name for p in paths] == ["a_b.mp4", "a_b-2.mp4", "etc_passwd.mp4", "clip.mp4", "ok-1.mp4"]
    assert all(p.parent == run.clips_dir for p in paths)


def test_create_refuses_what_is_not_an_empty_or_run_folder(tmp_path):
    (tmp_path / "file").write_text("x")
    with pytest.raises(RunFolderError, match="exists and is not a folder"):
        RunFolder.create(tmp_path / "file", {})
    RunFolder.create(tmp_path / "run", {}).close()
    with pytest.raises(RunFolderError, match="already holds a run"):
        RunFolder.create(tmp_path / "run", {})
    RunFolder.create(tmp_path / "run", {}, overwrite=True)


def test_render_world_suite_rows_match_the_files(tmp_path):
    items = [
        SuiteItem("a blue diamond moving right on a white background", "x/1", "demo", {"k": 1}),
        SuiteItem("a large black cross moving up on a yellow background", "x 1"),
    ]
    with RunFolder.create(tmp_path / "run", {}) as run:
        rows = list(render_world_suite(run, items, frames=6, size="40x32", fps=6, seed=10, crf=23))
    table = pd.read_parquet(tmp_path / "run" / "results.parquet")
    assert list(table["path"]) == ["clips/x_1.mp4", "clips/x_1-2.mp4"]
    assert all((tmp_path / "run" / path).stat().st_size == size for path, size in zip(table["path"], table["file_bytes"]))
    assert list(table["seed"]) == [10, 11] and set(table["width"]) == {40} and set(table["height"]) == {32}
    assert table.loc[0, "dimension"] == "demo" and json.loads(table.loc[0, "extra"]) == {"k": 1}
    assert list(table["size"]) == ["medium", "large"]
    assert agreement(rows)["all"] == 1.0


def test_a_prompt_outside_the_world_names_the_suite_and_the_prompt(tmp_path):
    items = [SuiteItem("a red circle moving left on a blue background", "0"), SuiteItem("a cat on a sofa", "cat")]
    run = RunFolder.create(tmp_path / "run", {})
    with pytest.raises(SuiteError, match=r"^prompts\.csv: prompt cat: prompt 'a cat on a sofa'"):
        next(render_world_suite(run, items, suite_path="prompts.csv"))
    assert list(run.clips_dir.iterdir()) == []  # checked before the first clip
