"""Reusable attacks on clips: the watermark benchmark, its tests and the detector's robustness tests.

Every attack takes uint8 ``[T, H, W, 3]`` frames, the clip's fps and a ``np.random.Generator`` (used
or not, so that all share one signature) and returns ``(frames, fps)``. :data:`ATTACKS` is the
shared suite: each :class:`Attack` has a name, a family and the exact-match target of issue 3 at
256×256×16. H.264 goes through :func:`provenance.media.encode_decode`; resizing through FFmpeg's
swscale (PyAV), as a platform would.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy as np

from provenance.media import Video, encode_decode

Frames = np.ndarray
AttackFn = Callable[[Frames, float, np.random.Generator], tuple[Frames, float]]


def _to_uint8(x: np.ndarray) -> np.ndarray:
    return np.clip(np.rint(x), 0, 255).astype(np.uint8)


def gaussian_noise(frames: Frames, sigma: float, rng: np.random.Generator) -> Frames:
    """Add white Gaussian noise of ``sigma`` grey levels to every pixel and channel."""
    return _to_uint8(frames + rng.normal(0.0, sigma, frames.shape).astype(np.float32))


def h264(frames: Frames, fps: float, crf: int) -> Frames:
    """Round trip through libx264 (yuv420p) at ``crf``."""
    return encode_decode(Video(frames, fps), crf=crf).frames


def resize_frames(frames: Frames, height: int, width: int, interpolation: str = "BICUBIC") -> Frames:
    """Resample every frame to ``height`` × ``width`` with FFmpeg's swscale."""
    import av

    out = np.empty((frames.shape[0], height, width, 3), np.uint8)
    for i, frame in enumerate(frames):
        video_frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(frame), format="rgb24")
        out[i] = video_frame.reformat(width=width, height=height, interpolation=interpolation).to_ndarray()
    return out


def resize(frames: Frames, scale: float, scale_back: bool) -> Frames:
    """Scale by ``scale``; with ``scale_back`` return to the original size (detail lost, geometry kept)."""
    height, width = frames.shape[1:3]
    small = resize_frames(frames, max(1, round(height * scale)), max(1, round(width * scale)))
    return resize_frames(small, height, width) if scale_back else small


def centre_crop(frames: Frames, fraction: float, scale_back: bool) -> Frames:
    """Keep the central ``fraction`` of each side; with ``scale_back`` stretch it to the original size."""
    height, width = frames.shape[1:3]
    h, w = max(1, round(height * fraction)), max(1, round(width * fraction))
    y, x = (height - h) // 2, (width - w) // 2
    crop = np.ascontiguousarray(frames[:, y : y + h, x : x + w])
    return resize_frames(crop, height, width) if scale_back else crop


def brightness(frames: Frames, factor: float) -> Frames:
    """Multiply every channel by ``factor`` (saturating)."""
    return _to_uint8(frames * np.float32(factor))


def contrast(frames: Frames, factor: float) -> Frames:
    """Scale each frame's deviation from its mean grey level by ``factor`` (as PIL's ImageEnhance)."""
    mean = frames.reshape(frames.shape[0], -1).mean(axis=1).astype(np.float32)[:, None, None, None]
    return _to_uint8(mean + (frames - mean) * np.float32(factor))


def gaussian_blur(frames: Frames, sigma: float) -> Frames:
    """Gaussian blur of ``sigma`` pixels in each frame."""
    from scipy.ndimage import gaussian_filter

    return _to_uint8(gaussian_filter(frames.astype(np.float32), (0, sigma, sigma, 0), mode="nearest"))


def drop_frames(frames: Frames, fraction: float, rng: np.random.Generator) -> Frames:
    """Delete a random ``fraction`` of the frames (at least one frame is kept)."""
    t = frames.shape[0]
    keep = max(1, t - round(t * fraction))
    return frames[np.sort(rng.choice(t, size=keep, replace=False))]


def shuffle_frames(frames: Frames, rng: np.random.Generator) -> Frames:
    """Reorder the frames at random."""
    return frames[rng.permutation(frames.shape[0])]


