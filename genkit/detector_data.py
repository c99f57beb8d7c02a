"""The detector's default data: shapes-world renders (real) and synthvid-tiny clips (fake) of the same
prompts and seeds, beside real camera crops, built with :class:`detectors.data.DataBuilder`.

The shapes world and the embedded model belong to genkit; the detectors package only writes and
reads what a caller's generators make (see :mod:`detectors.data` for the splits and the cache).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np

from detectors.data import CLIP_FPS, CLIP_FRAMES, CLIP_SIZE, DEFAULT_DATA_DIR, SPLITS, DataBuilder, DataPlan, Generator
from genkit.backends import load_backend
from genkit.world import render, sample_prompts


def split_prompts(plan: DataPlan) -> dict[str, list[str]]:
    """Disjoint shapes-world prompts per split (with sizes, textures, noise and pans), from ``plan.seed``."""
    total = sum(plan.prompts.values())
    prompts = [p.text for p in sample_prompts(total, np.random.default_rng(plan.seed), modifiers=True)]
    out, start = {}, 0
    for split in SPLITS:
        out[split] = prompts[start : start + plan.prompts[split]]
        start += plan.prompts[split]
    return out


def world_generator(frames: int = CLIP_FRAMES, size: int = CLIP_SIZE) -> Generator:
    """The shapes world as a 'generator' of authentic clips: one render per (prompt, seed)."""

    def make(prompts: list[str], seeds: list[int]) -> list[np.ndarray]:
        return [render(p, frames=frames, size=size, fps=CLIP_FPS, seed=s % (1 << 32)).frames for p, s in zip(prompts, seeds)]

    return make


def backend_generator(
    backend, *, frames: int = CLIP_FRAMES, size: int = CLIP_SIZE, steps: int | None = None, guidance: float | None = None
) -> Generator:
    """Any genkit text-to-video backend (synthvid-tiny, a diffusers pipeline) as a generator; clips
    longer than ``frames`` are cut, other sizes are refused."""
    import torch

    def make(prompts: list[str], seeds: list[int]) -> list[np.ndarray]:
        generators = [torch.Generator(device="cpu").manual_seed(int(s)) for s in seeds]
        clips = backend.generate(
            [backend.model_prompt(p) for p in prompts],
            generators,
            frames=frames,
            height=size,
            width=size,
            steps=steps or backend.defaults.steps,
            guidance=backend.defaults.guidance if guidance is None else guidance,
        )
        return [np.ascontiguousarray(c[:frames]) for c in clips]

    return make


def synthvid_tiny_generator(frames: int = CLIP_FRAMES, size: int = CLIP_SIZE, model: str = "synthvid-tiny") -> Generator:
    return backend_generator(load_backend(model, device="cpu"), frames=frames, size=size)


def build_default_data(
    root: str | Path = DEFAULT_DATA_DIR,
    plan: DataPlan | None = None,
    others: dict[str, Callable[[], Generator]] | None = None,
    on_clip: Callable[[str], None] | None = None,
) -> Path:
    """Camera crops, shapes-world renders, synthvid-tiny clips of the same prompts and seeds, and
    ``others`` (name → factory of a generator, built only when a clip is missing); returns the manifest."""
    plan = plan or DataPlan()
    builder = DataBuilder(root, plan, on_clip, prompts=split_prompts(plan))
    builder.add_camera()
    builder.add_prompted("shapes-world", "real", world_generator(builder.plan.frames, builder.plan.size))
    builder.add_prompted("synthvid-tiny", "fake", lambda: synthvid_tiny_generator(builder.plan.frames, builder.plan.size), lazy=True)
    for name, factory in (others or {}).items():
        builder.add_prompted(name, "fake", factory, counts=builder.plan.other, lazy=True)
    return builder.write_manifest()
