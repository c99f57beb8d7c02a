"""detectors: a real-vs-synthetic clip detector giving P(synthetic) per clip.

    import detectors
    detector = detectors.load_default()          # the shipped forensic model
    p = detector.score(frames)                   # frames: uint8 [T, H, W, 3] RGB → float P(synthetic)
    flagged = detector.predict(frames)           # at the threshold calibrated on validation data

    d = detectors.Detector("forensic")           # or "cnn3d", "probe"
    report = d.fit("data/manifest.csv")          # path,label,generator,split — or real/ + fake/<generator>/
    d.save("my-detector"); detectors.Detector.load("my-detector")

A score is a statistical estimate, never proof. The core takes frames, never paths; files are read at
the edges (:mod:`detectors.dataset`, the CLI) through :mod:`provenance.media`. Importing this package is
cheap: numpy, scikit-learn and torch load on first use.
"""

from __future__ import annotations

import importlib

from detectors.errors import DatasetError, DetectorError, FramesError, ModelFileError, NotFittedError

_LAZY = {
    "Detector": "detectors.detector",
    "FitReport": "detectors.detector",
    "load_default": "detectors.detector",
    "DEFAULT_MODEL_DIR": "detectors.detector",
    "Dataset": "detectors.dataset",
    "load_dataset": "detectors.dataset",
}

__all__ = ["DatasetError", "DetectorError", "FramesError", "ModelFileError", "NotFittedError", *_LAZY]


def __getattr__(name: str):
    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'detectors' has no attribute {name!r}")
