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


def progress_bar(total: int, description: str, unit: str = "clip"):
    """A tqdm progress bar on stderr (so ``--json`` output stays clean), with rate and time left; only
    on a terminal, and not for a single item. Use it as a context manager and ``update()`` per item."""
    from tqdm import tqdm

    return tqdm(total=total, desc=description, unit=unit, file=sys.stderr, disable=total < 2 or not sys.stderr.isatty())


def one_line(exc: BaseException) -> str:
    """An exception's message on one line (or its type's name when it has none)."""
    return " ".join(str(exc).split()) or type(exc).__name__
