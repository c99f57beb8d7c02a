"""``synthvid bench``: a real run end to end (shapes-world renders as the model, every clip watermarked,
signed, registered, scored and committed to the SQLite ledger), resuming, refusing another config,
a failing item that does not stop the run, and bad input."""

from __future__ import annotations

import json
import sqlite3
from contextlib import closing

import pandas as pd
import pytest
from bench_helpers import FULL, PROMPTS, SMALL, bench, complete_run, write_suite

from genkit.ledger import Ledger, item_key

pytestmark = pytest.mark.slow  # real benchmark runs in subprocesses


@pytest.fixture(scope="module")
def base(tmp_path_factory):
    return tmp_path_factory.getbasetemp()


@pytest.fixture(scope="module")
def run(base):
    return complete_run(base, "bench-full")


def test_bench_fills_a_run_folder_with_one_scored_row_per_item(run):
    table = pd.read_parquet(run / "results.parquet")
    assert len(table) == len(PROMPTS) * 2
    assert sorted(zip(table.prompt_index, table.sample_index)) == [(i, k) for i in range(len(PROMPTS)) for k in range(2)]
    assert (table.status == "ok").all() and table.error.isna().all()
    assert (table.verdict == "TRUSTED").all()  # every clip verified with the run's own trust anchor and repository
    assert table.match_all.all()  # the renderer draws what the prompt says; the analyzer reads it back
    for column in (
        "clipsim",
        "clip_temp",
        "temporal_flickering",
        "warping_error",
        "watermark_found",
        "wm_h_264_crf_28",
        "p_synthetic",
        "payload",
        "manifest_id",
        "seed",
        "generate_seconds",
        "verify_seconds",
    ):
        assert column in table.columns, column
    assert table.clipsim.between(-1, 1).all() and table.clipsim.notna().all()
    assert table.seed.nunique() == len(table)
    for path in table.path:
        assert (run / path).is_file()

    with Ledger(run / "ledger.sqlite", readonly=True) as ledger:
        assert ledger.integrity() == "ok"
        assert ledger.count("ok") == len(table)
        assert len(ledger.item_features()) == len(table)
        assert len(ledger.reference_features()) == len(PROMPTS)

    record = json.loads((run / "run.json").read_text())
    assert record["status"] == "complete" and record["items_ok"] == len(table)
    assert record["config"]["seed"] == 0 and record["config"]["items"] == len(table)
    assert {"python", "numpy", "torch"} <= set(record["versions"])
    assert "cpus" in record["hardware"] and "git" in record

    metrics = json.loads((run / "metrics.json").read_text())
    assert metrics["fvd"]["n_fake"] == len(table) and metrics["fvd"]["n_real"] == len(PROMPTS)
    assert metrics["fvd"]["value"] >= 0
    assert metrics["verdicts"] == {"TRUSTED": len(table)}
    assert metrics["means"]["clipsim"] == pytest.approx(table.clipsim.mean())
    assert set(metrics["breakdowns"]["expected_color"]) == {"red", "green", "yellow"}


def test_every_item_records_what_identifies_it(run):
    """Content hash of the generated frames (before the watermark), hash of the delivered file, weights,
    seed, software and CPU kernel set: in the ledger and in results.parquet."""
    from importlib.metadata import version

    import torch

    from genkit.world import render
    from provenance.credentials import sha256_file
    from provenance.media import frames_sha256

    table = pd.read_parquet(run / "results.parquet")
    with Ledger(run / "ledger.sqlite", readonly=True) as ledger:
        ledger_rows = {(r["prompt_index"], r["sample_index"]): r for r in ledger.rows()}
    for row in table.to_dict("records"):
        # shapes-world draws exactly what its prompt and seed say: render it again, hash it
        frames = render(row["prompt"], frames=row["frames"], size=(row["height"], row["width"]), fps=row["fps"], seed=row["seed"]).frames
        assert row["content_sha256"] == frames_sha256(frames)
        assert row["file_sha256"] == sha256_file(run / row["path"])  # the delivered, watermarked and signed file
        assert row["weights_sha256"] is None  # a renderer has no weights; its code is in `software`
        assert row["cpu_capability"] == str(torch.backends.cpu.get_cpu_capability()) and row["device"] == "cpu"
        assert "synthvid=" in row["software"] and f"torch={version('torch')}" in row["software"] and "ffmpeg=" in row["software"]
        stored = ledger_rows[row["prompt_index"], row["sample_index"]]
        for column in ("content_sha256", "file_sha256", "weights_sha256", "seed", "software", "cpu_capability"):
            assert stored[column] == row[column], column


