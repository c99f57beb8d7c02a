"""Recover the attributes of a shapes-world clip: background colour, object colour, shape, motion.

It scores prompt adherence of generated clips, so it must not need the renderer's secrets: it works
from pixels alone.

1. Background: median of the outer pixel ring of every frame → nearest palette colour.
2. Object colour: pixels far (> 50 grey levels) from the background; the median of their most
   distant half → nearest palette colour other than the background.
3. Per-pixel coverage α: projection of (pixel − background) onto (object − background), in [0, 1];
   this undoes anti-aliasing, texture and noise well enough to measure sub-pixel centroids.
4. Shape: for every frame, each candidate shape is drawn at the measured centroid with the radius
   that matches the measured area; the best soft IoU summed over frames wins.
5. Motion: least-squares slope of the centroid track; a displacement over the clip below 12 % of the
   frame is "still", otherwise the dominant axis gives left / right / up / down.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from functools import cache

import numpy as np

from genkit.world.grammar import COLORS, PALETTE, SHAPES
from genkit.world.render import coverage, shape_sdf
from provenance.media import Video, check_frames

OBJECT_DISTANCE = 50.0  # grey levels; texture (±20) and noise stay below, palette pairs are ≥ 140 apart
STILL_FRACTION = 0.12
_PALETTE = np.array([PALETTE[c] for c in COLORS], np.float32)


@dataclass
class WorldAttributes:
    """What :func:`analyze` recovered; an attribute is ``None`` when no object could be found."""

    background: str
    color: str | None
    shape: str | None
    motion: str | None
    displacement: tuple[float, float] = (0.0, 0.0)  # (dx, dy) over the clip, fraction of the frame
    object_fraction: float = 0.0  # mean share of the frame covered by the object
    shape_scores: dict[str, float] = field(default_factory=dict)

    def to_dict(self) -> dict:
        return asdict(self)

    def matches(self, expected: dict) -> dict[str, bool]:
        """Per-attribute agreement with ``expected`` (keys background, color, shape, motion)."""
        return {key: getattr(self, key) == expected[key] for key in ("background", "color", "shape", "motion")}


def nearest_color(rgb: np.ndarray, exclude: str | None = None) -> str:
    distances = np.linalg.norm(_PALETTE - np.asarray(rgb, np.float32), axis=1)
    if exclude is not None:
        distances[COLORS.index(exclude)] = np.inf
    return COLORS[int(np.argmin(distances))]


@cache
def _shape_area_per_r2(shape: str) -> float:
    """Area of ``shape`` at radius 1, measured on a fine grid once."""
    r = 200.0
    yy, xx = np.mgrid[-300:300, -300:300].astype(np.float64) + 0.5
    return float(coverage(shape_sdf(shape, xx, yy, r)).sum() / r**2)


def analyze(clip: Video | np.ndarray) -> WorldAttributes:
    """Recover the attributes of one clip (a :class:`Video` or uint8 frames ``[T, H, W, 3]``)."""
    frames = clip.frames if isinstance(clip, Video) else clip
    check_frames(frames)
    pixels = frames.astype(np.float32)
    t, h, w, _ = pixels.shape
    ring = np.concatenate(
        [pixels[:, 0].reshape(-1, 3), pixels[:, -1].reshape(-1, 3), pixels[:, :, 0].reshape(-1, 3), pixels[:, :, -1].reshape(-1, 3)]
    )
    background = nearest_color(np.median(ring, axis=0))
    bg_rgb = np.median(ring, axis=0)  # measured, not the palette's: renders jitter colours

    distance = np.linalg.norm(pixels - bg_rgb, axis=-1)
    far = distance > OBJECT_DISTANCE
    if far.sum() < max(3, t):  # fewer than a few pixels per clip: nothing there
        return WorldAttributes(background, None, None, None)
    far_pixels, far_distance = pixels[far], distance[far]
    core = far_pixels[far_distance >= np.median(far_distance)]
    obj_rgb = np.median(core, axis=0)
    color = nearest_color(obj_rgb, exclude=background)

    axis = obj_rgb - bg_rgb
    alpha = np.clip(((pixels - bg_rgb) @ axis) / float(axis @ axis), 0.0, 1.0)
    alpha = np.clip((alpha - 0.15) / 0.7, 0.0, 1.0)  # shave texture/noise leakage off both ends
    area = alpha.sum(axis=(1, 2))
    present = area > 2.0
    if present.sum() == 0:
        return WorldAttributes(background, color, None, None)
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32) + 0.5
    cx = (alpha * xx).sum(axis=(1, 2)) / np.maximum(area, 1e-6)
    cy = (alpha * yy).sum(axis=(1, 2)) / np.maximum(area, 1e-6)

    shape_scores = _score_shapes(alpha[present], cx[present], cy[present], area[present], xx, yy)
    shape = max(shape_scores, key=shape_scores.get)

    idx = np.flatnonzero(present).astype(np.float64)
    if len(idx) >= 2:
        span = idx[-1] - idx[0]
        slope_x = np.polyfit(idx, cx[present], 1)[0] * (t - 1)
        slope_y = np.polyfit(idx, cy[present], 1)[0] * (t - 1)
        dx, dy = slope_x / w, slope_y / h
        if span == 0:
            dx = dy = 0.0
    else:
        dx = dy = 0.0
    if max(abs(dx), abs(dy)) < STILL_FRACTION:
        motion = "still"
    elif abs(dx) >= abs(dy):
        motion = "right" if dx > 0 else "left"
    else:
        motion = "down" if dy > 0 else "up"
    return WorldAttributes(
        background,
        color,
        shape,
        motion,
        displacement=(float(dx), float(dy)),
        object_fraction=float(area.mean() / (h * w)),
        shape_scores={k: round(float(v), 4) for k, v in shape_scores.items()},
    )


def _score_shapes(alpha, cx, cy, area, xx, yy, max_frames: int = 8) -> dict[str, float]:
    """Mean soft IoU of each candidate shape against the measured coverage (a few frames suffice)."""
    pick = np.linspace(0, len(alpha) - 1, min(max_frames, len(alpha))).round().astype(int)
    scores = dict.fromkeys(SHAPES, 0.0)
    for i in pick:
        radius_unit = np.sqrt(area[i])
        # Work in a window around the object: large frames stay cheap.
        reach = int(np.ceil(2.0 * radius_unit)) + 3
        y0, y1 = max(0, int(cy[i]) - reach), min(alpha.shape[1], int(cy[i]) + reach + 1)
        x0, x1 = max(0, int(cx[i]) - reach), min(alpha.shape[2], int(cx[i]) + reach + 1)
        a = alpha[i, y0:y1, x0:x1]
        x = xx[y0:y1, x0:x1] - cx[i]
        y = yy[y0:y1, x0:x1] - cy[i]
        for shape in SHAPES:
            r = radius_unit / np.sqrt(_shape_area_per_r2(shape))
            template = coverage(shape_sdf(shape, x, y, r))
            scores[shape] += float(np.minimum(a, template).sum() / max(np.maximum(a, template).sum(), 1e-6))
    return {k: v / len(pick) for k, v in scores.items()}


# is_world_clip: measured on 60 renders (32² to 160×96, half after H.264 CRF 28), 12 synthvid-tiny clips and the
# 253 clips of the shared real-world corpus (benchmarks/results, issue #20): renders and synthvid-tiny clips
# reach palette distances ≤ 33 / 41, ≥ 0.74 of pixels on the background–object line, ≥ 0.60 on the
# background, object IoU ≥ 0.78 and object share ≤ 0.17; no real or generated camera-like clip passes all.
WORLD_PALETTE_DISTANCE = (45.0, 55.0)  # background, object: measured colour to the nearest palette colour
WORLD_LINE_DISTANCE = 40.0  # grey levels from the background–object colour line (texture 20, noise 6, H.264)
WORLD_MIN_ON_LINE = 0.65
WORLD_MIN_BACKGROUND = 0.5  # share of pixels within 45 of the background colour
WORLD_MIN_SHAPE_IOU = 0.65
WORLD_OBJECT_SHARE = (0.003, 0.3)
WORLD_CHECK_SIDE = 96  # the check works on up to 8 frames, strided to about this many pixels a side


def world_likeness(frames: np.ndarray) -> dict[str, float]:
    """The measurements :func:`is_world_clip` decides on, from up to 8 frames strided to ~96 px a side."""
    check_frames(frames)
    t, h, w, _ = frames.shape
    pick = np.unique(np.linspace(0, t - 1, min(8, t)).round().astype(int))
    step = max(1, -(-max(h, w) // WORLD_CHECK_SIDE))
    small = np.ascontiguousarray(frames[pick, ::step, ::step])
    pixels = small.astype(np.float32)
    ring = np.concatenate(
        [pixels[:, 0].reshape(-1, 3), pixels[:, -1].reshape(-1, 3), pixels[:, :, 0].reshape(-1, 3), pixels[:, :, -1].reshape(-1, 3)]
    )
    bg = np.median(ring, axis=0)
    distance = np.linalg.norm(pixels - bg, axis=-1)
    out = {
        "background_palette_distance": float(np.linalg.norm(_PALETTE - bg, axis=1).min()),
        "background_share": float((distance <= 45.0).mean()),
        "object_palette_distance": float("inf"),
        "on_line_share": float((distance <= WORLD_LINE_DISTANCE).mean()),
        "shape_iou": 0.0,
        "object_share": 0.0,
    }
    far = distance > OBJECT_DISTANCE
    if far.sum() < 3:
        return out
    far_pixels, far_distance = pixels[far], distance[far]
    obj = np.median(far_pixels[far_distance >= np.median(far_distance)], axis=0)
    axis = obj - bg
    alpha = np.clip(((pixels - bg) @ axis) / float(axis @ axis), 0.0, 1.0)
    residual = np.linalg.norm(pixels - bg - alpha[..., None] * axis, axis=-1)
    attributes = analyze(small)
    out.update(
        object_palette_distance=float(np.linalg.norm(_PALETTE - obj, axis=1).min()),
        on_line_share=float((residual <= WORLD_LINE_DISTANCE).mean()),
        shape_iou=float(max(attributes.shape_scores.values(), default=0.0)),
        object_share=attributes.object_fraction,
    )
    return out


def is_world_clip(frames: Video | np.ndarray) -> bool:
    """Whether a clip looks like a shapes-world clip (one flat or textured palette-coloured background,
    one palette-coloured shape): what synthvid's embedded encoders were trained on. It tells renders and
    synthvid-tiny's clips from camera footage and other generators' clips; the thresholds and what they
    were measured on are above."""
    frames = frames.frames if isinstance(frames, Video) else frames
    m = world_likeness(frames)
    return (
        m["background_palette_distance"] <= WORLD_PALETTE_DISTANCE[0]
        and m["object_palette_distance"] <= WORLD_PALETTE_DISTANCE[1]
        and m["on_line_share"] >= WORLD_MIN_ON_LINE
        and m["background_share"] >= WORLD_MIN_BACKGROUND
        and m["shape_iou"] >= WORLD_MIN_SHAPE_IOU
        and WORLD_OBJECT_SHARE[0] <= m["object_share"] <= WORLD_OBJECT_SHARE[1]
    )
