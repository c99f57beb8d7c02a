"""Exception hierarchy of the detectors package.

Every error a user can cause carries a one-line message naming the file (when there is one) and the
reason; the CLI prints ``str(error)`` and exits 2 (``--debug`` shows the traceback).
"""

from __future__ import annotations

from provenance.errors import LocatedError


class DetectorError(LocatedError):
    """Base class of every error :mod:`detectors` raises for a user's mistake."""


class FramesError(DetectorError, ValueError):
    """Frames of the wrong type, shape or length (``path`` names the clip when known)."""


class DatasetError(DetectorError):
    """A dataset manifest or folder cannot be used: missing, malformed, no usable clips of a class."""


class ModelFileError(DetectorError):
    """A detector folder cannot be loaded: missing files, unknown backbone, arrays that do not match."""


class NotFittedError(DetectorError):
    """A detector was asked to score before it was fitted or loaded."""
