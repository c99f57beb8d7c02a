"""The one resumable training loop of synthvid's models: a wall-clock (and step) budget, periodic
atomic checkpoints, exact resume, a loss log, periodic evaluation and a progress bar.

Every trainer of a model synthvid ships runs on it: eval's two encoders (:mod:`eval.train_video`,
:mod:`eval.train_clip`) and genkit's synthvid-tiny (:mod:`genkit.tiny.train`). It lives in eval, the
lowest layer all of them can import (provenance below is plumbing with no torch training in it).

A trainer (:class:`Trainable`) supplies

- ``train_step(rng, step) -> {metric: value}``: one optimiser step on data drawn from ``rng`` (the
  run's data stream, a ``np.random.Generator``); ``step`` is the number of steps done before it;
- ``state_dict()`` / ``load_state_dict(state)``: everything of its own a resume needs (weights,
  optimiser, EMA, ...) as a flat dict whose keys are not the loop's (:data:`LOOP_KEYS`);
- ``evaluate() -> {metric: value}``: held-out figures (called under ``torch.no_grad()``);
- ``export(folder, summary)``: write the shippable files.

:class:`TrainingLoop` does the rest. ``OUT/checkpoint.pt`` holds the trainer's state and the loop's
(step, seconds, the data stream's and torch's random states); it is written atomically
(:func:`provenance.files.atomic_path`) every ``checkpoint_minutes`` and at the end, and the model is
exported to ``OUT/<export_to>`` after each checkpoint, so ``resume=True`` continues the same data
stream from the last checkpoint: a run interrupted and resumed ends where an uninterrupted one does.
Logs: ``OUT/loss.csv`` (running means every ``log_every`` steps), ``OUT/eval.csv`` (every
``eval_every`` steps and at the end; ``eval_every=0`` never), ``OUT/config.json``; a progress bar on
stderr (:func:`provenance.console.progress_bar`).

Seeds: the caller seeds torch before it builds its model (the initial weights); the loop never
reseeds torch, it saves and restores torch's random state. The data stream of a new run is
``np.random.default_rng(seed)``, or ``default_rng([seed, step])`` for a run that starts from weights
already trained ``step`` steps (``start_step``: fresh data, not a replay of the first run's).
"""

from __future__ import annotations

import csv
import json
import logging
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Protocol

import numpy as np
import torch

from eval.errors import EvalError
from provenance.console import progress_bar
from provenance.files import atomic_path

log = logging.getLogger(__name__)

CHECKPOINT = "checkpoint.pt"
LOOP_KEYS = ("step", "seconds", "numpy_rng", "torch_rng")  # the loop's own entries of checkpoint.pt
LEGACY_KEYS = {"rng": "numpy_rng"}  # synthvid-tiny's checkpoints written before it ran on this loop


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
    minutes: float  # wall clock of this session
    max_steps: int | None = None  # steps in all, resumed ones included
    checkpoint_minutes: float = 5.0
    log_every: int = 25
    eval_every: int = 500  # 0: never
    threads: int = 1
    seed: int = 0  # of the data stream


class Trainable(Protocol):
    def train_step(self, rng: np.random.Generator, step: int) -> dict[str, float]: ...

    def state_dict(self) -> dict: ...

    def load_state_dict(self, state: dict) -> None: ...

    def evaluate(self) -> dict[str, float]: ...

    def export(self, folder: Path, summary: dict) -> None: ...


class ModelTrainer:
    """The state of a trainer that is one ``model`` and its ``optimizer`` (checkpoint keys ``model``
    and ``optimizer``), for :class:`Trainable` classes to inherit."""

    model: torch.nn.Module
    optimizer: torch.optim.Optimizer

    def state_dict(self) -> dict:
        return {"model": self.model.state_dict(), "optimizer": self.optimizer.state_dict()}

    def load_state_dict(self, state: dict) -> None:
        self.model.load_state_dict(state["model"])
        self.optimizer.load_state_dict(state["optimizer"])


@contextmanager
def eval_mode(module: torch.nn.Module) -> Iterator[torch.nn.Module]:
    """``module`` in evaluation mode for the block, back in the mode it was in after it."""
    was_training = module.training
    module.eval()
    try:
        yield module
    finally:
        module.train(was_training)


def load_checkpoint(path: Path) -> dict:
    """A checkpoint written by :class:`TrainingLoop` (or by synthvid-tiny's trainer before it, whose
    data stream's state was under ``rng``)."""
    state = torch.load(path, map_location="cpu", weights_only=False)  # our own file: optimiser state, random states
    for old, new in LEGACY_KEYS.items():
        if new not in state and old in state:
            state[new] = state.pop(old)
    return state


