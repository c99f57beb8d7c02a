"""Datasets of labelled clips: a CSV/JSONL manifest or a folder tree; files are read only here (the edge).

Manifest (``.csv`` with a header, or ``.jsonl`` one object a line): ``path`` (relative to the
manifest's folder, or absolute), ``label`` (``real``/``fake``; also ``0``/``1``, ``authentic``/
``synthetic``), optional ``generator`` (default: ``real`` for real clips, ``unknown`` for fakes),
``split`` (``train``/``val``/``test``; default: assigned from a hash of the path, 70/15/15) and
``prompt``. GenVideo and GenVidBench lists convert to this with one pandas line.

Folder: ``real/**`` and ``fake/<generator>/**`` (any video files), optionally under ``train/``,
``val/`` and ``test/``; without split folders each clip's split comes from a hash of its path.

A clip that cannot be decoded, or has fewer frames than the detector needs, is skipped with its reason
(:attr:`LoadedClips.skipped`); the rest go on. A malformed manifest is a :class:`DatasetError`.
"""

from __future__ import annotations

import csv
import hashlib
import json
import logging
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from detectors.errors import DatasetError

log = logging.getLogger(__name__)

SPLITS = ("train", "val", "test")
VIDEO_SUFFIXES = {".mp4", ".m4v", ".mov", ".mkv", ".webm", ".avi", ".gif"}
LABELS = {"real": 0, "0": 0, "authentic": 0, "fake": 1, "1": 1, "synthetic": 1, "generated": 1}


@dataclass(frozen=True)
class ClipItem:
    path: Path
    label: int  # 1 = synthetic
    generator: str
    split: str
    prompt: str = ""


@dataclass
class Dataset:
    items: list[ClipItem]
    source: str = ""

    def split(self, name: str) -> Dataset:
        return Dataset([i for i in self.items if i.split == name], f"{self.source}[{name}]")

    def where(self, keep: Callable[[ClipItem], bool], tag: str = "subset") -> Dataset:
        return Dataset([i for i in self.items if keep(i)], f"{self.source}[{tag}]")

    def counts(self) -> dict[str, dict[str, int]]:
        out: dict[str, Counter] = {}
        for item in self.items:
            out.setdefault(item.split, Counter())[item.generator] += 1
        return {split: dict(c) for split, c in out.items()}

    def __len__(self) -> int:
        return len(self.items)


@dataclass
class LoadedClips:
    """Decoded clips with labels; ``skipped`` holds ``(path, reason)`` for every clip left out."""

    frames: list[np.ndarray]
    labels: np.ndarray
    items: list[ClipItem]
    skipped: list[tuple[str, str]] = field(default_factory=list)


def hash_split(path: str, fractions=(0.7, 0.15)) -> str:
    """A stable split for a clip without one: from the SHA-1 of its path."""
    u = int(hashlib.sha1(path.encode()).hexdigest()[:8], 16) / 0xFFFFFFFF
    return "train" if u < fractions[0] else "val" if u < fractions[0] + fractions[1] else "test"


def _parse_label(value, where: str) -> int:
    key = str(value).strip().lower()
    if key not in LABELS:
        raise DatasetError(where, f"label {value!r} is neither real nor fake (accepted: {', '.join(LABELS)})")
    return LABELS[key]


def _item(row: dict, root: Path, where: str) -> ClipItem:
    if not str(row.get("path") or "").strip():
        raise DatasetError(where, "no path")
    if "label" not in row or row["label"] in (None, ""):
        raise DatasetError(where, "no label")
    label = _parse_label(row["label"], where)
    raw = str(row["path"]).strip()
    path = Path(raw) if Path(raw).is_absolute() else root / raw
    split = str(row.get("split") or "").strip().lower() or hash_split(raw)
    if split not in SPLITS:
        raise DatasetError(where, f"split {split!r} is not one of {', '.join(SPLITS)}")
    generator = str(row.get("generator") or "").strip() or ("real" if label == 0 else "unknown")
    return ClipItem(path, label, generator, split, str(row.get("prompt") or ""))


