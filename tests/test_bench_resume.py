"""Safe to interrupt, and the same results however the work is spread: a real ``synthvid bench`` killed
with SIGKILL at random moments and resumed ends with every item exactly once and an intact ledger;
two torchrun ranks (gloo on CPU) and two job-array shards + ``bench merge`` give the single process's
results."""

from __future__ import annotations

import json
import shutil
import signal
import sqlite3
import subprocess
import sys
import time
from contextlib import closing

import numpy as np
import pandas as pd
import pytest
from bench_helpers import SMALL, bench, bench_env, write_suite

from genkit.compare import compare_runs
from genkit.ledger import Ledger

pytestmark = pytest.mark.slow

KILLS = 10


def _ledger_rows(path) -> int:
    """Finished rows in a ledger that another process is writing (0 before it exists)."""
    if not path.is_file():
        return 0
    try:
        with closing(sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=5)) as db:
            return db.execute("SELECT count(*) FROM items").fetchone()[0]
    except sqlite3.DatabaseError:
        return 0


def test_a_run_killed_at_random_moments_resumes_to_every_item_exactly_once(tmp_path):
    prompts = [
        "a red circle moving left on a blue background",
        "a green square moving right on a black background",
        "a yellow star standing still on a white background",
        "a cyan triangle moving up on a magenta background",
    ]
    total = len(prompts) * 6
    write_suite(tmp_path, prompts)
    args = [
        "bench",
        "suite.txt",
        "--out",
        "run",
        *SMALL,
        "-n",
        "6",
        "--metrics",
        "analyzer",
        "--batch-size",
        "2",
        "--keys",
        str(tmp_path / "home" / "keys"),
        "--repo",
        str(tmp_path / "home" / "manifests.sqlite"),
    ]
    ledger = tmp_path / "run" / "ledger.sqlite"
    rng = np.random.default_rng(8)
    progress = []
    for _ in range(KILLS):
        process = subprocess.Popen(
            [sys.executable, "-m", "genkit", *args], cwd=tmp_path, env=bench_env(), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )
        # Kill while items are being made: wait for the process to get going (its first commit, or a
        # while), then at a random moment up to 0.8 s later, or at the next commit if that comes first
        # (on a quiet machine an item takes well under 0.1 s, and the kills must not outlast the run).
        started, before = time.monotonic(), _ledger_rows(ledger)
        while process.poll() is None and _ledger_rows(ledger) == before and time.monotonic() - started < 60:
            time.sleep(0.01)
        deadline, first = time.monotonic() + rng.uniform(0.0, 0.8), _ledger_rows(ledger)
        while process.poll() is None and time.monotonic() < deadline and _ledger_rows(ledger) <= first:
            time.sleep(0.005)
        process.send_signal(signal.SIGKILL)
        process.wait()
        progress.append(_ledger_rows(ledger))
        with closing(sqlite3.connect(ledger)) as db:  # a ledger left by a kill opens and checks clean
            assert db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    interrupted = sum(count < total for count in progress)
    assert interrupted >= KILLS // 2, f"most kills came after the run had finished: rows after each kill {progress}"
    done = bench(tmp_path, *args, "--json")
    summary = json.loads(done.stdout)
    assert summary["status"] == "complete"
    assert summary["done_before"] + summary["made_now"] == total

    with Ledger(ledger, readonly=True) as book:
        assert book.integrity() == "ok"
        rows = book.rows()
    keys = [(row["prompt_index"], row["sample_index"]) for row in rows]
    assert sorted(keys) == [(i, k) for i in range(len(prompts)) for k in range(6)]  # every item exactly once
    assert all(row["status"] == "ok" and row["verdict"] == "TRUSTED" for row in rows)
    table = pd.read_parquet(tmp_path / "run" / "results.parquet")
    assert len(table) == total and not table.duplicated(["prompt_index", "sample_index"]).any()
    clips = sorted(p.name for p in (tmp_path / "run" / "clips").iterdir())
    assert clips == sorted(p.split("/")[-1] for p in table.path)  # no half-written or temporary files left
    from provenance.repository import ManifestRepository

    with ManifestRepository(tmp_path / "home" / "manifests.sqlite") as repository:
        assert len(repository) == total  # one record per delivered clip, none for a clip a kill left uncommitted


