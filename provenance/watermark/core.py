"""Keyed video watermark io.synthvid.wm.v2: temporally coherent dither modulation on a normalised chip grid.

Signal. Each frame's luma is described by a ``G×G`` grid of *chips*: weighted means of the luma under
raised-cosine bumps placed in frame-normalised coordinates, so a resized frame has the same chips.
Chips form *units* of two horizontally adjacent chips with key-derived opposite signs (a local
contrast, blind to brightness offsets). Each unit carries one code bit by quantisation to the coset
lattice ``step·(Z + dither + bit/2)`` (dither key-derived per unit). Moving a value to the nearest
lattice point costs at most step/2 whatever the picture, so the host never masks the mark.

Temporal coherence. A video codec keeps what stays still: a mark that changes from frame to frame
(each frame quantised to its own picture, as in wm.v1) survives in the intra frame and is mostly
lost in the predicted ones (measured: 60–90 % kept in the I frame, 5–30 % in P/B frames at CRF 35). So the embedder moves the *window mean* of every unit (windows of up to
:data:`WINDOW` frames) onto the coarse lattice with one constant shift per unit, and puts every single
frame onto a nested fine lattice (step/:data:`FINE`, ``FINE`` odd, so that every coarse point is a
fine point) with a small per-frame correction. The detector reads two statistics: the window mean
on the coarse lattice (survives H.264, resizing, crops, photometric changes) and every frame on the
fine lattice (survives dropped, repeated and reordered frames of an unprocessed clip, and one frame).

Codec-aware embedding. On frames of at least :data:`LOOP_MIN_SIDE` pixels the embedder renders
its plan on a copy of the clip (box-averaged to at most :data:`LOOP_PIXELS` pixels), round-trips it
through H.264 (libx264 CRF :data:`LOOP_CRF` via :func:`provenance.media.encode_decode`) and adds to
each unit's constant shift what the codec took away (capped at :data:`LOOP_CAP` steps), so that a
later re-encode lands nearer the lattice (informed embedding; detection stays blind). On 256×256
camera clips this roughly halves the unit errors after CRF 35 at equal PSNR; on smaller frames it
trades robustness to other attacks for codec robustness, so it runs there only when asked
(``codec_crf``: the signing path does, for a clip whose mark its own encode took away).

Invisibility. The pattern is a luma change added along the RGB direction of least squared error
(:data:`COLOUR`). Its PSNR is predicted from Gram matrices before rendering; the step of a clip that
would fall below :data:`PSNR_FLOOR` or :data:`SSIM_FLOOR` is lowered by whole gain steps, which the
detector's gain search meets exactly.

Grids. The grid is :data:`GRID` chips per side from :data:`SMALL_SIDE` pixels up, and
:data:`SMALL_GRID` below (the fewest chips that still give one unit per code bit, so the most pixels
per chip); the detector tries both, so a clip resized across the boundary is still found.

Detection. The detector first decodes the unchanged geometry (most clips are neither cropped nor
shifted). Otherwise it averages the frames of the first window and searches centre-crop hypotheses
(crop-not-scaled-back and crop-scaled-back are both a zoom about the centre in normalised
coordinates), half-pixel shifts and luma gains (brightness, contrast, strength) coarse-to-fine with a
lattice-fit score on that one mean image, then decodes BCH for the best hypotheses from the soft
evidence ``w·cos(2π(value/(gain·step) − dither))`` of each statistic, where ``w`` lowers units of
strong local contrast (there codecs move values most). When no hard decision of a geometry decodes, the
same trials are decoded soft (:func:`provenance.watermark.code.soft_decode`): it reads how sure each bit
is, and finds the payload in clips whose hard bits hold more errors than BCH corrects.

Null hypothesis. For content that does not carry this key's watermark the dithers are independent
uniform phases, so every soft bit is a sum of cosines of uniform phases with weights that depend on
the picture only, symmetric about zero: every hard bit is a fair coin, independent of the others and
of the picture (flat, noise, anything). More precisely, moving the dithers of one code bit's units by
half a step flips that bit's sign in every statistic and at every gain and changes nothing else the
detector computes: the search and the choice of gains use the lattice fit ``cos(4π(…))``, blind to that
move, and the evidence weights depend on the picture. So, given everything but those flips, which
geometries and gains get decoded is fixed, and the signs of their soft bits are independent fair coins
whatever the magnitudes. The false-match probability of a clip is then at most the number of decodes the
detector may try times the chance for one: the exact sphere-volume expression of
:mod:`provenance.watermark.code` for BCH, its Chernoff bound on the correlation for soft decoding. (Until
issue #18's third round the bound multiplied by every hypothesis the search could choose, 344,124;
counting the trials decoded — at most 238, each by BCH and soft — is the same argument made exact.) The
per-clip budget of 1e-9 is split between the unchanged geometry (:data:`IDENTITY_RATE`) and the search,
and each between BCH (:data:`BCH_SHARE`) and soft decoding; any BCH decode (<= 11 corrections) passes
in both tiers.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
from collections import deque
from dataclasses import dataclass
from functools import lru_cache

import numpy as np

from provenance.errors import WatermarkError
from provenance.watermark import code

log = logging.getLogger(__name__)

ALGORITHM = "io.synthvid.wm.v2"
PAYLOAD_BYTES = code.PAYLOAD_BYTES
MIN_KEY_BYTES = 16
DEFAULT_STRENGTH = 1.0
GRID = 28  # chips per side of the frame (frames with both sides >= SMALL_SIDE)
SMALL_GRID = 20  # chips per side below SMALL_SIDE
SMALL_SIDE = 128
GRIDS = (GRID, SMALL_GRID)
UNIT_X = 2  # a unit is two horizontally adjacent chips of opposite sign
# Coarse lattice steps in luma grey levels at strength 1: 4.8 (GRID) and 5.6 (SMALL_GRID) until issue #18,
# raised by seven gain steps (×1.189, so the detector's gain grid meets old and new marks alike). The
# PSNR floor then sets most clips' step: at 42.0 dB (was 42.2) the mean stays at the 42 dB issue #18
# allows while each clip gets the strongest mark that fits (camera clips had 43.3 dB to spare). Chosen on
# the tune split of ../shared/realworld (sources with CRC-32 ≡ 0 mod 4); see benchmarks/results/watermark_protocol.md.
STEP_GAIN_STEPS = 7
STEP = 4.8 * 1.025**STEP_GAIN_STEPS  # GRID
SMALL_STEP = 5.6 * 1.025**STEP_GAIN_STEPS  # SMALL_GRID
PSNR_FLOOR = 42.0  # dB at strength 1: the embedder lowers the step of clips that would fall below
SSIM_FLOOR = 0.981
FINE = 9  # the per-frame lattice is STEP / FINE (odd: coarse points are fine points)
WINDOW = 64  # frames whose mean shares one constant shift
NEUMANN_TERMS = 3  # the constant shift is rendered with this approximate inverse (see _plan)
LOOP_CRF = 32  # the embedder's own H.264 round trip (libx264, veryfast)
LOOP_GAIN = 1.0  # fraction of the measured codec loss added back
LOOP_CAP = 0.5  # at most this many steps per unit
LOOP_MIN_SIDE = 192  # smaller frames are pre-compensated only when asked (embed's codec_crf)
LOOP_PIXELS = 320 * 320  # larger frames are box-averaged to about this many pixels for the round trip
MIN_EMBED_SIDE = 32  # pixels; below one pixel per chip the pattern aliases
MIN_DETECT_SIDE = 16  # a 64×64 clip halved twice
WORK_PIXELS_PER_CHIP = 4  # frames larger than this are box-averaged first (speed, no loss: chips are smooth)
# Centre-crop fractions the detector tries (0.25 % steps: a unit value needs < 0.5 % scale error).
CROPS = np.round(np.arange(1.0, 0.7 - 1e-9, -0.0025), 6)
# Luma gain hypotheses (brightness, contrast, strength), 2.5 % apart, 1.0 exactly among them; down to
# 0.29 so that marks made before the step was raised (STEP_GAIN_STEPS lower) and lowered to 0.35 of
# their nominal step by the quality floors are still met (the coarse search samples every fourth gain,
# the same ones as before the range grew).
GAINS = 1.025 ** np.arange(-50, 29)
# Sub-pixel shifts (received pixels) per axis: a crop whose margins differ by one pixel is off-centre by ½.
SHIFTS = (-0.5, 0.0, 0.5)
STATISTICS = ("mean", "frames")
_COARSE_CROP_STRIDE = 2
_REFINE = 5
_COARSE_GAIN_STRIDE = 4
_CANDIDATES = 3
_SEARCH_BATCH = 4  # crops scored at once
_RENDER_CHUNK = 8  # frames rendered at a time
_RENDER_BLOCK = 1 << 17  # float32 pattern values rendered at a time (512 KB: stays in a core's cache)
_RENDER_CHIPS = 5  # chip rows a render block may touch
_EXACT_BOX = 16  # box factors up to this sum luma exactly in float32 (255·256·16² < 2^24)
_CLIPPED = 0.01  # clipping of more than this fraction of values is compensated
_SSIM_SIDE = 256  # the SSIM check looks at the central crop of this side of the middle frame
_ROUNDING_MSE = 1 / 12  # rounding each channel to an integer
# Best-fitting gains decoded per statistic. Clips whose step the quality floors lowered (small and dark
# frames) need several: 3 missed 11 of 40 dark 64² clips after CRF 18, 16 missed 1. Every gain is in the
# hypothesis count already, so more candidates cost time (~0.05 s per unmarked clip), not false positives.
_GAIN_CANDIDATES = 16
_UNIT_GAIN = int(np.argmin(np.abs(GAINS - 1.0)))  # no photometric change: always tried
# Trials the detector may decode, per tier (what the false-positive bound counts; see the module's
# docstring for why trials, not every geometry the search looks at): at the unchanged geometry on the
# grid the frame size implies, both statistics at no gain change and the best-fitting _GAIN_CANDIDATES
# gains; in the search, the same at each of _CANDIDATES geometries per grid. Each trial is decoded
# twice at most: BCH on its hard decisions, then (when no trial of its geometry decodes) soft.
IDENTITY_HYPOTHESES = len(STATISTICS) * (1 + _GAIN_CANDIDATES)
HYPOTHESES = len(GRIDS) * _CANDIDATES * IDENTITY_HYPOTHESES
# Per-clip false-positive rate, split between the tiers (IDENTITY_RATE for the first, the rest for the
# search) and within each between BCH (BCH_SHARE: any BCH decode, <= 11 corrections, fits in it with
# room to spare) and soft decoding (the rest): a decode is found when its bound times the tier's trials,
# divided by its decoder's share, is within the tier's rate.
FALSE_POSITIVE_RATE = 1e-9
IDENTITY_RATE = 1e-10
BCH_SHARE = 0.05


def false_positive_bound() -> float:
    """The per-clip false-positive bound of :func:`detect`: every BCH decode the tiers may try at BCH's
    11 corrections, plus soft decoding's share of both tiers' rates."""
    hard = code.false_match_probability(code.BCH_T, IDENTITY_HYPOTHESES) + code.false_match_probability(code.BCH_T, HYPOTHESES)
    return hard + (1 - BCH_SHARE) * FALSE_POSITIVE_RATE


CONTRAST_STEPS = 5.0  # evidence weight 1 / (1 + (value / (CONTRAST_STEPS · step))²)
_LUMA_INT = (np.uint16(77), np.uint16(150), np.uint16(29))  # BT.601 luma × 256, summing to 256
_LUMA = np.array(_LUMA_INT, np.float32) / 256
# The pattern is a luma change; the RGB change of least squared error that moves luma by 1 is
# _LUMA / |_LUMA|² (grey, (1, 1, 1), would cost 1.27 dB more PSNR for the same luma change).
COLOUR = _LUMA / np.float32(_LUMA @ _LUMA)


@dataclass(frozen=True)
class Detection:
    """Result of :func:`detect`. ``found`` implies ``payload`` is a codeword that passed the keyed check.

    ``p_value`` bounds the probability that a clip without this key's watermark decodes as well as this
    one in the same tier (1.0 when nothing decoded); ``found`` requires it to be within that tier's share
    of the per-clip false-positive rate ``FALSE_POSITIVE_RATE`` (1e-9). ``decoding`` is ``"bch"`` (hard
    decisions, ``bit_errors_corrected`` corrections) or ``"soft"`` (ordered-statistics decoding of the
    soft evidence; ``bit_errors_corrected`` counts the hard decisions it overruled).
    """

    found: bool
    payload: bytes | None
    p_value: float
    bit_errors_corrected: int | None
    frames_used: int
    crop: float | None = None
    gain: float | None = None
    grid: int | None = None
    statistic: str | None = None
    decoding: str | None = None


# ---------------------------------------------------------------- keys and layout


def _derive(key: bytes, label: str) -> bytes:
    return hmac.new(key, f"{ALGORITHM}/{label}".encode(), hashlib.sha256).digest()


@dataclass(frozen=True)
class _Layout:
    grid: int
    signs: np.ndarray  # [grid, grid] ±1, one of each in every unit
    bit_of_unit: np.ndarray  # [units]
    dither: np.ndarray  # [units] in [0, 1): coarse lattice offsets
    fine_dither: np.ndarray  # [units]: FINE·dither mod 1, the fine lattice's offsets
    scramble: np.ndarray  # [CODE_BITS] 0/1

    @property
    def units(self) -> int:
        return self.bit_of_unit.size


@lru_cache(maxsize=16)
def _layout_from_seed(seed: bytes, grid: int) -> _Layout:
    rng = np.random.default_rng(np.frombuffer(seed, np.uint32))
    units_x = grid // UNIT_X
    n_units = grid * units_x
    signs = np.tile(np.array([1, -1], np.float32), (n_units, 1))
    signs = rng.permuted(signs, axis=1).reshape(grid, grid)
    # Central units first, so that a centre crop removes second copies before first ones.
    cy = (np.arange(grid) + 0.5) / grid - 0.5
    cx = (np.arange(units_x) + 0.5) / units_x - 0.5
    ring = np.maximum(np.abs(cy)[:, None], np.abs(cx)[None, :]).ravel()
    order = np.lexsort((rng.random(n_units), ring))
    bit_of_unit = np.empty(n_units, np.int64)
    for start in range(0, n_units, code.CODE_BITS):
        chunk = order[start : start + code.CODE_BITS]
        bit_of_unit[chunk] = rng.permutation(code.CODE_BITS)[: len(chunk)]
    dither = rng.random(n_units)
    fine_dither = np.mod(FINE * dither, 1.0)
    scramble = rng.integers(0, 2, code.CODE_BITS, dtype=np.uint8)
    for array in (signs, bit_of_unit, dither, fine_dither, scramble):
        array.flags.writeable = False
    return _Layout(grid, signs, bit_of_unit, dither, fine_dither, scramble)


def _layout(key: bytes, grid: int = GRID) -> _Layout:
    return _layout_from_seed(_derive(key, "layout"), grid)


def _step(grid: int) -> float:
    return STEP if grid == GRID else SMALL_STEP


def _embed_grid(height: int, width: int) -> int:
    return GRID if min(height, width) >= SMALL_SIDE else SMALL_GRID


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


def _bumps(centres: np.ndarray, grid: int) -> np.ndarray:
    """Raised-cosine chip weights ``[len(centres), grid]`` at normalised positions; a partition of unity."""
    d = centres[:, None] * grid - 0.5 - np.arange(grid)[None, :]
    return np.where(np.abs(d) < 1, np.cos(0.5 * np.pi * d) ** 2, 0.0).astype(np.float32)


@dataclass(frozen=True)
class _View:
    """Chips of a received frame under one centre-crop hypothesis (work resolution)."""

    rows: np.ndarray  # [grid, h]  (transposed bumps, ready for rows @ L)
    cols: np.ndarray  # [w, grid]
    norm: np.ndarray  # [grid, grid] bump mass per chip
    units: np.ndarray  # [units] bool: every chip of the unit fully visible


@lru_cache(maxsize=4096)  # shared by the views of a search (square frames: rows and columns alike)
def _axis(n_full: int, factor: int, crop: float, shift: float, grid: int) -> tuple[np.ndarray, np.ndarray]:
    """Bumps at the work pixels of a received axis that shows the central ``crop`` of the marked one."""

    def marked(position):  # received pixel position -> normalised position in the marked frame
        return 0.5 + ((position + shift) / n_full - 0.5) * crop

    bumps = _bumps(marked((np.arange(n_full // factor) + 0.5) * factor), grid)
    # A chip counts only if its bump lies inside the visible part of the marked frame.
    lo = np.maximum((np.arange(grid) - 0.5) / grid, 0.0)
    hi = np.minimum((np.arange(grid) + 1.5) / grid, 1.0)
    tol = 0.05 / grid
    visible = (lo >= marked(0.0) - tol) & (hi <= marked(float(n_full)) + tol)
    bumps.flags.writeable = visible.flags.writeable = False  # cached: shared by every caller
    return bumps, visible


@lru_cache(maxsize=2048)
def _view(height: int, width: int, crop: float, shift_y: float = 0.0, shift_x: float = 0.0, grid: int = GRID) -> _View:
    factor = _box_factor(height, width)
    by, vis_y = _axis(height, factor, crop, shift_y, grid)
    bx, vis_x = _axis(width, factor, crop, shift_x, grid)
    norm = np.outer(by.sum(0), bx.sum(0))
    chip_ok = np.outer(vis_y, vis_x) & (norm > 1e-3)
    units = chip_ok.reshape(grid, grid // UNIT_X, UNIT_X).all(axis=2).ravel()
    return _View(np.ascontiguousarray(by.T), bx, np.maximum(norm, 1e-6).astype(np.float32), units)


def _box_sum(x: np.ndarray, factor: int, factor_x: int | None = None) -> np.ndarray:
    """Sums ``uint32`` over ``factor``×``factor_x`` blocks of ``[T, H, W]`` (edge remainders dropped)."""
    factor_x = factor if factor_x is None else factor_x
    t, height, width = x.shape
    h, w = height // factor, width // factor_x
    out = np.zeros((t, h, w), np.uint32)
    for dy in range(factor):  # strided adds: several times faster than a reshaped sum
        for dx in range(factor_x):
            out += x[:, dy : h * factor : factor, dx : w * factor_x : factor_x]
    return out


def _work_luma(frames: np.ndarray) -> np.ndarray:
    """Luma ``[T, h, w]`` float32 (weights :data:`_LUMA_INT` / 256), box-averaged by :func:`_box_factor`."""
    t, height, width, _ = frames.shape
    f = _box_factor(height, width)
    if f > _EXACT_BOX:
        return _work_luma_strided(frames, f)
    # Sum each f-row band (uint16: f·255 fits), then weight channels and sum f columns in one small
    # float32 product per work pixel. Every partial sum is an integer below 2^24 (255·256·f² for
    # f <= 16), so float32 holds it exactly: the result equals the integer sum bit for bit, and this
    # reads the frames once (the strided per-channel luma read them about eight times: 3× faster at 512²).
    h, w = height // f, width // f
    bands = frames[:, : h * f].reshape(t, h, f, width * 3)
    if f == 1:
        sums = bands[:, :, 0, : w * 3].astype(np.float32)
    else:
        rows = bands[:, :, 0].astype(np.uint16)
        for dy in range(1, f):
            rows += bands[:, :, dy]
        sums = rows[:, :, : w * f * 3].astype(np.float32)
    luma = sums.reshape(t, h, w, 3 * f) @ np.tile(np.array(_LUMA_INT, np.float32), f)
    luma *= np.float32(1 / (256 * f * f))
    return luma


def _work_luma_strided(frames: np.ndarray, f: int) -> np.ndarray:
    """:func:`_work_luma` for box factors above :data:`_EXACT_BOX` (frames beyond 4K), in uint32."""
    luma = frames[..., 0] * _LUMA_INT[0] + frames[..., 1] * _LUMA_INT[1] + frames[..., 2] * _LUMA_INT[2]
    return _box_sum(luma, f).astype(np.float32) * np.float32(1 / (256 * f * f))


def _work_clipped(frames: np.ndarray) -> np.ndarray | None:
    """Fraction ``[T, h, w]`` of channel values at 0 or 255 (box-averaged like the luma); None if there are none.

    A saturated pixel cannot carry the mark: after a brightness or contrast boost the units there are
    noise, and the detector gives them less weight (a function of the picture, so the null is unchanged).
    """
    t, height, width, _ = frames.shape
    # uint8 wrap-around: 255 + 1 = 0 and 0 + 1 = 1, so one add and one compare find both ends.
    hits = np.less(frames + np.uint8(1), 2).view(np.uint8)
    if not hits.any():
        return None
    f = _box_factor(height, width)
    # Channels are interleaved along x: an f × 3f block of [T, H, 3W] is f × f pixels' channel values.
    counts = _box_sum(hits.reshape(t, height, width * 3), f, 3 * f) if f > 1 else hits.sum(axis=-1, dtype=np.uint8)
    return counts.astype(np.float32) / (3 * f * f)


def _unit_values(luma: np.ndarray, view: _View, signs: np.ndarray) -> np.ndarray:
    """Signed unit means ``[..., units]`` of ``luma`` ``[..., h, w]``."""
    chips = (view.rows @ luma @ view.cols) / view.norm
    return _pair_means(chips * signs).reshape(*chips.shape[:-2], -1)


def _pair_means(chips: np.ndarray) -> np.ndarray:
    """Unit means ``[..., grid, grid // UNIT_X]`` of signed chips ``[..., grid, grid]`` (the mean of each
    run of UNIT_X horizontally adjacent chips; slices, not a reduction over a length-2 axis, ~10× faster)."""
    total = chips[..., 0::UNIT_X].copy()
    for k in range(1, UNIT_X):
        total += chips[..., k::UNIT_X]
    return total / UNIT_X


@dataclass(frozen=True)
class _Synthesis:
    """Full-resolution bumps of a frame size and the inverse response unit amplitude -> unit value."""

    rows: np.ndarray  # [H, grid]
    cols: np.ndarray  # [grid, W]
    response: np.ndarray  # [units, units]: unit values moved by unit amplitudes (values = amplitudes @ response.T)
    inverse: np.ndarray  # [units, units]: exact inverse of the response
    smooth: np.ndarray  # [units, units]: truncated Neumann series of the inverse (cheap in pixels, approximate)
    gram_rows: np.ndarray  # [grid, grid]: rows.T @ rows / H (mean squared pattern without rendering it)
    gram_cols: np.ndarray  # [grid, grid]: cols @ cols.T / W
    colour_cols: np.ndarray  # [grid, 3W]: cols times COLOUR, interleaved like an RGB row
    blocks: tuple  # (y0, y1, k0, k1, rows[y0:y1, k0:k1]): row bands and the only chips they touch


def _row_blocks(rows: np.ndarray, width: int) -> tuple:
    """Row bands of at most :data:`_RENDER_BLOCK` pattern values that touch at most :data:`_RENDER_CHIPS` chips.

    The pattern is separable (rows @ chips @ cols) and a bump spans two chips, so a band of rows
    needs a product with only the few chip rows under it instead of all ``grid``.
    """
    height = rows.shape[0]
    support = rows != 0
    first = support.argmax(axis=1)
    last = rows.shape[1] - support[:, ::-1].argmax(axis=1)
    band = max(1, _RENDER_BLOCK // (3 * width))
    blocks, y0 = [], 0
    while y0 < height:
        y1, k0, k1 = y0 + 1, int(first[y0]), int(last[y0])
        while y1 < height and y1 - y0 < band and max(k1, last[y1]) - min(k0, first[y1]) <= _RENDER_CHIPS:
            k0, k1 = min(k0, int(first[y1])), max(k1, int(last[y1]))
            y1 += 1
        part = np.ascontiguousarray(rows[y0:y1, k0:k1])
        part.flags.writeable = False
        blocks.append((y0, y1, k0, k1, part))
        y0 = y1
    return tuple(blocks)


@lru_cache(maxsize=8)
def _synthesis(height: int, width: int, seed: bytes, grid: int) -> _Synthesis:
    signs = _layout_from_seed(seed, grid).signs
    rows = _bumps((np.arange(height) + 0.5) / height, grid)
    cols = _bumps((np.arange(width) + 0.5) / width, grid)
    view = _view(height, width, 1.0, grid=grid)
    f = _box_factor(height, width)
    # Response of the detector's chips (work resolution) to one unit of amplitude on each unit.
    box_rows = rows[: (height // f) * f].reshape(height // f, f, grid).mean(1)
    box_cols = cols[: (width // f) * f].reshape(width // f, f, grid).mean(1)
    resp_rows, resp_cols = view.rows @ box_rows, box_cols.T @ view.cols
    n_units = grid * (grid // UNIT_X)
    basis = np.zeros((n_units, grid, grid), np.float32)
    uy, ux = np.divmod(np.arange(n_units), grid // UNIT_X)
    for dx in range(UNIT_X):
        basis[np.arange(n_units), uy, ux * UNIT_X + dx] = 1.0
    basis *= signs
    chips = (resp_rows @ basis @ resp_cols) / view.norm
    signed = (chips * signs).reshape(n_units, grid, grid // UNIT_X, UNIT_X).mean(axis=3)
    response = signed.reshape(n_units, n_units).T.astype(np.float64)  # [value unit, amplitude unit]
    rest = np.eye(n_units) - response
    smooth, term = np.eye(n_units), np.eye(n_units)
    for _ in range(NEUMANN_TERMS - 1):
        term = term @ rest
        smooth = smooth + term
    colour_cols = np.ascontiguousarray((cols.T[:, :, None] * COLOUR).reshape(grid, 3 * width))
    return _Synthesis(
        rows,
        np.ascontiguousarray(cols.T),
        response.astype(np.float32),
        np.linalg.inv(response).astype(np.float32),
        smooth.astype(np.float32),
        rows.T @ rows / height,
        cols.T @ cols / width,
        colour_cols,
        _row_blocks(rows, width),
    )


# ---------------------------------------------------------------- embed


def _nearest_lattice(values: np.ndarray, offset: np.ndarray, step: float) -> np.ndarray:
    return step * (np.round(values / step - offset) + offset)


def _chips(amplitude: np.ndarray, signs: np.ndarray) -> np.ndarray:
    """Chip amplitudes ``[T, grid, grid]`` of unit amplitudes ``[T, units]``."""
    grid = signs.shape[0]
    return (np.repeat(amplitude.reshape(-1, grid, grid // UNIT_X), UNIT_X, 2) * signs).astype(np.float32)


def _frame_mse(amplitude: np.ndarray, synth: _Synthesis, signs: np.ndarray) -> np.ndarray:
    """Per frame, the mean squared luma pattern of unit amplitudes ``[T, units]``, from Gram matrices."""
    chips = _chips(amplitude, signs)
    return np.sum((synth.gram_rows @ chips @ synth.gram_cols) * chips, axis=(1, 2))


def _psnr_of(frame_mse: np.ndarray) -> float:
    """PSNR of the rendered pattern from :func:`_frame_mse` of every frame (before rounding and clipping)."""
    mse = float(np.mean(frame_mse)) * float(COLOUR @ COLOUR) / 3 + _ROUNDING_MSE
    return 10 * np.log10(255.0**2 / max(mse, 1e-12))


def _predicted_psnr(amplitude: np.ndarray, synth: _Synthesis, signs: np.ndarray) -> float:
    """PSNR of the rendered pattern, from Gram matrices (before rounding and clipping)."""
    return _psnr_of(_frame_mse(amplitude, synth, signs))


def _render(
    frames: np.ndarray, amplitude: np.ndarray, synth: _Synthesis, signs: np.ndarray, out: np.ndarray | None = None
) -> tuple[np.ndarray, float]:
    """Add the luma pattern of unit amplitudes ``[T, units]`` to RGB frames; the fraction of values clipped.

    Each value is ``frame + COLOUR[c]·pattern`` rounded and saturated to uint8. The pattern is made
    directly in the frames' interleaved RGB layout (bumps × COLOUR) in cache-sized blocks, and OpenCV
    adds, rounds and saturates it in one pass per block (about 2.5× faster at 512² than four numpy
    passes per channel over the whole chunk). Clipped values are counted only in blocks whose frame
    values come within the pattern's largest amplitude of 0 or 255. ``out`` (C-contiguous uint8, the
    frames' shape) receives the result when given.
    """
    import cv2

    t, height, width, _ = frames.shape
    src = np.ascontiguousarray(frames).reshape(t, height, 3 * width)
    if out is not None and not (out.flags.c_contiguous and out.shape == frames.shape and out.dtype == np.uint8):
        raise ValueError("out must be a C-contiguous uint8 array of the frames' shape")
    result = np.empty(frames.shape, np.uint8) if out is None else out
    out = result.reshape(t, height, 3 * width)  # a view: OpenCV writes into result
    chips = _chips(amplitude, signs)
    # |pattern| <= max |chip| × max COLOUR: the bumps are non-negative and sum to at most 1.
    reach = np.abs(chips).max(axis=(1, 2)) * float(COLOUR.max()) + 1.0
    clipped = 0

    def add(source, pattern, target, reach):
        nonlocal clipped
        low, high, _, _ = cv2.minMaxLoc(source)
        if low >= reach and high <= 255 - reach:  # cannot clip
            cv2.add(source, pattern, dst=target, dtype=cv2.CV_8U)
            return
        wide = cv2.add(source, pattern, dtype=cv2.CV_16S)  # the same rounding, not yet saturated
        low, high, _, _ = cv2.minMaxLoc(wide)
        if low < 0 or high > 255:
            clipped += wide.size - cv2.countNonZero(cv2.inRange(wide, 0, 255))
            if low < 0:
                wide = cv2.max(wide, 0)
        cv2.convertScaleAbs(wide, dst=target)  # saturates at 255; exact for values >= 0

    per_block = _RENDER_BLOCK // (3 * width * height)
    if per_block >= 1:  # small frames: several whole frames per block
        for start in range(0, t, per_block):
            part = slice(start, start + per_block)
            n = len(range(*part.indices(t)))
            pattern = (synth.rows @ chips[part]).reshape(n * height, -1) @ synth.colour_cols
            add(src[part].reshape(n * height, -1), pattern, out[part].reshape(n * height, -1), float(reach[part].max()))
    else:
        buffer = np.empty((max(y1 - y0 for y0, y1, *_ in synth.blocks), 3 * width), np.float32)
        for i in range(t):
            chip_rows = chips[i] @ synth.colour_cols  # [grid, 3W]
            for y0, y1, k0, k1, rows in synth.blocks:
                pattern = buffer[: y1 - y0]
                np.matmul(rows, chip_rows[k0:k1], out=pattern)
                add(src[i, y0:y1], pattern, out[i, y0:y1], float(reach[i]))
    return result, clipped / out.size


def _windows(t: int) -> list[slice]:
    """Consecutive windows of at most :data:`WINDOW` frames, of near-equal length."""
    count = -(-t // WINDOW)
    edges = np.linspace(0, t, count + 1).round().astype(int)
    return [slice(a, b) for a, b in zip(edges[:-1], edges[1:])]


def _window_means(values: np.ndarray) -> np.ndarray:
    """Per frame, the mean of its window's values ``[T, units]``."""
    out = np.empty_like(values)
    for window in _windows(values.shape[0]):
        out[window] = values[window].mean(axis=0)
    return out


