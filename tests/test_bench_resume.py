"""Safe to interrupt, and the same results however the work is spread: a real ``synthvid bench`` killed
with SIGKILL at random moments and resumed ends with every item exactly once and an intact ledger;
two torchrun ranks (gloo on CPU) and two job-array shards + ``bench merge`` give the single process's
results."""

from __future__ import annotations

import json
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

from genkit.ledger import Ledger

pytestmark = pytest.mark.slow

KILLS = 10
# Columns that must not depend on who made an item (timings, the worker's name and file paths of
# temporary folders aside).
VOLATILE = ("_seconds", "worker")


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
    args = ["bench", "suite.txt", "--out", "run", *SMALL, "-n", "6", "--metrics", "analyzer", "--batch-size", "2",
            "--keys", str(tmp_path / "home" / "keys"), "--repo", str(tmp_path / "home" / "manifests.sqlite")]
    ledger = tmp_path / "run" / "ledger.sqlite"
    rng = np.random.default_rng(8)
    progress = []
    for _ in range(KILLS):
        process = subprocess.Popen([sys.executable, "-m", "genkit", *args], cwd=tmp_path, env=bench_env(),
                                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
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
    """The same no-provenance run made three ways: one process, two torchrun ranks, two shards + merge.
    Without watermarks every clip is a pure function of its seed, so the runs must agree exactly."""
    base = tmp_path_factory.mktemp("spread")
    write_suite(base)
    common = ["suite.txt", *SMALL, "-n", "2", "--no-provenance", "--metrics", "clipsim,temporal,fvd,analyzer"]
    bench(base, "bench", *common, "--out", "single")
    torchrun = (sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node", "2")
    ranks = bench(base, "bench", *common, "--out", "ranks", "--json", prefix=torchrun)
    for index in range(2):
        bench(base, "bench", *common, "--out", "shards", "--num-shards", "2", "--shard-index", str(index))
    merged = bench(base, "bench", "merge", "shards", "--json")
    return base, ranks, merged


def _comparable(table: pd.DataFrame) -> pd.DataFrame:
    keep = [c for c in table.columns if not c.endswith(VOLATILE[0]) and c != VOLATILE[1]]
    return table[keep].sort_values(["prompt_index", "sample_index"]).reset_index(drop=True)


@pytest.mark.parametrize("name", ["ranks", "shards"])
def test_two_workers_give_the_single_process_results(spread, name):
    base, _, _ = spread
    single = pd.read_parquet(base / "single" / "results.parquet")
    other = pd.read_parquet(base / name / "results.parquet")
    assert set(other.worker) == ({"rank0-of-2", "rank1-of-2"} if name == "ranks" else {"shard0-of-2", "shard1-of-2"})
    pd.testing.assert_frame_equal(_comparable(single), _comparable(other), check_exact=False, rtol=1e-5)
    assert not [p.name for p in (base / name).glob("ledger.*-of-*")]  # the part ledgers were merged and removed
    with Ledger(base / name / "ledger.sqlite", readonly=True) as ledger:
        assert ledger.integrity() == "ok" and ledger.count("ok") == len(single)

    expected = json.loads((base / "single" / "metrics.json").read_text())
    found = json.loads((base / name / "metrics.json").read_text())
    assert found["fvd"]["n_fake"] == expected["fvd"]["n_fake"] == len(single)
    # Through torchmetrics' state sync (ranks) or one process over the merged ledger (shards): the same
    # sums in another order, of float32 features whose batches differ per rank (seen: 2.3e-6 relative).
    # One item missing or counted twice moves FVD by O(1/N), far beyond 1e-5.
    assert found["fvd"]["value"] == pytest.approx(expected["fvd"]["value"], rel=1e-5, abs=1e-9)
    assert found["means"] == pytest.approx(expected["means"], rel=1e-6)
    record = json.loads((base / name / "run.json").read_text())
    assert record["status"] == "complete"


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
