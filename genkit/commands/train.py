"""``synthvid train tiny``: train synthvid-tiny on shapes-world clips rendered on the fly.

Exit codes: 0 success, 2 bad input.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Optional

import typer

from genkit.errors import GenkitError
from provenance.console import make_console, print_json

app = typer.Typer(add_completion=False, rich_markup_mode="rich", no_args_is_help=True)


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
    lr: float = typer.Option(
        5e-4,
        "--lr",
        min=1e-7,
        max=1e-1,
        help="Learning rate of this run; with --resume it replaces the saved one (lower it, e.g. to 1.5e-4, for a final annealing run).",
    ),
    low_snr_floor: float = typer.Option(
        0.0,
        "--low-snr-floor",
        min=0.0,
        max=5.0,
        help="Lowest loss weight (x0 terms) of the "
        "noisiest steps, where min-SNR weighting gives almost none (they decide a motion's direction; the shipped weights' last run used 1.0).",
    ),
    direction_contrast: float = typer.Option(
        0.0,
        "--direction-contrast",
        min=0.0,
        max=10.0,
        help="Weight of the time-reversal contrast: "
        "a moving clip must be denoised better than the same clip played backwards under its prompt (0.25 taught the shipped weights directions).",
    ),
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
        out=str(out),
        minutes=minutes,
        threads=threads,
        max_steps=max_steps,
        init_from=str(init_from) if init_from else None,
        eval_every_steps=eval_every,
        lr=lr,
        low_snr_floor=low_snr_floor,
        direction_contrast=direction_contrast,
    )
    pipeline = train(config, resume=resume)
    state_file = pipeline / "training_state.json"
    state = json.loads(state_file.read_text()) if state_file.is_file() else {}
    result = {
        "pipeline": str(pipeline),
        "steps": state.get("steps"),
        "minutes_trained": round(state.get("seconds", 0) / 60, 2),
        "loss_log": str(out / "loss.csv"),
        "eval_log": str(out / "eval.csv"),
    }
    if as_json:
        print_json(result)
        return
    console = make_console()
    console.print(f"trained to step {result['steps']} ({result['minutes_trained']} min in all); EMA pipeline in {pipeline}")
    console.print(f"use it: synthvid generate --model {pipeline} --suite shapes-smoke --out runs/tiny-check")
