"""The training loop shared by eval's two small models: wall-clock budget, checkpoint + exact resume,
seeded data, a loss log and periodic evaluation.

A trainer supplies ``model`` and ``optimizer``, ``train_step(rng) -> {metric: value}`` (one optimiser
step on data drawn from ``rng``), ``evaluate() -> {metric: value}`` and ``export(folder, summary)``
(write the shippable files). :func:`run_training` does the rest: everything is checkpointed to
``OUT/checkpoint.pt`` (model, optimiser, step, seconds, numpy and torch random states) every
``checkpoint_minutes`` and at the end, so ``resume=True`` continues the same data stream; the model
is exported to ``OUT/model`` after each checkpoint. Logs: ``OUT/loss.csv`` (running means every
``log_every`` steps) and ``OUT/eval.csv``.
"""

from __future__ import annotations

import csv
import json
import logging
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Protocol

import numpy as np
import torch

from eval.errors import EvalError
from provenance.files import atomic_path

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class WorldSource:
    """The synthetic world eval's embedded encoders learn from, handed in by the caller
    (:func:`genkit.world.world_source`): eval never imports the world that makes its training data."""

    render: Callable  # (prompt, *, frames, size, seed) -> a Video whose .frames are uint8 [T, H, W, 3]
    sample_prompts: Callable  # (count, rng) -> prompts with .text and the attributes named in vocab
    vocab: dict[str, tuple[str, ...]]  # attribute -> its values (color, background, shape, motion, size)
    directions: tuple[str, ...]  # the values of a prompt's pan
    noise_sigma: float  # the sensor noise a prompt's "noisy" modifier adds
    tokenizer: Callable[[], object]  # builds the word-level (transformers) tokenizer of the prompts


@dataclass
class Budget:
    minutes: float
    max_steps: int | None = None
    checkpoint_minutes: float = 5.0
    log_every: int = 25
    eval_every: int = 500
    threads: int = 1
    seed: int = 0


class Trainer(Protocol):
    model: torch.nn.Module
    optimizer: torch.optim.Optimizer

    def train_step(self, rng: np.random.Generator) -> dict[str, float]: ...

    def evaluate(self) -> dict[str, float]: ...

    def export(self, folder: Path, summary: dict) -> None: ...


def run_training(trainer: Trainer, out: Path, budget: Budget, config: dict, *, resume: bool = False) -> dict:
    """Train until the budget is spent; return the summary written next to the exported model."""
    out = Path(out)
    checkpoint = out / "checkpoint.pt"
    if resume and not checkpoint.is_file():
        raise EvalError(out, f"--resume needs {checkpoint}, which does not exist (drop --resume to start a new run)")
    if not resume and checkpoint.exists():
        raise EvalError(out, "already holds a training run; pass --resume to continue it or choose another --out")
    out.mkdir(parents=True, exist_ok=True)
    torch.set_num_threads(budget.threads)
    torch.manual_seed(budget.seed)
    rng = np.random.default_rng(budget.seed)
    step, seconds = 0, 0.0
    if resume:
        state = torch.load(checkpoint, map_location="cpu", weights_only=False)  # our own file: optimiser state, rng
        trainer.model.load_state_dict(state["model"])
        trainer.optimizer.load_state_dict(state["optimizer"])
        step, seconds = state["step"], state["seconds"]
        rng.bit_generator.state = state["numpy_rng"]
        torch.set_rng_state(state["torch_rng"])
        log.info("resumed %s at step %d (%.1f min trained)", out, step, seconds / 60)
    (out / "config.json").write_text(json.dumps({**config, "budget": asdict(budget)}, indent=2) + "\n")
    started, last_checkpoint = time.monotonic(), time.monotonic()
    session_limit = budget.minutes * 60
    running: dict[str, list[float]] = {}
    evaluation: dict[str, float] = {}

    def save() -> dict:
        nonlocal last_checkpoint
        total = seconds + time.monotonic() - started
        state = {"model": trainer.model.state_dict(), "optimizer": trainer.optimizer.state_dict(), "step": step,
                 "seconds": total, "numpy_rng": rng.bit_generator.state, "torch_rng": torch.get_rng_state()}
        with atomic_path(checkpoint) as tmp:  # a kill mid-write never leaves a broken checkpoint
            torch.save(state, tmp)
        summary = {"steps": step, "minutes_trained": round(total / 60, 2), "threads": budget.threads,
                   "seed": budget.seed, "evaluation": evaluation}
        trainer.export(out / "model", summary)
        last_checkpoint = time.monotonic()
        log.info("checkpoint at step %d (%.1f min trained) → %s", step, total / 60, out / "model")
        return summary

    trainer.model.train()
    while time.monotonic() - started < session_limit and (budget.max_steps is None or step < budget.max_steps):
        metrics = trainer.train_step(rng)
        step += 1
        for key, value in metrics.items():
            running.setdefault(key, []).append(value)
        if step % budget.log_every == 0:
            row = {"step": step, "minutes": round((seconds + time.monotonic() - started) / 60, 2),
                   **{k: round(float(np.mean(v)), 5) for k, v in running.items()}}
            _append_csv(out / "loss.csv", row)
            log.info("step %d %s", step, " ".join(f"{k}={v}" for k, v in row.items() if k not in ("step",)))
            running.clear()
        if budget.eval_every and step % budget.eval_every == 0:
            evaluation = _evaluate(trainer, out, step)
        if time.monotonic() - last_checkpoint > budget.checkpoint_minutes * 60:
            save()
    evaluation = _evaluate(trainer, out, step)
    return save()


def _evaluate(trainer: Trainer, out: Path, step: int) -> dict[str, float]:
    trainer.model.eval()
    with torch.no_grad():
        result = {k: round(float(v), 4) for k, v in trainer.evaluate().items()}
    trainer.model.train()
    _append_csv(out / "eval.csv", {"step": step, **result})
    log.info("eval at step %d: %s", step, result)
    return result


def _append_csv(path: Path, row: dict) -> None:
    new = not path.exists()
    with path.open("a", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=list(row))
        if new:
            writer.writeheader()
        writer.writerow(row)