class TrainingLoop:
    """One training run in the folder ``out``: a new one, or (``resume=True``) the one whose
    ``checkpoint.pt`` is there. The checkpoint is read here, before the trainer is built, so a trainer
    can take its architecture from :attr:`saved`; :meth:`run` loads the rest into the trainer.

    ``start_step`` and ``start_seconds`` count what the initial weights of a new run were trained
    already (their data stream is then ``default_rng([seed, start_step])``)."""

    def __init__(
        self, out: str | Path, budget: Budget, *, resume: bool = False, export_to: str = "model", start_step: int = 0, start_seconds: float = 0.0
    ):
        self.out, self.budget, self.export_to = Path(out), budget, export_to
        self.checkpoint = self.out / CHECKPOINT
        if resume and not self.checkpoint.is_file():
            raise EvalError(self.out, f"--resume needs {self.checkpoint}, which does not exist (drop --resume to start a new run)")
        if not resume and self.checkpoint.exists():
            raise EvalError(self.out, "already holds a training run; pass --resume to continue it or choose another --out")
        self.saved: dict | None = load_checkpoint(self.checkpoint) if resume else None
        if self.saved is not None:
            self.step, self.seconds = int(self.saved["step"]), float(self.saved["seconds"])
            self.rng = np.random.default_rng()
            self.rng.bit_generator.state = self.saved["numpy_rng"]
        else:
            self.step, self.seconds = int(start_step), float(start_seconds)
            self.rng = np.random.default_rng(budget.seed if self.step == 0 else [budget.seed, self.step])
        self.evaluation: dict[str, float] = {}
        self._session_start = time.monotonic()

    def run(self, trainer: Trainable, config: dict) -> dict:
        """Train until the budget is spent; return the summary written next to the exported model."""
        budget = self.budget
        self.out.mkdir(parents=True, exist_ok=True)
        torch.set_num_threads(budget.threads)
        if self.saved is not None:
            trainer.load_state_dict(self.saved)
            torch.set_rng_state(self.saved["torch_rng"])
            log.info("resumed %s at step %d (%.1f min trained)", self.out, self.step, self.seconds / 60)
            self.saved = None  # the trainer holds it now
        (self.out / "config.json").write_text(json.dumps({**config, "budget": asdict(budget)}, indent=2, default=str) + "\n")
        self._session_start = last_checkpoint = time.monotonic()
        limit = budget.minutes * 60
        running: dict[str, list[float]] = {}
        evaluated_at = None
        by_steps = budget.max_steps is not None
        total = max(0, budget.max_steps - self.step) if by_steps else round(limit)
        with progress_bar(total, "training", unit="step" if by_steps else "s") as bar:
            while self._elapsed() < limit and (budget.max_steps is None or self.step < budget.max_steps):
                metrics = trainer.train_step(self.rng, self.step)
                self.step += 1
                bar.update(1 if by_steps else min(total, int(self._elapsed())) - bar.n)
                for key, value in metrics.items():
                    running.setdefault(key, []).append(float(value))
                if self.step % budget.log_every == 0:
                    row = {
                        "step": self.step,
                        "minutes": round(self._total_seconds() / 60, 2),
                        **{key: _figure(np.mean(values)) for key, values in running.items()},
                    }
                    _append_csv(self.out / "loss.csv", row)
                    log.info("step %d %s", self.step, " ".join(f"{k}={v}" for k, v in row.items() if k != "step"))
                    bar.set_postfix(step=self.step, loss=row.get("loss"))
                    running.clear()
                if budget.eval_every and self.step % budget.eval_every == 0:
                    self._evaluate(trainer)
                    evaluated_at = self.step
                if time.monotonic() - last_checkpoint > budget.checkpoint_minutes * 60:
                    self.save(trainer)
                    last_checkpoint = time.monotonic()
        if budget.eval_every and evaluated_at != self.step:
            self._evaluate(trainer)
        return self.save(trainer)

    def save(self, trainer: Trainable) -> dict:
        """Checkpoint (atomically: a kill mid-write leaves the previous one) and export; return the summary."""
        total = self._total_seconds()
        own = trainer.state_dict()
        clash = set(own) & set(LOOP_KEYS)
        if clash:
            raise ValueError(f"a trainer's state may not use the training loop's keys {sorted(clash)}")
        state = {**own, "step": self.step, "seconds": total, "numpy_rng": self.rng.bit_generator.state, "torch_rng": torch.get_rng_state()}
        with atomic_path(self.checkpoint) as tmp:
            torch.save(state, tmp)
        summary = {
            "steps": self.step,
            "seconds": round(total, 1),
            "minutes_trained": round(total / 60, 2),
            "threads": self.budget.threads,
            "seed": self.budget.seed,
            "evaluation": self.evaluation,
        }
        trainer.export(self.out / self.export_to, summary)
        log.info("checkpoint at step %d (%.1f min trained) → %s", self.step, total / 60, self.out / self.export_to)
        return summary

    def _elapsed(self) -> float:
        return time.monotonic() - self._session_start

    def _total_seconds(self) -> float:
        """Wall-clock seconds of training in all sessions, up to now."""
        return self.seconds + self._elapsed()

    def _evaluate(self, trainer: Trainable) -> None:
        with torch.no_grad():
            self.evaluation = {key: round(float(value), 4) for key, value in trainer.evaluate().items()}
        _append_csv(self.out / "eval.csv", {"step": self.step, "minutes": round(self._total_seconds() / 60, 2), **self.evaluation})
        log.info("eval at step %d: %s", self.step, self.evaluation)


def run_training(trainer: Trainable, out: Path, budget: Budget, config: dict, *, resume: bool = False, export_to: str = "model") -> dict:
    """Train ``trainer`` in ``out`` (a new run, or the one there with ``resume``); return the summary."""
    return TrainingLoop(out, budget, resume=resume, export_to=export_to).run(trainer, config)


def _figure(value) -> float:
    """A logged running mean to 5 significant digits (a learning rate of 2.5e-06 stays one)."""
    return float(f"{float(value):.5g}")


def _append_csv(path: Path, row: dict) -> None:
    """Append ``row``; a file that exists keeps its columns (a resumed run written by an older version)."""
    fields = list(row)
    if path.is_file() and path.stat().st_size:
        with path.open(newline="") as f:
            fields = next(csv.reader(f), None) or fields
    new = not path.is_file() or not path.stat().st_size
    with path.open("a", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=fields, restval="", extrasaction="ignore")
        if new:
            writer.writeheader()
        writer.writerow(row)
