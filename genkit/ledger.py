"""The run ledger: one SQLite row per benchmark item, committed atomically, so a run can be killed at
any moment and resumed.

Durability. The database runs in WAL mode with ``synchronous=FULL``: every item is one transaction,
and a transaction that returned is on disk (fsync of the WAL) before the next item starts. A process
killed with SIGKILL (or a machine that loses power) leaves the last committed items intact and the
in-flight one absent; SQLite rolls back or ignores the partial WAL frame at the next open. Nothing is
ever rewritten in place, so the ledger cannot be corrupted by a kill (``PRAGMA integrity_check``).

Layout of a run folder's ledgers (this module is their one producer and reader; the run-folder contract,
:mod:`provenance.runfolder`, names them and the item statuses)::

    ledger.sqlite                    the run's ledger (a single process writes it directly)
    ledger.rank{r}-of-{W}.sqlite     one per torchrun rank while the ranks run; rank 0 merges them
    ledger.shard{i}-of-{N}.sqlite    one per job-array shard; ``synthvid bench merge`` merges them

Tables::

    items      key (p<prompt>-s<sample>), prompt_index, sample_index, status (ok | failed), error,
               row (the result row as JSON), features (FVD features, float32 bytes), worker, finished_at
    reference  idx, source, features, p_synthetic — the reference set's FVD features and detector scores
    meta       key, value — the run config, for refusing to resume with other options
"""

from __future__ import annotations

import json
import logging
import sqlite3
from collections.abc import Iterable
from datetime import datetime, timezone
from pathlib import Path

from genkit.errors import LedgerError
from provenance.runfolder import ITEM_FAILED, ITEM_OK, LEDGER_FILE

log = logging.getLogger(__name__)

OK, FAILED = ITEM_OK, ITEM_FAILED  # an item's status: the run-folder contract's values
SCHEMA = f"""
CREATE TABLE IF NOT EXISTS items (
    key TEXT PRIMARY KEY,
    prompt_index INTEGER NOT NULL,
    sample_index INTEGER NOT NULL,
    status TEXT NOT NULL CHECK (status IN ('{OK}', '{FAILED}')),
    error TEXT,
    row TEXT NOT NULL,
    features BLOB,
    worker TEXT,
    finished_at TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS reference (
    idx INTEGER PRIMARY KEY,
    source TEXT,
    features BLOB,
    p_synthetic REAL
);
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
"""
BUSY_TIMEOUT_MS = 60_000  # ranks read each other's ledgers; a writer holds its lock for milliseconds


def item_key(prompt_index: int, sample_index: int) -> str:
    return f"p{prompt_index}-s{sample_index}"


def worker_ledger_name(kind: str, index: int, count: int) -> str:
    """``ledger.rank1-of-2.sqlite`` (torchrun) or ``ledger.shard0-of-4.sqlite`` (job arrays)."""
    return f"ledger.{kind}{index}-of-{count}.sqlite"


def part_ledgers(root: Path) -> list[Path]:
    """Every per-rank or per-shard ledger in the run folder ``root`` (not the run's own ledger)."""
    return sorted(path for path in Path(root).glob("ledger.*-of-*.sqlite") if path.is_file())


