"""The run-folder contract: what a run folder holds, who writes each file, and how it is read.

Every package that writes or reads a run folder takes its names, columns and status values from here,
writes through :func:`write_json_atomic` / :func:`write_parquet_atomic`, and reads through
:func:`read_run` (or its parts :func:`read_results`, :func:`read_json`). It lives in the bottom layer
so that genkit (which makes runs), eval (which scores them) and reports (which shows them) share it.

Each file has exactly one producer; everyone else only reads it::

    file                      producer                                  what it holds
    clips/<id>[-n].mp4        genkit.runfolder.RunFolder.clip_path      one delivered clip per item (the jobs of
                              (written by genkit.generate and           genkit fill the path RunFolder hands out)
                              genkit.runfolder.render_world_suite)
    results.parquet           genkit.runfolder.RunFolder.close          one row per item (RESULTS_COLUMNS)
    run.json                  genkit.runfolder.RunFolder                config, versions, git commit, hardware,
                                                                        seed, status (RUN_STATUSES), timings
    ledger.sqlite             genkit.ledger.Ledger                      ``synthvid bench``: one committed row per
                                                                        item; results.parquet is its export
    ledger.{rank,shard}*-of-*.sqlite   genkit.ledger (worker_ledger_name)   a worker's ledger until the merge
    manifests.*-of-*.sqlite   provenance.repository (part_repository_name)  a worker's manifest records until the merge
    metrics.json              genkit.bench.finalize                     ``synthvid bench``: set-level metrics (FVD,
                                                                        means, verdicts, breakdowns, domain, notes)
    reference.parquet         genkit.bench.finalize                     ``synthvid bench``: the reference clips'
                                                                        sources and detector scores
    eval.json                 eval.cli (``synthvid eval --fake RUN``)   set-level metrics and per-clip rows of eval;
                                                                        it never touches the bench's metrics.json
    verify.json               ``make run`` (``synthvid verify --json``)  the verdict of every clip
    report.html               reports.html.build_report                 ``synthvid report RUN``

A run folder is recognised by ``run.json`` (genkit) or by ``clips/`` beside ``results.parquet`` (eval).
Readers need ``results.parquet``; the JSON files and ``reference.parquet`` are optional (an empty dict or
``None`` when absent). A file that is there but cannot be used — a directory, empty, truncated, not
Parquet or not a JSON object, lacking a column the reader needs — is a one-line
:class:`~provenance.errors.LocatedError` naming the file and the reason (:class:`RunFileError`, or the
reader's own class passed as ``error``), never a traceback.

Writers replace a file atomically (:func:`provenance.files.atomic_path`): a reader sees the old file or
the new one, and a failed write leaves no partial file under either name.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from provenance.errors import LocatedError, RunFileError
from provenance.files import atomic_path, check_input_file

if TYPE_CHECKING:
    import pandas as pd

# ------------------------------------------------------------------------------------------ names

CLIPS_DIR = "clips"
RESULTS_FILE = "results.parquet"
RUN_FILE = "run.json"
METRICS_FILE = "metrics.json"
REFERENCE_FILE = "reference.parquet"
EVAL_FILE = "eval.json"
VERIFY_FILE = "verify.json"
REPORT_FILE = "report.html"
LEDGER_FILE = "ledger.sqlite"
LEDGER_GLOB = "ledger*.sqlite*"  # the ledger, per-rank or per-shard ledgers, their -wal and -shm files
# What a run owns besides clips/ and its ledgers; replacing a run (--overwrite) removes exactly these, so
# no file made from the old clips (an eval, a verify, a report) outlives them.
RUN_FILES = (RUN_FILE, RESULTS_FILE, METRICS_FILE, REFERENCE_FILE, EVAL_FILE, VERIFY_FILE, REPORT_FILE)
# What each file is, for the reader's one-line errors ("metrics.json: cannot read the set-level metrics (...)").
DESCRIPTIONS = {
    RESULTS_FILE: "the results table",
    RUN_FILE: "the run record",
    METRICS_FILE: "the set-level metrics",
    REFERENCE_FILE: "the reference table",
    EVAL_FILE: "the evaluation",
}

# ------------------------------------------------------------------------------------------ columns

PROMPT_ID_COLUMN = "prompt_id"
PROMPT_COLUMN = "prompt"
PATH_COLUMN = "path"
STATUS_COLUMN = "status"
ERROR_COLUMN = "error"
ITEM_KEY = ("prompt_index", "sample_index")  # one benchmark item: the prompt's position, its sample number
# The results.parquet columns readers rely on, and what they hold. Every job's rows have the first five;
# ``synthvid generate`` and ``synthvid bench`` add the identity columns; ``synthvid bench`` adds the rest.
# Any other column is a score or a measurement that readers take when present (reports.data.SCORES,
# genkit.compare.DEFAULT_TOLERANCES); a "*_seconds" column is the time of one stage of the item.
RESULTS_COLUMNS = {
    PROMPT_ID_COLUMN: "the suite item's id (shared by the samples of one prompt)",
    PROMPT_COLUMN: "the prompt as the suite gives it",
    "dimension": "what the prompt tests, from the suite (or None)",
    "seed": "the seed the clip was made with",
    PATH_COLUMN: "the clip, relative to the run folder (clips/<id>[-n].mp4); eval and the report read it",
    "content_sha256": "generate, bench: SHA-256 of the generated frames and their shape, before the watermark",
    "file_sha256": "generate, bench: SHA-256 of the delivered file (None without provenance)",
    "payload": "generate, bench: the watermark payload, hex (None without provenance)",
    ITEM_KEY[0]: "bench: position of the prompt in the suite (0-based)",
    ITEM_KEY[1]: "bench: sample number of that prompt (0-based)",
    STATUS_COLUMN: "bench: ITEM_OK or ITEM_FAILED (a table without it: every row finished)",
    ERROR_COLUMN: "bench: why a failed item failed, one line (None when ok)",
}

# ------------------------------------------------------------------------------------------ statuses

# An item's status (results.parquet's status column, the ledger's items.status).
ITEM_OK, ITEM_FAILED = "ok", "failed"
ITEM_STATUSES = (ITEM_OK, ITEM_FAILED)
# A run's status (run.json's "status"): running until it ends; complete when every planned item finished;
# incomplete when a benchmark ended with items failed or missing (resume or merge it); failed when an
# error stopped it; interrupted by Ctrl-C.
RUN_RUNNING, RUN_COMPLETE, RUN_INCOMPLETE, RUN_FAILED, RUN_INTERRUPTED = "running", "complete", "incomplete", "failed", "interrupted"
RUN_STATUSES = (RUN_RUNNING, RUN_COMPLETE, RUN_INCOMPLETE, RUN_FAILED, RUN_INTERRUPTED)


def ok_rows(table: pd.DataFrame) -> pd.DataFrame:
    """The rows of a results table whose item finished (all of them in a table without a status column:
    the short jobs and runs made before the ledger)."""
    if STATUS_COLUMN in table.columns:
        return table[table[STATUS_COLUMN] == ITEM_OK]
    return table


# ------------------------------------------------------------------------------------------ writers


def write_json_atomic(data, path: str | Path, *, error: type[LocatedError] = RunFileError) -> Path:
    """Write ``data`` as indented JSON (anything JSON lacks as ``str``) to ``path`` atomically; a file
    system failure is ``error(path, "cannot write (...)")``. Returns ``path``."""
    path = Path(path)
    text = json.dumps(data, indent=2, default=str) + "\n"  # before the file is touched: a bad value writes nothing
    try:
        with atomic_path(path) as tmp:
            tmp.write_text(text)
    except OSError as exc:
        raise error(path, f"cannot write ({exc.strerror or exc})") from None
    return path


def write_parquet_atomic(rows: list[dict] | pd.DataFrame, path: str | Path, *, error: type[LocatedError] = RunFileError) -> Path:
    """Write ``rows`` (dicts or a DataFrame) as a Parquet table without index to ``path`` atomically; a
    file system failure is ``error(path, "cannot write (...)")``. Returns ``path``."""
    import pandas as pd

    path = Path(path)
    table = rows if isinstance(rows, pd.DataFrame) else pd.DataFrame(rows)
    try:
        with atomic_path(path) as tmp:
            table.to_parquet(tmp, index=False)
    except OSError as exc:
        raise error(path, f"cannot write ({exc.strerror or exc})") from None
    return path


# ------------------------------------------------------------------------------------------ reader


@dataclass
class RunFiles:
    """A run folder's files, read: the results table, and the JSON files and the reference table when
    present (``{}``/``None`` when not)."""

    root: Path
    results: pd.DataFrame
    metrics: dict = field(default_factory=dict)  # metrics.json (synthvid bench)
    record: dict = field(default_factory=dict)  # run.json
    reference: pd.DataFrame | None = None  # reference.parquet (synthvid bench with a reference set)
    evaluation: dict = field(default_factory=dict)  # eval.json (synthvid eval --fake RUN)

    @property
    def ok(self) -> pd.DataFrame:
        """The rows whose item finished (:func:`ok_rows`)."""
        return ok_rows(self.results)


def _reason(exc: BaseException, limit: int = 200) -> str:
    return " ".join(str(exc).split())[:limit] or type(exc).__name__


def _existing(path: Path, error: type[LocatedError]) -> bool:
    """Whether ``path`` is there; a path that is there but is no readable, non-empty regular file is an error."""
    return check_input_file(path, what="file", missing=None, error=error) is not None


def read_json(path: str | Path, *, required: bool = False, error: type[LocatedError] = RunFileError) -> dict:
    """One of a run folder's JSON files as a dict; ``{}`` when it is absent and not ``required``."""
    path = Path(path)
    what = DESCRIPTIONS.get(path.name, "the file")
    if not _existing(path, error):
        if required:
            raise error(path, f"no such file ({what})")
        return {}
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:  # UnicodeDecodeError and JSONDecodeError are ValueErrors
        raise error(path, f"cannot read {what} (not JSON: {_reason(exc)})") from None
    if not isinstance(data, dict):
        raise error(path, f"cannot read {what} (a JSON {type(data).__name__}, not an object)")
    return data


