"""Errors of the reports package: one line naming the file and the reason (the CLI exits 2)."""

from __future__ import annotations

from pathlib import Path


class ReportError(Exception):
    """A run folder or file that cannot be reported on: ``"<path>: <reason>"``."""

    def __init__(self, path: str | Path | None, reason: str):
        self.path = None if path is None else str(path)
        self.reason = reason
        super().__init__(f"{self.path}: {reason}" if self.path else reason)
