"""What several of genkit's command modules share: their user errors, exit code, shared options and the
PROMPT / --suite reading. Standard library, typer and our errors only (``synthvid --help`` imports it)."""

from __future__ import annotations

import enum

import typer

from genkit.errors import GenkitError
from provenance.errors import ProvenanceError

USER_ERRORS = (GenkitError, ProvenanceError)  # what genkit's commands raise for bad input (one line, exit 2)
EXIT_BAD_INPUT = 2
TABLE_ROWS_SHOWN = 40  # longer runs print a summary; the full table is in results.parquet

BATCHED_FORWARD_HELP = (
    "One model call per batch instead of one per clip: faster on GPUs, but a clip's pixels then depend on the other "
    "clips of its batch (float rounding); the batch size becomes part of the run's identity."
)
TINY_MODEL = "synthvid-tiny"  # genkit.backends.TINY_NAME, repeated so --help imports nothing heavy


class Dtype(str, enum.Enum):  # genkit.backends.DTYPES
    auto = "auto"
    fp32 = "fp32"
    fp16 = "fp16"
    bf16 = "bf16"


def prompt_items(prompt: str | None, suite: str | None):
    """``(suite file or None, items)`` from a PROMPT argument or a --suite option (exactly one of them)."""
    from genkit.suites import SuiteItem, load_suite, resolve_suite

    if (prompt is None) == (suite is None):
        raise typer.BadParameter("give either a PROMPT or --suite FILE, not both or neither", param_hint="PROMPT / --suite")
    if suite is not None:
        suite_path = resolve_suite(suite)
        return suite_path, load_suite(suite_path)
    return None, [SuiteItem(prompt, "0000")]


def run_summary(run) -> dict:
    """The first keys of a run's summary (``--json`` and the console): its folder, clips, table, record, rows."""
    return {
        "run": str(run.root),
        "clips": str(run.clips_dir),
        "table": str(run.results_path),
        "record": str(run.run_path),
        "count": len(run.rows),
    }
