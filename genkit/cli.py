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

import enum
import importlib
import importlib.util
import json
import logging
import os
import sys
from pathlib import Path
from typing import Optional

import typer
from typer.core import TyperGroup

from genkit.errors import GenkitError
from provenance.console import make_console, one_line, print_json, progress_bar
from provenance.errors import ProvenanceError

log = logging.getLogger(__name__)

PACKAGE_CLIS = ("provenance.cli", "eval.cli", "detectors.cli", "reports.cli")
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
    ctx: typer.Context,
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
    from provenance.cli import run_typer_app

    return run_typer_app(app, sys.argv[1:] if argv is None else list(argv), prog_name=prog_name, user_errors=USER_ERRORS)


def main() -> None:
    """Console-script entry point."""
    sys.exit(run())


def _prompt_items(prompt: str | None, suite: str | None):
    """``(suite file or None, items)`` from a PROMPT argument or a --suite option (exactly one of them)."""
    from genkit.suites import SuiteItem, load_suite, resolve_suite

    if (prompt is None) == (suite is None):
        raise typer.BadParameter("give either a PROMPT or --suite FILE, not both or neither", param_hint="PROMPT / --suite")
    if suite is not None:
        suite_path = resolve_suite(suite)
        return suite_path, load_suite(suite_path)
    return None, [SuiteItem(prompt, "0000")]


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

    suite_path, items = _prompt_items(prompt, suite)
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
            for _ in render_world_suite(
                run, items, suite_path=suite_path, frames=frames, size=size, fps=fps, seed=seed, crf=crf
            ):
                bar.update()
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


# ------------------------------------------------------------------------------------------ generate

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


