"""Training of synthvid-tiny-clip, an open_clip custom model, on shapes-world frames and their prompts.

Model: open_clip ``CLIP`` from :data:`MODEL_CFG` (a ViT over 48×48 frames in 8-px patches, a
3-layer text transformer over genkit's word-level shapes-world tokenizer, 96-d joint space), trained
with open_clip's symmetric contrastive loss (``ClipLoss``, learnable temperature). Each batch pairs a
random frame of a freshly rendered clip with its prompt; prompts are drawn without replacement
within a batch (so no two pairs of a batch share a caption), with random size, texture, noise and
pan. A single frame cannot show motion, so the words for motion carry no signal: CLIPSIM (a mean over
frames) is about appearance.

Export: an open_clip ``local-dir:`` folder: ``open_clip_config.json`` (``model_cfg`` +
``preprocess_cfg``), ``open_clip_model.safetensors`` and the tokenizer files (``tokenizer.json``, ...),
so ``open_clip.create_model_and_transforms("local-dir:FOLDER")`` and ``open_clip.get_tokenizer(...)``
load it without synthvid.

Layering: eval never imports genkit; the world and its tokenizer are handed in as a
:class:`eval.training.WorldSource` (``synthvid eval-train``, a genkit command, passes
:func:`genkit.world.world_source`).

Run: ``synthvid eval-train clip --minutes 15 --out runs/train-tiny-clip [--resume]``.
"""

from __future__ import annotations

import json
import tempfile
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch

from eval.training import ModelTrainer, WorldSource, eval_mode

CONTEXT_LENGTH = 24  # genkit.tiny.text.MAX_TOKENS: the longest shapes-world prompt is 18 words + BOS/EOS


def model_cfg(vocab_size: int, pad_id: int, eos_id: int) -> dict:
    return {
        "embed_dim": 96,
        "vision_cfg": {"image_size": 48, "layers": 3, "width": 96, "patch_size": 8, "head_width": 32},
        "text_cfg": {
            "context_length": CONTEXT_LENGTH,
            "vocab_size": vocab_size,
            "width": 96,
            "heads": 3,
            "layers": 3,
            # any non-empty name: with the local-dir: schema open_clip reads the tokenizer from the folder
            "hf_tokenizer_name": "synthvid-tiny-clip",
            "pool_type": "eos",
            "eos_id": eos_id,
            "pad_id": pad_id,
        },
    }


PREPROCESS_CFG = {
    "size": 48,
    "mode": "RGB",
    "mean": [0.5, 0.5, 0.5],
    "std": [0.5, 0.5, 0.5],
    "interpolation": "bilinear",
    "resize_mode": "shortest",
    "fill_color": 0,
}


@dataclass
class ClipTrainConfig:
    batch_size: int = 64
    lr: float = 1e-3
    weight_decay: float = 0.05
    render_frames: int = 8
    render_size: int = 64  # rendered like the clips it will score, resized to 48 by the preprocessing
    eval_clips: int = 128
    eval_seed: int = 20_000


