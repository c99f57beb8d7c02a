"""Errors of the reports package: one line naming the file and the reason (the CLI exits 2)."""

from __future__ import annotations

from provenance.errors import LocatedError


class ReportError(LocatedError):
    """A run folder or file that cannot be reported on: ``"<path>: <reason>"``."""
