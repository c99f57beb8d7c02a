"""Seeded, anti-aliased renderer of shapes-world clips.

Shapes are drawn from exact signed distance functions (after Inigo Quilez's 2-D SDF catalogue), so
coverage of a pixel is ``clip(0.5 - sdf, 0, 1)`` in pixel units: analytic anti-aliasing at any size,
vectorised over all frames at once. The object never leaves the frame; its motion is a straight line
covering 30–45 % of the frame along the named axis. Every random choice comes from ``seed``.
"""

from __future__ import annotations

from collections.abc import Container, Iterable, Iterator
from typing import TypeVar

import numpy as np

from genkit.world.grammar import PALETTE, WorldPrompt, parse_prompt
from provenance.media import MAX_SIDE, Video

SIZE_FRACTION = {"small": 0.12, "medium": 0.17, "large": 0.21}  # object "radius" / shorter side
TRAVEL = (0.30, 0.45)  # fraction of the frame crossed along the motion axis over the clip
PAN_TRAVEL = 0.30  # fraction of the frame the background texture slides under a camera pan
TEXTURE_AMPLITUDE = 20.0  # grey levels, additive: keeps every colour ≥ 100 from its neighbours
NOISE_SIGMA = 6.0
COLOR_JITTER = 10
UNIT_VECTORS = {"left": (-1.0, 0.0), "right": (1.0, 0.0), "up": (0.0, -1.0), "down": (0.0, 1.0), "still": (0.0, 0.0)}


def shape_sdf(shape: str, x: np.ndarray, y: np.ndarray, r: float | np.ndarray) -> np.ndarray:
    """Signed distance (pixels, negative inside) to ``shape`` of radius ``r`` centred at the origin.

    ``x`` grows right and ``y`` grows down (image coordinates); every shape's centroid is the origin.
    """
    if shape == "circle":
        return np.hypot(x, y) - r
    if shape == "square":
        return _box(x, y, 0.82 * r, 0.82 * r)
    if shape == "diamond":
        return (np.abs(x) + np.abs(y) - 1.15 * r) * np.float32(np.sqrt(0.5))
    if shape == "triangle":
        return _equilateral_triangle(x, -y, 1.1 * r)
    if shape == "star":
        return _star5(x, -y, 1.2 * r, 0.45)
    if shape == "cross":
        return _cross(x, y, 1.0 * r, 0.36 * r)
    raise ValueError(f"unknown shape {shape!r}")


def _box(x, y, bx, by):
    qx, qy = np.abs(x) - bx, np.abs(y) - by
    outside = np.hypot(np.maximum(qx, 0), np.maximum(qy, 0))
    return outside + np.minimum(np.maximum(qx, qy), 0)


def _equilateral_triangle(x, y, r):
    # Pointing up (y up); vertices at (±r, -r/√3) and (0, 2r/√3), centroid at the origin.
    k = np.sqrt(3.0)
    px, py = np.abs(x) - r, y + r / k
    fold = px + k * py > 0
    px, py = np.where(fold, (px - k * py) / 2, px), np.where(fold, (-k * px - py) / 2, py)
    px = px - np.clip(px, -2 * r, 0)
    return -np.hypot(px, py) * np.sign(py)


def _star5(x, y, r, inner):
    k1x, k1y = 0.809016994375, -0.587785252292
    k2x, k2y = -k1x, k1y
    px, py = np.abs(x), y
    d = 2 * np.maximum(k1x * px + k1y * py, 0)
    px, py = px - d * k1x, py - d * k1y
    d = 2 * np.maximum(k2x * px + k2y * py, 0)
    px, py = px - d * k2x, py - d * k2y
    px = np.abs(px)
    py = py - r
    bax, bay = inner * -k1y, inner * k1x - 1
    h = np.clip((px * bax + py * bay) / (bax * bax + bay * bay), 0, r)
    return np.hypot(px - bax * h, py - bay * h) * np.sign(py * bax - px * bay)


