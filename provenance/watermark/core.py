"""Keyed video watermark io.synthvid.wm.v1: spread-transform dither modulation on a normalised chip grid.

Signal. Each frame's luma is described by a 36×36 grid of *chips*: weighted means of the luma under
raised-cosine bumps placed in frame-normalised coordinates, so a resized frame has the same chips.
Chips form *units* of two horizontally adjacent chips (648 of them) whose value is the mean of their chips with key-derived balanced
signs (a local contrast, blind to brightness offsets). Each unit carries one code bit by quantisation:
the embedder moves the unit value to the nearest point of the lattice ``step·(Z + dither + bit/2)``
(the dither is key-derived per unit). Moving to the nearest lattice point costs at most step/2
whatever the picture, so the host image never masks the watermark (unlike additive spread spectrum,
which on camera footage drowns in the picture). The change is spread over the unit's chips and
synthesised with the same bumps: a smooth, low-to-mid frequency luma pattern, recomputed per frame.
Every frame carries every bit (about four times: 648 units for 164 code bits); the unit-to-bit map fills the
central units first, so a centre crop to 80 % keeps about two copies of every bit.

Detection. The detector averages frames, searches centre-crop hypotheses (crop-not-scaled-back and
crop-scaled-back are both a zoom about the centre in normalised coordinates) and gain hypotheses
(brightness, contrast, strength) with a lattice-fit score, then, for the best hypotheses, sums the
soft evidence ``cos(2π(value/(gain·step) − dither))`` over all frames and copies and decodes BCH.
Frames may be dropped, repeated, reordered or retimed: they only add evidence.

Null hypothesis. For content that does not carry this key's watermark the dithers are independent
uniform phases, so the sum of cosines for one bit is symmetric about zero: every hard bit is a fair
coin, independent of the others and of the picture (flat, noise, anything). The false-match
probability is then the exact sphere-volume expression of :mod:`provenance.watermark.code`, times the
number of (crop, shift, gain) hypotheses the detector may decode; ``found`` needs ``p <= 1e-9``.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
from dataclasses import dataclass
from functools import lru_cache

import numpy as np

from provenance.errors import WatermarkError
from provenance.watermark import code

log = logging.getLogger(__name__)

ALGORITHM = "io.synthvid.wm.v1"
PAYLOAD_BYTES = code.PAYLOAD_BYTES
MIN_KEY_BYTES = 16
DEFAULT_STRENGTH = 1.0
GRID = 36  # chips per side of the frame
UNIT_Y, UNIT_X = 1, 2  # a unit is two horizontally adjacent chips of opposite sign
UNITS_Y, UNITS_X = GRID // UNIT_Y, GRID // UNIT_X
N_UNITS = UNITS_Y * UNITS_X
STEP = 4.2  # lattice step in luma grey levels at strength 1: PSNR ≈ 43 dB
MIN_EMBED_SIDE = 32  # pixels; below one pixel per chip the pattern aliases
MIN_DETECT_SIDE = 16  # a 64×64 clip halved twice
WORK_PIXELS_PER_CHIP = 4  # frames larger than this are box-averaged first (speed, no loss: chips are smooth)
# Centre-crop fractions the detector tries (0.25 % steps: a unit value needs < 0.5 % scale error).
CROPS = np.round(np.arange(1.0, 0.7 - 1e-9, -0.0025), 6)
# Luma gain hypotheses (brightness, contrast, strength), 2.5 % apart.
GAINS = 0.35 * 1.025 ** np.arange(71)
# Sub-pixel shifts (received pixels) per axis: a crop whose margins differ by one pixel is off-centre by ½.
SHIFTS = (-0.5, 0.0, 0.5)
HYPOTHESES = len(CROPS) * len(GAINS) * len(SHIFTS) ** 2
# Per-clip false-positive threshold on the p-value; decodes with more corrected errors than this
# allows (11 of BCH's 11) are reported with their p-value but not as found.
FALSE_POSITIVE_RATE = 1e-9
_COARSE_CROP_STRIDE = 4
_COARSE_GAIN_STRIDE = 4
_CANDIDATES = 3
_GAIN_CANDIDATES = 2
_SEARCH_FRAMES = 3
_LUMA = np.array([0.299, 0.587, 0.114], np.float32)


@dataclass(frozen=True)
class Detection:
    """Result of :func:`detect`. ``found`` implies ``payload`` passed BCH decoding and the keyed check.

    ``p_value`` is the probability that a clip without this key's watermark decodes as well as this
    one (1.0 when nothing decoded); ``found`` requires ``p_value <= FALSE_POSITIVE_RATE`` (1e-9).
    """

    found: bool
    payload: bytes | None
    p_value: float
    bit_errors_corrected: int | None
    frames_used: int
    crop: float | None = None
    gain: float | None = None


# ---------------------------------------------------------------- keys and layout

def _derive(key: bytes, label: str) -> bytes:
    return hmac.new(key, f"{ALGORITHM}/{label}".encode(), hashlib.sha256).digest()


@dataclass(frozen=True)
class _Layout:
    signs: np.ndarray  # [GRID, GRID] ±1, two of each in every unit
    bit_of_unit: np.ndarray  # [N_UNITS]
    dither: np.ndarray  # [N_UNITS] in [0, 1)
    scramble: np.ndarray  # [CODE_BITS] 0/1


@lru_cache(maxsize=16)
def _layout_from_seed(seed: bytes) -> _Layout:
    rng = np.random.default_rng(np.frombuffer(seed, np.uint32))
    signs = np.tile(np.array([1, -1], np.float32), (N_UNITS, 1))
    signs = rng.permuted(signs, axis=1).reshape(UNITS_Y, UNITS_X, UNIT_Y, UNIT_X)
    signs = signs.transpose(0, 2, 1, 3).reshape(GRID, GRID)
    # Central units first, so that a centre crop removes second copies before first ones.
    cy = (np.arange(UNITS_Y) + 0.5) / UNITS_Y - 0.5
    cx = (np.arange(UNITS_X) + 0.5) / UNITS_X - 0.5
    ring = np.maximum(np.abs(cy)[:, None], np.abs(cx)[None, :]).ravel()
    order = np.lexsort((rng.random(N_UNITS), ring))
    bit_of_unit = np.empty(N_UNITS, np.int64)
    for start in range(0, N_UNITS, code.CODE_BITS):
        chunk = order[start:start + code.CODE_BITS]
        bit_of_unit[chunk] = rng.permutation(code.CODE_BITS)[: len(chunk)]
    dither = rng.random(N_UNITS)
    scramble = rng.integers(0, 2, code.CODE_BITS, dtype=np.uint8)
    for array in (signs, bit_of_unit, dither, scramble):
        array.flags.writeable = False
    return _Layout(signs, bit_of_unit, dither, scramble)


def _layout(key: bytes) -> _Layout:
    return _layout_from_seed(_derive(key, "layout"))


# ---------------------------------------------------------------- input checks

def _check_frames(frames, min_side: int) -> None:
    if not isinstance(frames, np.ndarray):
        raise WatermarkError(f"frames must be a numpy array, got {type(frames).__name__}")
    if frames.dtype != np.uint8:
        raise WatermarkError(f"frames must be uint8, got {frames.dtype}")
    if frames.ndim != 4 or frames.shape[-1] != 3:
        raise WatermarkError(f"frames must have shape [T, H, W, 3], got {list(frames.shape)}")
    if frames.shape[0] < 1:
        raise WatermarkError("frames: the clip has zero frames")
    if min(frames.shape[1:3]) < min_side:
        raise WatermarkError(f"frames of {frames.shape[2]}x{frames.shape[1]} are too small (each side must be >= {min_side})")


def _check_key(key) -> None:
    if not isinstance(key, (bytes, bytearray)):
        raise WatermarkError(f"key must be bytes, got {type(key).__name__}")
    if len(key) < MIN_KEY_BYTES:
        raise WatermarkError(f"key must be at least {MIN_KEY_BYTES} bytes, got {len(key)}")


def _check_payload(payload) -> None:
    if not isinstance(payload, (bytes, bytearray)):
        raise WatermarkError(f"payload must be bytes, got {type(payload).__name__}")
    if len(payload) != PAYLOAD_BYTES:
        raise WatermarkError(f"payload must be exactly {PAYLOAD_BYTES} bytes (64 bits), got {len(payload)}")


# ---------------------------------------------------------------- geometry

def _box_factor(height: int, width: int) -> int:
    return max(1, min(height, width) // (WORK_PIXELS_PER_CHIP * GRID))


def _bumps(centres: np.ndarray) -> np.ndarray:
    """Raised-cosine chip weights ``[len(centres), GRID]`` at normalised positions; a partition of unity."""
    d = centres[:, None] * GRID - 0.5 - np.arange(GRID)[None, :]
    return np.where(np.abs(d) < 1, np.cos(0.5 * np.pi * d) ** 2, 0.0).astype(np.float32)


@dataclass(frozen=True)
class _View:
    """Chips of a received frame under one centre-crop hypothesis (work resolution)."""

    rows: np.ndarray  # [GRID, h]  (transposed bumps, ready for rows @ L)
    cols: np.ndarray  # [w, GRID]
    norm: np.ndarray  # [GRID, GRID] bump mass per chip
    units: np.ndarray  # [N_UNITS] bool: every chip of the unit fully visible


def _axis(n_full: int, factor: int, crop: float, shift: float) -> tuple[np.ndarray, np.ndarray]:
    """Bumps at the work pixels of a received axis that shows the central ``crop`` of the marked one."""
    def marked(position):  # received pixel position -> normalised position in the marked frame
        return 0.5 + ((position + shift) / n_full - 0.5) * crop

    bumps = _bumps(marked((np.arange(n_full // factor) + 0.5) * factor))
    # A chip counts only if its bump lies inside the visible part of the marked frame.
    lo = np.maximum((np.arange(GRID) - 0.5) / GRID, 0.0)
    hi = np.minimum((np.arange(GRID) + 1.5) / GRID, 1.0)
    tol = 0.05 / GRID
    visible = (lo >= marked(0.0) - tol) & (hi <= marked(float(n_full)) + tol)
    return bumps, visible


@lru_cache(maxsize=1024)
def _view(height: int, width: int, crop: float, shift_y: float = 0.0, shift_x: float = 0.0) -> _View:
    factor = _box_factor(height, width)
    by, vis_y = _axis(height, factor, crop, shift_y)
    bx, vis_x = _axis(width, factor, crop, shift_x)
    norm = np.outer(by.sum(0), bx.sum(0))
    chip_ok = np.outer(vis_y, vis_x) & (norm > 1e-3)
    units = chip_ok.reshape(UNITS_Y, UNIT_Y, UNITS_X, UNIT_X).all(axis=(1, 3)).ravel()
    return _View(np.ascontiguousarray(by.T), bx, np.maximum(norm, 1e-6).astype(np.float32), units)


def _work_luma(frames: np.ndarray) -> np.ndarray:
    """Luma ``[T, h, w]`` float32, box-averaged by :func:`_box_factor`."""
    t, height, width, _ = frames.shape
    f = _box_factor(height, width)
    if f == 1:
        return frames @ _LUMA
    h, w = height // f, width // f
    block = frames[:, : h * f, : w * f].reshape(t, h, f, w * f, 3).sum(axis=2, dtype=np.uint16)
    block = block.reshape(t, h, w, f, 3).sum(axis=3, dtype=np.uint32)
    return (block @ (_LUMA / np.float32(f * f))).astype(np.float32)


def _unit_values(luma: np.ndarray, view: _View, signs: np.ndarray) -> np.ndarray:
    """Signed unit means ``[..., N_UNITS]`` of ``luma`` ``[..., h, w]``."""
    chips = (view.rows @ luma @ view.cols) / view.norm
    signed = (chips * signs).reshape(*chips.shape[:-2], UNITS_Y, UNIT_Y, UNITS_X, UNIT_X)
    return signed.mean(axis=(-3, -1)).reshape(*chips.shape[:-2], N_UNITS)


@dataclass(frozen=True)
class _Synthesis:
    """Full-resolution bumps of a frame size and the inverse response unit amplitude -> unit value."""

    rows: np.ndarray  # [H, GRID]
    cols: np.ndarray  # [GRID, W]
    inverse: np.ndarray  # [N_UNITS, N_UNITS]


@lru_cache(maxsize=8)
def _synthesis(height: int, width: int, seed: bytes) -> _Synthesis:
    signs = _layout_from_seed(seed).signs
    rows = _bumps((np.arange(height) + 0.5) / height)
    cols = _bumps((np.arange(width) + 0.5) / width)
    view = _view(height, width, 1.0)
    f = _box_factor(height, width)
    # Response of the detector's chips (work resolution) to one unit of amplitude on each unit.
    box_rows = rows[: (height // f) * f].reshape(height // f, f, GRID).mean(1)
    box_cols = cols[: (width // f) * f].reshape(width // f, f, GRID).mean(1)
    resp_rows, resp_cols = view.rows @ box_rows, box_cols.T @ view.cols
    basis = np.zeros((N_UNITS, GRID, GRID), np.float32)
    uy, ux = np.divmod(np.arange(N_UNITS), UNITS_X)
    for dy in range(UNIT_Y):
        for dx in range(UNIT_X):
            basis[np.arange(N_UNITS), uy * UNIT_Y + dy, ux * UNIT_X + dx] = 1.0
    basis *= signs
    chips = (resp_rows @ basis @ resp_cols) / view.norm
    signed = (chips * signs).reshape(N_UNITS, UNITS_Y, UNIT_Y, UNITS_X, UNIT_X).mean(axis=(2, 4))
    response = signed.reshape(N_UNITS, N_UNITS).T.astype(np.float64)  # [value unit, amplitude unit]
    return _Synthesis(rows, np.ascontiguousarray(cols.T), np.linalg.inv(response).astype(np.float32))


# ---------------------------------------------------------------- embed

def _nearest_lattice(values: np.ndarray, offset: np.ndarray, step: float) -> np.ndarray:
    return step * (np.round(values / step - offset) + offset)


def _render(frames: np.ndarray, amplitude: np.ndarray, synth: _Synthesis, signs: np.ndarray) -> tuple[np.ndarray, bool]:
    """Add the luma pattern of unit amplitudes ``[T, N_UNITS]`` to RGB frames; report any clipping."""
    t = frames.shape[0]
    chips = np.repeat(np.repeat(amplitude.reshape(t, UNITS_Y, UNITS_X), UNIT_Y, 1), UNIT_X, 2) * signs
    delta = np.rint(synth.rows @ chips.astype(np.float32) @ synth.cols).astype(np.int16)
    out = frames.astype(np.int16)
    out += delta[..., None]
    clipped = bool(out.min() < 0 or out.max() > 255)
    np.clip(out, 0, 255, out=out)
    return out.astype(np.uint8), clipped


def embed(frames: np.ndarray, payload: bytes, key: bytes, strength: float = DEFAULT_STRENGTH) -> np.ndarray:
    """Return a copy of ``frames`` (uint8 ``[T, H, W, 3]``, sides >= 32) carrying ``payload`` under ``key``.

    ``payload`` is exactly 8 bytes; ``key`` is a secret of at least 16 bytes (any length above; it is
    only ever passed through HMAC-SHA256). ``strength`` scales the lattice step (1.0 ≈ 43 dB PSNR);
    the detector finds strengths within its gain search (0.35–2.0 × brightness changes) by itself.
    """
    _check_frames(frames, MIN_EMBED_SIDE)
    _check_payload(payload)
    _check_key(key)
    if not (np.isfinite(strength) and 0.1 <= strength <= 4.0):
        raise WatermarkError(f"strength must be in [0.1, 4], got {strength!r}")
    seed = _derive(key, "layout")
    layout = _layout_from_seed(seed)
    bits = code.encode(bytes(payload), _derive(key, "check"), layout.scramble)
    offset = layout.dither + bits[layout.bit_of_unit] / 2.0
    step = STEP * float(strength)
    height, width = frames.shape[1:3]
    view, synth = _view(height, width, 1.0), _synthesis(height, width, seed)
    out = np.empty_like(frames)
    for start in range(0, frames.shape[0], 8):  # bounded memory at 1080p
        chunk = frames[start:start + 8]
        values = _unit_values(_work_luma(chunk), view, layout.signs)
        target = _nearest_lattice(values, offset, step)
        amplitude = (target - values) @ synth.inverse.T
        marked, clipped = _render(chunk, amplitude, synth, layout.signs)
        for _ in range(2 if clipped else 0):  # dark or saturated pixels: push the rest harder
            achieved = _unit_values(_work_luma(marked), view, layout.signs)
            amplitude = amplitude + (target - achieved) @ synth.inverse.T
            marked, clipped = _render(chunk, amplitude, synth, layout.signs)
        out[start:start + 8] = marked
    return out


# ---------------------------------------------------------------- detect

def _soft_bits(values: np.ndarray, units: np.ndarray, dither: np.ndarray, bit_of_unit: np.ndarray, step: float) -> np.ndarray:
    evidence = np.cos(2 * np.pi * (values / step - dither)).sum(axis=0) * units
    return np.bincount(bit_of_unit, weights=evidence, minlength=code.CODE_BITS)


def _lattice_fit(values: np.ndarray, units: np.ndarray, dither: np.ndarray, gains: np.ndarray) -> np.ndarray:
    """Per gain: how well unit values ``[T, N_UNITS]`` sit on the union of both bit lattices (period step/2)."""
    x = values[:, units][None] / (STEP * gains[:, None, None]) - dither[units][None, None]
    n = max(int(units.sum()) * values.shape[0], 1)
    return np.cos(4 * np.pi * x).sum(axis=(1, 2)) / np.sqrt(n)


def detect(frames: np.ndarray, key: bytes) -> Detection:
    """Look for a watermark made with ``key`` in ``frames`` (uint8 ``[T, H, W, 3]``, any order or rate)."""
    _check_frames(frames, MIN_DETECT_SIDE)
    _check_key(key)
    layout = _layout(key)
    check_key = _derive(key, "check")
    height, width = frames.shape[1:3]
    luma = _work_luma(frames)
    t = frames.shape[0]
    # Each frame is quantised to its own picture, so the search scores a few frames, not their mean.
    probes = luma[np.unique(np.linspace(0, t - 1, min(t, _SEARCH_FRAMES)).round().astype(int))]
    coarse_gains = GAINS[::_COARSE_GAIN_STRIDE]
    scores: dict[tuple[int, float, float], float] = {}

    def score(crop_index: int, shift_y: float = 0.0, shift_x: float = 0.0) -> float:
        hypothesis = (crop_index, shift_y, shift_x)
        if hypothesis not in scores:
            view = _view(height, width, float(CROPS[crop_index]), shift_y, shift_x)
            values = _unit_values(probes, view, layout.signs)
            scores[hypothesis] = float(_lattice_fit(values, view.units, layout.dither, coarse_gains).max())
        return scores[hypothesis]

    def best(candidates, count):
        return sorted(candidates, key=lambda h: scores[h], reverse=True)[:count]

    # Coarse crops, then finer crops around the best, then sub-pixel shifts around those.
    for i in range(0, len(CROPS), _COARSE_CROP_STRIDE):
        score(i)
    for crop_index, _, _ in best(list(scores), _CANDIDATES):
        for i in range(max(0, crop_index - _COARSE_CROP_STRIDE + 1), min(len(CROPS), crop_index + _COARSE_CROP_STRIDE)):
            score(i)
    for crop_index, _, _ in best(list(scores), _CANDIDATES):
        for shift_y in SHIFTS:
            for shift_x in SHIFTS:
                score(crop_index, shift_y, shift_x)

    found: Detection | None = None
    for crop_index, shift_y, shift_x in best(list(scores), _CANDIDATES):
        view = _view(height, width, float(CROPS[crop_index]), shift_y, shift_x)
        if not view.units.any():
            continue
        values = _unit_values(luma, view, layout.signs)
        gain_fit = _lattice_fit(values, view.units, layout.dither, GAINS)
        for gain_index in np.argsort(gain_fit)[::-1][:_GAIN_CANDIDATES]:
            soft = _soft_bits(values, view.units, layout.dither, layout.bit_of_unit, STEP * GAINS[gain_index])
            decoded = code.decode((soft < 0).astype(np.uint8), check_key, layout.scramble)
            if decoded is None:
                continue
            payload, errors = decoded
            p_value = code.false_match_probability(errors, HYPOTHESES)
            if found is None or p_value < found.p_value:
                found = Detection(p_value <= FALSE_POSITIVE_RATE, payload, p_value, errors, t,
                                  float(CROPS[crop_index]), float(GAINS[gain_index]))
        if found is not None and found.found and found.bit_errors_corrected == 0:
            break
    if found is None or not found.found:
        return Detection(False, None, 1.0 if found is None else found.p_value, None, t)
    return found
