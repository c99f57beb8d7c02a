"""Exception hierarchy of the detectors package.

Every error a user can cause carries a one-line message naming the file (when there is one) and the
reason; the CLI prints ``str(error)`` and exits 2 (``--debug`` shows the traceback).
"""

from __future__ import annotations

from pathlib import Path


class DetectorError(Exception):
    """Base class of every error :mod:`detectors` raises for a user's mistake."""

    def __init__(self, path: str | Path | None, reason: str):
        self.path = None if path is None else str(path)
        self.reason = reason
        super().__init__(f"{self.path}: {reason}" if self.path else reason)


class FramesError(DetectorError, ValueError):
    """Frames of the wrong type, shape or length (``path`` names the clip when known)."""


class DatasetError(DetectorError):
    """A dataset manifest or folder cannot be used: missing, malformed, no usable clips of a class."""


class ModelFileError(DetectorError):
    """A detector folder cannot be loaded: missing files, unknown backbone, arrays that do not match."""


class NotFittedError(DetectorError):
    """A detector was asked to score before it was fitted or loaded."""
