"""The manifest repository: every signed manifest, keyed by its clip's watermark payload (SQLite).

When a clip loses its embedded manifest (a remux, an upload, a re-encode), the watermark still
carries the payload; :meth:`ManifestRepository.lookup` turns it back into the manifest, and the stored
manifest store can be validated again (its signature and signer) with
:func:`provenance.credentials.read_manifest_store`. Each record also keeps the SHA-256 of the signed
file, so a verifier holding the repository can tell whether a clip is byte-identical to what was
signed, including the bytes the C2PA hard binding leaves out.

Writes are single transactions (WAL journal): a crash never leaves half a record, and concurrent
writers wait for each other instead of failing — on one machine. SQLite's locks do not hold over a
network filesystem (NFS), so workers on several nodes never share one file: each registers into its
own part (:func:`part_repository_name`, e.g. ``manifests.rank1-of-4.sqlite``), and one process merges
the parts afterwards (:meth:`ManifestRepository.merge`, ``synthvid repo merge``), refusing a payload
that two parts map to different manifests.
"""

from __future__ import annotations

import datetime as dt
import json
import sqlite3
from dataclasses import dataclass, field
from pathlib import Path

from provenance.errors import RepositoryError
from provenance.files import check_input_file
from provenance.keys import synthvid_home

SCHEMA_VERSION = 1
PAYLOAD_BYTES = 8
_SCHEMA = """
CREATE TABLE IF NOT EXISTS manifests (
    payload        TEXT PRIMARY KEY,   -- watermark payload, 16 lowercase hex digits
    manifest_label TEXT NOT NULL,      -- urn:c2pa:... of the active manifest
    manifest_json  TEXT NOT NULL,      -- the manifest store's manifests as c2pa reads them
    manifest_store BLOB NOT NULL,      -- the exact signed JUMBF store (re-validatable)
    file_sha256    TEXT NOT NULL,      -- SHA-256 of the signed file
    file_name      TEXT,
    signer         TEXT,
    generator      TEXT,
    registered_at  TEXT NOT NULL       -- ISO 8601 UTC
);
CREATE INDEX IF NOT EXISTS manifests_by_label ON manifests (manifest_label);
CREATE INDEX IF NOT EXISTS manifests_by_file ON manifests (file_sha256);
"""


def part_repository_name(kind: str, index: int, count: int) -> str:
    """``manifests.rank1-of-2.sqlite`` (torchrun) or ``manifests.shard0-of-4.sqlite`` (job arrays): the
    repository one worker of a multi-node run writes alone, merged into the main one afterwards."""
    return f"manifests.{kind}{index}-of-{count}.sqlite"


def part_repositories(folder: str | Path) -> list[Path]:
    """Every worker's part repository in ``folder``."""
    return sorted(path for path in Path(folder).glob("manifests.*-of-*.sqlite") if path.is_file())


def remove_repository(path: str | Path) -> None:
    """Delete a repository file with its WAL and shared-memory files."""
    for suffix in ("", "-wal", "-shm"):
        Path(f"{path}{suffix}").unlink(missing_ok=True)


def default_repository_path() -> Path:
    return synthvid_home() / "manifests.sqlite"


def payload_hex(payload: bytes | str) -> str:
    """Normalise a payload given as bytes or hex text to 16 lowercase hex digits."""
    if isinstance(payload, str):
        text = payload.strip().lower().removeprefix("0x")
        try:
            payload = bytes.fromhex(text)
        except ValueError:
            raise RepositoryError(None, f"payload must be {2 * PAYLOAD_BYTES} hex digits, got {text!r}") from None
    if len(payload) != PAYLOAD_BYTES:
        raise RepositoryError(None, f"payload must be {PAYLOAD_BYTES} bytes, got {len(payload)}")
    return payload.hex()


@dataclass(frozen=True)
class ManifestRecord:
    payload: str
    manifest_label: str
    manifest_json: str = field(repr=False)
    manifest_store: bytes = field(repr=False)
    file_sha256: str
    file_name: str | None
    signer: str | None
    generator: str | None
    registered_at: str

    @property
    def manifest_store_dict(self) -> dict:
        return json.loads(self.manifest_json)

    @property
    def active_manifest(self) -> dict:
        store = self.manifest_store_dict
        return (store.get("manifests") or {}).get(store.get("active_manifest"), {})

    def to_dict(self) -> dict:
        return {
            "payload": self.payload,
            "manifest_label": self.manifest_label,
            "file_sha256": self.file_sha256,
            "file_name": self.file_name,
            "signer": self.signer,
            "generator": self.generator,
            "registered_at": self.registered_at,
            "manifest": self.active_manifest,
        }


