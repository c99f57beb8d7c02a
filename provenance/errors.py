"""Exception hierarchy of the provenance package.

Every error a user can cause carries a one-line message that names the file (when there is one)
and the reason; the CLI prints ``str(error)`` and exits 2.
"""

from __future__ import annotations

from pathlib import Path


class LocatedError(Exception):
    """An error about one file or folder (or none): the message is ``"<path>: <reason>"``. The one
    base of every package's file errors (provenance sits below them all)."""

    def __init__(self, path: str | Path | None, reason: str):
        self.path = None if path is None else str(path)
        self.reason = reason
        super().__init__(f"{self.path}: {reason}" if self.path else reason)


class ProvenanceError(Exception):
    """Base class of every error raised by :mod:`provenance`."""


class WatermarkError(ProvenanceError, ValueError):
    """Bad input to the watermark: frames of the wrong type or size, a payload or key of the wrong length."""


class _FileError(ProvenanceError, LocatedError):
    """An error of provenance about one file (or none): the message is ``"<file>: <reason>"``."""


class MediaError(_FileError):
    """A video file cannot be read or written: missing, not a video, truncated, corrupt, absurd size."""


class KeyFileError(_FileError):
    """A key, certificate or key directory is missing, malformed, too open (mode) or unsuitable."""


class SigningError(_FileError):
    """Signing a clip failed: the certificate profile, the signer callback, the TSA, the output file."""


class ManifestError(_FileError):
    """A manifest cannot be built, or a manifest store cannot be parsed at all."""


class RepositoryError(_FileError):
    """The manifest repository cannot be opened, is not ours, or refuses a record (duplicate payload)."""


class RunFileError(_FileError):
    """A run folder's file is missing, unreadable or not what the run-folder contract says
    (:mod:`provenance.runfolder`); readers of other packages pass their own class instead."""
