"""provenance.repository: a real SQLite file, records that survive reopening, and refusals."""

from __future__ import annotations

import json
import sqlite3

import pytest
from provenance_helpers import PAYLOAD, keys, signed, unsigned_mp4  # noqa: F401 - session fixtures

from provenance.cli import _standalone_app, run_typer_app
from provenance.errors import RepositoryError
from provenance.repository import ManifestRepository, payload_hex


def register(repo: ManifestRepository, result, payload=PAYLOAD):
    return repo.register(
        payload,
        result.manifest_json,
        manifest_label=result.manifest_label,
        manifest_store=result.manifest_store,
        file_sha256=result.file_sha256,
        file_name=result.path.name,
        signer="synthvid signer",
        generator="shapes-world 1.0",
    )


def test_register_then_lookup_after_reopening(tmp_path, signed):
    path = tmp_path / "manifests.sqlite"
    with ManifestRepository(path) as repo:
        register(repo, signed)
    with ManifestRepository(path, create=False) as repo:
        assert len(repo) == 1
        record = repo.lookup(PAYLOAD)
        assert repo.lookup(PAYLOAD.hex().upper()) == record  # hex text, any case
        assert repo.lookup_file_sha256(signed.file_sha256) == record
        assert repo.lookup_label(signed.manifest_label) == record
    assert record.manifest_store == signed.manifest_store
    assert record.active_manifest["label"] == signed.manifest_label
    assert record.to_dict()["manifest"]["title"] == "clip.mp4"
    assert sqlite3.connect(path).execute("PRAGMA user_version").fetchone()[0] == 1


def test_unknown_payload_is_none(tmp_path):
    with ManifestRepository(tmp_path / "r.sqlite") as repo:
        assert repo.lookup("ffffffffffffffff") is None
        assert not repo.contains(b"\xff" * 8)


def test_a_payload_is_registered_once(tmp_path, signed):
    with ManifestRepository(tmp_path / "r.sqlite") as repo:
        register(repo, signed)
        with pytest.raises(RepositoryError, match=f"payload {PAYLOAD.hex()} is already registered"):
            register(repo, signed)
        assert len(repo) == 1


def test_unregister_removes_one_record_and_says_whether_there_was_one(tmp_path, signed):
    with ManifestRepository(tmp_path / "r.sqlite") as repo:
        register(repo, signed)
        register(repo, signed, payload=b"\x01" * 8)
        assert repo.unregister(PAYLOAD) is True
        assert not repo.contains(PAYLOAD) and repo.contains(b"\x01" * 8) and len(repo) == 1
        assert repo.unregister(PAYLOAD) is False
    with ManifestRepository(tmp_path / "r.sqlite") as repo:  # committed
        assert len(repo) == 1


def test_two_writers_on_one_file(tmp_path, signed):
    path = tmp_path / "r.sqlite"
    with ManifestRepository(path) as first, ManifestRepository(path) as second:
        register(first, signed, payload=b"\x01" * 8)
        register(second, signed, payload=b"\x02" * 8)
        assert first.contains(b"\x02" * 8) and second.contains(b"\x01" * 8)


@pytest.mark.parametrize("bad", ["0123", "zz23456789abcdef", "0123456789abcdef00"])
def test_malformed_payloads_are_refused(bad):
    with pytest.raises(RepositoryError, match="payload must be"):
        payload_hex(bad)


def test_files_that_are_not_our_repository(tmp_path):
    text = tmp_path / "notes.sqlite"
    text.write_text("this is not a database " * 100)
    with pytest.raises(RepositoryError, match="notes.sqlite: not a manifest repository"):
        ManifestRepository(text)
    other = tmp_path / "other.sqlite"
    sqlite3.connect(other).execute("CREATE TABLE users (name TEXT)").connection.commit()
    with pytest.raises(RepositoryError, match="not a synthvid manifest repository"):
        ManifestRepository(other)
    with pytest.raises(RepositoryError, match="no such manifest repository"):
        ManifestRepository(tmp_path / "absent.sqlite", create=False)
    assert not (tmp_path / "absent.sqlite").exists()


def cli(capsys, *argv):
    code = run_typer_app(_standalone_app(), [str(a) for a in argv], prog_name="python -m provenance")
    out = capsys.readouterr()
    return code, out.out, out.err


def test_cli_lookup_by_payload_and_by_file(tmp_path, capsys, signed, monkeypatch):
    monkeypatch.setenv("SYNTHVID_HOME", str(tmp_path / "home"))
    path = tmp_path / "r.sqlite"
    with ManifestRepository(path) as repo:
        register(repo, signed)
    code, out, _ = cli(capsys, "repo", "lookup", PAYLOAD.hex(), "--repo", path, "--json")
    assert code == 0
    record = json.loads(out)
    assert record["found"] and record["manifest_label"] == signed.manifest_label and record["matched_by"] == "payload"
    code, out, _ = cli(capsys, "repo", "lookup", signed.path, "--repo", path, "--json")
    assert code == 0 and json.loads(out)["matched_by"] == "file SHA-256"
    code, out, _ = cli(capsys, "repo", "lookup", "ffffffffffffffff", "--repo", path)
    assert code == 1 and "not found" in out


def test_cli_lookup_bad_input_is_one_line_exit_2(tmp_path, capsys):
    code, _, err = cli(capsys, "repo", "lookup", "0123", "--repo", tmp_path / "absent.sqlite")
    assert code == 2
    assert err.strip().count("\n") == 0 and "absent.sqlite: no such manifest repository" in err
    with ManifestRepository(tmp_path / "r.sqlite"):
        pass
    code, _, err = cli(capsys, "repo", "lookup", "xyz", "--repo", tmp_path / "r.sqlite")
    assert code == 2 and "payload must be 16 hex digits" in err
