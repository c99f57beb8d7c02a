"""synthvid-tiny: the embedded text-to-video diffusion model, trained here on the shapes world.

Importing this package is cheap; the torch/diffusers modules load on first attribute access.
"""

from __future__ import annotations

import importlib

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
