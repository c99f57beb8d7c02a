"""Shared makers for the eval tests: a random-init open_clip model in the shipped folder layout, and
shapes-world clips with their prompts (imported by test_clipsim, test_temporal and test_eval_cli)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import torch

from genkit.world import render_suite, sample_prompts

TINY_CLIP_CONFIG = {
    "embed_dim": 32,
    "vision_cfg": {"image_size": 32, "layers": 1, "width": 32, "patch_size": 8, "head_width": 16},
    "text_cfg": {"context_length": 24, "vocab_size": 49408, "width": 32, "heads": 2, "layers": 1},
}


def save_tiny_clip(folder: Path, seed: int) -> Path:
    """A random-init open_clip model as a local-dir folder (open_clip_config.json + safetensors).

    One shared offset after both towers' final norms makes cosines mostly positive (so CLIPScore's
    clamp at 0 stays out of comparisons); everything else is random.
    """
    import open_clip
    from safetensors.torch import save_file

    folder.mkdir(parents=True, exist_ok=True)
    (folder / "open_clip_config.json").write_text(json.dumps({"model_cfg": TINY_CLIP_CONFIG, "preprocess_cfg": {}}))
    torch.manual_seed(seed)
    model = open_clip.CLIP(**TINY_CLIP_CONFIG)
    with torch.no_grad():
        shared = torch.randn(32)
        model.visual.ln_post.bias.copy_(shared)
        model.ln_final.bias.copy_(shared)
        model.text_projection.copy_(model.visual.proj)
    save_file({k: v.contiguous() for k, v in model.state_dict().items()}, str(folder / "open_clip_model.safetensors"))
    return folder


class OpenAIArchive(torch.nn.Module):
    """A CLIP's towers and parameters under OpenAI's key names at the top level, with the scalar extras
    OpenAI's TorchScript files keep in their state dict (input_resolution, context_length, vocab_size);
    for open_clip's CLIP and openai-clip's alike."""

    def __init__(self, clip, input_resolution: int, context_length: int, vocab_size: int = 49408):
        super().__init__()
        for name, child in clip.named_children():
            setattr(self, name, child)
        for name, parameter in clip.named_parameters(recurse=False):
            setattr(self, name, parameter)
        for name, value in (("input_resolution", input_resolution), ("context_length", context_length), ("vocab_size", vocab_size)):
            self.register_buffer(name, torch.tensor(value))

    def forward(self, image: torch.Tensor) -> torch.Tensor:
        return self.visual(image)


def rendered_world_run(root: Path, prompts: list[str], size: int) -> tuple[Path, Path]:
    """A run folder from ``synthvid world render`` of ``prompts`` (8 frames, ``size`` px) in ``root``,
    and its suite file."""
    from genkit.cli import run

    suite = root / "suite.txt"
    suite.write_text("\n".join(prompts) + "\n")
    assert run(["world", "render", "--suite", str(suite), "--out", str(root / "run"), "--frames", "8", "--size", str(size)]) == 0
    return root / "run", suite


def world_clips(count: int, seed: int, *, frames: int = 4, size: int = 48) -> tuple[np.ndarray, list[str]]:
    """``count`` shapes-world clips ``[count, frames, size, size, 3]`` and their prompts."""
    prompts = sample_prompts(count, np.random.default_rng(seed))
    clips = np.stack([video.frames for _, _, video in render_suite(prompts, frames=frames, size=size, seed=seed)])
    return clips, [p.text for p in prompts]
