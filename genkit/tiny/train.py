"""Training of synthvid-tiny on clips of the shapes world rendered on the fly.

Design for sample efficiency on a CPU (see genkit/tiny/MODEL_CARD.md for the figures):
- v-prediction with min-SNR-γ loss weighting (Hang et al. 2023), cosine noise schedule;
- the text encoder learns the prompt's roles directly through auxiliary linear heads on its pooled
  output (background colour, object colour, shape, motion, size): the heads are training-only, but
  they make "red circle on blue" and "blue circle on red" separable from the first hundred steps;
- a time-reversal contrast (``--direction-contrast``): the denoising loss alone left the network
  time-reversal equivariant, drawing a motion's axis but either direction; the contrast asks that a
  moving clip be denoised better than its own reversal under its prompt;
- classifier-free guidance dropout, EMA weights, AdamW with warm-up;
- eval's training loop (:class:`eval.training.TrainingLoop`, the one every shipped model trains on):
  checkpoint + resume (the whole state, exact data order) and an exported EMA pipeline after every
  checkpoint; a loss log (loss.csv) and periodic prompt-adherence evaluation with the world analyzer
  (eval.csv).

Run: ``synthvid train tiny --minutes 60 --out runs/train-tiny [--resume]``.
"""

from __future__ import annotations

import copy
import json
import logging
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from genkit.world import COLORS, MOTIONS, SHAPES, SIZES, WorldPrompt, all_prompts, analyze, render
from genkit.world.grammar import DIRECTIONS

log = logging.getLogger(__name__)

DEFAULT_UNET = dict(
    block_channels=(48, 96, 128),
    blocks_per_level=(1, 2, 2),
    cross_attention_levels=(False, True, True),
    temporal_attention_levels=(False, True, True),
    context_dim=128,
    time_embed_dim=256,
    patch_size=2,
    frame_positions=True,
    frame_text_mixing=True,
    coordinate_channels=True,
)
# Zero-initialised parts a trained model can be given without changing its function (--init-from): the
# prefix of the modules an option adds, or of a parameter it widens (its new entries start at zero).
UPGRADES = {"frame_positions": "frame_position.", "frame_text_mixing": "frame_text_mixer.", "coordinate_channels": "conv_in.weight"}
AUX_HEADS = {"background": COLORS, "color": COLORS, "shape": SHAPES, "motion": MOTIONS, "size": SIZES}


@dataclass
class TrainConfig:
    out: str = "runs/train-tiny"
    minutes: float = 60.0
    max_steps: int | None = None
    batch_size: int = 16
    lr: float = 5e-4
    warmup_steps: int = 200
    weight_decay: float = 0.01
    ema_decay: float = 0.999
    min_snr_gamma: float = 5.0
    low_snr_floor: float = 0.0  # x0-space loss weight never below this (see train_step)
    direction_contrast: float = 0.0  # weight of the time-reversal contrast (see direction_contrast_loss)
    frames: int = 8
    size: int = 32
    cfg_dropout: float = 0.1
    modifier_prob: float = 0.25
    aux_weight: float = 0.2
    seed: int = 0
    threads: int = 2
    checkpoint_minutes: float = 10.0
    eval_every_steps: int = 1000
    eval_clips: int = 32
    init_from: str | None = None
    unet: dict = field(default_factory=lambda: dict(DEFAULT_UNET))


def random_prompt(rng: np.random.Generator, modifier_prob: float) -> WorldPrompt:
    color, background = rng.choice(len(COLORS), 2, replace=False)
    prompt = WorldPrompt(COLORS[color], SHAPES[rng.integers(len(SHAPES))], MOTIONS[rng.integers(len(MOTIONS))], COLORS[background])
    if rng.random() < modifier_prob:
        prompt = WorldPrompt(
            prompt.color,
            prompt.shape,
            prompt.motion,
            prompt.background,
            size=SIZES[rng.integers(len(SIZES))],
            textured=bool(rng.random() < 0.5),
            noise=bool(rng.random() < 0.3),
            pan=DIRECTIONS[rng.integers(len(DIRECTIONS))] if rng.random() < 0.3 else None,
        )
    return prompt


