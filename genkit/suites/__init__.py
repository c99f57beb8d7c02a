"""Prompt suites: one loader for every format synthvid accepts, and the suites bundled with it.

:func:`load_suite` takes a file path or the name of a bundled suite (``shapes-smoke``,
``shapes-full``) and returns :class:`SuiteItem` rows. The format follows the file's suffix:

- ``.txt``: a prompt a line; blank lines and lines starting with ``#`` are skipped.
- ``.csv``: a header row with a ``prompt`` column (``prompt_en`` also works); optional ``id`` and
  ``dimension`` (or ``category``) columns; every other column is kept in ``extra``.
- ``.jsonl``: one JSON object a line, with the same keys as the CSV columns.
- ``.json``: VBench's prompt list, ``[{"prompt_en": ..., "dimension": [...]}, ...]``; a list of
  objects with ``prompt`` is read the same way. A list of dimensions is joined with commas.

Prompts without an id get their position in the suite, zero-padded (``0000``, ``0001``, ...), which
also names their clips. Every problem raises :class:`~genkit.errors.SuiteError` naming the file and
the reason (and the line or row where there is one).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path

from genkit.errors import SuiteError

FORMATS = (".txt", ".csv", ".jsonl", ".json")
PROMPT_KEYS = ("prompt", "prompt_en")
ID_KEYS = ("id", "prompt_id")
DIMENSION_KEYS = ("dimension", "category")
MAX_FILE_BYTES = 100 * 1024**2  # far above any real suite (VBench's full list is ~0.3 MB)
MAX_PROMPT_CHARS = 2000


@dataclass(frozen=True)
class SuiteItem:
    """One prompt of a suite: its text, a unique id, its dimension/category and any other fields."""

    prompt: str
    prompt_id: str
    dimension: str | None = None
    extra: dict = field(default_factory=dict)


def bundled_suites() -> dict[str, Path]:
    """Name → file of every suite shipped inside the package (``shapes-smoke``, ``shapes-full``, ...)."""
    folder = resources.files(__name__)
    return {Path(entry.name).stem: Path(str(entry)) for entry in folder.iterdir() if Path(entry.name).suffix in FORMATS}


def resolve_suite(path_or_name: str | Path) -> Path:
    """The file behind ``path_or_name``: an existing path wins, then a bundled suite's name."""
    path = Path(path_or_name)
    if path.exists():
        return path
    bundled = bundled_suites()
    if str(path_or_name) in bundled:
        return bundled[str(path_or_name)]
    raise SuiteError(path, f"no such file or bundled suite (bundled: {', '.join(sorted(bundled))})")


def load_suite(path_or_name: str | Path) -> list[SuiteItem]:
    """Load a prompt suite from a file (txt, csv, jsonl, VBench json) or a bundled suite's name."""
    path = resolve_suite(path_or_name)
    if path.is_dir():
        raise SuiteError(path, "is a directory, not a suite file")
    suffix = path.suffix.lower()
    if suffix not in FORMATS:
        raise SuiteError(path, f"unknown suite format {suffix or '(no suffix)'!r}; use one of {', '.join(FORMATS)}")
    size = path.stat().st_size
    if size > MAX_FILE_BYTES:
        raise SuiteError(path, f"{size / 1e6:.0f} MB is too large for a prompt suite (limit {MAX_FILE_BYTES / 1e6:.0f} MB)")
    try:
        if suffix == ".csv":
            records = _read_csv(path)
        else:
            text = path.read_text(encoding="utf-8-sig")
            records = {".txt": _read_txt, ".jsonl": _read_jsonl, ".json": _read_json}[suffix](path, text)
    except UnicodeDecodeError as exc:
        raise SuiteError(path, f"not UTF-8 text (byte {exc.start})") from exc
    except OSError as exc:
        raise SuiteError(path, exc.strerror or str(exc)) from exc
    return _items(path, records)


def _read_txt(path: Path, text: str) -> list[tuple[str, dict]]:
    return [
        (f"line {number}", {"prompt": line.strip()})
        for number, line in enumerate(text.splitlines(), 1)
        if line.strip() and not line.lstrip().startswith("#")
    ]