class ClipTrainer(ModelTrainer):
    def __init__(self, world: WorldSource, config: ClipTrainConfig | None = None):
        import open_clip

        from eval.encoders import ClipEncoder

        self.config = config = config or ClipTrainConfig()
        self.render, self.sample_prompts = world.render, world.sample_prompts
        self.hf_tokenizer = world.tokenizer()
        vocab = self.hf_tokenizer.get_vocab()
        self.model_cfg = model_cfg(len(vocab), self.hf_tokenizer.pad_token_id, self.hf_tokenizer.eos_token_id)
        self.model = open_clip.CLIP(**self.model_cfg)
        self.model.visual.preprocess_cfg = dict(PREPROCESS_CFG)
        with tempfile.TemporaryDirectory() as folder:  # open_clip's HFTokenizer reads files, as it will from the export
            self.hf_tokenizer.save_pretrained(folder)
            tokenizer = open_clip.tokenizer.HFTokenizer(folder, context_length=CONTEXT_LENGTH)
        # the same preprocessing and tokenization CLIPSIM will use on the exported model
        self.encoder = ClipEncoder(self.model, tokenizer, "synthvid-tiny-clip")
        self.model.train()
        self.loss = open_clip.ClipLoss()
        self.optimizer = torch.optim.AdamW(self.model.parameters(), lr=config.lr, weight_decay=config.weight_decay)
        self.eval_frames, self.eval_texts = self.batch(np.random.default_rng(config.eval_seed), config.eval_clips)

    def batch(self, rng: np.random.Generator, count: int):
        cfg = self.config
        frames, texts = [], []
        for prompt in self.sample_prompts(count, rng):
            clip = self.render(prompt, frames=cfg.render_frames, size=cfg.render_size, seed=int(rng.integers(2**31))).frames
            frames.append(clip[rng.integers(len(clip))])
            texts.append(prompt.text)
        return torch.from_numpy(np.stack(frames)), texts

    def embed(self, frames: torch.Tensor, texts: list[str]):
        image = torch.nn.functional.normalize(self.model.encode_image(self.encoder.preprocess(frames)), dim=-1)
        text = torch.nn.functional.normalize(self.model.encode_text(self.encoder.tokenize(texts)), dim=-1)
        return image, text

    def train_step(self, rng: np.random.Generator, step: int = 0) -> dict[str, float]:
        image, text = self.embed(*self.batch(rng, self.config.batch_size))
        loss = self.loss(image, text, self.model.logit_scale.exp())
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        self.optimizer.step()
        with torch.no_grad():
            self.model.logit_scale.clamp_(0, 4.6052)  # ≤ 100, as open_clip's training clamps it
        return {"loss": float(loss.detach())}

    def evaluate(self) -> dict[str, float]:
        """Held-out: retrieval top-1 both ways, and how often a frame's own prompt beats another one
        (CLIPSIM matched > mismatched; the other prompt is the next one of the held-out list)."""
        with eval_mode(self.model):
            image, text = self.embed(self.eval_frames, self.eval_texts)
        sims = image @ text.T
        target = torch.arange(len(sims))
        matched = sims.diag()
        mismatched = sims[target, torch.roll(target, 1)]
        return {
            "image_to_text_top1": float((sims.argmax(1) == target).float().mean()),
            "text_to_image_top1": float((sims.argmax(0) == target).float().mean()),
            "matched_beats_mismatched": float((matched > mismatched).float().mean()),
            "mean_matched_cosine": float(matched.mean()),
        }

    def export(self, folder: Path, summary: dict) -> None:
        from safetensors.torch import save_file

        folder.mkdir(parents=True, exist_ok=True)
        config = {"model_cfg": self.model_cfg, "preprocess_cfg": PREPROCESS_CFG, "training": {**summary, "config": asdict(self.config)}}
        (folder / "open_clip_config.json").write_text(json.dumps(config, indent=2) + "\n")
        save_file({k: v.detach().contiguous() for k, v in self.model.state_dict().items()}, str(folder / "open_clip_model.safetensors"))
        self.hf_tokenizer.save_pretrained(str(folder))
        tokenizer_config = folder / "tokenizer_config.json"  # transformers 5 writes its own class name;
        settings = json.loads(tokenizer_config.read_text())  # the generic one loads in 4.x and 5.x alike
        settings["tokenizer_class"] = "PreTrainedTokenizerFast"
        tokenizer_config.write_text(json.dumps(settings, indent=2) + "\n")


def train_clip(
    out: Path,
    world: WorldSource,
    *,
    minutes: float,
    max_steps: int | None = None,
    resume: bool = False,
    threads: int = 1,
    seed: int = 0,
    config: ClipTrainConfig | None = None,
) -> dict:
    """Train (or continue) synthvid-tiny-clip on ``world``'s frames and prompts into ``out``; the model lands in ``out/model``."""
    from eval.encoders import _import_open_clip
    from eval.training import Budget, run_training

    _import_open_clip()  # sets HF_HUB_OFFLINE before open_clip loads
    torch.manual_seed(seed)
    trainer = ClipTrainer(world, config)
    budget = Budget(minutes=minutes, max_steps=max_steps, threads=threads, seed=seed, eval_every=100)
    return run_training(trainer, out, budget, {"model": "synthvid-tiny-clip", **asdict(trainer.config)}, resume=resume)
