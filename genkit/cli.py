"""The umbrella command line ``synthvid`` (also ``python -m genkit``).

Mounting pattern — how a package adds its commands
---------------------------------------------------
Each package keeps its own small CLI module, ``<package>/cli.py``, that defines

- ``app = typer.Typer()``: its commands (``@app.command()``) and groups (``app.add_typer(sub, name=...)``).
  The umbrella merges them at top level, so ``provenance/cli.py``'s ``verify`` becomes ``synthvid verify``
  and its ``keys`` group ``synthvid keys ...``. Command names must be unique across packages.
- ``USER_ERRORS = (ProvenanceError,)``: the package's exception bases that mean "bad input". The umbrella
  prints them as one line (``error: <message>``) and exits 2; ``--debug`` adds the traceback.

Then add the module's name to :data:`PACKAGE_CLIS` below (modules not written yet are skipped).
Rules for those modules, because ``synthvid --help`` imports all of them:

- import only typer, rich, the standard library and the package's errors at module level; import numpy,
  PyAV, pandas, torch, diffusers, open_clip *inside* the command functions;
- every command has a one-line first docstring line (the ``--help`` listing), an ``Example:`` paragraph,
  a ``--json`` flag for machine output, a progress bar on multi-clip work (stderr, so ``--json`` stays
  clean), and exit codes 0 ok / positive verdict, 1 negative verdict, 2 bad input;
- a package's own ``python -m <package>`` entry point must not import genkit (imports point down): it
  runs its app with :func:`provenance.cli.run_typer_app`, the one runner that turns ``USER_ERRORS``
  into one line and exit 2 (the umbrella's :func:`run` uses it too).

The shapes world's commands live in this module as the ``world`` group. Exit code 3 means a bug in
synthvid (an unexpected exception): the traceback is printed so it can be reported.
"""

from __future__ import annotations

import importlib
import json
import logging
import sys
from pathlib import Path
from typing import Optional

import typer

from genkit.errors import GenkitError
from provenance.errors import ProvenanceError

log = logging.getLogger(__name__)

PACKAGE_CLIS = ("provenance.cli", "eval.cli", "detectors.cli")
EXIT_BAD_INPUT = 2
TABLE_ROWS_SHOWN = 40  # longer runs print a summary; the full table is in results.parquet

app = typer.Typer(
    name="synthvid",
    help="synthvid: synthetic-video generation with provenance, evaluation and detection.",
    no_args_is_help=True,
    add_completion=False,
    rich_markup_mode="rich",
)
world_app = typer.Typer(
    help="Shapes world: render clips from prompts, analyze clips, print the grammar.",
    no_args_is_help=True,
    rich_markup_mode="rich",
)
app.add_typer(world_app, name="world")


def _version(value: bool) -> None:
    if value:
        from importlib.metadata import version

        typer.echo(f"synthvid {version('synthvid')}")
        raise typer.Exit()


@app.callback()
def _umbrella(
    debug: bool = typer.Option(False, "--debug", help="Show tracebacks and debug logs."),
    version: bool = typer.Option(False, "--version", callback=_version, is_eager=True, help="Print the version and exit."),
) -> None:
    """synthvid: synthetic-video generation with provenance, evaluation and detection.

    Example: synthvid world render --suite shapes-smoke --out runs/smoke
    """
    logging.basicConfig(  # DEBUG here is also how run_typer_app knows to print tracebacks
        level=logging.DEBUG if debug else logging.WARNING,
        format="%(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )


def _mount_package_clis() -> tuple[type[BaseException], ...]:
    """Merge every package CLI of :data:`PACKAGE_CLIS` into ``app``; return all user-error classes."""
    user_errors: list[type[BaseException]] = [GenkitError, ProvenanceError]
    for name in PACKAGE_CLIS:
        try:
            module = importlib.import_module(name)
        except ModuleNotFoundError as exc:
            if exc.name == name:  # that package has no CLI yet; any other missing module is a real error
                continue
            raise
        app.add_typer(module.app)
        user_errors.extend(getattr(module, "USER_ERRORS", ()))
    return tuple(user_errors)


USER_ERRORS = _mount_package_clis()


def run(argv: list[str] | None = None, *, prog_name: str = "synthvid") -> int:
    """Run the umbrella CLI on ``argv``; return the exit code instead of exiting."""
    from provenance.cli import run_typer_app

    return run_typer_app(app, sys.argv[1:] if argv is None else list(argv), prog_name=prog_name, user_errors=USER_ERRORS)


def main() -> None:
    """Console-script entry point."""
    sys.exit(run())


def _one_line(exc: BaseException) -> str:
    return " ".join(str(exc).split()) or type(exc).__name__


def _stdout():
    from rich.console import Console

    # Off a terminal rich would assume 80 columns and fold paths; logs and pipes take wider lines.
    return Console(soft_wrap=True, width=None if sys.stdout.isatty() else 160)


def _progress(total: int, description: str):
    """A rich progress bar on stderr (so ``--json`` output stays clean); only on a terminal, and not for
    a single item (off a terminal rich could only print the finished bar)."""
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

    console = Console(stderr=True)
    progress = Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
        console=console,
        disable=total < 2 or not console.is_terminal,
    )
    task = progress.add_task(description, total=total)
    return progress, task