class Ledger:
    """One ledger file. Use as a context manager; every write method is one committed transaction."""

    def __init__(self, path: str | Path, *, readonly: bool = False):
        self.path = Path(path)
        self.readonly = readonly
        try:
            if readonly:
                # mode=ro still needs the -shm file of a WAL database; a ledger being written is fine to read.
                self.conn = sqlite3.connect(f"file:{self.path}?mode=ro", uri=True, timeout=BUSY_TIMEOUT_MS / 1000)
            else:
                self.conn = sqlite3.connect(self.path, timeout=BUSY_TIMEOUT_MS / 1000, isolation_level=None)
                self.conn.execute("PRAGMA journal_mode=WAL")
                self.conn.execute("PRAGMA synchronous=FULL")
                self.conn.executescript(SCHEMA)
            self.conn.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")
            self.conn.execute("SELECT count(*) FROM items").fetchone()
        except sqlite3.DatabaseError as exc:
            raise LedgerError(self.path, f"not a usable run ledger ({exc})") from None

    # ------------------------------------------------------------------------------------ writing

    def _transaction(self, statements: Iterable[tuple[str, tuple]]) -> None:
        try:
            self.conn.execute("BEGIN IMMEDIATE")
            try:
                for sql, params in statements:
                    self.conn.execute(sql, params)
            except BaseException:
                self.conn.execute("ROLLBACK")
                raise
            self.conn.execute("COMMIT")
        except sqlite3.DatabaseError as exc:
            raise LedgerError(self.path, f"cannot write the ledger ({exc})") from None

    def record(
        self, prompt_index: int, sample_index: int, row: dict, *, error: str | None = None, features: bytes | None = None, worker: str | None = None
    ) -> None:
        """Commit one item (``error`` given: failed); a later record of the same item replaces it."""
        self._transaction(
            [
                (
                    "INSERT OR REPLACE INTO items VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    (
                        item_key(prompt_index, sample_index),
                        prompt_index,
                        sample_index,
                        FAILED if error else OK,
                        error,
                        json.dumps(row, default=_json_default),
                        features,
                        worker,
                        _now(),
                    ),
                )
            ]
        )

    def add_references(self, entries: list[tuple[int, str, bytes | None, float | None]]) -> None:
        """Commit reference clips ``(index, source, features, p_synthetic)`` in one transaction."""
        self._transaction(("INSERT OR REPLACE INTO reference VALUES (?, ?, ?, ?)", entry) for entry in entries)

    def set_meta(self, key: str, value) -> None:
        self._transaction([("INSERT OR REPLACE INTO meta VALUES (?, ?)", (key, json.dumps(value, default=str)))])

    def merge(self, sources: list[Path]) -> int:
        """Copy every item and reference of ``sources`` into this ledger in one transaction; an item
        already finished here is replaced only by another finished one. Returns the items copied."""
        before = self.count()
        aliases = [f"part{index}" for index in range(len(sources))]
        try:
            for alias, source in zip(aliases, sources):
                self.conn.execute(f"ATTACH DATABASE ? AS {alias}", (f"file:{source}?mode=ro",))
        except sqlite3.DatabaseError as exc:
            raise LedgerError(self.path, f"cannot read the part ledger {source} ({exc})") from None
        try:
            self._transaction(
                statement
                for alias in aliases
                for statement in (
                    (
                        f"INSERT OR REPLACE INTO items SELECT * FROM {alias}.items AS o WHERE NOT EXISTS "
                        "(SELECT 1 FROM items AS i WHERE i.key = o.key AND i.status = ? AND o.status != ?)",
                        (OK, OK),
                    ),
                    (f"INSERT OR REPLACE INTO reference SELECT * FROM {alias}.reference", ()),
                    (f"INSERT OR IGNORE INTO meta SELECT * FROM {alias}.meta", ()),
                )
            )
        finally:
            for alias in aliases:
                self.conn.execute(f"DETACH DATABASE {alias}")
        return self.count() - before

    # ------------------------------------------------------------------------------------ reading

    def count(self, status: str | None = None) -> int:
        if status is None:
            return self.conn.execute("SELECT count(*) FROM items").fetchone()[0]
        return self.conn.execute("SELECT count(*) FROM items WHERE status = ?", (status,)).fetchone()[0]

    def finished_keys(self) -> set[str]:
        return {key for (key,) in self.conn.execute("SELECT key FROM items WHERE status = ?", (OK,))}

    def meta(self, key: str):
        found = self.conn.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        return None if found is None else json.loads(found[0])

    def rows(self) -> list[dict]:
        """Every item's row in plan order, with ``status`` and ``error``."""
        out = []
        for status, error, row in self.conn.execute("SELECT status, error, row FROM items ORDER BY prompt_index, sample_index"):
            out.append({**json.loads(row), "status": status, "error": error})
        return out

    def item_features(self) -> list[tuple[int, int, bytes]]:
        """``(prompt_index, sample_index, features)`` of every finished item that has features, in plan order."""
        return list(
            self.conn.execute(
                "SELECT prompt_index, sample_index, features FROM items WHERE status = ? AND features IS NOT NULL "
                "ORDER BY prompt_index, sample_index",
                (OK,),
            )
        )

    def reference_features(self) -> list[tuple[int, bytes]]:
        return list(self.conn.execute("SELECT idx, features FROM reference WHERE features IS NOT NULL ORDER BY idx"))

    def reference_rows(self) -> list[dict]:
        """The reference clips without their features: index, source, detector score."""
        return [
            {"idx": idx, "source": source, "p_synthetic": score}
            for idx, source, score in self.conn.execute("SELECT idx, source, p_synthetic FROM reference ORDER BY idx")
        ]

    def reference_indices(self) -> set[int]:
        return {idx for (idx,) in self.conn.execute("SELECT idx FROM reference")}

    def integrity(self) -> str:
        return self.conn.execute("PRAGMA integrity_check").fetchone()[0]

    def settle(self) -> None:
        """Fold the WAL into the database and leave WAL mode: a finished ledger is one self-contained file
        (the next writer switches WAL on again)."""
        try:
            self.conn.execute("PRAGMA busy_timeout=1000")  # a reader elsewhere (a notebook) only delays tidying
            self.conn.execute("PRAGMA journal_mode=DELETE")
        except sqlite3.DatabaseError as exc:
            log.debug("%s stays in WAL mode (%s); its -wal and -shm files belong to it", self.path, exc)
        finally:
            self.conn.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")

    # ------------------------------------------------------------------------------------ lifetime

    def close(self) -> None:
        if not self.readonly:
            try:  # fold the WAL back into the database so a finished ledger is one file
                self.conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
            except sqlite3.DatabaseError:
                pass
        self.conn.close()

    def __enter__(self) -> Ledger:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def remove_ledger(path: Path) -> None:
    """Delete a ledger file with its WAL and shared-memory files (after its rows were merged elsewhere)."""
    for suffix in ("", "-wal", "-shm"):
        Path(f"{path}{suffix}").unlink(missing_ok=True)


def _json_default(value):
    import numpy as np

    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, Path):
        return str(value)
    raise TypeError(f"{type(value).__name__} is not JSON serialisable")


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="milliseconds")


__all__ = ["FAILED", "LEDGER_FILE", "OK", "Ledger", "item_key", "part_ledgers", "remove_ledger", "worker_ledger_name"]