def json_lines(path: Path):
    """``(line number, object)`` of every non-blank line of a JSON-lines file; a line that is not a JSON
    object is a one-line :class:`DatasetError` naming the file and the line."""
    for number, line in enumerate(path.read_text().splitlines(), 1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except ValueError as exc:
            raise DatasetError(f"{path}:{number}", f"not JSON ({exc.msg})") from None
        if not isinstance(row, dict):
            raise DatasetError(f"{path}:{number}", "each line must be a JSON object")
        yield number, row


def _read_manifest(path: Path) -> list[ClipItem]:
    root = path.parent
    items: list[ClipItem] = []
    if path.suffix.lower() == ".jsonl":
        for number, row in json_lines(path):
            items.append(_item(row, root, f"{path}:{number}"))
    elif path.suffix.lower() == ".csv":
        with path.open(newline="") as f:
            reader = csv.DictReader(f)
            missing = {"path", "label"} - set(reader.fieldnames or ())
            if missing:
                raise DatasetError(path, f"the header lacks {', '.join(sorted(missing))} (needs path,label[,generator,split,prompt])")
            for number, row in enumerate(reader, 2):
                items.append(_item(row, root, f"{path}:{number}"))
    else:
        raise DatasetError(path, "a manifest must be .csv or .jsonl (or give a folder with real/ and fake/)")
    return items


def _videos(folder: Path) -> list[Path]:
    return sorted(p for p in folder.rglob("*") if p.is_file() and p.suffix.lower() in VIDEO_SUFFIXES)


def _read_folder(root: Path) -> list[ClipItem]:
    split_dirs = [root / s for s in SPLITS if (root / s).is_dir()]
    bases = [(d, d.name) for d in split_dirs] or [(root, None)]
    items = []
    for base, split in bases:
        for path in _videos(base / "real") if (base / "real").is_dir() else []:
            rel = path.relative_to(root).as_posix()
            items.append(ClipItem(path, 0, "real", split or hash_split(rel)))
        fake = base / "fake"
        for path in _videos(fake) if fake.is_dir() else []:
            rel = path.relative_to(root).as_posix()
            parts = path.relative_to(fake).parts
            generator = parts[0] if len(parts) > 1 else "unknown"
            items.append(ClipItem(path, 1, generator, split or hash_split(rel)))
    if not items:
        raise DatasetError(root, "no clips found: a dataset folder holds real/ and fake/<generator>/ (optionally under train/ val/ test/)")
    return items


def load_dataset(source: str | Path) -> Dataset:
    """A :class:`Dataset` from a manifest file or a folder (see the module docstring)."""
    source = Path(source)
    if not source.exists():
        raise DatasetError(source, "no such file or folder")
    items = _read_folder(source) if source.is_dir() else _read_manifest(source)
    if not items:
        raise DatasetError(source, "the manifest lists no clips")
    return Dataset(items, str(source))


def load_clips(
    dataset: Dataset, *, min_frames: int, min_side: int = 1, max_frames: int | None = None, progress: Callable[[], None] | None = None
) -> LoadedClips:
    """Decode every clip of ``dataset`` (at most ``max_frames`` frames each); skip, with a reason, any
    that cannot be read, is shorter than ``min_frames`` or has a side under ``min_side`` pixels."""
    from provenance.errors import ProvenanceError
    from provenance.media import read_video

    frames, labels, kept, skipped = [], [], [], []
    for item in dataset.items:
        try:
            video = read_video(item.path, max_frames=max_frames)
        except ProvenanceError as exc:
            skipped.append((str(item.path), exc.reason if hasattr(exc, "reason") else str(exc)))
        else:
            if video.num_frames < min_frames:
                skipped.append((str(item.path), f"too short: {video.num_frames} frames, the detector needs {min_frames}"))
            elif min(video.height, video.width) < min_side:
                skipped.append((str(item.path), f"too small: {video.width}x{video.height}, the detector needs sides of {min_side} px"))
            else:
                frames.append(video.frames)
                labels.append(item.label)
                kept.append(item)
        if progress is not None:
            progress()
    for path, reason in skipped:
        log.warning("skipped %s: %s", path, reason)
    return LoadedClips(frames, np.asarray(labels, np.int64), kept, skipped)


def augment_h264(loaded: LoadedClips, seed: int, crf_range: tuple[int, int] = (23, 32)) -> LoadedClips:
    """The clips plus one H.264 round trip of each at a random CRF in ``crf_range`` (inclusive): the
    detector learns traces that survive the re-encoding every upload applies."""
    from provenance.watermark.attacks import h264

    rng = np.random.default_rng(seed)
    extra = [h264(f, 8.0, int(rng.integers(crf_range[0], crf_range[1] + 1))) for f in loaded.frames]
    return LoadedClips(loaded.frames + extra, np.concatenate([loaded.labels, loaded.labels]), loaded.items + loaded.items, list(loaded.skipped))