class ManifestRepository:
    """SQLite store of signed manifests. ``create=False`` refuses a path that does not exist yet."""

    def __init__(self, path: str | Path | None = None, *, create: bool = True):
        self.path = Path(path).expanduser() if path else default_repository_path()
        exists = check_input_file(
            self.path,
            what="manifest repository",
            missing=None if create else "no such manifest repository",
            empty_ok=True,
            error=RepositoryError,
        )
        if exists is None and not self.path.parent.is_dir():
            self.path.parent.mkdir(parents=True, exist_ok=True)
        try:
            self._db = sqlite3.connect(self.path, timeout=30.0, isolation_level=None)
            self._db.row_factory = sqlite3.Row
            self._db.execute("PRAGMA journal_mode=WAL")
            version = self._db.execute("PRAGMA user_version").fetchone()[0]
            tables = {r[0] for r in self._db.execute("SELECT name FROM sqlite_master WHERE type='table'")}
        except sqlite3.DatabaseError as exc:
            raise RepositoryError(self.path, f"not a manifest repository ({exc})") from None
        if tables and "manifests" not in tables:
            self._db.close()
            raise RepositoryError(self.path, "is an SQLite database but not a synthvid manifest repository")
        if version > SCHEMA_VERSION:
            self._db.close()
            raise RepositoryError(self.path, f"schema version {version} is newer than this synthvid ({SCHEMA_VERSION})")
        if not tables:
            with self._transaction():
                for statement in _SCHEMA.split(";"):  # not executescript: it would COMMIT our transaction
                    if statement.strip():
                        self._db.execute(statement)
                self._db.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")

    def _transaction(self):
        db = self._db

        class _Tx:
            def __enter__(self):
                db.execute("BEGIN IMMEDIATE")

            def __exit__(self, kind, value, tb):
                db.execute("COMMIT" if kind is None else "ROLLBACK")

        return _Tx()

    def close(self) -> None:
        self._db.close()

    def __enter__(self) -> ManifestRepository:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def register(
        self,
        payload: bytes | str,
        manifest_json: str,
        *,
        manifest_label: str,
        manifest_store: bytes,
        file_sha256: str,
        file_name: str | None = None,
        signer: str | None = None,
        generator: str | None = None,
    ) -> ManifestRecord:
        """Store one signed manifest under ``payload``; a payload already registered is refused."""
        key = payload_hex(payload)
        now = dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds")
        try:
            with self._transaction():
                self._db.execute(
                    "INSERT INTO manifests VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    (key, manifest_label, manifest_json, manifest_store, file_sha256, file_name, signer, generator, now),
                )
        except sqlite3.IntegrityError:
            raise RepositoryError(self.path, f"payload {key} is already registered") from None
        return ManifestRecord(key, manifest_label, manifest_json, manifest_store, file_sha256, file_name, signer, generator, now)

    def merge(self, sources: list[str | Path]) -> int:
        """Copy every record of the repositories ``sources`` into this one, in one transaction; returns
        the records added. Idempotent: a record already here (same payload, manifest and file) is
        skipped. A payload that maps to another manifest here, or in an earlier source, is refused
        with a :class:`RepositoryError` naming it, and nothing is merged."""
        paths = [Path(source).expanduser() for source in sources]
        for path in paths:
            if path.resolve() == self.path.resolve():
                raise RepositoryError(path, "is the repository being merged into")
            ManifestRepository(path, create=False).close()  # a readable repository of a schema we know, or a one-line error
        before = len(self)
        aliases = [f"part{index}" for index in range(len(paths))]
        for alias, path in zip(aliases, paths):
            try:
                self._db.execute(f"ATTACH DATABASE ? AS {alias}", (str(path),))
            except sqlite3.DatabaseError as exc:
                raise RepositoryError(path, f"cannot read the repository ({exc})") from None
        try:
            with self._transaction():
                for alias, path in zip(aliases, paths):
                    clash = self._db.execute(
                        f"SELECT o.payload, m.manifest_label, o.manifest_label, m.file_name, o.file_name "
                        f"FROM {alias}.manifests AS o JOIN main.manifests AS m ON m.payload = o.payload "
                        "WHERE m.manifest_label != o.manifest_label OR m.file_sha256 != o.file_sha256 LIMIT 1"
                    ).fetchone()
                    if clash is not None:
                        payload, ours, theirs, our_file, their_file = clash
                        raise RepositoryError(
                            path,
                            f"payload {payload} maps to two manifests: {theirs} ({their_file}) here, "
                            f"{ours} ({our_file}) in {self.path} or an earlier part; nothing merged",
                        )
                    self._db.execute(f"INSERT OR IGNORE INTO main.manifests SELECT * FROM {alias}.manifests")
        finally:
            for alias in aliases:
                self._db.execute(f"DETACH DATABASE {alias}")
        return len(self) - before

    def unregister(self, payload: bytes | str) -> bool:
        """Remove the manifest stored under ``payload``; whether there was one."""
        with self._transaction():
            cursor = self._db.execute("DELETE FROM manifests WHERE payload = ?", (payload_hex(payload),))
        return cursor.rowcount > 0

    def contains(self, payload: bytes | str) -> bool:
        return self._db.execute("SELECT 1 FROM manifests WHERE payload = ?", (payload_hex(payload),)).fetchone() is not None

    def lookup(self, payload: bytes | str) -> ManifestRecord | None:
        return self._one("payload = ?", payload_hex(payload))

    def lookup_file_sha256(self, file_sha256: str) -> ManifestRecord | None:
        return self._one("file_sha256 = ?", file_sha256)

    def lookup_label(self, manifest_label: str) -> ManifestRecord | None:
        return self._one("manifest_label = ?", manifest_label)

    def _one(self, where: str, value: str) -> ManifestRecord | None:
        row = self._db.execute(f"SELECT * FROM manifests WHERE {where} LIMIT 1", (value,)).fetchone()
        return None if row is None else ManifestRecord(**{k: row[k] for k in row.keys()})

    def __len__(self) -> int:
        return self._db.execute("SELECT COUNT(*) FROM manifests").fetchone()[0]