@app.command("generate")
def generate(
    prompt: Optional[str] = typer.Argument(None, help="One prompt. synthvid-tiny knows only the shapes world (synthvid world vocab)."),
    suite: Optional[str] = typer.Option(
        None, "--suite", "-s", help="Suite file (.txt/.csv/.jsonl/VBench .json) or bundled name (shapes-smoke, shapes-full)."
    ),
    model: str = typer.Option(
        TINY_MODEL, "--model", "-m",
        help="synthvid-tiny (embedded), a name (wan2.1-1.3b, wan2.1-14b, cogvideox-2b, cogvideox-5b, ltx-video, zeroscope, "
        "modelscope), a Hugging Face hub id, or a pipeline folder (save_pretrained).",
    ),
    out: Path = typer.Option(..., "--out", "-o", help="Run folder to create: clips/, results.parquet, run.json."),
    seed: int = typer.Option(0, min=0, max=2**63 - 1, help="Base seed; clip k of prompt i gets a seed derived from (seed, i, k)."),
    num_videos_per_prompt: int = typer.Option(1, "--num-videos-per-prompt", "-n", min=1, max=1000, help="Clips per prompt."),
    frames: Optional[int] = typer.Option(None, min=1, max=2048, help="Frames per clip (default: the model's)."),
    height: Optional[int] = typer.Option(None, min=8, max=4096, help="Frame height in pixels (default: the model's; synthvid-tiny 64)."),
    width: Optional[int] = typer.Option(None, min=8, max=4096, help="Frame width in pixels (default: the model's; synthvid-tiny 64)."),
    fps: Optional[float] = typer.Option(None, min=0.01, max=1000.0, help="Frames per second of the files (default: the model's)."),
    steps: Optional[int] = typer.Option(None, min=1, max=1000, help="Denoising steps (default: the model's)."),
    guidance: Optional[float] = typer.Option(None, min=0.0, max=100.0, help="Classifier-free guidance scale (default: the model's)."),
    negative_prompt: Optional[str] = typer.Option(None, "--negative-prompt", help="What the clips should not show."),
    batch_size: Optional[int] = typer.Option(
        None, "--batch-size", min=1, max=256, help="Clips per batch (default: 8 for synthvid-tiny, 1 otherwise); never changes a clip."
    ),
    batched_forward: bool = typer.Option(False, "--batched-forward", help=BATCHED_FORWARD_HELP),
    device: str = typer.Option("auto", help="auto (cuda, else mps, else cpu), cpu, cuda, cuda:N or mps."),
    dtype: Dtype = typer.Option(Dtype.auto, help="Weights' precision; auto: fp32 on CPU, bf16 (else fp16) on GPUs."),
    cpu_offload: bool = typer.Option(False, "--cpu-offload", help="Keep the model in CPU memory, each part on the GPU only while it runs (needs a GPU)."),
    revision: Optional[str] = typer.Option(None, "--revision", help="Hub revision (branch, tag or commit) of a hub model."),
    threads: Optional[int] = typer.Option(None, "--threads", min=1, max=256, help="CPU threads for torch (default: torch's choice)."),
    crf: int = typer.Option(18, min=0, max=51, help="H.264 quality (0 best, 51 worst)."),
    no_provenance: bool = typer.Option(
        False, "--no-provenance", help="Write clips without watermark, C2PA manifest or repository record (a warning says so)."
    ),
    keys: Optional[Path] = typer.Option(None, "--keys", help="Key directory (default: $SYNTHVID_HOME/keys); keys are made there on first use."),
    repo: Optional[Path] = typer.Option(None, "--repo", help="Manifest repository (default: $SYNTHVID_HOME/manifests.sqlite)."),
    hash_prompt: bool = typer.Option(False, "--hash-prompt", help="Manifests carry the prompt's SHA-256 instead of its text."),
    overwrite: bool = typer.Option(False, "--overwrite", help="Replace an existing run in --out."),
    as_json: bool = typer.Option(False, "--json", help="Print the run summary and rows as JSON."),
) -> None:
    """Generate clips from a prompt or a suite; watermark, sign and register every clip.

    Each clip: generate → watermark (payload: 2-byte generator id + 6-byte content id) → H.264 →
    C2PA sign → register in the manifest repository → one row of results.parquet (prompt, seed, model,
    path, payload, manifest id, seconds per stage). Clip k of prompt i always gets the same seed,
    whatever the batch size. Weights of hub models come from the Hugging Face cache (HF_HUB_OFFLINE=1
    is respected); synthvid-tiny ships with synthvid.

    Example: synthvid generate --suite shapes-smoke --out runs/gen && synthvid verify runs/gen/clips/*.mp4
    """
    from genkit.backends import load_backend, resolve_model
    from genkit.generate import model_prompts, open_provenance, resolve_settings, run_generation

    # Idle OpenMP threads sleep instead of spinning: measured here with a busy neighbour, a synthvid-tiny
    # clip on 2 threads cost 13.5 s of CPU spinning and 3.5 s sleeping (set OMP_WAIT_POLICY to override).
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    if prompt is not None and not prompt.strip():
        raise typer.BadParameter("the prompt is empty", param_hint="PROMPT")
    suite_path, items = _prompt_items(prompt, suite)
    source = resolve_model(model)
    model_prompts(source, items, suite_path)  # before keys, weights and folders: a bad prompt costs nothing
    if threads is not None:
        import torch

        torch.set_num_threads(threads)
    err = make_console(stderr=True)
    if no_provenance:
        err.print("[bold yellow]warning:[/] --no-provenance: clips get no watermark, no C2PA manifest and no repository "
                  "record; nothing will tie them to this model", highlight=False)
    backend = load_backend(source, device=device, dtype=dtype.value, cpu_offload=cpu_offload, revision=revision)
    provenance = None
    if not no_provenance:
        provenance = open_provenance(keys, repo)
        if provenance.created_keys:
            err.print(f"created signing keys in {provenance.key_dir} (trust anchor for verifiers: {provenance.trust_anchor})", highlight=False)
    try:
        settings = resolve_settings(
            backend, frames=frames, height=height, width=width, fps=fps, steps=steps, guidance=guidance,
            negative_prompt=negative_prompt, batch_size=batch_size, batched_forward=batched_forward, crf=crf,
            hash_prompt=hash_prompt, base_seed=seed,
        )
        config = {"suite": suite, "suite_file": str(suite_path) if suite_path else None, "prompt": prompt, "dtype": dtype.value}
        with progress_bar(len(items) * num_videos_per_prompt, "generating") as bar:
            run = run_generation(
                out, backend, items, settings, provenance,
                samples_per_prompt=num_videos_per_prompt, config=config, overwrite=overwrite, suite_path=suite_path,
                on_clip=lambda row: bar.update(),
            )
    finally:
        if provenance is not None:
            provenance.close()
    summary = {
        "run": str(run.root),
        "clips": str(run.clips_dir),
        "table": str(run.results_path),
        "record": str(run.run_path),
        "count": len(run.rows),
        "model": backend.name,
        "model_id": backend.model_id,
        "model_revision": backend.revision,
        "provenance": provenance is not None,
        "repository": str(provenance.repository.path) if provenance else None,
        "trust_anchor": str(provenance.trust_anchor) if provenance else None,
        "seconds_per_clip": run.record.get("seconds_per_clip"),
    }
    if as_json:
        print_json({**summary, "rows": run.rows})
        return
    console = make_console()
    if len(run.rows) <= TABLE_ROWS_SHOWN:
        _print_generate_table(console, run.rows)
    console.print(f"Generated {len(run.rows)} clips with {backend.model_id} into {run.clips_dir} ({summary['seconds_per_clip']} s a clip)")
    if provenance is not None:
        console.print(f"Signed and registered in {provenance.repository.path}; check them: synthvid verify {run.clips_dir}/*.mp4")
        unverified = [row["path"] for row in run.rows if row["watermark_verified"] is False]
        if unverified:
            err.print(f"[bold yellow]warning:[/] the watermark could not be read back from {len(unverified)} clips "
                      f"(e.g. {unverified[0]}): they are signed and registered, but a copy stripped of its manifest "
                      "could not be traced by its pixels", highlight=False)
    console.print(f"Table: {run.results_path}  (pandas.read_parquet)")


