"""Terminal output shared by the command-line modules of every package (provenance is the bottom layer).

Imports only the standard library at module level, so ``--help`` stays fast.
"""

from __future__ import annotations

import json
import sys


def print_json(data) -> None:
    """``data`` as indented JSON on stdout (paths and other objects as their text)."""
    sys.stdout.write(json.dumps(data, indent=2, default=str) + "\n")


def make_console(stderr: bool = False):
    """A rich console on stdout (or stderr) that never folds long lines."""
    from rich.console import Console

    stream = sys.stderr if stderr else sys.stdout
    # Off a terminal rich would assume 80 columns and fold paths; logs and pipes take wider lines.
    return Console(stderr=stderr, soft_wrap=True, width=None if stream.isatty() else 160)


def one_line(exc: BaseException) -> str:
    """An exception's message on one line (or its type's name when it has none)."""
    return " ".join(str(exc).split()) or type(exc).__name__
