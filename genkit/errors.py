"""Exception hierarchy of the genkit package.

Every error a user can cause carries a one-line message that names the file (when there is one) and
the reason; the CLI prints ``str(error)`` and exits 2 (``--debug`` shows the traceback).
"""

from __future__ import annotations

import provenance.errors


class GenkitError(Exception):
    """Base class of every error :mod:`genkit` raises for a user's mistake."""


class LocatedError(GenkitError, provenance.errors.LocatedError):
    """An error of genkit about one file or folder: ``"<path>: <reason>"``."""


class SuiteError(LocatedError):
    """A prompt suite cannot be loaded: missing, unknown format, no prompt column, empty, malformed."""


class RunFolderError(LocatedError):
    """A run folder cannot be created or written (exists with other content, not writable, ...)."""


class ModelError(LocatedError):
    """A generation model cannot be loaded or run: weights absent, not a pipeline folder, unknown name,
    unusable device or dtype, settings the model refuses. ``path`` is the model's name, id or folder."""


class LedgerError(LocatedError):
    """A run ledger cannot be opened, read or written (not SQLite, locked, damaged, unwritable)."""


class BenchError(LocatedError):
    """A benchmark run cannot start or finish: bad options, a reference set that cannot be read, a
    shard layout that does not fit, items missing at a merge."""
