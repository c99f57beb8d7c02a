"""The umbrella command line ``synthvid`` (also ``python -m genkit``): the root app, its ``--debug`` and
``--version``, the mounting of every package's CLI module, what lower packages' commands are handed
(``ctx.obj``), and :func:`run` / :func:`main`. No command is defined here.

Mounting pattern — how a package adds its commands
---------------------------------------------------
Each package keeps its own small CLI module, ``<package>/cli.py``, that defines

- ``app = typer.Typer()``: its commands (``@app.command()``) and groups (``app.add_typer(sub, name=...)``).
  The umbrella merges them at top level, so ``provenance/cli.py``'s ``verify`` becomes ``synthvid verify``
  and its ``keys`` group ``synthvid keys ...``. Command names must be unique across packages.
- ``USER_ERRORS = (ProvenanceError,)``: the package's exception bases that mean "bad input". The umbrella
  prints them as one line (``error: <message>``) and exits 2; ``--debug`` adds the traceback.

Then add the module's name to :data:`PACKAGE_CLIS` below (modules not written yet are skipped). genkit's
own commands follow the same pattern, one module per top-level command or group in :mod:`genkit.commands`.
Rules for those modules, because ``synthvid --help`` imports all of them:

- import only typer, rich, the standard library and the package's errors at module level; import numpy,
  PyAV, pandas, torch, diffusers, open_clip *inside* the command functions;
- every command has a one-line first docstring line (the ``--help`` listing), an ``Example:`` paragraph,
  a ``--json`` flag for machine output, a progress bar on multi-clip work (stderr, so ``--json`` stays
  clean), and exit codes 0 ok / positive verdict, 1 negative verdict, 2 bad input;
- a package's own ``python -m <package>`` entry point must not import genkit (imports point down): it
  puts its app under :func:`provenance.cli.standalone_app` (a root with ``--debug``) and runs it with
  :func:`provenance.cli.run_typer_app`, the one runner that turns ``USER_ERRORS`` into one line and
  exit 2 (the umbrella's :func:`run` uses it too, and the same :func:`provenance.cli.configure_logging`).

Exit code 3 means a bug in synthvid (an unexpected exception): the traceback is printed so it can be
reported.
"""

from __future__ import annotations

import importlib
import importlib.util
import logging
import sys

import typer

from genkit.commands.common import USER_ERRORS as GENKIT_USER_ERRORS
from provenance.cli import configure_logging, run_typer_app

log = logging.getLogger(__name__)

# Mounted in this order, which is the order ``synthvid --help`` lists the commands in.
PACKAGE_CLIS = (
    "genkit.commands.generate",
    "genkit.commands.eval_train",
    "genkit.commands.world",
    "provenance.cli",
    "eval.cli",
    "detectors.cli",
    "reports.cli",
    "genkit.commands.train",
    "genkit.commands.bench",
)

app = typer.Typer(
    name="synthvid",
    help="synthvid: synthetic-video generation with provenance, evaluation and detection.",
    no_args_is_help=True,
    add_completion=False,
    rich_markup_mode="rich",
)


def _version(value: bool) -> None:
    if value:
        from importlib.metadata import version

        typer.echo(f"synthvid {version('synthvid')}")
        raise typer.Exit()


@app.callback()
def _umbrella(
    ctx: typer.Context,
    debug: bool = typer.Option(False, "--debug", help="Show tracebacks and debug logs."),
    version: bool = typer.Option(False, "--version", callback=_version, is_eager=True, help="Print the version and exit."),
) -> None:
    """synthvid: synthetic-video generation with provenance, evaluation and detection.

    Example: synthvid world render --suite shapes-smoke --out runs/smoke
    """
    configure_logging(debug)  # DEBUG is also how run_typer_app knows to print tracebacks
    # What lower packages' commands cannot import (they sit below genkit), handed to them as arguments.
    ctx.obj = {
        "reference_providers": {"world": _world_reference},
        "domain_checker": _is_world_clip,
        "verify_detector": _detector_for_verify if importlib.util.find_spec("detectors.cli") is not None else None,
    }


def _is_world_clip(frames) -> bool:
    """``synthvid eval``'s domain check: is this a shapes-world clip (genkit.world.analyze.is_world_clip)?"""
    from genkit.world.analyze import is_world_clip

    return is_world_clip(frames)


def _world_reference(suite: str, **settings):
    """``synthvid eval --reference world:SUITE``: the shapes-world renders of a suite (genkit.world.reference)."""
    from genkit.world.reference import world_reference

    return world_reference(suite, **settings)


def _mount_package_clis() -> tuple[type[BaseException], ...]:
    """Merge every package CLI of :data:`PACKAGE_CLIS` into ``app``; return all user-error classes."""
    user_errors: list[type[BaseException]] = list(GENKIT_USER_ERRORS)
    for name in PACKAGE_CLIS:
        try:
            module = importlib.import_module(name)
        except ModuleNotFoundError as exc:
            if exc.name == name:  # that package has no CLI yet; any other missing module is a real error
                continue
            raise
        app.add_typer(module.app)
        user_errors.extend(getattr(module, "USER_ERRORS", ()))
    return tuple(dict.fromkeys(user_errors))  # each class once, in mounting order


USER_ERRORS = _mount_package_clis()


def _detector_for_verify():
    """``synthvid verify`` shows the detector's score as a third signal (provenance cannot import detectors);
    a missing or broken detector model leaves the verdicts as they are, with a warning."""
    from detectors.cli import verify_detector
    from detectors.errors import DetectorError

    try:
        return verify_detector()
    except DetectorError as exc:
        log.warning("no detector estimate: %s", exc)
        return None


def run(argv: list[str] | None = None, *, prog_name: str = "synthvid") -> int:
    """Run the umbrella CLI on ``argv``; return the exit code instead of exiting."""
    return run_typer_app(app, sys.argv[1:] if argv is None else list(argv), prog_name=prog_name, user_errors=USER_ERRORS)


def main() -> None:
    """Console-script entry point."""
    sys.exit(run())