def _print_generate_table(console, rows: list[dict]) -> None:
    from rich.table import Table

    table = Table(title="Generated clips")
    for column in ("id", "sample", "seed", "prompt", "clip", "payload", "manifest", "s"):
        table.add_column(column, overflow="fold")
    for row in rows:
        table.add_row(
            row["prompt_id"], str(row["sample_index"]), str(row["seed"]), row["prompt"], row["path"],
            row["payload"] or "—", (row["manifest_id"] or "—").removeprefix("urn:c2pa:"), f"{row['total_seconds']:.2f}",
        )
    console.print(table)


# --------------------------------------------------------------------------------------------- train

class TrainableModel(str, enum.Enum):
    video = "video"
    clip = "clip"


@app.command("eval-train")
def eval_train(
    model: TrainableModel = typer.Argument(..., help="video: synthvid-tiny-video (FVD-tiny); clip: synthvid-tiny-clip (CLIPSIM)."),
    minutes: float = typer.Option(..., "--minutes", min=0.1, help="Wall-clock budget of this session, in minutes."),
    out: Optional[Path] = typer.Option(None, "--out", "-o", help="Training folder: checkpoint.pt, loss.csv, eval.csv, model/ "
                                       "(default runs/train-tiny-video or runs/train-tiny-clip)."),
    resume: bool = typer.Option(False, "--resume", help="Continue from --out's checkpoint.pt (weights, optimiser, data stream)."),
    max_steps: Optional[int] = typer.Option(None, "--max-steps", min=1, help="Stop after this many steps in all."),
    threads: int = typer.Option(1, "--threads", min=1, max=256, help="CPU threads for torch."),
    seed: int = typer.Option(0, "--seed", min=0, help="Seed of the weights and the data stream."),
    as_json: bool = typer.Option(False, "--json", help="Print the training summary as JSON."),
) -> None:
    """Train a small model eval ships, on shapes-world data rendered on the fly (genkit hands eval the world).

    video: synthvid-tiny-video, the FVD-tiny encoder: 16-frame 64×64 clips, some temporally shuffled or
    frozen, low-passed or noised; heads learn the prompt's attributes, the frame order and the degradation levels.
    clip: synthvid-tiny-clip, an open_clip custom model (contrastive, frames and their prompts).
    Everything is checkpointed (--resume continues the same data stream) and the model is exported to
    --out/model at each checkpoint; copy that folder to eval/models/synthvid-tiny-video (or -clip) to ship it.

    Example: synthvid eval-train video --minutes 15 --out runs/train-tiny-video && synthvid eval-train video --minutes 60 --out runs/train-tiny-video --resume
    """
    from genkit.world import world_source

    out = out or Path(f"runs/train-tiny-{model.value}")
    logging.getLogger("eval.training").setLevel(logging.INFO)  # the loss every 25 steps is the progress report
    if model is TrainableModel.video:
        from eval.train_video import train_video_encoder as train
    else:
        from eval.train_clip import train_clip as train
    summary = train(out, world_source(), minutes=minutes, max_steps=max_steps, resume=resume, threads=threads, seed=seed)
    _print_eval_training(summary, out, as_json)