def v_loss_weight(snr: torch.Tensor, gamma: float, floor: float = 0.0) -> torch.Tensor:
    """Weight of the v-prediction loss per sample: min-SNR-γ (Hang et al. 2023) with a floor.

    ``|v̂ − v|² = (SNR + 1)·|x̂0 − x0|²``, so this weighs x0 errors by ``clamp(SNR, floor, γ)``. Without
    the floor that weight vanishes at high noise, the steps where a sample's trajectory (a motion's
    direction) is decided, and synthvid-tiny drew the prompt's axis but either direction.
    """
    return torch.clamp(snr, min=floor, max=gamma) / (snr + 1)


# The time-reversal contrast acts where a trajectory is decided (high noise), with logits in units of
# this relative loss gap: a reversed clip denoised 5 % worse than the clip itself scores 1.
CONTRAST_MIN_TIMESTEP = 600
CONTRAST_SCALE = 0.05


def direction_contrast_loss(loss_clip: torch.Tensor, loss_reversed: torch.Tensor) -> torch.Tensor:
    """``softplus(−gap / CONTRAST_SCALE)``, gap = how much worse (relative) the time-reversed clip is denoised.

    The prompt of a moving clip fits the clip and not its time reversal (the same clip moving the other
    way), so a model that reads the direction denoises the reversal worse. A time-reversal-equivariant
    model (measured: synthvid-tiny after 15,600 steps, see unet.py) scores log 2 and gets the gradient
    that makes it tell the two apart; the softplus stops pushing once the gap is a few times the scale.
    Per-sample losses in, mean out.
    """
    gap = (loss_reversed - loss_clip) / ((loss_reversed + loss_clip).detach() / 2).clamp_min(1e-8)
    return F.softplus(-gap / CONTRAST_SCALE).mean()


def sample_batch(rng: np.random.Generator, cfg: TrainConfig):
    """Render a batch: prompts, clips ``[B, 3, F, H, W]`` in [-1, 1], role labels, and which clips move
    (object or camera: their time reversal does not fit their prompt)."""
    prompts = [random_prompt(rng, cfg.modifier_prob) for _ in range(cfg.batch_size)]
    clips = np.stack([render(p, frames=cfg.frames, size=cfg.size, seed=int(rng.integers(2**31))).frames for p in prompts])
    video = torch.from_numpy(clips).float().div(127.5).sub(1).permute(0, 4, 1, 2, 3).contiguous()
    labels = {name: torch.tensor([vocab.index(getattr(p, name)) for p in prompts]) for name, vocab in AUX_HEADS.items()}
    moving = torch.tensor([p.motion != "still" or p.pan is not None for p in prompts])
    return [p.text for p in prompts], video, labels, moving


def training_noise_schedule():
    """The forward process synthvid-tiny is trained on: 1000 steps, cosine schedule, v-prediction."""
    from diffusers import DDPMScheduler

    return DDPMScheduler(num_train_timesteps=1000, beta_schedule="squaredcos_cap_v2", prediction_type="v_prediction")


def build_pipeline(unet_config: dict):
    """A randomly initialised synthvid-tiny pipeline with the given UNet configuration."""
    from diffusers import DPMSolverMultistepScheduler

    from genkit.tiny.pipeline import SynthvidTinyPipeline
    from genkit.tiny.text import build_text_encoder, build_tokenizer
    from genkit.tiny.unet import TinyVideoUNet

    scheduler = DPMSolverMultistepScheduler(num_train_timesteps=1000, beta_schedule="squaredcos_cap_v2", prediction_type="v_prediction")
    return SynthvidTinyPipeline(build_tokenizer(), build_text_encoder(), TinyVideoUNet(**unet_config), scheduler)