def change_fps(frames: Frames, fps: float, target_fps: float) -> tuple[Frames, float]:
    """Retime from ``fps`` to ``target_fps`` by dropping or repeating frames (nearest earlier frame)."""
    t = frames.shape[0]
    count = max(1, round(t * target_fps / fps))
    index = np.minimum(np.floor(np.arange(count) * fps / target_fps).astype(int), t - 1)
    return frames[index], float(target_fps)


def combined(frames: Frames, fps: float) -> Frames:
    """Crop 90 % (not scaled back), brightness ×0.8, then H.264 CRF 30: a typical re-upload."""
    return h264(brightness(centre_crop(frames, 0.9, scale_back=False), 0.8), fps, crf=30)


@dataclass(frozen=True)
class Attack:
    """One entry of the suite: ``apply(frames, fps, rng) -> (frames, fps)``; ``target`` is issue 3's exact-match goal."""

    name: str
    family: str
    target: float
    apply: AttackFn


def _same_fps(fn: Callable[[Frames, float, np.random.Generator], Frames]) -> AttackFn:
    return lambda frames, fps, rng: (fn(frames, fps, rng), fps)


ATTACKS: tuple[Attack, ...] = (
    Attack("none", "none", 0.99, _same_fps(lambda f, fps, rng: f)),
    Attack("noise σ=5", "noise", 0.99, _same_fps(lambda f, fps, rng: gaussian_noise(f, 5.0, rng))),
    Attack("H.264 CRF 23", "h264", 0.99, _same_fps(lambda f, fps, rng: h264(f, fps, 23))),
    Attack("H.264 CRF 28", "h264", 0.99, _same_fps(lambda f, fps, rng: h264(f, fps, 28))),
    Attack("H.264 CRF 35", "h264", 0.95, _same_fps(lambda f, fps, rng: h264(f, fps, 35))),
    Attack("resize ×0.5 back", "resize", 0.95, _same_fps(lambda f, fps, rng: resize(f, 0.5, True))),
    Attack("resize ×0.75 back", "resize", 0.95, _same_fps(lambda f, fps, rng: resize(f, 0.75, True))),
    Attack("resize ×0.5", "resize", 0.95, _same_fps(lambda f, fps, rng: resize(f, 0.5, False))),
    Attack("resize ×0.75", "resize", 0.95, _same_fps(lambda f, fps, rng: resize(f, 0.75, False))),
    Attack("crop 80% back", "crop", 0.95, _same_fps(lambda f, fps, rng: centre_crop(f, 0.8, True))),
    Attack("crop 80%", "crop", 0.95, _same_fps(lambda f, fps, rng: centre_crop(f, 0.8, False))),
    Attack("brightness ×0.5", "photometric", 0.95, _same_fps(lambda f, fps, rng: brightness(f, 0.5))),
    Attack("brightness ×1.5", "photometric", 0.95, _same_fps(lambda f, fps, rng: brightness(f, 1.5))),
    Attack("contrast ×0.5", "photometric", 0.95, _same_fps(lambda f, fps, rng: contrast(f, 0.5))),
    Attack("contrast ×1.5", "photometric", 0.95, _same_fps(lambda f, fps, rng: contrast(f, 1.5))),
    Attack("blur σ=1", "blur", 0.95, _same_fps(lambda f, fps, rng: gaussian_blur(f, 1.0))),
    Attack("drop 20% frames", "temporal", 0.99, _same_fps(lambda f, fps, rng: drop_frames(f, 0.2, rng))),
    Attack("shuffle frames", "temporal", 0.99, _same_fps(lambda f, fps, rng: shuffle_frames(f, rng))),
    Attack("30→24 fps", "temporal", 0.99, lambda f, fps, rng: change_fps(f, 30.0, 24.0)),
    Attack("CRF 30 + crop 90% + bright ×0.8", "combined", 0.90, _same_fps(lambda f, fps, rng: combined(f, fps))),
)
ATTACKS_BY_NAME = {attack.name: attack for attack in ATTACKS}