def read_table(path: str | Path, *, columns: Iterable[str] = (), error: type[LocatedError] = RunFileError) -> pd.DataFrame:
    """A Parquet file of a run folder; it must exist and have ``columns``."""
    import pandas as pd

    path = Path(path)
    what = DESCRIPTIONS.get(path.name, "the table")
    if not _existing(path, error):
        raise error(path, f"no such file ({what})")
    try:
        table = pd.read_parquet(path)
    except Exception as exc:  # pyarrow raises several types for a truncated, damaged or foreign file
        raise error(path, f"cannot read {what} ({_reason(exc)})") from None
    missing = [column for column in columns if column not in table.columns]
    if missing:
        raise error(path, f"has no {' and '.join(missing)} column{'s' * (len(missing) > 1)}; not a synthvid {what.removeprefix('the ')}")
    return table


def read_results(root: str | Path, *, columns: Iterable[str] = (), error: type[LocatedError] = RunFileError) -> pd.DataFrame:
    """``results.parquet`` of the run folder ``root``, which must have ``columns``."""
    root = Path(root)
    if not root.is_dir():
        raise error(root, "no such run folder" if not root.exists() else "is a file, not a run folder")
    if not _existing(root / RESULTS_FILE, error):
        raise error(
            root,
            f"has no {RESULTS_FILE} (not a finished run folder; a run still going writes it at the end: "
            "resume an interrupted one, or synthvid bench merge its shards)",
        )
    return read_table(root / RESULTS_FILE, columns=columns, error=error)


