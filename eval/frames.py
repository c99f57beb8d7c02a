"""Frames in, tensors out: the one place where eval checks and converts what metrics are given.

A clip is uint8 ``[T, H, W, 3]`` RGB (numpy, as :class:`provenance.media.Video` holds it, or torch);
a batch of clips is ``[B, T, H, W, 3]`` or a list of clips of one shape. Float input is accepted as
torch float in [0, 1]. Models get float tensors; each says which range it wants.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Sequence

import numpy as np

from eval.errors import FramesError

if TYPE_CHECKING:
    import torch


def clip_tensor(frames, *, source: str | None = None) -> torch.Tensor:
    """One clip as a uint8 torch tensor ``[T, H, W, 3]``; ``source`` names it in errors."""
    batch = video_batch(frames, source=source, single=True)
    return batch[0]


def video_batch(videos, *, source: str | None = None, single: bool = False) -> torch.Tensor:
    """A batch of clips as a uint8 torch tensor ``[B, T, H, W, 3]`` (on the device it came on).

    Accepts a clip ``[T, H, W, 3]``, a batch ``[B, T, H, W, 3]`` or a list of equal-shape clips, as
    numpy uint8, torch uint8, or torch float in [0, 1] (rounded to uint8, the metrics' common input).
    """
    import torch

    if isinstance(videos, (list, tuple)):
        if not videos:
            raise FramesError(source, "no clips given")
        parts = [video_batch(v, source=source, single=True) for v in videos]
        shapes = {tuple(p.shape[1:]) for p in parts}
        if len(shapes) > 1:
            raise FramesError(source, f"clips of one batch must share one shape [T, H, W, 3], got {sorted(shapes)}")
        return torch.cat(parts)
    if hasattr(videos, "frames") and not isinstance(videos, (np.ndarray, torch.Tensor)):
        videos = videos.frames  # a provenance.media.Video
    if isinstance(videos, np.ndarray):
        if videos.dtype != np.uint8:
            raise FramesError(source, f"numpy frames must be uint8, got {videos.dtype}")
        tensor = torch.from_numpy(np.ascontiguousarray(videos))
    elif isinstance(videos, torch.Tensor):
        tensor = videos
        if tensor.is_floating_point():
            low, high = (float(tensor.min()), float(tensor.max())) if tensor.numel() else (0.0, 0.0)
            if low < -1e-6 or high > 1 + 1e-6:
                raise FramesError(source, f"float frames must be in [0, 1], got values in [{low:.3g}, {high:.3g}]")
            tensor = (tensor * 255).round().to(torch.uint8)
        elif tensor.dtype != torch.uint8:
            raise FramesError(source, f"frames must be uint8 or float in [0, 1], got {tensor.dtype}")
    else:
        raise FramesError(source, f"frames must be a numpy array or a torch tensor, got {type(videos).__name__}")
    if tensor.ndim == 4:
        tensor = tensor.unsqueeze(0)
    elif single or tensor.ndim != 5:
        expected = "[T, H, W, 3]" if single else "[T, H, W, 3] or [B, T, H, W, 3]"
        raise FramesError(source, f"frames must have shape {expected}, got {list(tensor.shape)}")
    if tensor.shape[-1] != 3:
        raise FramesError(source, f"frames must be RGB with channels last (…, 3), got shape {list(tensor.shape)}")
    if min(tensor.shape[:4]) < 1:
        raise FramesError(source, f"empty clip: shape {list(tensor.shape)}")
    return tensor


def require_frames(videos: torch.Tensor, minimum: int, what: str, *, source: str | None = None) -> None:
    if videos.shape[1] < minimum:
        raise FramesError(source, f"{what} needs clips of at least {minimum} frames, got {videos.shape[1]}")


def to_unit_float(videos: torch.Tensor) -> torch.Tensor:
    """uint8 ``[B, T, H, W, 3]`` → float ``[B, T, 3, H, W]`` in [0, 1]."""
    return videos.permute(0, 1, 4, 2, 3).float().div_(255.0)


def resize_frames(frames: torch.Tensor, size: tuple[int, int], *, antialias: bool) -> torch.Tensor:
    """Bilinear resize of float ``[..., C, H, W]`` to ``size`` (H, W); leading dims are flattened and kept."""
    import torch.nn.functional as F

    if tuple(frames.shape[-2:]) == tuple(size):
        return frames
    lead = frames.shape[:-3]
    flat = frames.reshape(-1, *frames.shape[-3:])
    out = F.interpolate(flat, size=size, mode="bilinear", align_corners=False, antialias=antialias)
    return out.reshape(*lead, *out.shape[-3:])


def sample_indices(length: int, count: int) -> list[int]:
    """``count`` frame indices spread evenly over ``length`` frames (repeats when ``length < count``)."""
    return np.linspace(0, length - 1, count).round().astype(int).tolist()


def batches(items: Sequence, size: int):
    for start in range(0, len(items), size):
        yield items[start : start + size]