def _cross(x, y, arm, half_width):
    px, py = np.abs(x), np.abs(y)
    px, py = np.maximum(px, py), np.minimum(px, py)
    qx, qy = px - arm, py - half_width
    k = np.maximum(qx, qy)
    wx = np.where(k > 0, qx, half_width - px)
    wy = np.where(k > 0, qy, -k)
    return np.sign(k) * np.hypot(np.maximum(wx, 0), np.maximum(wy, 0))


def coverage(sdf: np.ndarray) -> np.ndarray:
    """Anti-aliased pixel coverage from a signed distance in pixels."""
    return np.clip(0.5 - sdf, 0.0, 1.0)


def parse_size(size: int | str | tuple[int, int]) -> tuple[int, int]:
    """``64`` → (64, 64); ``"96x64"`` (W×H) → (64, 96); ``(h, w)`` as is. Returns (height, width)."""
    if isinstance(size, str):
        parts = size.lower().split("x")
        if len(parts) == 1 and parts[0].isdigit():
            h = w = int(parts[0])
        elif len(parts) == 2 and all(p.isdigit() for p in parts):
            w, h = int(parts[0]), int(parts[1])
        else:
            raise ValueError(f"size {size!r}: expected N or WIDTHxHEIGHT, e.g. 64 or 96x64")
    elif isinstance(size, int):
        h = w = size
    else:
        h, w = (int(v) for v in size)
    if not (16 <= h <= MAX_SIDE and 16 <= w <= MAX_SIDE):
        raise ValueError(f"size {w}x{h}: each side must be 16..{MAX_SIDE} pixels")
    return h, w


def trajectory(prompt: WorldPrompt, frames: int, height: int, width: int, rng: np.random.Generator):
    """Object centre per frame (x, y arrays in pixels) and its radius, all inside the frame."""
    short = min(height, width)
    radius = SIZE_FRACTION[prompt.size] * short * rng.uniform(0.92, 1.08)
    margin = 1.25 * radius + max(1.5, 0.03 * short)  # star and cross reach ~1.2 r
    dx, dy = UNIT_VECTORS[prompt.motion]
    extent = width if dx else height
    lo_x, hi_x = margin, width - margin
    lo_y, hi_y = margin, height - margin
    room = (hi_x - lo_x) if dx else (hi_y - lo_y)
    travel = min(rng.uniform(*TRAVEL) * extent, 0.95 * room) if prompt.motion != "still" else 0.0
    x0 = rng.uniform(lo_x + max(0, -dx) * travel, hi_x - max(0, dx) * travel)
    y0 = rng.uniform(lo_y + max(0, -dy) * travel, hi_y - max(0, dy) * travel)
    t = np.linspace(0.0, 1.0, frames) if frames > 1 else np.zeros(1)
    return x0 + dx * travel * t, y0 + dy * travel * t, radius


def _texture(height: int, width: int, frames: int, pan: str | None, rng: np.random.Generator) -> np.ndarray:
    """Smooth grey texture in [-1, 1] per frame ``[T, H, W]``; a camera pan slides it across the clip."""
    short = min(height, width)
    yy, xx = np.mgrid[0:height, 0:width].astype(np.float32)
    dx, dy = UNIT_VECTORS[pan] if pan else (0.0, 0.0)
    # The camera pans one way, so the scene appears to slide the other way.
    shift = -PAN_TRAVEL * short * (np.linspace(0, 1, frames) if frames > 1 else np.zeros(1))
    sx = (dx * shift)[:, None, None]
    sy = (dy * shift)[:, None, None]
    total = np.zeros((frames, height, width), np.float32)
    for _ in range(3):
        angle = rng.uniform(0, np.pi)
        wavelength = rng.uniform(0.15, 0.45) * short
        phase = rng.uniform(0, 2 * np.pi)
        kx, ky = np.cos(angle) * 2 * np.pi / wavelength, np.sin(angle) * 2 * np.pi / wavelength
        total += np.sin(kx * (xx[None] - sx) + ky * (yy[None] - sy) + phase)
    return total / 3.0