def _read_csv(path: Path) -> list[tuple[str, dict]]:
    import pandas as pd

    try:
        table = pd.read_csv(path, dtype=str, keep_default_na=False, skipinitialspace=True)
    except pd.errors.EmptyDataError as exc:
        raise SuiteError(path, "empty CSV: no header row and no prompts") from exc
    except pd.errors.ParserError as exc:
        raise SuiteError(path, f"malformed CSV ({str(exc).strip().splitlines()[0]})") from exc
    table.columns = [str(name).strip() for name in table.columns]
    _require_prompt_key(path, table.columns, "column")
    # Row 1 is the header, so data row i sits on row i + 2 of the file (for files without quoted newlines).
    return [(f"row {i + 2}", record) for i, record in enumerate(table.to_dict("records"))]


def _read_jsonl(path: Path, text: str) -> list[tuple[str, dict]]:
    records = []
    for number, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except json.JSONDecodeError as exc:
            raise SuiteError(path, f"line {number}: not JSON ({exc.msg})") from exc
        if not isinstance(record, dict):
            raise SuiteError(path, f"line {number}: expected a JSON object, got {type(record).__name__}")
        _require_prompt_key(path, record, f"key on line {number}")
        records.append((f"line {number}", record))
    return records


def _read_json(path: Path, text: str) -> list[tuple[str, dict]]:
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise SuiteError(path, f"not JSON ({exc.msg} at line {exc.lineno})") from exc
    if not isinstance(data, list) or not all(isinstance(entry, dict) for entry in data):
        raise SuiteError(path, "expected a JSON list of objects with 'prompt_en' (VBench) or 'prompt'")
    for index, entry in enumerate(data):
        _require_prompt_key(path, entry, f"key in entry {index}")
    return [(f"entry {index}", entry) for index, entry in enumerate(data)]


def _require_prompt_key(path: Path, keys, what: str) -> None:
    if not any(key in keys for key in PROMPT_KEYS):
        raise SuiteError(path, f"no prompt {what} (expected one of {', '.join(PROMPT_KEYS)}; found {', '.join(map(str, keys)) or 'none'})")


def _first(record: dict, keys: tuple[str, ...]) -> tuple[str | None, object]:
    for key in keys:
        if key in record:
            return key, record[key]
    return None, None


def _items(path: Path, records: list[tuple[str, dict]]) -> list[SuiteItem]:
    if not records:
        raise SuiteError(path, "suite is empty: no prompts")
    width = max(4, len(str(len(records) - 1)))
    items, seen = [], {}
    for index, (where, record) in enumerate(records):
        prompt_key, prompt = _first(record, PROMPT_KEYS)
        if not isinstance(prompt, str):
            raise SuiteError(path, f"{where}: prompt must be text, got {type(prompt).__name__}")
        prompt = " ".join(prompt.split())
        if not prompt:
            raise SuiteError(path, f"{where}: empty prompt")
        if len(prompt) > MAX_PROMPT_CHARS:
            raise SuiteError(path, f"{where}: prompt has {len(prompt)} characters (limit {MAX_PROMPT_CHARS})")
        id_key, prompt_id = _first(record, ID_KEYS)
        prompt_id = str(prompt_id).strip() if prompt_id not in (None, "") else f"{index:0{width}d}"
        if prompt_id in seen:
            raise SuiteError(path, f"{where}: duplicate prompt id {prompt_id!r} (first at {seen[prompt_id]})")
        seen[prompt_id] = where
        dimension_key, dimension = _first(record, DIMENSION_KEYS)
        if isinstance(dimension, list):
            dimension = ",".join(map(str, dimension))
        dimension = str(dimension) if dimension not in (None, "") else None
        extra = {k: v for k, v in record.items() if k not in (prompt_key, id_key, dimension_key)}
        items.append(SuiteItem(prompt, prompt_id, dimension, extra))
    return items


FULL_SUITE_HEADER = (
    "# shapes-full: every prompt of the shapes world's core grammar (genkit.world.all_prompts()).\n"
    "# Generated by `synthvid world prompts --out genkit/suites/shapes-full.txt`; do not edit by hand.\n"
)


def full_suite_text() -> str:
    """The exact text of the bundled ``shapes-full.txt``: a header and one prompt a line."""
    from genkit.world import all_prompts

    return FULL_SUITE_HEADER + "".join(f"{prompt.text}\n" for prompt in all_prompts())