def _print_eval_training(summary: dict, out: Path, as_json: bool) -> None:
    result = {**summary, "model": str(out / "model"), "loss_log": str(out / "loss.csv"), "eval_log": str(out / "eval.csv")}
    if as_json:
        print_json(result)
        return
    print(f"trained to step {summary['steps']} ({summary['minutes_trained']} min in all); model in {out / 'model'}")
    print("held-out evaluation: " + ", ".join(f"{k} {v}" for k, v in summary["evaluation"].items()))



train_app = typer.Typer(help="Train the models synthvid ships.", no_args_is_help=True, rich_markup_mode="rich")
app.add_typer(train_app, name="train")


@train_app.command("tiny")
def train_tiny(
    minutes: float = typer.Option(..., "--minutes", min=0.1, max=60 * 24 * 30, help="Wall-clock budget of this run, in minutes."),
    out: Path = typer.Option(Path("runs/train-tiny"), "--out", "-o", help="Training folder: checkpoint.pt, loss.csv, eval.csv, pipeline/."),
    resume: bool = typer.Option(False, "--resume", help="Continue from --out's checkpoint.pt (weights, optimiser, EMA, data order)."),
    init_from: Optional[Path] = typer.Option(None, "--init-from", help="Start from the weights of a saved synthvid-tiny pipeline folder."),
    threads: int = typer.Option(2, "--threads", min=1, max=256, help="CPU threads for torch."),
    max_steps: Optional[int] = typer.Option(None, "--max-steps", min=1, help="Stop after this many steps in all (including resumed ones)."),
    eval_every: int = typer.Option(1000, "--eval-every", min=0, help="Score EMA samples with the world analyzer every N steps (0: never)."),
    lr: float = typer.Option(5e-4, "--lr", min=1e-7, max=1e-1, help="Learning rate of this run; with --resume it replaces the saved one "
                             "(lower it, e.g. to 1.5e-4, for a final annealing run)."),
    low_snr_floor: float = typer.Option(0.0, "--low-snr-floor", min=0.0, max=5.0, help="Lowest loss weight (x0 terms) of the "
                                        "noisiest steps, where min-SNR weighting gives almost none (they decide a motion's direction; the shipped weights' last run used 1.0)."),
    direction_contrast: float = typer.Option(0.0, "--direction-contrast", min=0.0, max=10.0, help="Weight of the time-reversal contrast: "
                                             "a moving clip must be denoised better than the same clip played backwards under its prompt (0.25 taught the shipped weights directions)."),
    as_json: bool = typer.Option(False, "--json", help="Print the result as JSON."),
) -> None:
    """Train synthvid-tiny on shapes-world clips rendered on the fly.

    Checkpoints (the whole state, every 10 minutes and at the end) go to --out/checkpoint.pt, the EMA
    pipeline to --out/pipeline (a save_pretrained folder: synthvid generate --model DIR), the loss to
    loss.csv and prompt adherence to eval.csv. Progress is logged every 25 steps.

    The shipped weights learned colours and shapes with the defaults; motion directions only came with
    --direction-contrast 0.25 --low-snr-floor 1.0 on top (genkit/tiny/MODEL_CARD.md, "Direction").

    Example: synthvid train tiny --minutes 60 --out runs/train-tiny && synthvid train tiny --minutes 60 --out runs/train-tiny --resume
    """
    if resume and not (out / "checkpoint.pt").is_file():
        raise GenkitError(f"{out}: --resume needs {out / 'checkpoint.pt'}, which does not exist (drop --resume to start a new run)")
    if resume and init_from is not None:
        raise typer.BadParameter("--init-from starts a new run from saved weights; it cannot be combined with --resume", param_hint="--init-from")
    if init_from is not None:
        index = init_from / "model_index.json"
        if not index.is_file() or "SynthvidTinyPipeline" not in index.read_text(errors="replace"):
            raise GenkitError(f"{init_from}: not a synthvid-tiny pipeline folder (its model_index.json must name SynthvidTinyPipeline)")
    if out.exists() and not out.is_dir():
        raise GenkitError(f"{out}: exists and is not a folder")
    from genkit.tiny.train import TrainConfig, train

    for name in ("genkit.tiny.train", "eval.training"):  # the loss every 25 steps is the progress report
        logging.getLogger(name).setLevel(logging.INFO)
    config = TrainConfig(
        out=str(out), minutes=minutes, threads=threads, max_steps=max_steps, init_from=str(init_from) if init_from else None,
        eval_every_steps=eval_every, lr=lr, low_snr_floor=low_snr_floor, direction_contrast=direction_contrast,
    )
    pipeline = train(config, resume=resume)
    state_file = pipeline / "training_state.json"
    state = json.loads(state_file.read_text()) if state_file.is_file() else {}
    result = {"pipeline": str(pipeline), "steps": state.get("steps"), "minutes_trained": round(state.get("seconds", 0) / 60, 2),
              "loss_log": str(out / "loss.csv"), "eval_log": str(out / "eval.csv")}
    if as_json:
        print_json(result)
        return
    console = make_console()
    console.print(f"trained to step {result['steps']} ({result['minutes_trained']} min in all); EMA pipeline in {pipeline}")
    console.print(f"use it: synthvid generate --model {pipeline} --suite shapes-smoke --out runs/tiny-check")


