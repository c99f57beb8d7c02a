"""Invisible, keyed, robust video watermark (algorithm id ``io.synthvid.wm.v2``).

``embed(frames, payload, key)`` hides 8 bytes in every frame of a uint8 ``[T, H, W, 3]`` clip;
``detect(frames, key)`` returns a :class:`Detection`; ``embed_stream`` marks a clip of any length
chunk by chunk (the same frames as ``embed``). Keys are secrets of at least 16 bytes (any longer
length works; they only feed HMAC-SHA256 and never appear in outputs or logs). The design and
the false-positive argument are in :mod:`provenance.watermark.core`; reusable attacks for benchmarks
and robustness tests are in :mod:`provenance.watermark.attacks`.
"""

from provenance.watermark.core import (
    ALGORITHM,
    BCH_SHARE,
    DEFAULT_STRENGTH,
    FALSE_POSITIVE_RATE,
    HYPOTHESES,
    IDENTITY_HYPOTHESES,
    IDENTITY_RATE,
    MIN_KEY_BYTES,
    PAYLOAD_BYTES,
    Detection,
    EmbedReport,
    WorkFrames,
    detect,
    detect_work,
    embed,
    embed_stream,
    false_positive_bound,
    work_frames,
)

__all__ = [
    "ALGORITHM",
    "BCH_SHARE",
    "DEFAULT_STRENGTH",
    "FALSE_POSITIVE_RATE",
    "HYPOTHESES",
    "IDENTITY_HYPOTHESES",
    "IDENTITY_RATE",
    "MIN_KEY_BYTES",
    "PAYLOAD_BYTES",
    "Detection",
    "WorkFrames",
    "detect_work",
    "work_frames",
    "EmbedReport",
    "detect",
    "embed",
    "embed_stream",
    "false_positive_bound",
]
