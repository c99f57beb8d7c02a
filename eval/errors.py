"""Exception hierarchy of the eval package.

Every error a user can cause carries a one-line message naming the file (when there is one) and the
reason; the CLI prints ``str(error)`` and exits 2 (``--debug`` shows the traceback).
"""

from __future__ import annotations

from pathlib import Path


class EvalError(Exception):
    """Base class of every error :mod:`eval` raises for a user's mistake."""

    def __init__(self, path: str | Path | None, reason: str):
        self.path = None if path is None else str(path)
        self.reason = reason
        super().__init__(f"{self.path}: {reason}" if self.path else reason)


class FramesError(EvalError, ValueError):
    """Frames of the wrong type, shape, range or length for a metric (``path`` names the clip if known)."""


class ModelFileError(EvalError):
    """A model's weights or config cannot be loaded: missing, not the expected format, keys that differ."""


class InputSetError(EvalError):
    """A folder of clips or a prompt file cannot be used: missing, empty, prompts that do not match clips."""