# --------------------------------------------------------------------------------------------- bench


class _DefaultRunGroup(TyperGroup):
    """``synthvid bench SUITE ...`` means ``synthvid bench run SUITE ...``; ``merge`` is the other command."""

    def parse_args(self, ctx, args):
        if args and not args[0].startswith("-") and args[0] not in self.commands:
            args = ["run", *args]
        return super().parse_args(ctx, args)


bench_app = typer.Typer(
    cls=_DefaultRunGroup,
    help="Benchmark a model on a prompt suite (resumable, shardable): synthvid bench SUITE --model M --out runs/NAME.",
    no_args_is_help=True,
    rich_markup_mode="rich",
)
app.add_typer(bench_app, name="bench")


@bench_app.command("run")
def bench_run(
    suite: str = typer.Argument(..., help="Suite file (.txt/.csv/.jsonl/VBench .json) or bundled name (shapes-smoke, shapes-full)."),
    model: str = typer.Option(
        TINY_MODEL, "--model", "-m",
        help="synthvid-tiny, shapes-world (the renderer itself: ground truth), a registered name, a hub id or a pipeline folder.",
    ),
    out: Path = typer.Option(..., "--out", "-o", help="Run folder: clips/, ledger.sqlite, results.parquet, metrics.json, run.json."),
    num_videos_per_prompt: int = typer.Option(1, "--num-videos-per-prompt", "-n", min=1, max=1000, help="Clips per prompt."),
    metrics: str = typer.Option(
        "default", "--metrics",
        help="Comma-separated: clipsim, temporal, fvd, analyzer (shapes-world adherence), detector, robustness (watermark under "
        "attacks: slow, off by default); default = all but robustness; all.",
    ),
    reference: Optional[str] = typer.Option(
        None, "--reference", help="FVD reference set: world:SUITE (shapes-world renders), a folder of clips, or none. Default: world:<SUITE>.",
    ),
    fvd_extractor: Optional[str] = typer.Option(None, "--fvd-extractor", help="FVD features: synthvid-tiny-video (default), i3d:PATH or videomae:FOLDER."),
    clip_model: str = typer.Option("synthvid-tiny-clip", "--clip-model", help="open_clip model for CLIPSIM and CLIP-Temp."),
    clip_pretrained: Optional[str] = typer.Option(None, "--clip-pretrained", help="Local checkpoint of --clip-model."),
    seed: int = typer.Option(0, min=0, max=2**63 - 1, help="Base seed; item (i, k) gets a seed derived from (seed, i, k)."),
    frames: Optional[int] = typer.Option(None, min=1, max=2048, help="Frames per clip (default: the model's)."),
    height: Optional[int] = typer.Option(None, min=8, max=4096, help="Frame height (default: the model's)."),
    width: Optional[int] = typer.Option(None, min=8, max=4096, help="Frame width (default: the model's)."),
    fps: Optional[float] = typer.Option(None, min=0.01, max=1000.0, help="Frames per second of the files (default: the model's)."),
    steps: Optional[int] = typer.Option(None, min=1, max=1000, help="Denoising steps (default: the model's)."),
    guidance: Optional[float] = typer.Option(None, min=0.0, max=100.0, help="Guidance scale (default: the model's)."),
    batch_size: Optional[int] = typer.Option(None, "--batch-size", min=1, max=256, help="Clips per batch; never changes a clip."),
    batched_forward: bool = typer.Option(False, "--batched-forward", help=BATCHED_FORWARD_HELP),
    device: str = typer.Option("auto", help="auto (under torchrun: this rank's GPU), cpu, cuda, cuda:N or mps."),
    dtype: Dtype = typer.Option(Dtype.auto, help="Weights' precision."),
    threads: Optional[int] = typer.Option(None, "--threads", min=1, max=256, help="CPU threads for torch."),
    crf: int = typer.Option(18, min=0, max=51, help="H.264 quality (0 best, 51 worst)."),
    no_provenance: bool = typer.Option(False, "--no-provenance", help="No watermark, manifest or record (and no verify/robustness columns)."),
    keys: Optional[Path] = typer.Option(None, "--keys", help="Key directory (default: $SYNTHVID_HOME/keys)."),
    repo: Optional[Path] = typer.Option(None, "--repo", help="Manifest repository (default: $SYNTHVID_HOME/manifests.sqlite)."),
    num_shards: int = typer.Option(1, "--num-shards", min=1, max=100_000, help="Split the items over this many independent jobs (job arrays)."),
    shard_index: int = typer.Option(0, "--shard-index", min=0, help="Which shard this job runs (0-based); merge with synthvid bench merge."),
    overwrite: bool = typer.Option(False, "--overwrite", help="Delete the run in --out and start again (default: resume it)."),
    as_json: bool = typer.Option(False, "--json", help="Print the summary and set-level metrics as JSON."),
) -> None:
    """Run a model on a prompt suite: generate, credential and score every item, then set-level metrics.

    Each item (prompt, sample): generate → watermark → sign → register → read back → CLIPSIM,
    temporal metrics, FVD features, world analyzer, verify verdict, watermark under attacks, detector
    score → one committed row of ledger.sqlite. Then FVD against the reference set and breakdowns
    (metrics.json) and results.parquet. Run the same command again to resume (finished items are
    skipped; another config is refused). Under torchrun the ranks split the items; --num-shards and
    --shard-index do the same for job arrays. Exit 1 when an item failed (its error is in its row).

    Example: synthvid bench shapes-smoke --model synthvid-tiny --out runs/bench && synthvid report runs/bench
    """
    from genkit.backends import load_backend, resolve_model
    from genkit.bench import BenchOptions, parse_metrics, run_bench, start_process_group, stop_process_group, worker_device, workers_from_env
    from genkit.generate import model_prompts, open_provenance, resolve_settings

    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")  # see generate: idle OpenMP threads sleep
    workers = workers_from_env(num_shards, shard_index)
    chosen = parse_metrics(metrics)
    suite_path, items = _prompt_items(None, suite)
    source = resolve_model(model)
    model_prompts(source, items, suite_path)  # a bad prompt costs nothing
    if threads is not None:
        import torch

        torch.set_num_threads(threads)
    resolved_device = worker_device(device, workers)
    start_process_group(workers, resolved_device)
    err = make_console(stderr=True)
    try:
        backend = load_backend(source, device=resolved_device, dtype=dtype.value, revision=None)
        # Several workers never open the shared repository (SQLite over NFS): each writes its own part.
        # Under torchrun rank 0 makes the keys (when there are none) before the other ranks load them.
        if workers.distributed and not workers.is_main:
            workers.barrier()
        try:
            provenance = None if no_provenance else open_provenance(keys, repo, open_repository=workers.kind == "single")
        finally:
            if workers.distributed and workers.is_main:
                workers.barrier()
        if provenance is not None and provenance.created_keys and workers.is_main:
            err.print(f"created signing keys in {provenance.key_dir} (trust anchor: {provenance.trust_anchor})", highlight=False)
        try:
            settings = resolve_settings(
                backend, frames=frames, height=height, width=width, fps=fps, steps=steps, guidance=guidance,
                batch_size=batch_size, batched_forward=batched_forward, crf=crf, base_seed=seed,
            )
            options = BenchOptions(
                suite=suite, suite_file=str(suite_path), samples_per_prompt=num_videos_per_prompt, metrics=chosen,
                reference=reference, fvd_extractor=fvd_extractor, clip_model=clip_model, clip_pretrained=clip_pretrained,
                provenance=provenance is not None,
            )
            with progress_bar(len(items) * num_videos_per_prompt if workers.is_main else 0, f"bench {workers.name}", "item") as bar:
                result = run_bench(
                    out, backend, items, settings, provenance, options, workers=workers, overwrite=overwrite,
                    on_start=lambda total: setattr(bar, "total", total),
                    on_item=lambda row: bar.update(),
                )
        finally:
            if provenance is not None:
                provenance.close()
    finally:
        stop_process_group(workers)
    _bench_summary(result, as_json)