def _print_json(data) -> None:
    sys.stdout.write(json.dumps(data, indent=2, default=str) + "\n")


def _check_size(value: str) -> str:
    from genkit.world.render import parse_size

    try:
        parse_size(value)
    except ValueError as exc:
        raise typer.BadParameter(str(exc)) from exc
    return value


@world_app.command("render")
def world_render(
    prompt: Optional[str] = typer.Argument(None, help="One prompt, e.g. 'a red circle moving left on a blue background'."),
    suite: Optional[str] = typer.Option(
        None, "--suite", "-s", help="Suite file (.txt/.csv/.jsonl/VBench .json) or bundled name (shapes-smoke, shapes-full)."
    ),
    out: Path = typer.Option(..., "--out", "-o", help="Run folder to create: clips/, results.parquet, run.json."),
    frames: int = typer.Option(16, min=1, max=10_000, help="Frames per clip."),
    size: str = typer.Option("64", callback=_check_size, help="Frame size: N (square) or WIDTHxHEIGHT, e.g. 96x64."),
    fps: float = typer.Option(8.0, min=0.01, max=1000.0, help="Frames per second."),
    seed: int = typer.Option(0, min=0, help="Seed of the first clip; clip i uses seed + i."),
    crf: int = typer.Option(18, min=0, max=51, help="H.264 quality (0 best, 51 worst)."),
    overwrite: bool = typer.Option(False, "--overwrite", help="Replace an existing run in --out."),
    as_json: bool = typer.Option(False, "--json", help="Print the run summary and rows as JSON."),
) -> None:
    """Render a prompt or a prompt suite with the shapes world into a run folder.

    Each clip is written as H.264 MP4, read back and analyzed; results.parquet gets one row per clip.

    Example: synthvid world render --suite shapes-smoke --out runs/smoke
    """
    from genkit.runfolder import RunFolder, agreement, parse_world_prompts, render_world_suite
    from genkit.suites import SuiteItem, load_suite, resolve_suite

    if (prompt is None) == (suite is None):
        raise typer.BadParameter("give either a PROMPT or --suite FILE, not both or neither", param_hint="PROMPT / --suite")
    if suite is not None:
        suite_path = resolve_suite(suite)
        items = load_suite(suite_path)
    else:
        suite_path, items = None, [SuiteItem(prompt, "0000")]
    config = {
        "job": "world render",
        "suite": suite,
        "suite_file": str(suite_path) if suite_path else None,
        "prompt": prompt,
        "frames": frames,
        "size": size,
        "fps": fps,
        "seed": seed,
        "crf": crf,
        "world": "shapes",
    }
    parse_world_prompts(items, suite_path)  # before the folder is made: a bad prompt leaves nothing behind
    with RunFolder.create(out, config, overwrite=overwrite) as run:
        progress, task = _progress(len(items), "rendering")
        with progress:
            for _ in render_world_suite(
                run, items, suite_path=suite_path, frames=frames, size=size, fps=fps, seed=seed, crf=crf
            ):
                progress.advance(task)
        scores = agreement(run.rows)
        run.close("complete", clips=len(run.rows), analyzer_agreement=scores)
    summary = {
        "run": str(run.root),
        "clips": str(run.clips_dir),
        "table": str(run.results_path),
        "record": str(run.run_path),
        "count": len(run.rows),
        "analyzer_agreement": scores,
    }
    if as_json:
        _print_json({**summary, "rows": run.rows})
        return
    console = _stdout()
    if len(run.rows) <= TABLE_ROWS_SHOWN:
        _print_render_table(console, run.rows)
    shares = ", ".join(f"{key} {value:.0%}" for key, value in scores.items() if key != "all")
    console.print(f"Rendered {len(run.rows)} clips into {run.clips_dir}")
    console.print(f"Analyzer agrees with the prompt on {scores['all']:.1%} of clips ({shares})")
    console.print(f"Table: {run.results_path}  (pandas.read_parquet)")


def _print_render_table(console, rows: list[dict]) -> None:
    from rich.table import Table

    table = Table(title="Rendered clips")
    for column in ("id", "prompt", "clip", "analyzer"):
        table.add_column(column)
    for row in rows:
        verdict = "[green]matches[/]" if row["match_all"] else "[red]differs: " + ", ".join(
            f"{key}={row[f'analyzed_{key}']}" for key in ("background", "color", "shape", "motion") if not row[f"match_{key}"]
        ) + "[/]"
        table.add_row(row["prompt_id"], row["canonical_prompt"], row["path"], verdict)
    console.print(table)