class Trainer:
    """synthvid-tiny's step, state, evaluation and export, run by eval's training loop
    (:class:`eval.training.TrainingLoop`: budget, checkpoints, exact resume, logs)."""

    def __init__(self, cfg: TrainConfig, resume: bool):
        from diffusers.training_utils import EMAModel

        from eval.training import Budget, TrainingLoop

        self.cfg = cfg
        self.out = Path(cfg.out)
        torch.set_num_threads(cfg.threads)
        torch.manual_seed(cfg.seed)
        start_step, start_seconds = 0, 0.0
        prior = Path(cfg.init_from) / "training_state.json" if cfg.init_from and not resume else None
        if prior is not None and prior.exists():  # the initial weights' own training: its data is not replayed
            info = json.loads(prior.read_text())
            start_step, start_seconds = int(info.get("steps", 0)), float(info.get("seconds", 0.0))
        budget = Budget(
            minutes=cfg.minutes,
            max_steps=cfg.max_steps,
            checkpoint_minutes=cfg.checkpoint_minutes,
            log_every=25,
            eval_every=cfg.eval_every_steps,
            threads=cfg.threads,
            seed=cfg.seed,
        )
        self.loop = TrainingLoop(self.out, budget, resume=resume, export_to="pipeline", start_step=start_step, start_seconds=start_seconds)
        if self.loop.saved is not None:
            cfg.unet = self.loop.saved["config"]["unet"]
        if self.loop.saved is None and cfg.init_from:
            from genkit.tiny.pipeline import SynthvidTinyPipeline

            self.pipe = SynthvidTinyPipeline.from_pretrained(cfg.init_from)
            upgrades = [key for key in UPGRADES if cfg.unet.get(key) and not self.pipe.unet.config.get(key, False)]
            if upgrades:
                self._upgrade_unet(upgrades)
            # The checkpoint must record the architecture actually trained, not the default one.
            cfg.unet = {key: self.pipe.unet.config[key] for key in DEFAULT_UNET}
            log.info("initialised from %s", cfg.init_from)
        else:
            self.pipe = build_pipeline(cfg.unet)
        self.noise = training_noise_schedule()
        width = self.pipe.text_encoder.config.hidden_size
        self.aux = nn.ModuleDict({name: nn.Linear(width, len(vocab)) for name, vocab in AUX_HEADS.items()})
        self.params = [*self.pipe.unet.parameters(), *self.pipe.text_encoder.parameters()]
        self.optimizer = torch.optim.AdamW([*self.params, *self.aux.parameters()], lr=cfg.lr, weight_decay=cfg.weight_decay)
        self.ema = EMAModel(self.params, decay=cfg.ema_decay, use_ema_warmup=True, power=3 / 4)

    def _upgrade_unet(self, upgrades: list[str]) -> None:
        """Give weights trained without them the zero-initialised conditioning of ``upgrades`` (keys of
        :data:`UPGRADES`): the loaded model's function is unchanged and training goes on from where it was."""
        from genkit.tiny.unet import TinyVideoUNet

        old = self.pipe.unet
        unet = TinyVideoUNet(**{**{key: old.config[key] for key in DEFAULT_UNET if key in old.config}, **dict.fromkeys(upgrades, True)})
        new_prefixes = tuple(UPGRADES[key] for key in upgrades)
        state, shapes = old.state_dict(), unet.state_dict()
        for key, value in state.items():
            if key.startswith(new_prefixes) and key in shapes and shapes[key].shape != value.shape:
                widened = torch.zeros_like(shapes[key])
                widened[tuple(slice(0, n) for n in value.shape)] = value
                state[key] = widened
        missing, unexpected = unet.load_state_dict(state, strict=False)
        if unexpected or any(not key.startswith(new_prefixes) for key in missing):
            raise ValueError(f"cannot add {', '.join(upgrades)}: missing {missing}, unexpected {unexpected}")
        self.pipe.register_modules(unet=unet)
        log.info("added %s (zero-initialised) to the loaded UNet", ", ".join(upgrades))

    def lr_at(self, step: int) -> float:
        return self.cfg.lr * min(1.0, (step + 1) / self.cfg.warmup_steps)

    def train_step(self, rng: np.random.Generator, step: int) -> dict:
        """One optimiser step on a batch drawn from ``rng``; ``step`` steps were done before it (warm-up)."""
        cfg = self.cfg
        prompts, video, labels, moving = sample_batch(rng, cfg)
        dropped = torch.from_numpy(rng.random(len(prompts)) < cfg.cfg_dropout)
        texts = ["" if d else p for p, d in zip(prompts, dropped.tolist())]
        tokens = self.pipe.tokenizer(
            texts, padding="max_length", max_length=self.pipe.tokenizer.model_max_length, truncation=True, return_tensors="pt"
        )
        encoded = self.pipe.text_encoder(input_ids=tokens.input_ids, attention_mask=tokens.attention_mask)
        noise = torch.randn_like(video)
        t = torch.randint(0, self.noise.config.num_train_timesteps, (video.shape[0],))
        noisy = self.noise.add_noise(video, noise, t)
        target = self.noise.get_velocity(video, noise, t)
        pred = self.pipe.unet(noisy, t, encoded.last_hidden_state, encoded.pooler_output, tokens.attention_mask).sample
        alphas = self.noise.alphas_cumprod[t]
        snr = alphas / (1 - alphas)
        weight = v_loss_weight(snr, cfg.min_snr_gamma, cfg.low_snr_floor)
        per_sample = weight * (pred - target).square().mean(dim=(1, 2, 3, 4))
        diffusion = per_sample.mean()
        contrast = torch.zeros(())
        chosen = (moving & ~dropped & (t >= CONTRAST_MIN_TIMESTEP)).nonzero().flatten()
        if cfg.direction_contrast and len(chosen):
            # Reversing clip and noise reverses the noisy clip and the v target (both are linear in them).
            reversed_pred = self.pipe.unet(
                noisy[chosen].flip(2), t[chosen], encoded.last_hidden_state[chosen], encoded.pooler_output[chosen], tokens.attention_mask[chosen]
            ).sample
            reversed_loss = weight[chosen] * (reversed_pred - target[chosen].flip(2)).square().mean(dim=(1, 2, 3, 4))
            contrast = direction_contrast_loss(per_sample[chosen], reversed_loss)
        keep = ~dropped
        aux = torch.zeros(())
        if keep.any():
            pooled = encoded.pooler_output[keep]
            aux = sum(F.cross_entropy(head(pooled), labels[name][keep]) for name, head in self.aux.items()) / len(self.aux)
        # Scaled by the (detached) diffusion loss so its pull stays in proportion as that loss falls.
        loss = diffusion + cfg.aux_weight * aux + cfg.direction_contrast * diffusion.detach() * contrast
        for group in self.optimizer.param_groups:
            group["lr"] = self.lr_at(step)
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(self.params, 1.0)
        self.optimizer.step()
        self.ema.step(self.params)
        return {"loss": diffusion.item(), "aux": aux.item(), "contrast": contrast.item(), "lr": self.lr_at(step)}

    def ema_pipeline(self):
        """A copy of the pipeline carrying the EMA weights."""
        pipe = copy.deepcopy(self.pipe)
        self.ema.copy_to([*pipe.unet.parameters(), *pipe.text_encoder.parameters()])
        return pipe

    def export(self, folder: Path, summary: dict) -> None:
        """The EMA pipeline (what is shipped) and ``training_state.json`` (steps, seconds, config)."""
        self.ema_pipeline().save_pretrained(folder, safe_serialization=True)
        info = {"steps": summary["steps"], "seconds": summary["seconds"], "config": asdict(self.cfg)}
        (folder / "training_state.json").write_text(json.dumps(info, indent=2))

    def state_dict(self) -> dict:
        return {
            "unet": self.pipe.unet.state_dict(),
            "text_encoder": self.pipe.text_encoder.state_dict(),
            "aux": self.aux.state_dict(),
            "optimizer": self.optimizer.state_dict(),
            "ema": self.ema.state_dict(),
            "config": asdict(self.cfg),
        }

    def load_state_dict(self, state: dict) -> None:
        self.pipe.unet.load_state_dict(state["unet"])
        self.pipe.text_encoder.load_state_dict(state["text_encoder"])
        self.aux.load_state_dict(state["aux"])
        self.optimizer.load_state_dict(state["optimizer"])
        self.ema.load_state_dict(state["ema"])

    def evaluate(self) -> dict:
        """Prompt adherence of EMA samples, judged by the world analyzer (fixed prompts and seeds)."""
        pipe = self.ema_pipeline()
        prompts = all_prompts()
        pick = np.random.default_rng(1234).choice(len(prompts), self.cfg.eval_clips, replace=False)
        chosen = [prompts[i] for i in pick]
        generators = [torch.Generator().manual_seed(i) for i in range(len(chosen))]
        frames = pipe([p.text for p in chosen], num_frames=self.cfg.frames, height=self.cfg.size, width=self.cfg.size, generator=generators).frames
        clips = np.clip(np.rint(frames * 255), 0, 255).astype(np.uint8)
        hits = {k: 0 for k in ("background", "color", "shape", "motion")}
        for prompt, clip in zip(chosen, clips):
            found = analyze(clip).matches({"background": prompt.background, "color": prompt.color, "shape": prompt.shape, "motion": prompt.motion})
            for k in hits:
                hits[k] += found[k]
        return {k: v / len(chosen) for k, v in hits.items()}

    def run(self) -> Path:
        """Train until the budget is spent (checkpoints, logs and evaluation by the loop); return the pipeline folder."""
        self.loop.run(self, asdict(self.cfg))
        return self.out / "pipeline"


def train(cfg: TrainConfig, resume: bool = False) -> Path:
    """Train (or resume) and return the exported EMA pipeline folder."""
    return Trainer(cfg, resume).run()