def _bench_summary(result, as_json: bool) -> None:
    run = result.run
    record = run.record
    summary = {
        "run": str(run.root),
        "worker": result.workers.name,
        "items": result.total,
        "done_before": result.done_before,
        "made_now": result.made,
        "failed_now": result.failed,
        "finalized": result.finalized,
        "status": record.get("status") if result.finalized else "running",
        "table": str(run.results_path) if result.finalized else None,
        "metrics_file": str(run.root / "metrics.json") if result.finalized else None,
        "metrics": result.metrics,
    }
    if not result.workers.is_main and result.workers.distributed:
        return  # rank 0 speaks for the job
    if as_json:
        print_json(summary)
    else:
        console = make_console()
        console.print(f"{result.workers.name}: {result.made} items made now ({result.failed} failed), "
                      f"{result.done_before} were done before", highlight=False)
        if result.finalized:
            _print_bench_metrics(console, result.metrics)
            console.print(f"Run folder: {run.root}  (status {record.get('status')}; table {run.results_path}; metrics {run.root / 'metrics.json'})",
                          highlight=False)
            console.print(f"Report: synthvid report {run.root}", highlight=False)
        else:
            console.print(f"Shard done; when every shard has finished: synthvid bench merge {run.root}", highlight=False)
    failed = result.failed or (result.finalized and record.get("items_failed"))
    if failed:
        raise typer.Exit(1)


