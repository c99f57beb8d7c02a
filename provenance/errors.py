"""Exception hierarchy of the provenance package.

Every error a user can cause carries a one-line message that names the file (when there is one)
and the reason; the CLI prints ``str(error)`` and exits 2.
"""

from __future__ import annotations

from pathlib import Path


class ProvenanceError(Exception):
    """Base class of every error raised by :mod:`provenance`."""


class MediaError(ProvenanceError):
    """A video file cannot be read or written: missing, not a video, truncated, corrupt, absurd size."""

    def __init__(self, path: str | Path | None, reason: str):
        self.path = None if path is None else str(path)
        self.reason = reason
        super().__init__(f"{self.path}: {reason}" if self.path else reason)