def _loop_frames(frames: np.ndarray) -> np.ndarray:
    """Frames box-averaged to at most about :data:`LOOP_PIXELS` pixels, for the embedder's codec loop."""
    t, height, width, _ = frames.shape
    f = int(np.ceil(np.sqrt(height * width / LOOP_PIXELS)))
    if f <= 1:
        return frames
    import cv2  # INTER_AREA at an integer factor is the box average, vectorised

    size = (width // f, height // f)
    return np.stack([cv2.resize(frame[: size[1] * f, : size[0] * f], size, interpolation=cv2.INTER_AREA) for frame in frames])


def _codec_loss(small: np.ndarray, amplitude: np.ndarray, layout: _Layout, seed: bytes, crf: int) -> np.ndarray:
    """Per frame, how much one H.264 round trip of the marked clip lowers its window's mean unit values.

    ``small`` are the original frames at the loop's resolution; the mark of unit ``amplitude`` is
    rendered on them (the pattern lives in normalised coordinates, so any resolution shows it).
    """
    from provenance.media import Video, encode_decode

    height, width = small.shape[1:3]
    marked, _ = _render(small, amplitude, _synthesis(height, width, seed, layout.grid), layout.signs)
    decoded = encode_decode(Video(np.ascontiguousarray(marked), 25.0), crf=crf).frames
    view = _view(height, width, 1.0, grid=layout.grid)
    before = _unit_values(_work_luma(marked), view, layout.signs)
    after = _unit_values(_work_luma(decoded), view, layout.signs)
    return _window_means(before - after)


def _plan(values, shift, extra, fine_offset, synth, step):
    """Unit amplitudes that move every frame by about ``shift`` + ``extra`` and exactly onto the fine lattice.

    ``shift`` and ``extra`` are one row ``[units]`` each, constant over the window's frames ``values``
    ``[T, units]``. ``shift`` is rendered with the truncated inverse (its exact inverse would spend much
    of the distortion on fine detail that no codec keeps), ``extra`` as it is; the small per-frame
    remainder to the fine lattice with the exact inverse. Returns (amplitudes, targets).
    """
    amplitude = shift @ synth.smooth.T + extra
    achieved = values + amplitude @ synth.response.T
    target = _nearest_lattice(achieved, fine_offset, step / FINE)
    return amplitude + (target - achieved) @ synth.inverse.T, target


def _render_exact(frames, amplitude, target, synth, view, signs) -> tuple[np.ndarray, bool]:
    """Render in chunks of frames (bounded memory at 1080p); compensate clipping at dark or saturated pixels.

    Returns the frames and whether any chunk was compensated (then the PSNR prediction no longer holds).
    """
    out = np.empty(frames.shape, np.uint8)  # C order: each chunk is rendered in place
    compensated = False
    for start in range(0, frames.shape[0], _RENDER_CHUNK):
        part = slice(start, start + _RENDER_CHUNK)
        marked, clipped = _render(frames[part], amplitude[part], synth, signs, out[part])
        for _ in range(2 if clipped > _CLIPPED else 0):  # push the unclipped pixels harder
            achieved = _unit_values(_work_luma(marked), view, signs)
            amplitude[part] += (target[part] - achieved) @ synth.inverse.T
            marked, clipped = _render(frames[part], amplitude[part], synth, signs, out[part])
            compensated = True
    return out, compensated


def _ssim(a: np.ndarray, b: np.ndarray) -> float:
    """SSIM of two uint8 RGB frames (Wang et al.: Gaussian σ=1.5, K1=0.01, K2=0.03, channels averaged)."""
    import cv2

    x, y = a.astype(np.float32), b.astype(np.float32)
    blur = lambda z: cv2.GaussianBlur(z, (11, 11), 1.5, borderType=cv2.BORDER_REFLECT)  # noqa: E731 (radius 3.5σ)
    mx, my = blur(x), blur(y)
    vx, vy, cxy = blur(x * x) - mx * mx, blur(y * y) - my * my, blur(x * y) - mx * my
    c1, c2 = (0.01 * 255) ** 2, (0.03 * 255) ** 2
    ssim = ((2 * mx * my + c1) * (2 * cxy + c2)) / ((mx * mx + my * my + c1) * (vx + vy + c2))
    return float(ssim[3:-3, 3:-3].mean())


def _psnr_factor(psnr: float, strength: float) -> float:
    """Factor (<= 1) on the step that keeps the PSNR above its floor (scaled with ``strength``)."""
    psnr_floor = PSNR_FLOOR - 20 * np.log10(max(strength, 1.0))
    return min(1.0, 10 ** ((psnr - psnr_floor) / 20))


def _ssim_factor(frame: np.ndarray, marked: np.ndarray, strength: float) -> float:
    """Factor (<= 1) on the step that keeps the SSIM of one frame (its central crop) above its floor."""
    (height, width), side = frame.shape[:2], _SSIM_SIDE
    y, x = max(0, (height - side) // 2), max(0, (width - side) // 2)  # a central crop: speed at large sizes
    loss = 1.0 - _ssim(frame[y : y + side, x : x + side], marked[y : y + side, x : x + side])
    allowed = (1.0 - SSIM_FLOOR) * max(strength, 1.0) ** 2
    return min(1.0, float(np.sqrt(allowed / loss))) if loss > allowed else 1.0


def _rechunk(chunks, size: int):
    """Re-cut an iterable of ``[n, H, W, 3]`` arrays into arrays of exactly ``size`` frames (the last may be shorter)."""
    pending, count = [], 0
    for chunk in chunks:
        while len(chunk):
            part = chunk[: size - count]
            pending.append(part)
            count += len(part)
            chunk = chunk[len(part) :]
            if count == size:
                yield pending[0] if len(pending) == 1 else np.concatenate(pending)
                pending, count = [], 0
    if pending:
        yield pending[0] if len(pending) == 1 else np.concatenate(pending)


class _ArraySink:
    """Where :func:`embed` collects the marked frames of :func:`embed_stream`: one preallocated array."""

    def __init__(self, out: np.ndarray):
        self.out, self.position = out, 0

    def __enter__(self) -> _ArraySink:
        self.position = 0
        return self

    def __exit__(self, *exc) -> None:
        pass

    def write(self, frames: np.ndarray) -> None:
        self.out[self.position : self.position + len(frames)] = frames
        self.position += len(frames)


@dataclass(frozen=True)
class EmbedReport:
    """What :func:`embed_stream` did: frames marked, the step's factor (1 unless the quality floors lowered
    it), decode passes over the source and marked passes written to a sink (more than one when a
    finished pass failed the quality check)."""

    frames: int
    height: int
    width: int
    step_scale: float
    source_passes: int
    written_passes: int


def embed(frames: np.ndarray, payload: bytes, key: bytes, strength: float = DEFAULT_STRENGTH, codec_crf: int | None = None) -> np.ndarray:
    """Return a copy of ``frames`` (uint8 ``[T, H, W, 3]``, sides >= 32) carrying ``payload`` under ``key``.

    ``payload`` is exactly 8 bytes; ``key`` is a secret of at least 16 bytes (any length above; it is
    only ever passed through HMAC-SHA256). ``strength`` scales the lattice step; at 1.0 the step is
    lowered, where a clip needs it, until PSNR >= 42.0 dB and SSIM >= 0.981 (floors that move with
    ``strength``). The detector finds strengths within its gain search (0.29–2.0 × brightness) itself.

    ``codec_crf`` pre-compensates one H.264 round trip at that CRF whatever the frame size; by default
    frames of at least :data:`LOOP_MIN_SIDE` pixels are pre-compensated for CRF :data:`LOOP_CRF` and
    smaller ones not (there it costs the non-codec attacks more than it gains: at 64² CRF 23 survival
    rose from 56 to 74 % but brightness ×0.5 fell from 98 to 86 %). :func:`provenance.sign.credential_clip`
    asks for it when a clip's mark did not survive its own encode.

    This is :func:`embed_stream` over the array: the same marked frames, bit for bit.
    """
    _check_frames(frames, MIN_EMBED_SIDE)
    out = np.empty(frames.shape, np.uint8)
    sink = _ArraySink(out)
    embed_stream(
        lambda: (frames[i : i + _RENDER_CHUNK] for i in range(0, frames.shape[0], _RENDER_CHUNK)),
        payload,
        key,
        lambda: sink,
        strength=strength,
        codec_crf=codec_crf,
    )
    return out


def embed_stream(
    open_frames, payload: bytes, key: bytes, open_sink, *, strength: float = DEFAULT_STRENGTH, codec_crf: int | None = None
) -> EmbedReport:
    """:func:`embed` for clips of any length, in memory independent of their length.

    ``open_frames()`` returns a fresh iterable over the clip's frames as uint8 ``[n, H, W, 3]`` chunks,
    the same frames every time (a file decoded again); ``open_sink()`` returns a context manager with
    ``write(chunk)`` that receives the marked frames in order (a :class:`provenance.media.VideoWriter`).

    The mark needs statistics of whole windows of :data:`WINDOW` frames and of the whole clip (window
    boundaries depend on its length; the step is lowered for the whole clip when PSNR or SSIM would
    fall below their floors), so the source is read more than once: (1) every frame's unit values,
    1.6 KB a frame, are kept; (2) where the codec loop runs, the marked clip at about 320² goes through
    H.264 frame by frame (:class:`provenance.media.CodecRoundTrip`); (3) the marked frames are rendered
    8 at a time and written. The SSIM check on the middle frame is made before the writing pass; a
    written pass is redone only when clipping compensation makes the measured PSNR fall below its
    floor. Every statistic is the one :func:`embed` computes, window by window, so both give the same
    frames.
    """
    _check_payload(payload)
    _check_key(key)
    if not (np.isfinite(strength) and 0.1 <= strength <= 4.0):
        raise WatermarkError(f"strength must be in [0.1, 4], got {strength!r}")
    if codec_crf is not None and not 0 <= codec_crf <= 51:
        raise WatermarkError(f"codec_crf must be in 0..51, got {codec_crf!r}")
    strength = float(strength)
    seed = _derive(key, "layout")
    passes = {"source": 0, "written": 0}

    def frames_of(size: int = _RENDER_CHUNK):
        passes["source"] += 1
        return _rechunk(open_frames(), size)

    # Pass 1: the unit values of every frame.
    parts, shape, layout = [], None, None
    for chunk in frames_of():
        if shape is None:
            _check_frames(chunk, MIN_EMBED_SIDE)
            shape = chunk.shape[1:3]
            height, width = shape
            grid = _embed_grid(height, width)
            layout = _layout_from_seed(seed, grid)
            view, synth = _view(height, width, 1.0, grid=grid), _synthesis(height, width, seed, grid)
        elif chunk.dtype != np.uint8 or chunk.shape[1:] != (*shape, 3):
            raise WatermarkError(
                f"frame {sum(len(p) for p in parts)}: {chunk.dtype} {list(chunk.shape[1:])} differs from the first frames' uint8 {[*shape, 3]}"
            )
        parts.append(_unit_values(_work_luma(chunk), view, layout.signs))
    if shape is None:
        raise WatermarkError("frames: the clip has zero frames")
    values = np.concatenate(parts)
    del parts
    t = values.shape[0]
    windows = _windows(t)
    means = np.stack([values[window].mean(axis=0) for window in windows])
    bits = code.encode(bytes(payload), _derive(key, "check"), layout.scramble)
    offset = layout.dither + bits[layout.bit_of_unit] / 2.0
    fine_offset = np.mod(layout.fine_dither + bits[layout.bit_of_unit] / 2.0, 1.0)
    window_of = np.repeat(np.arange(len(windows)), [w.stop - w.start for w in windows])
    middle = t // 2
    middle_start = middle - middle % _RENDER_CHUNK
    middle_chunk = None  # the source frames of the render chunk that holds the middle frame

    def window_plan(index: int, step: float, loss: np.ndarray | None, corrected: bool = True):
        """(amplitudes, targets) of window ``index``'s frames, as embed's whole-clip plan gives them."""
        window = windows[index]
        v, mean = values[window], means[index]
        shift = _nearest_lattice(mean, offset, step) - mean
        amplitude, target = _plan(v, shift, 0.0, fine_offset, synth, step)
        if not corrected:
            return amplitude, target
        correction = mean + shift - target.mean(axis=0)  # what the smooth rendering misses
        if loss is not None:
            correction = correction + np.clip(LOOP_GAIN * loss[index] * step, -LOOP_CAP * step, LOOP_CAP * step)
        return _plan(v, shift, correction, fine_offset, synth, step)

    class Rows:
        """Plan rows of any frame range, each window planned once (frames arrive in order)."""

        def __init__(self, step, loss, corrected=True):
            self.args, self.cache = (step, loss, corrected), {}

        def __call__(self, start: int, stop: int):
            needed = range(int(window_of[start]), int(window_of[stop - 1]) + 1)
            for index in list(self.cache):
                if index not in needed:
                    del self.cache[index]
            for index in needed:
                if index not in self.cache:
                    self.cache[index] = window_plan(index, *self.args)
            amplitude = np.concatenate([self.cache[i][0] for i in needed])
            target = np.concatenate([self.cache[i][1] for i in needed])
            first = windows[needed[0]].start
            return amplitude[start - first : stop - first].copy(), target[start - first : stop - first].copy()

    def codec_loss(step: float) -> np.ndarray:
        """Per window, how much one H.264 round trip of the marked clip (at about 320²) lowers its mean
        unit values, divided by ``step``: what :func:`_codec_loss` measures, frame by frame."""
        from provenance.media import CodecRoundTrip

        nonlocal middle_chunk
        rows = Rows(step, None, corrected=False)
        small_shape = _loop_frames(np.zeros((1, *shape, 3), np.uint8)).shape[1:3]
        small_synth = _synthesis(*small_shape, seed, layout.grid)
        small_view = _view(*small_shape, 1.0, grid=layout.grid)
        per_block = _RENDER_BLOCK // (3 * small_shape[0] * small_shape[1])
        roundtrip = CodecRoundTrip(25.0, crf=LOOP_CRF if codec_crf is None else codec_crf)
        before: deque = deque()  # unit values of marked frames still inside the encoder
        differences: list[np.ndarray] = []  # before - after of the current window's frames
        loss = np.empty((len(windows), values.shape[1]), np.float32)
        done, position, kept = 0, 0, []

        def take(decoded) -> None:
            nonlocal done
            if not decoded:
                return
            after = _unit_values(_work_luma(np.stack(decoded)), small_view, layout.signs)
            for row in after:
                differences.append(before.popleft() - row)
                window = int(window_of[done])
                done += 1
                if done == windows[window].stop:
                    loss[window] = np.stack(differences).mean(axis=0)
                    differences.clear()

        for chunk in frames_of(max(per_block, 1) * _RENDER_CHUNK):
            start, stop = position, position + len(chunk)
            if start < middle_start + _RENDER_CHUNK and stop > middle_start:
                kept.append(chunk[max(0, middle_start - start) : middle_start + _RENDER_CHUNK - start].copy())
            small = _loop_frames(chunk)
            amplitude, _ = rows(start, stop)
            marked, _ = _render(small, amplitude, small_synth, layout.signs)
            before.extend(_unit_values(_work_luma(marked), small_view, layout.signs))
            take(roundtrip.push(marked))
            position = stop
        take(roundtrip.flush())
        if done != t:
            raise WatermarkError(f"the codec loop decoded {done} of {t} frames")
        middle_chunk = np.concatenate(kept)
        return loss / step

    def render_middle(rows) -> np.ndarray:
        nonlocal middle_chunk
        if middle_chunk is None:
            for index, chunk in enumerate(frames_of()):
                if index * _RENDER_CHUNK == middle_start:
                    middle_chunk = chunk.copy()
                    break
        amplitude, target = rows(middle, middle + 1)
        frame = middle_chunk[middle - middle_start : middle - middle_start + 1]
        return _render_exact(frame, amplitude, target, synth, view, layout.signs)[0][0]

    def render_all(rows, sink) -> tuple[float, bool, np.ndarray]:
        """Render every frame (into ``sink`` when given): (sum of squared errors, compensated?, middle frame)."""
        import cv2

        squared, compensated, middle_marked, position = 0.0, False, None, 0
        for chunk in frames_of():
            start, stop = position, position + len(chunk)
            amplitude, target = rows(start, stop)
            marked, clipped = _render_exact(chunk, amplitude, target, synth, view, layout.signs)
            compensated |= clipped
            squared += cv2.norm(marked.reshape(len(chunk), -1), np.ascontiguousarray(chunk).reshape(len(chunk), -1), cv2.NORM_L2SQR)
            if start <= middle < stop:
                middle_marked = marked[middle - start].copy()
            if sink is not None:
                sink.write(marked)
            position = stop
        if position != t:
            raise WatermarkError(f"the source gave {position} frames on a later pass, {t} on the first")
        return squared, compensated, middle_marked

    nominal = _step(layout.grid) * strength
    floor = PSNR_FLOOR - 20 * np.log10(max(strength, 1.0))

    def predicted_psnr(step: float, loss: np.ndarray | None) -> float:
        return _psnr_of(np.concatenate([_frame_mse(window_plan(i, step, loss)[0], synth, layout.signs) for i in range(len(windows))]))

    def lowered(scale: float, factor: float) -> float:
        """A whole number of gain steps below ``scale × factor`` (the detector's gain grid meets it exactly)."""
        return float(GAINS[GAINS < scale * factor].max(initial=GAINS[0]))

    scale, loss = 1.0, None
    loop = codec_crf is not None or min(shape) >= LOOP_MIN_SIDE
    for attempt in range(4):
        step = nominal * scale
        if loop and loss is None:  # what a codec round trip takes away, measured at the step it will correct
            loss = codec_loss(step)
        rows = Rows(step, loss)
        predicted = predicted_psnr(step, loss)
        if predicted < floor and attempt < 2:  # lower the step before rendering
            scale = lowered(scale, 10 ** ((predicted - floor) / 20) * 0.995)
            # The codec takes a larger share of a smaller mark: measured again at the new step. (Measuring
            # once, at the step the floor allows without the correction, made marks weaker: 256² CRF 28
            # exact 99.0 -> 96.7 % on the real-footage protocol's report split.)
            loss = None
            continue
        # The SSIM check needs only the middle frame: when it fails, the pass measures without writing.
        checked_frame = render_middle(rows)
        middle_source = middle_chunk[middle - middle_start]
        checked = _ssim_factor(middle_source, checked_frame, strength)
        write = attempt == 3 or checked >= 1.0
        while True:
            if write:
                passes["written"] += 1
                with open_sink() as sink:
                    squared, compensated, middle_marked = render_all(rows, sink)
            else:
                squared, compensated, middle_marked = render_all(rows, None)
            psnr = predicted
            if compensated:
                mse = squared / (t * shape[0] * shape[1] * 3)
                psnr = np.inf if mse == 0 else 10 * np.log10(255.0**2 / mse)
            # The pass renders the checked frame again; only clipping compensation of its chunk changes it.
            ssim = checked if np.array_equal(middle_marked, checked_frame) else _ssim_factor(middle_source, middle_marked, strength)
            factor = min(_psnr_factor(psnr, strength), ssim)
            if write or factor < 1.0:
                break
            write = True  # not reached: the middle frame renders the same in both passes
        if factor >= 1.0 or attempt == 3:
            break
        scale = lowered(scale, factor * 0.99)  # with a margin
        loss = None
        log.debug("embed: step lowered to %.3f of nominal for PSNR/SSIM", scale)
    return EmbedReport(t, shape[0], shape[1], scale, passes["source"], passes["written"])


# ---------------------------------------------------------------- detect


def _evidence(values: np.ndarray, dither: np.ndarray, step: float, scale: float | None = None, weight: np.ndarray | float = 1.0) -> np.ndarray:
    """Soft evidence per unit for bit 0 (positive) or 1 (negative), summed over the frame axis (second from last).

    Units of strong local contrast (``|value|`` large against ``scale``, :data:`CONTRAST_STEPS` coarse
    steps) are where codecs move values most; they count less. The weight is a function of the
    picture, not of the key's dithers, so unmarked evidence stays symmetric about zero.
    """
    scale = step if scale is None else scale
    weight = weight / (1.0 + (values / (CONTRAST_STEPS * scale)) ** 2)
    phase = values / step - dither
    phase -= np.rint(phase)  # exact; cos of the float32 remainder is SIMD (float64 cos is ~40× slower here)
    return (np.cos(np.float32(2 * np.pi) * phase.astype(np.float32)) * weight).sum(axis=-2)


def _soft_bits(evidence: np.ndarray, units: np.ndarray, bit_of_unit: np.ndarray) -> np.ndarray:
    """Per code bit, the summed evidence of its visible units: ``[..., units]`` → ``[..., CODE_BITS]``."""
    if evidence.ndim == 1:
        return np.bincount(bit_of_unit, weights=evidence * units, minlength=code.CODE_BITS)
    return np.stack([np.bincount(bit_of_unit, weights=row * units, minlength=code.CODE_BITS) for row in evidence])


def _lattice_fit(values: np.ndarray, units: np.ndarray, dither: np.ndarray, steps: np.ndarray) -> np.ndarray:
    """Per step: how well unit values ``[T, units]`` sit on the union of both bit lattices (period step/2)."""
    # float32 (the fit only ranks hypotheses; float32 cos is SIMD), as value·(4π/step) − 4π·dither, in place
    x = values[:, units].astype(np.float32)[None] * (4 * np.pi / steps).astype(np.float32)[:, None, None]
    x -= (4 * np.pi * dither[units]).astype(np.float32)
    n = max(int(units.sum()) * values.shape[0], 1)
    return np.cos(x, out=x).sum(axis=(1, 2)) / np.sqrt(n)


def _chunk_means(luma: np.ndarray) -> np.ndarray:
    """Means ``[chunks, h, w]`` of consecutive received frames, in chunks of at most :data:`WINDOW`."""
    return np.stack([luma[window].mean(axis=0) for window in _windows(luma.shape[0])])


def _search(means: np.ndarray, layout: _Layout, height: int, width: int) -> list[tuple[float, int, float, float]]:
    """Best (score, crop index, shift y, shift x) hypotheses on the first chunk's mean image.

    Every second crop with all nine shifts, then the crops next to the best few. A crop's nine shifts
    share three row and three column axes, so each crop costs two small products with the image; all
    crops of a stage are scored in one batch (what _view and _lattice_fit compute per hypothesis,
    vectorised: the search scores ~1,400 of them).
    """
    probe = means[0]
    grid = layout.grid
    # cos(4π(value/step − dither)) as value·(4π/step) − 4π·dither, in float32 (SIMD cos)
    frequency = (4 * np.pi / (_step(grid) * GAINS[::_COARSE_GAIN_STRIDE])).astype(np.float32)[:, None]
    phase0 = (4 * np.pi * layout.dither).astype(np.float32)
    scores: dict[tuple[int, float, float], float] = {}

    def score(crop_indices: list[int]) -> None:
        crop_indices = [i for i in crop_indices if (i, 0.0, 0.0) not in scores]
        for start in range(0, len(crop_indices), _SEARCH_BATCH):  # batches whose temporaries stay in cache
            batch = crop_indices[start : start + _SEARCH_BATCH]
            rows, cols, norm, mask, any_visible = _stacked_geometry(height, width, grid, tuple(batch))
            across = (rows.reshape(-1, rows.shape[-1]) @ probe).reshape(*rows.shape[:-1], -1)  # one product
            chips = across[:, :, None] @ cols[:, None]  # [crops, 3 (y), 3 (x), grid, grid]
            x = _pair_means(chips / norm * layout.signs).reshape(len(batch), 9, 1, -1) * frequency
            x -= phase0
            fit = np.einsum("cshu,csu->csh", np.cos(x, out=x), mask)
            fit = fit.max(axis=2) / np.sqrt(np.maximum(mask.sum(axis=2), 1))
            for c, crop_index in enumerate(batch):
                for k, (sy, sx) in enumerate((sy, sx) for sy in SHIFTS for sx in SHIFTS):
                    scores[(crop_index, sy, sx)] = float(fit[c, k]) if any_visible[c, k] else -np.inf

    def best(count):
        return sorted(scores, key=scores.get, reverse=True)[:count]

    score(list(range(0, len(CROPS), _COARSE_CROP_STRIDE)))
    score(
        sorted(
            {
                i
                for crop_index, _, _ in best(_REFINE)
                for i in range(max(0, crop_index - _COARSE_CROP_STRIDE + 1), min(len(CROPS), crop_index + _COARSE_CROP_STRIDE))
            }
        )
    )
    return [(scores[h], *h) for h in best(_CANDIDATES)]


@lru_cache(maxsize=256)  # the coarse stage's batches of a frame size: the same for every clip of that size
def _stacked_geometry(height: int, width: int, grid: int, crop_indices: tuple[int, ...]) -> tuple:
    """:func:`_search_geometry` of several crops, stacked on a leading axis."""
    out = tuple(np.stack(a) for a in zip(*(_search_geometry(height, width, grid, i) for i in crop_indices)))
    for array in out:
        array.flags.writeable = False
    return out


@lru_cache(maxsize=512)  # a frame size's crops on both grids: the same for every clip of that size
def _search_geometry(height: int, width: int, grid: int, crop_index: int) -> tuple:
    """What :func:`_search` needs of one crop hypothesis and its nine shifts, apart from the picture: the
    stacked row and column bumps, the bump mass per chip, which units are fully visible (as 0/1 weights)
    and whether any is."""
    crop, factor = float(CROPS[crop_index]), _box_factor(height, width)
    axes_y = [_axis(height, factor, crop, shift, grid) for shift in SHIFTS]
    axes_x = [_axis(width, factor, crop, shift, grid) for shift in SHIFTS]
    rows = np.stack([bumps.T for bumps, _ in axes_y])  # [3, grid, h]
    cols = np.stack([bumps for bumps, _ in axes_x])  # [3, w, grid]
    norm = rows.sum(axis=2)[:, None, :, None] * cols.sum(axis=1)[None, :, None, :]
    visible = np.array([v for _, v in axes_y])[:, None, :, None] & np.array([v for _, v in axes_x])[None, :, None, :]
    units = (visible & (norm > 1e-3)).reshape(9, grid, grid // UNIT_X, UNIT_X).all(axis=3).reshape(9, -1)
    out = (rows, cols, np.maximum(norm, 1e-6), units.astype(np.float32), units.any(axis=1))
    for array in out:
        array.flags.writeable = False
    return out


@dataclass(frozen=True)
class WorkFrames:
    """What detection reads of a clip: per frame, the box-averaged luma and saturated fraction at the
    work size (kilobytes a frame at any resolution). Made frame by frame, so a clip can be read in chunks
    (:func:`work_frames` of each, :meth:`concat`) without holding its pixels: detect on the result is
    detect on the whole clip, bit for bit."""

    luma: np.ndarray  # float32 [T, h, w]
    clipped: np.ndarray | None  # float32 [T, h, w]; None: no saturated value in any frame
    height: int  # the frames' size before the box average
    width: int

    @property
    def frames(self) -> int:
        return int(self.luma.shape[0])

    def __getitem__(self, index: slice) -> WorkFrames:
        """Frames ``index`` (a slice) of the clip."""
        return WorkFrames(self.luma[index], None if self.clipped is None else self.clipped[index], self.height, self.width)

    @staticmethod
    def concat(parts: list[WorkFrames]) -> WorkFrames:
        if not parts or len({(p.height, p.width) for p in parts}) != 1:
            raise WatermarkError("work frames: nothing to join, or chunks of different frame sizes")
        clipped = None
        if any(p.clipped is not None for p in parts):
            clipped = np.concatenate([np.zeros_like(p.luma) if p.clipped is None else p.clipped for p in parts])
        return WorkFrames(np.concatenate([p.luma for p in parts]), clipped, parts[0].height, parts[0].width)


def work_frames(frames: np.ndarray) -> WorkFrames:
    """The :class:`WorkFrames` of ``frames`` (uint8 ``[T, H, W, 3]``): all :func:`detect_work` needs."""
    _check_frames(frames, MIN_DETECT_SIDE)
    return WorkFrames(_work_luma(frames), _work_clipped(frames), int(frames.shape[1]), int(frames.shape[2]))


def detect(frames: np.ndarray, key: bytes) -> Detection:
    """Look for a watermark made with ``key`` in ``frames`` (uint8 ``[T, H, W, 3]``, any order or rate).

    The unchanged geometry is decoded first (most clips are not cropped or shifted); only when that
    finds nothing does the crop/shift/gain search run, on both grids.
    """
    _check_key(key)
    return detect_work(work_frames(frames), key)


def detect_work(work: WorkFrames, key: bytes) -> Detection:
    """:func:`detect` on a clip's :class:`WorkFrames` (made at once or chunk by chunk)."""
    _check_key(key)
    check_key = _derive(key, "check")
    height, width = work.height, work.width
    t = work.frames
    luma = work.luma
    means = _chunk_means(luma)
    clipped = work.clipped
    clipped_means = None if clipped is None else _chunk_means(clipped)
    best: list[Detection] = []

    def attempt(grid: int, crop_index: int, shift_y: float, shift_x: float, hypotheses: int, rate: float) -> bool:
        layout = _layout(key, grid)
        step = _step(grid)
        view = _view(height, width, float(CROPS[crop_index]), shift_y, shift_x, grid)
        mean_values = _unit_values(means, view, layout.signs)
        mean_weight = 1.0 if clipped is None else _unclipped_weight(clipped_means, view)
        gain_fit = _lattice_fit(mean_values, view.units, layout.dither, step * GAINS)
        # Per statistic: (unit values, lattice offsets, lattice divisor, weights, gains to decode).
        statistics = {"mean": (mean_values, layout.dither, 1, mean_weight, _gain_order(gain_fit))}
        if t > 1:  # one frame: both statistics are the same
            frame_values = _unit_values(luma, view, layout.signs)
            frame_weight = 1.0 if clipped is None else _unclipped_weight(clipped, view)
            fine_fit = _lattice_fit(frame_values, view.units, layout.fine_dither, step * GAINS / FINE)
            statistics["frames"] = (frame_values, layout.fine_dither, FINE, frame_weight, _gain_order(fine_fit))
        # The soft bits of every trial at once (one array operation per statistic, not one per gain).
        soft = {}
        for name, (values, dither, fine, weight, order) in statistics.items():
            gains = GAINS[order][:, None, None]
            evidence = _evidence(values[None], dither, step * gains / fine, step * gains, weight)
            soft[name] = dict(zip(order, _soft_bits(evidence, view.units, layout.bit_of_unit)))

        def keep(payload: bytes, p_value: float, errors: int, name: str, gain_index: int, decoding: str) -> bool:
            if not best or p_value < best[0].p_value:
                found = p_value <= rate
                geometry = (float(CROPS[crop_index]), float(GAINS[gain_index]), grid, name)
                best[:] = [Detection(found, payload, p_value, errors, t, *geometry, decoding)]
            return best[0].found

        # Hard decisions first (BCH, cheap), then soft decoding of the same trials.
        trials = [(name, gain_index) for name, (*_, order) in statistics.items() for gain_index in order]
        for name, gain_index in trials:
            decoded = code.decode((soft[name][gain_index] < 0).astype(np.uint8), check_key, layout.scramble)
            if decoded is not None:
                p_value = min(1.0, code.false_match_probability(decoded[1], hypotheses) / BCH_SHARE)
                if keep(decoded[0], p_value, decoded[1], name, gain_index, "bch"):
                    return True
        soft_share = (1 - BCH_SHARE) / hypotheses
        words = np.stack([soft[name][gain_index] for name, gain_index in trials])
        for (name, gain_index), decoded in zip(trials, code.soft_decode(words, check_key, layout.scramble, np.log(rate * soft_share))):
            if decoded is not None:
                payload, log_bound, errors = decoded
                if keep(payload, min(1.0, float(np.exp(log_bound)) / soft_share), errors, name, gain_index, "soft"):
                    return True
        return False

    grids = sorted(GRIDS, key=lambda g: g != _embed_grid(height, width))  # the likelier grid first
    # First tier: no geometric change, the commonest case.
    if not attempt(grids[0], 0, 0.0, 0.0, IDENTITY_HYPOTHESES, IDENTITY_RATE):
        candidates = []
        for grid in grids:
            layout = _layout(key, grid)
            candidates += [(score, grid, *h) for score, *h in _search(means, layout, height, width)]
        for _, grid, crop_index, shift_y, shift_x in sorted(candidates, key=lambda c: c[0], reverse=True):
            if attempt(grid, crop_index, shift_y, shift_x, HYPOTHESES, FALSE_POSITIVE_RATE - IDENTITY_RATE):
                break
    if not best or not best[0].found:
        return Detection(False, None, 1.0 if not best else best[0].p_value, None, t)
    return best[0]


def _unclipped_weight(clipped: np.ndarray, view: _View) -> np.ndarray:
    """Per unit ``(1 − fraction of saturated channel values under it)²``, ``[T, units]``."""
    grid = view.norm.shape[0]
    fraction = _unit_values(clipped, view, np.ones((grid, grid), np.float32))
    return np.clip(1.0 - fraction, 0.0, 1.0) ** 2


def _gain_order(fit: np.ndarray) -> list[int]:
    """Gain indices to decode: no change first, then the best-fitting few."""
    return [_UNIT_GAIN] + [int(g) for g in np.argsort(fit)[::-1][:_GAIN_CANDIDATES] if g != _UNIT_GAIN]