@pytest.fixture(scope="module")
def spread(tmp_path_factory):
    """The same synthvid-tiny run made three ways: one process (one clip per batch, one thread), two
    torchrun ranks, two shards + merge (4 clips per batch, two threads each). A clip depends only on
    (weights, prompt, seed, settings), so the generated frames must be identical, and so the scores."""
    base = tmp_path_factory.mktemp("spread")
    write_suite(base)
    common = ["suite.txt", "--model", "synthvid-tiny", "--steps", "4", "-n", "2", "--no-provenance", "--metrics", "clipsim,temporal,fvd,analyzer"]
    bench(base, "bench", *common, "--out", "single", "--batch-size", "1", "--threads", "1")
    torchrun = (sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node", "2")
    ranks = bench(base, "bench", *common, "--out", "ranks", "--json", prefix=torchrun)
    for index in range(2):
        bench(base, "bench", *common, "--out", "shards", "--num-shards", "2", "--shard-index", str(index), "--batch-size", "4", "--threads", "2")
    merged = bench(base, "bench", "merge", "shards", "--json")
    return base, ranks, merged


@pytest.mark.parametrize("name", ["ranks", "shards"])
def test_two_workers_give_the_single_process_results(spread, name):
    base, _, _ = spread
    single = pd.read_parquet(base / "single" / "results.parquet")
    other = pd.read_parquet(base / name / "results.parquet")
    assert set(other.worker) == ({"rank0-of-2", "rank1-of-2"} if name == "ranks" else {"shard0-of-2", "shard1-of-2"})
    # What is invariant on one machine: the generated frames, bit for bit (whatever the workers, batch
    # size and threads); never encoded byte counts, which an encoder's kernel choice may change.
    by_item = ["prompt_index", "sample_index"]
    assert single.sort_values(by_item).content_sha256.tolist() == other.sort_values(by_item).content_sha256.tolist()
    assert single.content_sha256.nunique() > len(single) // 2  # hashes of real, different clips (4 steps draw some alike)
    comparison = compare_runs(base / "single", base / name)
    assert comparison.verdict == "reproduced", comparison.summary
    assert comparison.identical_content == len(single) and not comparison.config_differences
    assert {m.name for m in comparison.metrics} >= {"clipsim", "clip_temp", "match_all", "fvd", "means.clipsim"}
    assert not [p.name for p in (base / name).glob("ledger.*-of-*")]  # the part ledgers were merged and removed
    with Ledger(base / name / "ledger.sqlite", readonly=True) as ledger:
        assert ledger.integrity() == "ok" and ledger.count("ok") == len(single)

    expected = json.loads((base / "single" / "metrics.json").read_text())
    found = json.loads((base / name / "metrics.json").read_text())
    assert found["fvd"]["n_fake"] == expected["fvd"]["n_fake"] == len(single)
    # One process over the merged ledger's features in item order, whatever the layout; the features
    # themselves may differ in the last bits between 1 and 2 torch threads (the shards' setting).
    # One item missing or counted twice moves FVD by O(1/N), far beyond 1e-5.
    assert found["fvd"]["value"] == pytest.approx(expected["fvd"]["value"], rel=1e-5, abs=1e-9)
    assert found["means"] == pytest.approx(expected["means"], rel=1e-6)
    record = json.loads((base / name / "run.json").read_text())
    assert record["status"] == "complete"


def test_bench_compare_says_reproduced_for_two_layouts_and_names_what_drifts(spread, tmp_path):
    base, _, _ = spread
    done = bench(base, "bench", "compare", "single", "shards", "--json", check_exit=0)
    summary = json.loads(done.stdout)
    assert summary["verdict"] == "reproduced" and summary["identical_content"] == summary["items_compared"] == 6
    # A score moved beyond its tolerance in one item: drifted, exit 1, naming the metric, |Δ| and item.
    drifted = tmp_path / "drifted"
    shutil.copytree(base / "shards", drifted)
    table = pd.read_parquet(drifted / "results.parquet")
    table.loc[table.index[2], "clipsim"] += 0.05
    table.to_parquet(drifted / "results.parquet")
    done = bench(base, "bench", "compare", "single", str(drifted), check_exit=1)
    last = done.stdout.strip().splitlines()[-1]
    assert last.startswith("drifted: clipsim max |Δ| 0.05") and "(1 item)" in last
    as_json = json.loads(bench(base, "bench", "compare", "single", str(drifted), "--json", check_exit=1).stdout)
    [drift] = as_json["drifts"]
    key = f"p{table.prompt_index.iloc[2]}-s{table.sample_index.iloc[2]}"
    assert drift["name"] == "clipsim" and drift["items"] == [key] and drift["max_abs_diff"] == pytest.approx(0.05, abs=1e-6)
    # A looser tolerance file accepts it; --exact would not accept even float noise, but there is none here.
    loose = tmp_path / "loose.json"
    loose.write_text(json.dumps({"clipsim": {"abs": 0.1}}))
    assert json.loads(bench(base, "bench", "compare", "single", str(drifted), "--tolerances", str(loose), "--json").stdout)["verdict"] == "reproduced"
    bench(base, "bench", "compare", "single", "ranks", "--exact", check_exit=0)


def test_bench_compare_names_config_differences_first_and_bad_input_is_one_line(spread, tmp_path):
    base, _, _ = spread
    other = tmp_path / "other"
    shutil.copytree(base / "shards", other)
    record = json.loads((other / "run.json").read_text())
    record["config"]["settings"]["steps"] = 25
    (other / "run.json").write_text(json.dumps(record))
    summary = json.loads(bench(base, "bench", "compare", "single", str(other), "--json", check_exit=1).stdout)
    assert summary["config_differences"] == ["settings.steps: 4 → 25"]
    assert summary["drifts"][0]["what"] == "config" and summary["summary"].startswith("drifted: config settings.steps: 4 → 25")
    bad = tmp_path / "bad.json"
    bad.write_text("{clipsim: 1}")
    for args, reason in [
        (("single", "nowhere"), "nowhere: no such run folder"),
        (("single", "shards", "--tolerances", str(bad)), f"{bad}: not a JSON tolerance file"),
        (("single", "shards", "--tolerances", str(tmp_path / "none.json")), "no such tolerance file"),
    ]:
        done = bench(base, "bench", "compare", *args, check_exit=2)
        lines = done.stderr.strip().splitlines()
        assert len(lines) == 1 and reason in lines[0] and "Traceback" not in done.stderr
    (other / "results.parquet").write_bytes(b"PAR1 not really")
    done = bench(base, "bench", "compare", "single", str(other), check_exit=2)
    assert "results.parquet: cannot read the results table" in done.stderr


def test_a_merge_of_missing_shards_says_what_is_missing(tmp_path):
    write_suite(tmp_path)
    common = ["suite.txt", *SMALL, "--no-provenance", "--metrics", "analyzer", "--out", "run"]
    done = bench(tmp_path, "bench", *common, "--num-shards", "3", "--shard-index", "2")
    assert "bench merge" in done.stdout
    merged = bench(tmp_path, "bench", "merge", "run", "--json", check_exit=1)
    summary = json.loads(merged.stdout)
    assert summary["status"] == "incomplete"
    record = json.loads((tmp_path / "run" / "run.json").read_text())
    assert record["items_missing"] == 2 and record["items_ok"] == 1
    # The missing shards resume into the same folder; the last one to finish merges by itself.
    for index in (0, 1):
        bench(tmp_path, "bench", *common, "--num-shards", "3", "--shard-index", str(index))
    assert json.loads((tmp_path / "run" / "run.json").read_text())["status"] == "complete"
    assert len(pd.read_parquet(tmp_path / "run" / "results.parquet")) == 3


def test_a_resumed_run_unregisters_the_clips_a_kill_left_uncommitted(tmp_path):
    """The two moments a kill leaves a registered clip the ledger lacks: after the clip is in place but
    before its commit, and between registering and renaming the signed working file into place. The
    resumed run makes those items again and leaves the repository one record per delivered clip."""
    from provenance.credentials import sha256_file
    from provenance.repository import ManifestRepository

    write_suite(tmp_path, ["a red circle moving left on a blue background", "a green square moving right on a black background"])
    args = ("bench", "suite.txt", "--out", "run", *SMALL, "--metrics", "analyzer", "--json")
    bench(tmp_path, *args)
    repository_path, clips = tmp_path / "home" / "manifests.sqlite", tmp_path / "run" / "clips"
    with ManifestRepository(repository_path) as repository:
        assert len(repository) == 2
        left = {path.name: repository.lookup_file_sha256(sha256_file(path)).payload for path in clips.glob("*.mp4")}
    assert len(left) == 2
    with closing(sqlite3.connect(tmp_path / "run" / "ledger.sqlite")) as db:
        db.execute("DELETE FROM items")
        db.commit()
    renamed = sorted(clips.glob("*.mp4"))[1]
    renamed.rename(renamed.with_name(f".{renamed.stem}.signed.mp4"))

    summary = json.loads(bench(tmp_path, *args).stdout)
    assert summary["made_now"] == 2 and summary["status"] == "complete"
    with ManifestRepository(repository_path) as repository:
        assert not any(repository.contains(payload) for payload in left.values())  # the undelivered clips' records are gone
        assert len(repository) == 2
        assert all(repository.lookup_file_sha256(sha256_file(path)) is not None for path in clips.glob("*.mp4"))
    assert sorted(path.name for path in clips.iterdir()) == sorted(left)  # no working file left behind


def test_one_item_under_a_lower_cpu_kernel_set_stays_within_the_stated_tolerances(tmp_path):
    """Another CPU rounds floats otherwise. Force torch, oneDNN and MKL down to SSE4 (an old CPU) for a
    synthvid-tiny item with provenance and the default metrics: the scores must stay within
    genkit.compare.DEFAULT_TOLERANCES (docs/benchmark-runs.md, "Reproducibility"), whatever the frames do."""
    write_suite(tmp_path, ["a red circle moving left on a blue background"])
    args = ("bench", "suite.txt", "--model", "synthvid-tiny", "--metrics", "clipsim,temporal,fvd,analyzer,detector")
    bench(tmp_path, *args, "--out", "native")
    lower = {"ATEN_CPU_CAPABILITY": "default", "ONEDNN_MAX_CPU_ISA": "SSE41", "MKL_ENABLE_INSTRUCTIONS": "SSE4_2"}
    bench(tmp_path, *args, "--out", "lower", env=lower)
    comparison = compare_runs(tmp_path / "native", tmp_path / "lower")
    assert comparison.verdict == "reproduced", comparison.summary
    assert pd.read_parquet(tmp_path / "lower" / "results.parquet").cpu_capability.tolist() == ["DEFAULT"]
    judged = {m.name for m in comparison.metrics}
    assert {"clipsim", "clip_temp", "subject_consistency", "temporal_flickering", "p_synthetic", "match_all", "verdict"} <= judged
