"""Training of synthvid-tiny-video (the FVD-tiny encoder) on shapes-world clips rendered on the fly.

Task: from 16 frames (resized to 32×32), predict every attribute of the clip's prompt (object colour,
background colour, shape, size, motion, texture, noise, camera pan) and whether the frames are in
order, shuffled, or frozen from some frame on (the temporal failures of video generators).
Cross-entropy per head; motion and pan are not scored on shuffled clips, order not on clips where
nothing changes between frames. FVD features are the 128-d projection before the heads.

Layering: eval sits below genkit and must not import it, yet the data come from the shapes world, so
genkit is imported inside :func:`make_trainer` only, at training time; loading and using the model
(:mod:`eval.video_encoder`) never touches genkit.

Run: ``synthvid eval-train video --minutes 15 --out runs/train-tiny-video [--resume]``.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from eval.video_encoder import TinyVideoConfig, TinyVideoEncoder

ORDER_CLASSES = ("ordered", "shuffled", "frozen")


@dataclass
class VideoTrainConfig:
    batch_size: int = 16
    lr: float = 2e-3
    weight_decay: float = 0.01
    frames: int = 16
    model_size: int = 32  # frames are rendered at 64×64 (like the clips FVD-tiny scores) and resized to this
    render_size: int = 64
    shuffled_share: float = 0.25
    frozen_share: float = 0.25
    eval_clips: int = 96
    eval_seed: int = 10_000


class VideoEncoderTrainer:
    def __init__(self, config: VideoTrainConfig | None = None):
        from genkit.world import COLORS, DIRECTIONS, MOTIONS, SHAPES, SIZES, render, sample_prompts

        self.config = config = config or VideoTrainConfig()
        self.vocab = {"color": COLORS, "background": COLORS, "shape": SHAPES, "motion": MOTIONS, "size": SIZES}
        self.directions = DIRECTIONS
        self.render, self.sample_prompts = render, sample_prompts
        heads = {name: len(values) for name, values in self.vocab.items()}
        heads.update(textured=2, noise=2, pan=len(DIRECTIONS) + 1, order=len(ORDER_CLASSES))
        self.model = TinyVideoEncoder(TinyVideoConfig(frames=config.frames, size=config.model_size, heads=heads))
        self.optimizer = torch.optim.AdamW(self.model.parameters(), lr=config.lr, weight_decay=config.weight_decay)
        held_out = np.random.default_rng(config.eval_seed)
        self.eval_batch = self.batch(held_out, config.eval_clips)

    def labels(self, prompt, order: int) -> dict[str, int]:
        row = {name: values.index(getattr(prompt, name)) for name, values in self.vocab.items()}
        row.update(textured=int(prompt.textured), noise=int(prompt.noise), order=order,
                   pan=0 if prompt.pan is None else 1 + self.directions.index(prompt.pan))
        return row

    def batch(self, rng: np.random.Generator, count: int):
        """``count`` clips drawn from ``rng``: inputs ``[B, 3, T, S, S]``, labels and loss masks per head."""
        cfg = self.config
        clips, rows, masks = [], [], []
        for prompt in self.sample_prompts(count, rng):
            frames = self.render(prompt, frames=cfg.frames, size=cfg.render_size, seed=int(rng.integers(2**31))).frames
            draw = rng.random()
            order = 1 if draw < cfg.shuffled_share else 2 if draw < cfg.shuffled_share + cfg.frozen_share else 0
            if order == 1:
                frames = frames[rng.permutation(len(frames))]
            elif order == 2:
                start = int(rng.integers(len(frames) // 4, 3 * len(frames) // 4))
                frames = np.concatenate([frames[:start], np.repeat(frames[start - 1 : start], len(frames) - start, axis=0)])
            clips.append(frames)
            rows.append(self.labels(prompt, order))
            changes = prompt.motion != "still" or prompt.pan is not None or prompt.noise
            masks.append({"order": changes, "motion": order != 1, "pan": order != 1})
        inputs = self.model.preprocess(torch.from_numpy(np.stack(clips)))
        labels = {name: torch.tensor([r[name] for r in rows]) for name in rows[0]}
        mask = {name: torch.tensor([m.get(name, True) for m in masks]) for name in labels}
        return inputs, labels, mask

    def losses(self, inputs, labels, mask) -> tuple[torch.Tensor, dict[str, float]]:
        logits = self.model.classify(self.model(inputs))
        total, metrics = 0.0, {}
        for name, out in logits.items():
            keep = mask[name]
            if not keep.any():
                continue
            loss = F.cross_entropy(out[keep], labels[name][keep])
            total = total + loss
            metrics[f"acc_{name}"] = float((out[keep].argmax(-1) == labels[name][keep]).float().mean())
        metrics["loss"] = float(total.detach())
        return total, metrics

    def train_step(self, rng: np.random.Generator) -> dict[str, float]:
        loss, metrics = self.losses(*self.batch(rng, self.config.batch_size))
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        self.optimizer.step()
        return {"loss": metrics["loss"]}

    def evaluate(self) -> dict[str, float]:
        _, metrics = self.losses(*self.eval_batch)
        return metrics

    def export(self, folder: Path, summary: dict) -> None:
        self.model.save(folder, extra={"training": {**summary, "config": asdict(self.config)}})


def train_video_encoder(out: Path, *, minutes: float, max_steps: int | None = None, resume: bool = False,
                        threads: int = 1, seed: int = 0, config: VideoTrainConfig | None = None) -> dict:
    """Train (or continue) synthvid-tiny-video into ``out``; the model lands in ``out/model``."""
    from eval.training import Budget, run_training

    torch.manual_seed(seed)  # the initial weights
    trainer = VideoEncoderTrainer(config)
    budget = Budget(minutes=minutes, max_steps=max_steps, threads=threads, seed=seed, eval_every=250)
    return run_training(trainer, out, budget, {"model": "synthvid-tiny-video", **asdict(trainer.config)}, resume=resume)