def _print_bench_metrics(console, metrics: dict) -> None:
    from rich.table import Table

    table = Table(title=f"{metrics.get('model')} on {metrics.get('suite')}: {metrics.get('items_ok')} of {metrics.get('items')} items")
    table.add_column("metric")
    table.add_column("value", justify="right")
    fvd = metrics.get("fvd")
    if fvd:
        table.add_row(fvd["label"], "—" if fvd.get("value") is None else f"{fvd['value']:.3f}")
    for name, value in (metrics.get("means") or {}).items():
        table.add_row(name, "—" if value is None else f"{value:.4f}")
    for verdict, count in (metrics.get("verdicts") or {}).items():
        table.add_row(f"verdict {verdict}", str(count))
    console.print(table)
    for name, note in (metrics.get("notes") or {}).items():
        console.print(f"note ({name}): {note}", highlight=False)


@bench_app.command("compare")
def bench_compare(
    run_a: Path = typer.Argument(..., help="A finished run folder (results.parquet, run.json)."),
    run_b: Path = typer.Argument(..., help="The run to compare with it: another worker layout, machine, kernel set, version."),
    tolerances: Optional[Path] = typer.Option(
        None, "--tolerances", help='JSON file of per-metric tolerances over the defaults: {"clipsim": {"abs": 0.001}, "fvd": {"rel": 0.01}, '
        '"match_all": {"flips": 1}}.',
    ),
    atol: Optional[float] = typer.Option(None, "--atol", min=0.0, help="Absolute tolerance for every numeric metric (replaces the defaults)."),
    rtol: Optional[float] = typer.Option(None, "--rtol", min=0.0, help="Relative tolerance for every numeric metric (replaces the defaults)."),
    exact: bool = typer.Option(False, "--exact", help="No tolerance at all: every score must be equal (same machine, same kernels)."),
    as_json: bool = typer.Option(False, "--json", help="Print the whole comparison as JSON."),
) -> None:
    """Do two benchmark runs agree? Config differences first, then which items have identical content
    (SHA-256 of the generated frames), then every metric per item and set-level against its tolerance.

    Verdict "reproduced" (exit 0) or "drifted: METRIC max |Δ| X (N items); …" (exit 1); bad input exit 2.
    Default tolerances cover the float rounding of another CPU kernel set and the random watermark
    payloads (docs/benchmark-runs.md, "Reproducibility"); columns that depend on the payload itself (file hash, CRF,
    mark survival under attacks) are not judged when the payloads differ. Run folders copied from
    other machines compare the same way.

    Example: synthvid bench compare runs/smoke runs/smoke-2ranks --json
    """
    from genkit.compare import DEFAULT_TOLERANCES, EXACT, Tolerance, compare_runs, load_tolerances

    given = load_tolerances(tolerances) if tolerances else {}
    default = None
    if exact or atol is not None or rtol is not None:
        default = EXACT if exact else Tolerance(abs=atol or 0.0, rel=rtol or 0.0)
        given = {name: default for name in DEFAULT_TOLERANCES} | given
    result = compare_runs(run_a, run_b, tolerances=given, default=default)
    if as_json:
        print_json({**result.as_dict(), "summary": result.summary})
    else:
        _print_comparison(make_console(), result)
    if result.verdict != "reproduced":
        raise typer.Exit(1)


