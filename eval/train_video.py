"""Training of synthvid-tiny-video (the FVD-tiny encoder) on shapes-world clips rendered on the fly.

A metric's features must move when clips get worse in the ways generators get them wrong, not only
when their content changes. So each clip (16 frames, 64×64, the encoder's native size) may get, drawn
independently:

- a temporal fault: part of its frames permuted (a random share of 10–100 % of the frames trade
  places, or random adjacent pairs swap), or frozen from a random frame on;
- a low-pass filter of a random kind and strength (Gaussian, box, or down- and up-sampling);
- additive noise of a random kind and strength (Gaussian per channel, Gaussian grey, uniform).

Heads on the 128-d features: cross-entropy for the prompt's attributes (object colour, background
colour, shape, size, motion, texture, camera pan) and the frame order (ordered / shuffled / frozen),
and squared error for three levels in [0, 1]: the total noise (the world's own "with noise" and the
added noise), the low-pass strength (as an equivalent Gaussian σ) and the share of displaced frames.
Motion and pan are not scored on shuffled clips; frame order and displacement not on clips where
nothing moves (there they are invisible). Time reversal is not trained: in the shapes world a
reversed clip is another valid clip (leftward motion played backwards is rightward motion).

Layering: eval sits below genkit and never imports it; the shapes world that makes the data is handed
in as a :class:`eval.training.WorldSource` (``synthvid eval-train``, a genkit command, passes
:func:`genkit.world.world_source`).

Run: ``synthvid eval-train video --minutes 90 --out runs/train-tiny-video-v2 [--resume]``.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from eval.training import ModelTrainer, WorldSource, eval_mode
from eval.video_encoder import TinyVideoConfig, TinyVideoEncoder

ORDER_CLASSES = ("ordered", "shuffled", "frozen")
NOISE_KINDS = ("gaussian", "grey", "uniform")
LOW_PASS_KINDS = ("gaussian", "box", "resample")
LEVEL_HEADS = ("noise_level", "blur_level", "displaced")  # regression heads (one output each, targets in [0, 1])
NOISE_LEVEL_MAX = 64.0  # σ in grey levels that maps to level 1 (log scale)
BLUR_LEVEL_MAX = 4.0  # equivalent Gaussian σ in pixels that maps to level 1


@dataclass
class VideoTrainConfig:
    batch_size: int = 16
    lr: float = 2e-3
    weight_decay: float = 0.01
    frames: int = 16
    model_size: int = 64  # the encoder sees clips at the size FVD-tiny scores them, 64×64
    render_size: int = 64
    shuffled_share: float = 0.25
    frozen_share: float = 0.15
    noise_share: float = 0.35
    low_pass_share: float = 0.35
    noise_sigma: tuple[float, float] = (2.0, 50.0)  # log-uniform, grey levels
    blur_sigma: tuple[float, float] = (0.3, 3.5)  # uniform, equivalent Gaussian σ in pixels
    level_weight: float = 10.0  # squared errors of [0, 1] levels are small next to cross-entropies
    stem_layers: int = 2
    eval_clips: int = 96
    eval_seed: int = 10_000


@dataclass
class Faults:
    """What was done to one clip: the training targets of the order and level heads."""

    order: int = 0  # index into ORDER_CLASSES
    displaced: float = 0.0  # share of frames not in their own place
    noise_sigma: float = 0.0  # added noise, grey levels
    blur_sigma: float = 0.0  # equivalent Gaussian σ of the low-pass filter, pixels


def permute_frames(frames: np.ndarray, rng: np.random.Generator) -> tuple[np.ndarray, float]:
    """A random share of 10–100 % of the frames trade places, or random adjacent pairs swap; returns
    the clip and the share of frames that moved."""
    t = len(frames)
    index = np.arange(t)
    if rng.random() < 0.5:
        chosen = np.sort(rng.choice(t, max(2, round(t * rng.uniform(0.1, 1.0))), replace=False))
        index[chosen] = chosen[rng.permutation(len(chosen))]
    else:
        for start in rng.choice(t - 1, max(1, round((t - 1) * rng.uniform(0.05, 0.5))), replace=False):
            index[[start, start + 1]] = index[[start + 1, start]]
    return frames[index], float(np.mean(index != np.arange(t)))


def freeze_frames(frames: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Every frame from a random one on (a quarter to all but one of the clip) repeats it."""
    t = len(frames)
    start = int(rng.integers(1, max(2, 3 * t // 4) + 1))
    return np.concatenate([frames[:start], np.repeat(frames[start - 1 : start], t - start, axis=0)])


def low_pass(frames: np.ndarray, sigma: float, rng: np.random.Generator) -> tuple[np.ndarray, float]:
    """A low-pass filter of a random kind about ``sigma`` px wide; returns the clip and its equivalent
    Gaussian σ (a box of k px has σ = √((k² − 1)/12); resampling by f ≈ a box of f px, then bicubic)."""
    from provenance.watermark.attacks import gaussian_blur, resize

    kind = LOW_PASS_KINDS[int(rng.integers(len(LOW_PASS_KINDS)))]
    if kind == "gaussian":
        return gaussian_blur(frames, sigma), sigma
    if kind == "box":
        import cv2

        k = 2 * max(1, round(np.sqrt(12 * sigma**2 + 1) / 2)) + 1  # odd: no half-pixel shift
        return np.stack([cv2.blur(f, (k, k)) for f in frames]), float(np.sqrt((k * k - 1) / 12))
    factor = float(np.clip(sigma * np.sqrt(12.0), 1.25, 6.0))
    return resize(frames, 1.0 / factor, scale_back=True), factor / np.sqrt(12.0)


def add_noise(frames: np.ndarray, sigma: float, rng: np.random.Generator) -> np.ndarray:
    """Additive noise of ``sigma`` grey levels of a random kind: Gaussian per channel, Gaussian grey
    (one value for the three channels), or uniform per channel."""
    from provenance.watermark.attacks import gaussian_noise

    kind = NOISE_KINDS[int(rng.integers(len(NOISE_KINDS)))]
    if kind == "gaussian":
        return gaussian_noise(frames, sigma, rng)
    if kind == "grey":
        noise = rng.normal(0.0, sigma, frames.shape[:-1] + (1,)).astype(np.float32)
    else:
        half_width = sigma * np.sqrt(3.0)
        noise = rng.uniform(-half_width, half_width, frames.shape).astype(np.float32)
    return np.clip(np.rint(frames + noise), 0, 255).astype(np.uint8)


def degrade(frames: np.ndarray, config: VideoTrainConfig, rng: np.random.Generator) -> tuple[np.ndarray, Faults]:
    """Temporal fault, then low-pass, then noise, each drawn independently with its share."""
    faults = Faults()
    draw = rng.random()
    if draw < config.shuffled_share:
        frames, faults.displaced = permute_frames(frames, rng)
        faults.order = 1 if faults.displaced > 0 else 0
    elif draw < config.shuffled_share + config.frozen_share:
        frames, faults.order = freeze_frames(frames, rng), 2
    if rng.random() < config.low_pass_share:
        frames, faults.blur_sigma = low_pass(frames, float(rng.uniform(*config.blur_sigma)), rng)
    if rng.random() < config.noise_share:
        faults.noise_sigma = float(np.exp(rng.uniform(*np.log(config.noise_sigma))))
        frames = add_noise(frames, faults.noise_sigma, rng)
    return frames, faults


class VideoEncoderTrainer(ModelTrainer):
    def __init__(self, world: WorldSource, config: VideoTrainConfig | None = None):
        self.config = config = config or VideoTrainConfig()
        self.vocab = dict(world.vocab)
        self.directions = world.directions
        self.world_noise_sigma = world.noise_sigma
        self.render, self.sample_prompts = world.render, world.sample_prompts
        heads = {name: len(values) for name, values in self.vocab.items()}
        heads.update(textured=2, pan=len(self.directions) + 1, order=len(ORDER_CLASSES), **{name: 1 for name in LEVEL_HEADS})
        self.model = TinyVideoEncoder(TinyVideoConfig(frames=config.frames, size=config.model_size, stem_layers=config.stem_layers, heads=heads))
        self.optimizer = torch.optim.AdamW(self.model.parameters(), lr=config.lr, weight_decay=config.weight_decay)
        held_out = np.random.default_rng(config.eval_seed)
        self.eval_batch = self.batch(held_out, config.eval_clips)

    def labels(self, prompt, faults: Faults) -> dict[str, float]:
        row: dict[str, float] = {name: values.index(getattr(prompt, name)) for name, values in self.vocab.items()}
        world_sigma = self.world_noise_sigma if prompt.noise else 0.0
        total_sigma = float(np.hypot(world_sigma, faults.noise_sigma))
        row.update(
            textured=int(prompt.textured),
            order=faults.order,
            pan=0 if prompt.pan is None else 1 + self.directions.index(prompt.pan),
            noise_level=min(1.0, np.log1p(total_sigma) / np.log1p(NOISE_LEVEL_MAX)),
            blur_level=min(1.0, faults.blur_sigma / BLUR_LEVEL_MAX),
            displaced=faults.displaced,
        )
        return row

    def batch(self, rng: np.random.Generator, count: int):
        """``count`` clips drawn from ``rng``: inputs ``[B, 3, T, S, S]``, labels and loss masks per head."""
        cfg = self.config
        clips, rows, masks = [], [], []
        for prompt in self.sample_prompts(count, rng):
            frames = self.render(prompt, frames=cfg.frames, size=cfg.render_size, seed=int(rng.integers(2**31))).frames
            frames, faults = degrade(frames, cfg, rng)
            clips.append(frames)
            rows.append(self.labels(prompt, faults))
            moves = prompt.motion != "still" or prompt.pan is not None
            shuffled = faults.order == 1
            masks.append({"order": moves, "displaced": moves, "motion": not shuffled, "pan": not shuffled})
        inputs = self.model.preprocess(torch.from_numpy(np.stack(clips)))
        labels = {name: torch.tensor([r[name] for r in rows], dtype=torch.float32 if name in LEVEL_HEADS else torch.long) for name in rows[0]}
        mask = {name: torch.tensor([m.get(name, True) for m in masks]) for name in labels}
        return inputs, labels, mask

    def losses(self, inputs, labels, mask) -> tuple[torch.Tensor, dict[str, float]]:
        logits = self.model.classify(self.model(inputs))
        total, metrics = 0.0, {}
        for name, out in logits.items():
            keep = mask[name]
            if not keep.any():
                continue
            target = labels[name][keep]
            if name in LEVEL_HEADS:
                predicted = out[keep, 0]
                total = total + self.config.level_weight * F.mse_loss(predicted, target)
                predicted = predicted.detach()
                metrics[f"mae_{name}"] = float((predicted - target).abs().mean())
                if len(target) > 2 and float(target.std()) > 0:
                    metrics[f"r_{name}"] = float(torch.corrcoef(torch.stack([predicted, target]))[0, 1])
            else:
                total = total + F.cross_entropy(out[keep], target)
                metrics[f"acc_{name}"] = float((out[keep].argmax(-1) == target).float().mean())
        metrics["loss"] = float(total.detach())
        return total, metrics

    def train_step(self, rng: np.random.Generator, step: int = 0) -> dict[str, float]:
        loss, metrics = self.losses(*self.batch(rng, self.config.batch_size))
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        self.optimizer.step()
        return {"loss": metrics["loss"]}

    def evaluate(self) -> dict[str, float]:
        with eval_mode(self.model):
            _, metrics = self.losses(*self.eval_batch)
        return metrics

    def export(self, folder: Path, summary: dict) -> None:
        self.model.save(folder, extra={"training": {**summary, "config": asdict(self.config)}})


def train_video_encoder(
    out: Path,
    world: WorldSource,
    *,
    minutes: float,
    max_steps: int | None = None,
    resume: bool = False,
    threads: int = 1,
    seed: int = 0,
    config: VideoTrainConfig | None = None,
) -> dict:
    """Train (or continue) synthvid-tiny-video on ``world``'s clips into ``out``; the model lands in ``out/model``."""
    from eval.training import Budget, run_training

    torch.manual_seed(seed)  # the initial weights
    trainer = VideoEncoderTrainer(world, config)
    budget = Budget(minutes=minutes, max_steps=max_steps, threads=threads, seed=seed, eval_every=150, checkpoint_minutes=4.0)
    return run_training(trainer, out, budget, {"model": "synthvid-tiny-video", **asdict(trainer.config)}, resume=resume)