def test_rerunning_the_same_command_resumes_and_makes_nothing(run, base):
    before = (run / "ledger.sqlite").stat().st_mtime_ns, pd.read_parquet(run / "results.parquet")
    done = bench(base, "bench", "suite.txt", "--out", run.name, *FULL, *SMALL, "--json")
    summary = json.loads(done.stdout)
    assert summary["done_before"] == len(PROMPTS) * 2 and summary["made_now"] == 0
    assert summary["status"] == "complete"
    after = pd.read_parquet(run / "results.parquet")
    pd.testing.assert_frame_equal(before[1], after)


def test_another_config_is_refused_in_one_line_and_the_run_is_kept(run, base):
    done = bench(base, "bench", "suite.txt", "--out", run.name, *FULL, *SMALL, "--seed", "5", check_exit=2)
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"error: {run.name}: holds a run made with another config"), done.stderr
    assert "seed" in lines[0]
    assert len(pd.read_parquet(run / "results.parquet")) == len(PROMPTS) * 2


def test_a_clip_that_cannot_be_written_fails_alone_and_a_rerun_finishes_it(tmp_path):
    write_suite(tmp_path)
    args = ("bench", "suite.txt", "--out", "run", *SMALL, "--metrics", "analyzer")
    bench(tmp_path, *args, "--num-shards", "3", "--shard-index", "0")  # makes the run folder and item 0
    blocker = tmp_path / "run" / "clips" / "0001.mp4"
    blocker.mkdir()  # item 1's clip path is a folder: signing refuses it
    done = bench(tmp_path, *args, "--json", check_exit=1)
    summary = json.loads(done.stdout)
    assert summary["made_now"] == 2 and summary["failed_now"] == 1 and summary["status"] == "incomplete"
    table = pd.read_parquet(tmp_path / "run" / "results.parquet")
    failed = table[table.status == "failed"]
    assert list(failed.prompt_index) == [1]
    assert "is a directory" in failed.error.iloc[0]
    assert (table[table.status == "ok"].prompt_index.tolist()) == [0, 2]

    blocker.rmdir()
    done = bench(tmp_path, *args, "--json")
    summary = json.loads(done.stdout)
    assert summary["made_now"] == 1 and summary["status"] == "complete"
    table = pd.read_parquet(tmp_path / "run" / "results.parquet")
    assert (table.status == "ok").all() and len(table) == len(PROMPTS)
    with closing(sqlite3.connect(tmp_path / "run" / "ledger.sqlite")) as db:
        assert db.execute("SELECT count(*) FROM items WHERE key = ?", (item_key(1, 0),)).fetchone()[0] == 1


def test_bad_input_is_one_line_and_exit_2(tmp_path):
    write_suite(tmp_path)
    done = bench(tmp_path, "bench", "missing.txt", "--out", "run", *SMALL, check_exit=2)
    assert done.stderr.strip().startswith("error: ") and len(done.stderr.strip().splitlines()) == 1
    done = bench(tmp_path, "bench", "suite.txt", "--out", "run", *SMALL, "--metrics", "clipsim,speed", check_exit=2)
    assert "--metrics speed: unknown" in done.stderr
    done = bench(tmp_path, "bench", "suite.txt", "--out", "run", *SMALL, "--num-shards", "2", "--shard-index", "2", check_exit=2)
    assert "--shard-index 2" in done.stderr
    assert not (tmp_path / "run").exists()


def test_bench_help_shows_an_example(tmp_path):
    done = bench(tmp_path, "bench", "run", "--help")
    assert "Example: synthvid bench shapes-smoke" in " ".join(done.stdout.split())
    done = bench(tmp_path, "bench", "merge", "--help")
    assert "Example: synthvid bench merge" in " ".join(done.stdout.split())