def _print_comparison(console, result) -> None:
    from rich.table import Table

    console.print(f"A: {result.run_a}\nB: {result.run_b}", highlight=False)
    if result.config_differences:
        console.print(f"[bold]config differs[/] ({len(result.config_differences)}):", highlight=False)
        for difference in result.config_differences:
            console.print(f"  {difference}", highlight=False)
    if result.environment_differences:
        console.print("environment (not judged): " + "; ".join(result.environment_differences), highlight=False)
    console.print(
        f"items: {result.items_compared} in both ({len(result.only_in_a)} only in A, {len(result.only_in_b)} only in B); "
        f"identical content {result.identical_content} of {result.items_compared}, identical files {result.identical_files}, "
        f"same watermark payload {result.same_payload}", highlight=False)
    table = Table(title="metrics (per item, then set-level)")
    for name in ("metric", "kind", "compared", "max |Δ|", "tolerance", "beyond", "worst item"):
        table.add_column(name, justify="right" if name in ("compared", "max |Δ|", "beyond") else "left")
    for metric in result.metrics:
        tolerance = ", ".join(f"{k} {v:g}" for k, v in metric.tolerance.items() if v) or "exact"
        diff = "" if metric.max_abs_diff is None else f"{metric.max_abs_diff:.3g}"
        style = "red" if metric.beyond else None
        table.add_row(metric.name, metric.kind, str(metric.compared), diff, tolerance, str(metric.beyond), metric.worst or "", style=style)
    console.print(table)
    if result.not_judged:
        console.print("not judged (depend on the random watermark payload, which differs): " + ", ".join(result.not_judged), highlight=False)
    console.print(f"[bold]{'[green]' if result.verdict == 'reproduced' else '[red]'}{result.summary}[/]", highlight=False)


@bench_app.command("merge")
def bench_merge(
    run_dir: Path = typer.Argument(..., help="A run folder whose shards wrote ledger.shard*-of-*.sqlite."),
    as_json: bool = typer.Option(False, "--json", help="Print the summary and set-level metrics as JSON."),
) -> None:
    """Merge the shard ledgers of a run into ledger.sqlite and write results.parquet, metrics.json and run.json.

    Items still missing are counted (run.json status "incomplete", exit 1); run the missing shards again
    (they resume) and merge again.

    Example: synthvid bench merge runs/bench
    """
    from genkit.bench import merge_run

    result = merge_run(run_dir)
    _bench_summary(result, as_json)
    if result.run.record.get("status") != "complete":
        raise typer.Exit(1)
