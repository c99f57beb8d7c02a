"""Exception hierarchy of the eval package.

Every error a user can cause carries a one-line message naming the file (when there is one) and the
reason; the CLI prints ``str(error)`` and exits 2 (``--debug`` shows the traceback).
"""

from __future__ import annotations

from provenance.errors import LocatedError


class EvalError(LocatedError):
    """Base class of every error :mod:`eval` raises for a user's mistake."""


class FramesError(EvalError, ValueError):
    """Frames of the wrong type, shape, range or length for a metric (``path`` names the clip if known)."""


class ModelFileError(EvalError):
    """A model's weights or config cannot be loaded: missing, not the expected format, keys that differ."""


class InputSetError(EvalError):
    """A folder of clips or a prompt file cannot be used: missing, empty, prompts that do not match clips."""


def first_line(exc: BaseException) -> str:
    """The first line of an exception's message (its type name when it has none), for one-line errors."""
    lines = str(exc).strip().splitlines()
    return lines[0] if lines else type(exc).__name__


def check_state_dict(path, network: str, state: dict, expected: dict, *, optional=(), ignored=()) -> None:
    """Raise :class:`ModelFileError` naming ``path`` unless ``state`` has exactly ``expected``'s keys and
    shapes; keys ending in one of ``optional`` may be missing, keys starting with one of ``ignored`` may be extra."""
    missing = [k for k in expected if k not in state and not k.endswith(tuple(optional))]
    unexpected = [k for k in state if k not in expected and not k.startswith(tuple(ignored))]
    if missing or unexpected:
        raise ModelFileError(
            path,
            f"keys differ from {network}: missing {missing[:3]}{'…' if len(missing) > 3 else ''}, "
            f"unexpected {unexpected[:3]}{'…' if len(unexpected) > 3 else ''}",
        )
    wrong = [k for k in expected if k in state and state[k].shape != expected[k].shape]
    if wrong:
        raise ModelFileError(path, f"tensor {wrong[0]} has shape {list(state[wrong[0]].shape)}, {network} expects {list(expected[wrong[0]].shape)}")
