"""The real-vs-synthetic detector: P(synthetic) per clip from native-resolution crops.

A clip (uint8 ``[T, H, W, 3]``, any size) is cut into crops of ``crop_size`` pixels (no resize: the
traces are in the pixel grid) — the centre and up to four more positions — and windows of
``clip_frames`` frames (up to ``max_windows``, evenly spaced); its score is the mean of the backbone's
P(synthetic) over those crops. Clips shorter than ``min_frames`` or smaller than ``MIN_SIDE`` pixels
are refused (:class:`detectors.errors.FramesError`).

``fit`` trains the backbone on the dataset's ``train`` split, picks the backbone's head or checkpoint
on ``val`` and sets the decision threshold on ``val`` so that at most ``target_fpr`` of its real clips
are flagged; ``test`` is never touched. ``save``/``load`` write and read a folder:
``detector.json`` (config, threshold, training summary) + ``model.safetensors`` (arrays; no pickle).
"""

from __future__ import annotations

import json
import logging
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from detectors.errors import DatasetError, FramesError, ModelFileError, NotFittedError

log = logging.getLogger(__name__)

FORMAT = "synthvid-detector/1"
CONFIG_FILE, WEIGHTS_FILE = "detector.json", "model.safetensors"
MODELS_DIR = Path(__file__).resolve().parent / "models"
SHAPES_MODEL = "synthvid-detector"  # shapes world vs synthvid-tiny, content-matched (the bench's)
REALWORLD_MODEL = "synthvid-detector-realworld"  # real generators' video vs camera footage
DEFAULT_MODEL_DIR = MODELS_DIR / SHAPES_MODEL
DEFAULT_REPRODUCE = "nice -n 10 .venv/bin/python benchmarks/detector.py --ship"
MIN_SIDE = 16
# How a clip becomes crops: as it is (native pixels), or first brought to the common form of
# detectors.common_form (the real-world model: no class differs by container, rate, size or encode).
PREPROCESS = (None, "common-form")
# How crop evidence becomes a clip's score: the mean of the crops' P(synthetic), or the head on the
# crops' mean features.
POOLS = ("scores", "features")
SCORE_THREADS = 2  # clips scored at once by score_many (this machine class has 2 cores)


@dataclass
class FitReport:
    backbone: str
    counts: dict
    skipped: list[tuple[str, str]]
    selection: dict
    threshold: float
    target_fpr: float
    val: dict
    seconds: float
    extra: dict = field(default_factory=dict)

    def to_dict(self) -> dict:
        return {k: v for k, v in self.__dict__.items()}


def check_frames(frames, min_frames: int, path: str | None = None) -> np.ndarray:
    frames = np.asarray(frames)
    if frames.dtype != np.uint8 or frames.ndim != 4 or frames.shape[-1] != 3:
        raise FramesError(path, f"frames must be uint8 [T, H, W, 3] RGB, got {frames.dtype} {tuple(frames.shape)}")
    if frames.shape[0] < min_frames:
        raise FramesError(path, f"too short: {frames.shape[0]} frames, the detector needs at least {min_frames}")
    if min(frames.shape[1:3]) < MIN_SIDE:
        raise FramesError(path, f"too small: {frames.shape[2]}x{frames.shape[1]}, the detector needs sides of {MIN_SIDE} px")
    return frames