def render(
    prompt: str | WorldPrompt,
    *,
    frames: int = 16,
    size: int | str | tuple[int, int] = 64,
    fps: float = 8.0,
    seed: int = 0,
) -> Video:
    """Render the clip that ``prompt`` describes; same arguments, same pixels."""
    spec = parse_prompt(prompt)
    if not 1 <= int(frames) <= 10_000:
        raise ValueError(f"frames must be in 1..10000, got {frames}")
    height, width = parse_size(size)
    rng = np.random.default_rng(seed)
    xs, ys, radius = trajectory(spec, int(frames), height, width, rng)

    def jitter(name: str) -> np.ndarray:
        base = np.asarray(PALETTE[name], np.float32)
        return np.clip(base + rng.integers(-COLOR_JITTER, COLOR_JITTER + 1, 3), 0, 255)

    obj, bg = jitter(spec.color), jitter(spec.background)
    yy, xx = np.mgrid[0:height, 0:width].astype(np.float32) + 0.5
    x = xx[None] - xs[:, None, None].astype(np.float32)
    y = yy[None] - ys[:, None, None].astype(np.float32)
    alpha = coverage(shape_sdf(spec.shape, x, y, np.float32(radius)))[..., None]
    background = np.broadcast_to(bg, (int(frames), height, width, 3))
    if spec.textured or spec.pan:
        background = background + TEXTURE_AMPLITUDE * _texture(height, width, int(frames), spec.pan, rng)[..., None]
    out = background * (1 - alpha) + obj * alpha
    if spec.noise:
        out = out + rng.normal(0, NOISE_SIGMA, out.shape).astype(np.float32)
    clip = np.clip(np.rint(out), 0, 255).astype(np.uint8)
    meta = {
        "prompt": spec.text,
        "seed": int(seed),
        "source": "shapes-world",
        "attributes": {"background": spec.background, "color": spec.color, "shape": spec.shape, "motion": spec.motion},
    }
    return Video(clip, fps, meta)


Item = TypeVar("Item")  # what a suite holds: a prompt, or something with a .prompt


def suite_seed(seed: int, index: int) -> int:
    """The seed of item ``index`` (0-based) of a suite rendered with ``seed``: ``seed + index``.

    The one seed rule of shapes-world suites (:func:`render_suite`): ``synthvid world render`` run
    folders, the ``world:SUITE`` reference sets of ``synthvid bench`` and ``synthvid eval`` and the
    benchmarks' world sets (a benchmark with seed ``s`` renders from ``s × K`` for its own ``K``) were
    all made with it, so their shipped figures are reproduced by it."""
    return seed + index


def render_suite(
    items: Iterable[Item],
    *,
    frames: int = 16,
    size: int | str | tuple[int, int] = 64,
    fps: float = 8.0,
    seed: int = 0,
    only: Container[int] | None = None,
) -> Iterator[tuple[int, Item, Video]]:
    """Render a suite with the shapes world, lazily, in order: ``(index, item, video)`` per item.

    An item is a prompt (text or :class:`WorldPrompt`) or anything with a ``.prompt`` (a
    :class:`genkit.suites.SuiteItem`). Item ``i`` is rendered with seed :func:`suite_seed` ``(seed, i)``
    (``video.meta["seed"]``), so a clip depends only on its item, its position and the settings; with
    ``only``, just the items whose index is in it are rendered (a shard), each with the seed it has in
    the whole suite.
    """
    for index, item in enumerate(items):
        if only is not None and index not in only:
            continue
        prompt = getattr(item, "prompt", item)
        yield index, item, render(prompt, frames=frames, size=size, fps=fps, seed=suite_seed(seed, index))