@world_app.command("analyze")
def world_analyze(
    clips: list[Path] = typer.Argument(..., help="Video files to analyze (anything FFmpeg reads)."),
    as_json: bool = typer.Option(False, "--json", help="Print one JSON object per clip in a list."),
) -> None:
    """Recover background, object colour, shape and motion of shapes-world clips.

    Files that cannot be read are reported one line each; the others are still analyzed, and the
    command exits 2 at the end if any file failed.

    Example: synthvid world analyze runs/smoke/clips/*.mp4 --json
    """
    from genkit.world import analyze
    from provenance.media import read_video

    results: list[dict] = []
    progress, task = _progress(len(clips), "analyzing")
    with progress:
        for path in clips:
            try:
                video = read_video(path)
                found = analyze(video)
            except USER_ERRORS as exc:
                log.debug("cannot analyze %s", path, exc_info=True)
                results.append({"path": str(path), "error": _one_line(exc)})
            else:
                results.append(
                    {
                        "path": str(path),
                        "frames": video.num_frames,
                        "width": video.width,
                        "height": video.height,
                        "fps": video.fps,
                        **found.to_dict(),
                    }
                )
            progress.advance(task)
    failed = [result for result in results if "error" in result]
    if as_json:
        _print_json(results)
    else:
        _print_analyze_table(_stdout(), [result for result in results if "error" not in result])
    for result in failed:
        print(f"error: {result['error']}", file=sys.stderr)
    if failed:
        raise typer.Exit(EXIT_BAD_INPUT)


def _print_analyze_table(console, results: list[dict]) -> None:
    from rich.table import Table

    if not results:
        return
    table = Table(title="Recovered attributes")
    table.add_column("clip", overflow="fold")
    for column in ("background", "color", "shape", "motion", "dx", "dy"):
        table.add_column(column, no_wrap=True)
    for result in results:
        dx, dy = result["displacement"]
        table.add_row(
            result["path"],
            result["background"],
            result["color"] or "—",
            result["shape"] or "—",
            result["motion"] or "—",
            f"{dx:+.2f}",
            f"{dy:+.2f}",
        )
    console.print(table)


@world_app.command("vocab")
def world_vocab(as_json: bool = typer.Option(False, "--json", help="Print the vocabulary as JSON.")) -> None:
    """Print the shapes-world grammar and its vocabulary.

    Example: synthvid world vocab --json
    """
    from genkit.world import DIRECTIONS, MOTIONS, PALETTE, SHAPES, SIZES, all_prompts
    from genkit.world.grammar import SIZE_SYNONYMS, STILL_PHRASES

    vocab = {
        "grammar": "a [SIZE] COLOR SHAPE MOTION on a [textured] COLOR background [with noise] [with camera pan DIR]",
        "colors": {name: list(rgb) for name, rgb in PALETTE.items()},
        "shapes": list(SHAPES),
        "motions": list(MOTIONS),
        "motion_phrases": [f"moving {d}" for d in DIRECTIONS] + [" ".join(phrase) for phrase in STILL_PHRASES],
        "sizes": list(SIZES),
        "size_synonyms": SIZE_SYNONYMS,
        "modifiers": ["textured", "with noise"] + [f"with camera pan {d}" for d in DIRECTIONS],
        "core_prompts": len(all_prompts()),
        "example": "a red circle moving left on a blue background",
    }
    if as_json:
        _print_json(vocab)
        return
    from rich.markup import escape

    console = _stdout()
    lines = {
        "Grammar": vocab["grammar"],
        "Colours": ", ".join(f"{name} {tuple(rgb)}" for name, rgb in vocab["colors"].items()),
        "Shapes": ", ".join(vocab["shapes"]),
        "Motions": ", ".join(vocab["motion_phrases"]),
        "Sizes": ", ".join(vocab["sizes"])
        + " (synonyms: " + ", ".join(f"{word} = {size}" for word, size in SIZE_SYNONYMS.items() if word != size) + ")",
        "Modifiers": ", ".join(vocab["modifiers"]),
        "Core grammar": f"{vocab['core_prompts']} prompts (medium size, plain background)",
        "Example": vocab["example"],
    }
    for label, text in lines.items():
        console.print(f"[bold]{label}[/]: {escape(text)}")


@world_app.command("prompts")
def world_prompts(
    out: Optional[Path] = typer.Option(None, "--out", "-o", help="Write to this file instead of stdout."),
    as_json: bool = typer.Option(False, "--json", help="Print the prompts as a JSON list."),
) -> None:
    """Print every prompt of the core grammar (the bundled shapes-full suite).

    Example: synthvid world prompts --out genkit/suites/shapes-full.txt
    """
    from genkit.suites import full_suite_text
    from genkit.world import all_prompts

    if as_json:
        _print_json([prompt.text for prompt in all_prompts()])
        return
    text = full_suite_text()
    if out is None:
        sys.stdout.write(text)
        return
    try:
        out.write_text(text)
    except OSError as exc:
        raise GenkitError(f"{out}: cannot write ({exc.strerror or exc})") from exc
    print(f"wrote {len(all_prompts())} prompts to {out}", file=sys.stderr)