class Detector:
    """``score(frames) -> float`` P(synthetic); ``predict(frames) -> bool`` at the calibrated threshold."""

    def __init__(
        self,
        backbone: str = "forensic",
        *,
        crop_size: int = 64,
        clip_frames: int = 16,
        min_frames: int = 8,
        max_crops: int = 5,
        max_windows: int = 2,
        threshold: float = 0.5,
        preprocess: str | None = None,
        pool: str = "scores",
        **backbone_options,
    ):
        from detectors.backbones import make_backbone

        if preprocess not in PREPROCESS:
            raise ModelFileError(None, f"unknown preprocessing {preprocess!r} (known: {', '.join(map(str, PREPROCESS))})")
        if pool not in POOLS:
            raise ModelFileError(None, f"unknown pooling {pool!r} (known: {', '.join(POOLS)})")
        self.backbone = make_backbone(backbone, **backbone_options) if isinstance(backbone, str) else backbone
        self.crop_size, self.clip_frames, self.min_frames = int(crop_size), int(clip_frames), int(min_frames)
        self.max_crops, self.max_windows = int(max_crops), int(max_windows)
        self.preprocess, self.pool = preprocess, pool
        self.threshold = float(threshold)
        self.target_fpr: float | None = None
        self.training: dict = {}
        self.fitted = False

    # ------------------------------------------------------------------------------- crops

    def frame_plan(self, fps: float, frames: int | None = None) -> tuple[int, int] | None:
        """Which decoded frames :meth:`score` reads of a clip at ``fps`` (of ``frames`` frames, when known):
        ``(stride, count)`` — frames 0, stride, 2·stride, … (count of them) — or None for all it is given.
        A caller that hands only those frames passes ``fps=None`` (they are then at the common rate), as
        ``synthvid verify`` does."""
        if self.preprocess != "common-form":
            return None
        from detectors.common_form import COMMON_FRAMES, MIN_COMMON_FRAMES, frame_stride

        stride = frame_stride(fps)
        if frames and -(-frames // stride) < MIN_COMMON_FRAMES:  # too short to sample: its first frames
            return 1, COMMON_FRAMES
        return stride, COMMON_FRAMES

    def reduce_frames(self, frames: np.ndarray) -> np.ndarray:
        """Frames as small as :meth:`score` can take them without changing the score: the common form's
        square (``COMMON_SIZE``², frame by frame; resizing it again is the identity), else the frames.
        verify applies it to each decoded chunk, so a 4K clip's planned frames take 200 KB each, not 25 MB."""
        if self.preprocess != "common-form":
            return frames
        from detectors.common_form import resize_square

        return resize_square(frames)

    def crops(self, frames, fps: float | None = None) -> np.ndarray:
        """The crops ``[K, t, s, s, 3]`` the score averages over (see the module docstring); with
        ``preprocess="common-form"`` cut from the clip's common form (``fps``: the clip's rate; None
        means it is already at the common rate)."""
        if self.preprocess == "common-form":
            from detectors.common_form import COMMON_FPS, common_form

            frames = common_form(np.asarray(frames), fps or COMMON_FPS)
        frames = check_frames(frames, self.min_frames)
        t, h, w = frames.shape[:3]
        size = min(self.crop_size, h, w) // 8 * 8 or min(h, w)
        length = min(self.clip_frames, t)
        starts = np.unique(np.linspace(0, t - length, min(self.max_windows, 1 + (t - length) // length)).round().astype(int))
        positions = [((h - size) // 2, (w - size) // 2)]
        if (h > size or w > size) and self.max_crops > 1:
            for fy in (0.0, 1.0):
                for fx in (0.0, 1.0):
                    positions.append((round((h - size) * fy), round((w - size) * fx)))
        positions = list(dict.fromkeys(positions))[: self.max_crops]
        return np.stack([frames[s : s + length, y : y + size, x : x + size] for s in starts for (y, x) in positions])

    # ------------------------------------------------------------------------------- scoring

    def _require_fitted(self) -> None:
        if not self.fitted:
            raise NotFittedError(None, "this detector is not fitted: call fit(dataset) or Detector.load(folder)")

    def score(self, frames, fps: float | None = None) -> float:
        """P(synthetic) of one clip (uint8 ``[T, H, W, 3]`` RGB at ``fps``): a statistical estimate, not proof."""
        self._require_fitted()
        crops = self.crops(frames, fps)
        if self.pool == "features":  # the head reads the clip's mean features
            return float(self.backbone.head.proba(self.backbone.features(crops).mean(axis=0, keepdims=True))[0])
        return float(self.backbone.score_crops(crops).mean())

    def score_many(self, clips, fps: float | None = None) -> np.ndarray:
        """Scores of many clips; crops of equal shape are batched together (the fast path)."""
        self._require_fitted()
        if self.pool == "features":  # clip by clip, two at a time (the codec pass and numpy release the GIL)
            from concurrent.futures import ThreadPoolExecutor

            with ThreadPoolExecutor(SCORE_THREADS) as pool:
                return np.array(list(pool.map(lambda clip: self.score(clip, fps), clips)))
        crops = [self.crops(c, fps) for c in clips]
        owner = np.concatenate([np.full(len(c), i) for i, c in enumerate(crops)]) if crops else np.zeros(0, int)
        flat = [crop for c in crops for crop in c]
        scores = np.zeros(len(flat))
        by_shape: dict[tuple, list[int]] = {}
        for i, crop in enumerate(flat):
            by_shape.setdefault(crop.shape, []).append(i)
        for index in by_shape.values():
            scores[index] = self.backbone.score_crops(np.stack([flat[i] for i in index]))
        return np.array([scores[owner == i].mean() for i in range(len(crops))])

    def predict(self, frames) -> bool:
        """True when the clip scores at or above the threshold calibrated on validation data."""
        return self.score(frames) >= self.threshold

    # ------------------------------------------------------------------------------- training

    def _training_crops(self, clips: list[np.ndarray], labels: np.ndarray):
        crops, crop_labels, owner = [], [], []
        for i, (frames, label) in enumerate(zip(clips, labels)):
            for crop in self.crops(frames):
                crops.append(crop)
                crop_labels.append(label)
                owner.append(i)
        shapes = {c.shape for c in crops}
        if len(shapes) > 1:  # training batches need one shape: keep the commonest (the crop size)
            common = max(shapes, key=lambda s: sum(c.shape == s for c in crops))
            keep = [i for i, c in enumerate(crops) if c.shape == common]
            crops, crop_labels, owner = [crops[i] for i in keep], [crop_labels[i] for i in keep], [owner[i] for i in keep]
        return np.stack(crops), np.asarray(crop_labels), np.asarray(owner)

    def fit(self, dataset, *, target_fpr: float = 0.01, seed: int = 0, augment: bool = False, progress=None) -> FitReport:
        """Train on ``dataset`` (a :class:`~detectors.dataset.Dataset`, a manifest path or a folder):
        backbone on ``train``, head/checkpoint and threshold on ``val`` (carved from ``train``,
        stratified, when the dataset has none). Unreadable or too-short clips are skipped with a reason.
        ``augment`` adds an H.264 copy (CRF 23–32) of every train and val clip."""
        from detectors.dataset import Dataset, augment_h264, load_clips, load_dataset

        started = time.perf_counter()
        if not isinstance(dataset, Dataset):
            dataset = load_dataset(dataset)
        train_set, val_set = dataset.split("train"), dataset.split("val")
        tick = (lambda: progress("load")) if progress else None
        train = load_clips(train_set, min_frames=self.min_frames, min_side=MIN_SIDE, progress=tick)
        val = load_clips(val_set, min_frames=self.min_frames, min_side=MIN_SIDE, progress=tick) if len(val_set) else None
        skipped = train.skipped + (val.skipped if val else [])
        if val is None or len(set(val.labels.tolist())) < 2:
            train, val = _carve_validation(train, seed)
        if augment:
            train, val = augment_h264(train, seed), augment_h264(val, seed + 1)
        report = self.fit_clips(train, val, target_fpr=target_fpr, seed=seed, progress=progress, source=dataset.source, skipped=skipped)
        report.seconds = round(time.perf_counter() - started, 2)
        return report

    def fit_clips(
        self, train, val, *, target_fpr: float = 0.01, seed: int = 0, progress=None, source: str = "clips", skipped: list | None = None
    ) -> FitReport:
        """Train on decoded clips (:class:`~detectors.dataset.LoadedClips` for train and val)."""
        from detectors.metrics import summary, threshold_for_fpr

        started = time.perf_counter()
        skipped = skipped or []
        for name, part in (("train", train), ("val", val)):
            missing = {0, 1} - set(part.labels.tolist())
            if missing:
                what = " and ".join("real" if m == 0 else "fake" for m in sorted(missing))
                raise DatasetError(
                    source, f"the {name} split has no usable {what} clips ({len(skipped)} skipped{': ' + skipped[0][1] if skipped else ''})"
                )
        x_train, y_train, _ = self._training_crops(train.frames, train.labels)
        x_val, y_val, _ = self._training_crops(val.frames, val.labels)
        log.info("fitting %s on %d train crops, %d val crops", self.backbone.name, len(x_train), len(y_val))
        selection = self.backbone.fit(x_train, y_train, x_val, y_val, seed=seed, progress=(lambda: progress("epoch")) if progress else None)
        self.fitted = True
        val_scores = self.score_many(val.frames)
        self.threshold = threshold_for_fpr(val_scores[val.labels == 0], target_fpr)
        self.target_fpr = target_fpr
        counts = {"train": _count(train), "val": _count(val)}
        report = FitReport(
            self.backbone.name,
            counts,
            skipped,
            selection,
            self.threshold,
            target_fpr,
            summary(val.labels, val_scores, self.threshold),
            round(time.perf_counter() - started, 2),
        )
        self.training = {k: v for k, v in report.to_dict().items() if k != "skipped"} | {"skipped": len(skipped), "dataset": source}
        return report

    # ------------------------------------------------------------------------------- files

    def config(self) -> dict:
        return {
            "format": FORMAT,
            "backbone": self.backbone.name,
            "backbone_config": self.backbone.config(),
            "crop": {
                "crop_size": self.crop_size,
                "clip_frames": self.clip_frames,
                "min_frames": self.min_frames,
                "max_crops": self.max_crops,
                "max_windows": self.max_windows,
                "preprocess": self.preprocess,
                "pool": self.pool,
            },
            "threshold": self.threshold,
            "target_fpr": self.target_fpr,
            "parameters": self.backbone.num_parameters,
            "training": self.training,
        }

    def save(self, folder: str | Path) -> Path:
        """Write ``detector.json`` + ``model.safetensors`` into ``folder`` (created if needed)."""
        from safetensors.numpy import save_file

        self._require_fitted()
        folder = Path(folder)
        if folder.exists() and not folder.is_dir():
            raise ModelFileError(folder, "exists and is not a folder")
        folder.mkdir(parents=True, exist_ok=True)
        save_file({k: np.ascontiguousarray(v) for k, v in self.backbone.arrays().items()}, str(folder / WEIGHTS_FILE))
        (folder / CONFIG_FILE).write_text(json.dumps(self.config(), indent=2, default=_jsonable) + "\n")
        return folder

    @classmethod
    def load(cls, folder: str | Path) -> Detector:
        from detectors.backbones import BACKBONES

        folder = Path(folder)
        config_path, weights_path = folder / CONFIG_FILE, folder / WEIGHTS_FILE
        if not folder.is_dir():
            raise ModelFileError(folder, "no such detector folder (it holds detector.json and model.safetensors)")
        for path in (config_path, weights_path):
            if not path.is_file():
                raise ModelFileError(folder, f"not a detector folder: {path.name} is missing")
        try:
            config = json.loads(config_path.read_text())
        except ValueError as exc:
            raise ModelFileError(config_path, f"not valid JSON ({exc})") from None
        if not isinstance(config, dict) or config.get("format") != FORMAT:
            raise ModelFileError(config_path, f"not a {FORMAT} config")
        if config.get("backbone") not in BACKBONES:
            raise ModelFileError(config_path, f"unknown backbone {config.get('backbone')!r} (known: {', '.join(BACKBONES)})")
        from safetensors import SafetensorError
        from safetensors.numpy import load_file

        try:
            arrays = load_file(str(weights_path))
        except (SafetensorError, OSError, ValueError) as exc:
            raise ModelFileError(weights_path, f"unreadable weights ({str(exc).splitlines()[0]})") from None
        try:
            backbone = BACKBONES[config["backbone"]].from_saved(arrays, config.get("backbone_config") or {})
        except ModelFileError as exc:
            raise ModelFileError(folder, exc.reason) from None
        detector = cls(backbone, threshold=config.get("threshold", 0.5), **(config.get("crop") or {}))
        detector.target_fpr = config.get("target_fpr")
        detector.training = config.get("training") or {}
        detector.fitted = True
        return detector

    def __repr__(self) -> str:
        return f"Detector({self.backbone.name}, threshold={self.threshold:.4f}, fitted={self.fitted})"


def _count(loaded) -> dict:
    out: dict[str, int] = {}
    for item in loaded.items:
        out[item.generator] = out.get(item.generator, 0) + 1
    return out


def _carve_validation(train, seed: int):
    """Stratified 20 % of ``train`` as validation (for datasets without a val split)."""
    from detectors.dataset import LoadedClips

    rng = np.random.default_rng(seed)
    val_index = []
    for label in (0, 1):
        idx = np.flatnonzero(train.labels == label)
        take = max(1, round(0.2 * len(idx))) if len(idx) >= 2 else 0
        val_index += rng.choice(idx, take, replace=False).tolist() if take else []
    val_set = set(val_index)

    def part(index):
        return LoadedClips([train.frames[i] for i in index], train.labels[index], [train.items[i] for i in index])

    keep = np.array([i for i in range(len(train.labels)) if i not in val_set], int)
    return part(keep), part(np.array(sorted(val_set), int))


def _jsonable(value):
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    return str(value)


SHIPPED: dict[str, Detector] = {}


def default_model_name() -> str:
    """What ``synthvid detect`` and ``verify`` use without ``--model``: the real-world model where it
    ships, else the shapes-world one."""
    return REALWORLD_MODEL if (MODELS_DIR / REALWORLD_MODEL / CONFIG_FILE).is_file() else SHAPES_MODEL


def model_folder(model: str | Path | None) -> Path:
    """The folder of ``model``: a shipped model's name (``synthvid-detector``,
    ``synthvid-detector-realworld``), a folder, or None for :func:`default_model_name`."""
    name = default_model_name() if model is None else str(model)
    return MODELS_DIR / name if name in (SHAPES_MODEL, REALWORLD_MODEL) else Path(name)


def load_shipped(name: str) -> Detector:
    """A shipped model by name, loaded once per process."""
    if name not in SHIPPED:
        folder = MODELS_DIR / name
        if not (folder / CONFIG_FILE).is_file():
            raise ModelFileError(
                folder,
                f"the shipped detector {name} is missing; it ships with synthvid (reinstall it) "
                f"or rebuild it with `{DEFAULT_REPRODUCE}`, or pass --model DIR",
            )
        SHIPPED[name] = Detector.load(folder)
    return SHIPPED[name]


def load_default() -> Detector:
    """The shapes-world forensic detector (``detectors/models/synthvid-detector``): content-matched
    scoring of synthvid-tiny against shapes-world renders, as the bench uses it."""
    return load_shipped(SHAPES_MODEL)