def read_run(root: str | Path, *, columns: Iterable[str] = (), record: bool = False, error: type[LocatedError] = RunFileError) -> RunFiles:
    """Read the run folder ``root``: ``results.parquet`` (with ``columns``), ``metrics.json``, ``run.json``
    (required when ``record``), ``eval.json`` and ``reference.parquet``. Every problem is one
    ``error(path, reason)`` naming the file."""
    root = Path(root)
    if record and root.is_dir() and not _existing(root / RUN_FILE, error):
        raise error(root, f"is not a run folder (no {RUN_FILE})")
    results = read_results(root, columns=columns, error=error)
    reference = read_table(root / REFERENCE_FILE, error=error) if _existing(root / REFERENCE_FILE, error) else None
    return RunFiles(
        root,
        results,
        metrics=read_json(root / METRICS_FILE, error=error),
        record=read_json(root / RUN_FILE, error=error),
        reference=reference,
        evaluation=read_json(root / EVAL_FILE, error=error),
    )


__all__ = [
    "CLIPS_DIR",
    "DESCRIPTIONS",
    "ERROR_COLUMN",
    "EVAL_FILE",
    "ITEM_FAILED",
    "ITEM_KEY",
    "ITEM_OK",
    "ITEM_STATUSES",
    "LEDGER_FILE",
    "LEDGER_GLOB",
    "METRICS_FILE",
    "PATH_COLUMN",
    "PROMPT_COLUMN",
    "PROMPT_ID_COLUMN",
    "REFERENCE_FILE",
    "REPORT_FILE",
    "RESULTS_COLUMNS",
    "RESULTS_FILE",
    "RUN_COMPLETE",
    "RUN_FAILED",
    "RUN_FILE",
    "RUN_FILES",
    "RUN_INCOMPLETE",
    "RUN_INTERRUPTED",
    "RUN_RUNNING",
    "RUN_STATUSES",
    "RunFiles",
    "STATUS_COLUMN",
    "VERIFY_FILE",
    "ok_rows",
    "read_json",
    "read_results",
    "read_run",
    "read_table",
    "write_json_atomic",
    "write_parquet_atomic",
]
