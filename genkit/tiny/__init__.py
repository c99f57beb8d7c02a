"""synthvid-tiny: the embedded text-to-video diffusion model, trained here on the shapes world.

Importing this package is cheap; the torch/diffusers modules load on first attribute access.
"""

from __future__ import annotations

import importlib
from pathlib import Path

# The shipped weights: a save_pretrained folder produced by `synthvid train tiny` (see its MODEL_CARD.md).
DEFAULT_MODEL_DIR = Path(__file__).resolve().parent / "synthvid-tiny"

_LAZY = {
    "SynthvidTinyPipeline": "genkit.tiny.pipeline",
    "TinyVideoUNet": "genkit.tiny.unet",
    "TrainConfig": "genkit.tiny.train",
    "train": "genkit.tiny.train",
}


def __getattr__(name: str):
    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'genkit.tiny' has no attribute {name!r}")
