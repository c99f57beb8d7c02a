"""``synthvid report`` (also ``python -m reports``): the static HTML report of a run folder.

Module level imports only typer and the package's errors (``synthvid --help`` imports this module).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Optional

import typer

from reports.errors import ReportError

USER_ERRORS = (ReportError,)

app = typer.Typer(help="Reports of run folders.", no_args_is_help=True, add_completion=False, rich_markup_mode="rich")


@app.command("report")
def report(
    run_dir: Path = typer.Argument(..., help="A run folder (synthvid bench, generate or world render)."),
    out: Optional[Path] = typer.Option(None, "--out", "-o", help="Where to write the page (default: RUN_DIR/report.html)."),
    as_json: bool = typer.Option(False, "--json", help="Print the report's path as JSON."),
) -> None:
    """Write a static report.html for a run folder: tables, plots, contact sheets of clips.

    Sections: summary (FVD, means, verdicts), breakdowns per prompt dimension and shapes-world
    attribute, per prompt, watermark robustness, detector ROC, metric distributions, a contact
    sheet and seconds per stage. One self-contained file (plots embedded as PNG).

    Example: synthvid report runs/smoke && chromium runs/smoke/report.html
    """
    from reports.html import build_report

    path = build_report(run_dir, out)
    if as_json:
        sys.stdout.write(json.dumps({"report": str(path)}) + "\n")
    else:
        print(f"Report: {path}")


def main() -> None:
    from provenance.cli import run_typer_app

    sys.exit(run_typer_app(app, sys.argv[1:], prog_name="python -m reports", user_errors=USER_ERRORS))
