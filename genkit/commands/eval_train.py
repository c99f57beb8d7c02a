"""``synthvid eval-train``: train the small models eval ships on shapes-world data (genkit hands eval
the world: :func:`genkit.world.world_source`).

Exit codes: 0 success, 2 bad input.
"""

from __future__ import annotations

import enum
import logging
from pathlib import Path
from typing import Optional

import typer

from provenance.console import print_json

app = typer.Typer(add_completion=False, rich_markup_mode="rich", no_args_is_help=True)


class TrainableModel(str, enum.Enum):
    video = "video"
    clip = "clip"


@app.command("eval-train")
def eval_train(
    model: TrainableModel = typer.Argument(..., help="video: synthvid-tiny-video (FVD-tiny); clip: synthvid-tiny-clip (CLIPSIM)."),
    minutes: float = typer.Option(..., "--minutes", min=0.1, help="Wall-clock budget of this session, in minutes."),
    out: Optional[Path] = typer.Option(
        None,
        "--out",
        "-o",
        help="Training folder: checkpoint.pt, loss.csv, eval.csv, model/ (default runs/train-tiny-video or runs/train-tiny-clip).",
    ),
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
