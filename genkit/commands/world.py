"""``synthvid world render|analyze|vocab|prompts``: the shapes world's commands.

Exit codes: 0 success, 2 bad input (``world analyze`` reports unreadable clips one line each, analyzes
the others and exits 2 at the end).
"""

from __future__ import annotations

import logging
import sys
from pathlib import Path
from typing import Optional

import typer

from genkit.commands.common import EXIT_BAD_INPUT, TABLE_ROWS_SHOWN, USER_ERRORS, prompt_items, run_summary
from genkit.errors import GenkitError
from provenance.console import make_console, one_line, print_json, progress_bar
from provenance.runfolder import RUN_COMPLETE

log = logging.getLogger(__name__)

app = typer.Typer(add_completion=False, rich_markup_mode="rich", no_args_is_help=True)
world_app = typer.Typer(
    help="Shapes world: render clips from prompts, analyze clips, print the grammar.",
    no_args_is_help=True,
    rich_markup_mode="rich",
)
app.add_typer(world_app, name="world")


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

    suite_path, items = prompt_items(prompt, suite)
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
        with progress_bar(len(items), "rendering") as bar:
            for _ in render_world_suite(run, items, suite_path=suite_path, frames=frames, size=size, fps=fps, seed=seed, crf=crf):
                bar.update()
        scores = agreement(run.rows)
        run.close(RUN_COMPLETE, clips=len(run.rows), analyzer_agreement=scores)
    summary = {**run_summary(run), "analyzer_agreement": scores}
    if as_json:
        print_json({**summary, "rows": run.rows})
        return
    console = make_console()
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
        verdict = (
            "[green]matches[/]"
            if row["match_all"]
            else "[red]differs: "
            + ", ".join(f"{key}={row[f'analyzed_{key}']}" for key in ("background", "color", "shape", "motion") if not row[f"match_{key}"])
            + "[/]"
        )
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
    with progress_bar(len(clips), "analyzing") as bar:
        for path in clips:
            try:
                video = read_video(path)
                found = analyze(video)
            except USER_ERRORS as exc:
                log.debug("cannot analyze %s", path, exc_info=True)
                results.append({"path": str(path), "error": one_line(exc)})
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
            bar.update()
    failed = [result for result in results if "error" in result]
    if as_json:
        print_json(results)
    else:
        _print_analyze_table(make_console(), [result for result in results if "error" not in result])
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
        print_json(vocab)
        return
    from rich.markup import escape

    console = make_console()
    lines = {
        "Grammar": vocab["grammar"],
        "Colours": ", ".join(f"{name} {tuple(rgb)}" for name, rgb in vocab["colors"].items()),
        "Shapes": ", ".join(vocab["shapes"]),
        "Motions": ", ".join(vocab["motion_phrases"]),
        "Sizes": ", ".join(vocab["sizes"])
        + " (synonyms: "
        + ", ".join(f"{word} = {size}" for word, size in SIZE_SYNONYMS.items() if word != size)
        + ")",
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
        print_json([prompt.text for prompt in all_prompts()])
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
