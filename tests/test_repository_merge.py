"""Multi-node runs never share one SQLite repository (issue 17, finding 14): each worker registers into
its own part, merged idempotently into the main repository (``synthvid repo merge``, and by the bench
wherever it merges ledgers), refusing a payload that maps to two manifests."""

from __future__ import annotations

import json
import sys

import pytest
from bench_helpers import SMALL, bench, write_suite

from provenance.cli import _standalone_app, run_typer_app
from provenance.errors import RepositoryError
from provenance.repository import ManifestRepository

pytestmark = pytest.mark.slow  # torchrun ranks and shards of real benchmark runs


def part(path, *records) -> str:
    """A repository at ``path`` holding (payload, label) records."""
    with ManifestRepository(path) as repository:
        for payload, label in records:
            repository.register(
                payload,
                json.dumps({"active_manifest": label}),
                manifest_label=label,
                manifest_store=label.encode(),
                file_sha256=f"sha-{label}",
                file_name=f"{label}.mp4",
            )
    return str(path)


def repo_cli(capsys, *argv) -> tuple[int, str, str]:
    code = run_typer_app(_standalone_app(), ["repo", *map(str, argv)], prog_name="python -m provenance")
    out, err = capsys.readouterr()
    return code, out, err


def test_merge_copies_every_record_once_and_again_changes_nothing(tmp_path, capsys):
    a = part(tmp_path / "manifests.rank0-of-2.sqlite", ("00" * 8, "urn:a"), ("01" * 8, "urn:b"))
    b = part(tmp_path / "manifests.rank1-of-2.sqlite", ("02" * 8, "urn:c"))
    main = tmp_path / "manifests.sqlite"
    code, out, _ = repo_cli(capsys, "merge", main, a, b, "--json")
    assert code == 0 and json.loads(out) == {"repository": str(main), "parts": [a, b], "added": 3, "records": 3, "removed": False}
    code, out, _ = repo_cli(capsys, "merge", main, a, b, "--json")  # idempotent
    assert code == 0 and json.loads(out)["added"] == 0 and json.loads(out)["records"] == 3
    with ManifestRepository(main, create=False) as repository:
        assert repository.lookup("02" * 8).manifest_label == "urn:c"
    code, out, _ = repo_cli(capsys, "merge", main, a, b, "--remove")
    assert code == 0 and "0 record(s) added, 3 in all; parts removed" in out
    assert not list(tmp_path.glob("manifests.rank*"))


def test_a_payload_mapped_to_two_manifests_stops_the_merge_naming_it(tmp_path, capsys):
    main = part(tmp_path / "manifests.sqlite", ("00" * 8, "urn:a"))
    clean = part(tmp_path / "manifests.shard0-of-2.sqlite", ("01" * 8, "urn:b"))
    clash = part(tmp_path / "manifests.shard1-of-2.sqlite", ("00" * 8, "urn:other"))
    code, _, err = repo_cli(capsys, "merge", main, clean, clash)
    assert code == 2
    assert err == (
        f"error: {clash}: payload {'00' * 8} maps to two manifests: urn:other (urn:other.mp4) here, "
        f"urn:a (urn:a.mp4) in {main} or an earlier part; nothing merged\n"
    )
    with ManifestRepository(main, create=False) as repository:
        assert len(repository) == 1  # not even the clean part's record: one transaction
    # two parts that disagree with each other, not with the main repository
    other = part(tmp_path / "other.sqlite", ("01" * 8, "urn:b2"))
    with pytest.raises(RepositoryError, match="payload 0101010101010101 maps to two manifests"):
        with ManifestRepository(tmp_path / "fresh.sqlite") as repository:
            repository.merge([clean, other])
    code, _, err = repo_cli(capsys, "merge", main, tmp_path / "absent.sqlite")
    assert code == 2 and err == f"error: {tmp_path / 'absent.sqlite'}: no such manifest repository\n"
    code, _, err = repo_cli(capsys, "merge", main, main)
    assert code == 2 and "is the repository being merged into" in err


@pytest.mark.slow
@pytest.mark.parametrize("layout", ["ranks", "shards"])
def test_two_workers_register_into_parts_merged_into_the_main_repository(tmp_path, layout):
    write_suite(tmp_path)
    common = ["bench", "suite.txt", *SMALL, "-n", "2", "--metrics", "analyzer", "--out", "run"]
    if layout == "ranks":  # no keys yet: rank 0 makes them, rank 1 waits and loads them
        torchrun = (sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node", "2")
        bench(tmp_path, *common, prefix=torchrun)
    else:  # job arrays start apart: the keys are made once, before
        bench(tmp_path, "keys", "init", "--dir", tmp_path / "home" / "keys")
        first = bench(tmp_path, *common, "--num-shards", "2", "--shard-index", "0")
        assert "bench merge" in first.stdout
        # the first shard's records wait in its part; the main repository is not even created by a worker
        assert (tmp_path / "run" / "manifests.shard0-of-2.sqlite").is_file()
        assert not (tmp_path / "home" / "manifests.sqlite").exists()
        bench(tmp_path, *common, "--num-shards", "2", "--shard-index", "1")  # the last shard merges
    run, main = tmp_path / "run", tmp_path / "home" / "manifests.sqlite"
    assert not list(run.glob("manifests.*")), "the part repositories were merged and removed"
    import pandas as pd

    from provenance.credentials import sha256_file

    table = pd.read_parquet(run / "results.parquet")
    assert len(table) == 6 and (table.status == "ok").all()
    assert set(table.worker) == ({"rank0-of-2", "rank1-of-2"} if layout == "ranks" else {"shard0-of-2", "shard1-of-2"})
    clips = sorted((run / "clips").glob("*.mp4"))
    with ManifestRepository(main, create=False) as repository:
        assert len(repository) == len(clips) == 6  # one record per clip
        for clip in clips:
            record = repository.lookup_file_sha256(sha256_file(clip))
            assert record is not None and record.file_name == clip.name
    done = bench(
        tmp_path,
        "verify",
        *map(str, clips),
        "--repo",
        main,
        "--trust",
        tmp_path / "home" / "keys" / "ca.pem",
        "--wm-key",
        tmp_path / "home" / "keys" / "watermark.key",
        "--no-detector",
        "--json",
    )
    results = json.loads(done.stdout)
    assert [r["verdict"] for r in results] == ["TRUSTED"] * 6
    assert all(r["payload_agreement"] is True for r in results)
