"""Temporal-consistency metrics as torchmetrics ``Metric`` objects (formulas and sources per class).

Every metric here scores each clip (``scores``) and keeps a weighted running mean over clips (states
``value_sum``, ``weight_sum``, float64, reduced by summation, so they sync across processes). The
per-clip functions are public too; :func:`temporal_clip_scores` computes all of them for one clip
sharing its embeddings and optical flows (what ``synthvid eval`` does).

Optical flow is OpenCV's DIS (Kroeger et al. 2016, preset MEDIUM) on grey frames: on shapes-world
camera pans it recovers the true 1.28 px/frame translation, and it is ~4× faster than Farneback. The
references used FlowNet2 (Lai et al.) and RAFT (VBench), so absolute values differ from theirs.

Two protocols (:data:`TEMPORAL_PROTOCOLS`); every output names the one it followed:

- ``synthvid`` (default): frames preprocessed as open_clip's eval transform (antialiased resize, centre
  crop); dynamic degree on every frame pair, its threshold raised for clips below 8 fps;
- ``vbench``: VBench 0.1.5's own preprocessing (``eval.encoders``: shorter side to 224 without
  antialias, centre crop for CLIP, no crop for DINO, DINO's position interpolation) and its dynamic
  degree rules: frames subsampled to about 8 fps (every ``max(1, round(fps/8))``-th), threshold
  6·min(H, W)/256 px, ``round(4·frames/16)`` moving pairs needed (Python's rounding, which may be 0),
  flow on frames padded to multiples of 8 (RAFT's ``InputPadder``), top-5 % count ``int(0.05·H·W)`` of
  the padded field. The flow is RAFT's with the original ``raft-things.pth`` when given
  (:mod:`eval.raft`, ``--raft``): then dynamic degree is VBench's; else DIS, whose decisions can differ.
"""

from __future__ import annotations

import abc
from dataclasses import dataclass

import numpy as np
import torch
from torchmetrics import Metric

from eval.encoders import ImageEncoder
from eval.errors import EvalError, FramesError
from eval.frames import video_batch

# VBench dynamic degree: a clip "moves" when enough frame pairs have a top-5 % flow above a threshold
# that scales with the frame size (6 px at 256) and with low frame rates (×8/fps below 8 fps).
TOP_FRACTION = 0.05
VBENCH_THRESHOLD_PX_AT_256 = 6.0
VBENCH_TARGET_FPS = 8.0

TEMPORAL_PROTOCOLS = {
    "synthvid": "synthvid's default: encoders' open_clip eval transform (antialiased resize, centre crop); dynamic degree "
    "on every frame pair (OpenCV DIS flow), threshold 6·min(H,W)/256 px ×max(1, 8/fps), max(1, round(4·T/16)) "
    "pairs; not a published protocol",
    "vbench": "VBench 0.1.5: shorter side to 224 without antialias (CLIP: bicubic + centre crop; DINO: bilinear, no crop, "
    "DINO's position interpolation); dynamic degree on frames subsampled to ~8 fps (every max(1, round(fps/8))-th), "
    "threshold 6·min(H,W)/256 px, round(4·frames/16) pairs; flow: RAFT given --raft raft-things.pth, else OpenCV DIS",
}
DEFAULT_TEMPORAL_PROTOCOL = "synthvid"


def check_protocol(protocol: str | None) -> str:
    """``protocol`` (``None``: the default) if it is one of :data:`TEMPORAL_PROTOCOLS`, else :class:`EvalError`."""
    name = protocol or DEFAULT_TEMPORAL_PROTOCOL
    if name not in TEMPORAL_PROTOCOLS:
        raise EvalError(None, f"unknown temporal protocol {name!r}: choose from {', '.join(TEMPORAL_PROTOCOLS)}")
    return name


# ----------------------------------------------------------------------------------------- flows


@dataclass
class ClipFlows:
    """Forward (t → t+1) and backward (t+1 → t) flows of a clip, each ``[T−1, H, W, 2]`` (x, y) in pixels."""

    forward: np.ndarray
    backward: np.ndarray


def optical_flows(frames: np.ndarray) -> ClipFlows:
    """DIS optical flow between consecutive frames of a uint8 ``[T, H, W, 3]`` clip, both directions."""
    import cv2

    if frames.shape[0] < 2:
        raise FramesError(None, f"optical flow needs at least 2 frames, got {frames.shape[0]}")
    grey = [cv2.cvtColor(np.ascontiguousarray(f), cv2.COLOR_RGB2GRAY) for f in frames]
    dis = cv2.DISOpticalFlow_create(cv2.DISOPTICAL_FLOW_PRESET_MEDIUM)
    forward = np.stack([dis.calc(a, b, None) for a, b in zip(grey[:-1], grey[1:])])
    backward = np.stack([dis.calc(b, a, None) for a, b in zip(grey[:-1], grey[1:])])
    return ClipFlows(forward, backward)


def warp(image: np.ndarray, flow: np.ndarray) -> np.ndarray:
    """``image`` sampled at x + flow(x) (bilinear, borders replicated): the next frame brought back
    along the forward flow (FlowNet2's Resample2d, as Lai et al. use it)."""
    import cv2

    h, w = flow.shape[:2]
    xx, yy = np.meshgrid(np.arange(w, dtype=np.float32), np.arange(h, dtype=np.float32))
    return cv2.remap(image, xx + flow[..., 0], yy + flow[..., 1], cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)


def occlusion_mask(forward: np.ndarray, backward: np.ndarray) -> np.ndarray:
    """Pixels of frame t without a reliable match in t+1 (bool ``[H, W]``): Lai et al. 2018's
    ``detect_occlusion`` (after Ruder et al. 2016). With F the forward and B the backward flow and
    B̂(x) = B(x + F(x)):

        occluded ⇔ |F + B̂|² > 0.01 (|F|² + |B̂|²) + 0.5            (forward-backward inconsistency)
                 ∨ |∇F_x|² + |∇F_y|² > 0.01 |F|² + 0.002            (motion boundary)

    with one-sided differences for ∇, as fast_blind_video_consistency ``utils.py`` computes them.
    """
    back = warp(backward.astype(np.float32), forward.astype(np.float32))
    fb = np.square(forward + back).sum(-1)
    inconsistent = fb > 0.01 * (np.square(forward).sum(-1) + np.square(back).sum(-1)) + 0.5
    gradient = np.zeros(forward.shape[:2], np.float64)
    for c in range(2):
        du, dv = np.zeros(forward.shape[:2]), np.zeros(forward.shape[:2])
        du[:, :-1] = forward[:, :-1, c] - forward[:, 1:, c]
        dv[:-1, :] = forward[:-1, :, c] - forward[1:, :, c]
        gradient += du**2 + dv**2
    boundary = gradient > 0.01 * np.square(forward).sum(-1) + 0.002
    return inconsistent | boundary


# ------------------------------------------------------------------------------- per-clip scores


def clip_temp(embeddings: torch.Tensor) -> float:
    """CLIP-Temp: mean cosine of consecutive frames' embeddings, (1/(T−1)) Σ_t cos(e_t, e_{t+1}).
    ``embeddings`` ``[T, D]`` are L2-normalised."""
    return float((embeddings[:-1] * embeddings[1:]).sum(-1).mean())


def vbench_consistency(embeddings: torch.Tensor) -> tuple[float, int]:
    """VBench's subject/background consistency terms of one clip: (Σ_{t≥2} ½ (max(0, ⟨e_1, e_t⟩) +
    max(0, ⟨e_{t−1}, e_t⟩)), number of terms T−1); the score is their ratio."""
    first = (embeddings[:1] * embeddings[1:]).sum(-1).clamp(min=0)
    previous = (embeddings[:-1] * embeddings[1:]).sum(-1).clamp(min=0)
    return float(((first + previous) / 2).sum()), int(embeddings.shape[0] - 1)


def flickering_score(frames: np.ndarray) -> float:
    """VBench temporal flickering: (255 − mean_t MAE(f_t, f_{t+1})) / 255, MAE over pixels and
    channels of uint8 frames; 1 = no change between frames. Summed as ``vbench/temporal_flickering.py``
    does (float32 means of each BGR frame pair's ``cv2.absdiff``, their float32 mean), so the result is
    VBench's to the last bit. Pair by pair (:func:`flicker_term`): only each pair's uint8 difference is
    made float (VBench converts every frame to float twice); no float copy of the clip is made."""
    return flickering_of_terms(flicker_pairs(frames))


def flickering_of_terms(terms: list[float]) -> float:
    """The flickering score from the per-pair MAE terms: their float32 mean, as VBench averages them."""
    return (255.0 - np.array(terms, dtype=np.float32).mean().item()) / 255.0


def flicker_pairs(frames) -> list[float]:
    """The per-pair MAE terms of :func:`flickering_score` for consecutive frames of ``frames`` (an array or
    any iterable of uint8 ``[H, W, 3]`` RGB frames: a chunked reader's frames, the last of one chunk given
    again at the start of the next, give the same terms)."""
    out, previous = [], None
    for frame in frames:
        frame = np.ascontiguousarray(frame)
        if previous is not None:
            out.append(flicker_term(previous, frame))
        previous = frame
    return out


def flicker_term(previous: np.ndarray, current: np.ndarray) -> float:
    """VBench's MAE of one pair of uint8 RGB frames, to the last bit: VBench takes ``np.mean`` of the float32
    ``cv2.absdiff`` of the BGR frames; the absolute difference of uint8 values is the same integer, so it is
    taken on the uint8 frames, put in BGR order (the float32 mean sums in memory order) and made float32."""
    import cv2

    return float(np.mean(cv2.cvtColor(cv2.absdiff(previous, current), cv2.COLOR_RGB2BGR).astype(np.float32)))


def warping_error(frames: np.ndarray, flows: ClipFlows) -> float:
    """Lai et al. 2018 warping error: (1/(T−1)) Σ_t Σ_p M_t(p) ‖f_t(p) − ŵ_t(p)‖² / Σ_p M_t(p)·C, with
    frames in [0, 1], ŵ_t = f_{t+1} warped back along the forward flow, M_t = 1 − occlusion mask and
    C = 3 channels (all pixels when everything is occluded), as ``evaluate_WarpError.py`` does."""
    total, image = 0.0, unit_image(frames[0])
    for t in range(len(flows.forward)):
        following = unit_image(frames[t + 1])  # each frame made float once, kept for the next pair
        total += warping_term(image, following, flows.forward[t], flows.backward[t])
        image = following
    return total / len(flows.forward)


def unit_image(frame: np.ndarray) -> np.ndarray:
    """A uint8 frame as float32 in [0, 1] (the warping error's scale)."""
    return frame.astype(np.float32) / 255.0


def warping_term(image: np.ndarray, following: np.ndarray, forward: np.ndarray, backward: np.ndarray) -> float:
    """One frame pair's term of :func:`warping_error`: float32 images in [0, 1] and the pair's flows."""
    visible = ~occlusion_mask(forward, backward)
    diff = warp(following, forward) - image
    count = visible.sum() * diff.shape[-1]
    return float(np.square(diff)[visible].sum() / count) if count else float(np.square(diff).mean())


def pair_motion(forward: np.ndarray, protocol: str = DEFAULT_TEMPORAL_PROTOCOL) -> np.ndarray:
    """Per frame pair, the mean of the largest 5 % of its forward-flow magnitudes (pixels per frame;
    ``forward`` is ``[P, H, W, 2]``): VBench's dynamic-degree statistic (``DynamicDegree.get_score``).
    Under ``vbench`` it is computed as VBench does (float32, ``int(0.05·H·W)`` values in descending
    order; NaN when that is 0), under ``synthvid`` at least one value counts."""
    if protocol == "vbench":
        cut = int(forward.shape[1] * forward.shape[2] * TOP_FRACTION)
        if cut == 0:
            return np.full(len(forward), np.nan)
        return np.array([np.mean(np.abs(np.sort(-np.sqrt(np.square(f[..., 0]) + np.square(f[..., 1])).ravel()))[:cut]).item() for f in forward])
    magnitude = np.sqrt(np.square(forward).sum(-1)).reshape(len(forward), -1)
    keep = max(1, int(magnitude.shape[1] * TOP_FRACTION))
    return np.sort(magnitude, axis=1)[:, -keep:].mean(axis=1)


def vbench_frame_step(fps: float) -> int:
    """VBench's dynamic-degree subsampling: every ``max(1, round(fps / 8))``-th frame (Python's round:
    halves to even, so 20 fps keeps every 2nd, 12 fps every 2nd, 25 fps every 3rd)."""
    return max(1, round(fps / VBENCH_TARGET_FPS))


def is_dynamic(per_pair: np.ndarray, height: int, width: int, fps: float, protocol: str = DEFAULT_TEMPORAL_PROTOCOL) -> bool:
    """VBench's rule: moving when enough pairs exceed 6·(min(H, W)/256) px.

    ``vbench`` (``DynamicDegree.set_params``/``check_move``): ``per_pair`` from the subsampled frames
    (:func:`vbench_frame_step`), round(4·frames/16) pairs needed, 0 meaning any clip with a pair moves.
    ``synthvid``: every frame pair, max(1, round(4·T/16)) needed, the threshold ×max(1, 8/fps).
    """
    if protocol == "vbench":
        threshold = VBENCH_THRESHOLD_PX_AT_256 * (min(height, width) / 256.0)
        needed = round(4 * ((len(per_pair) + 1) / 16.0))
        return len(per_pair) > 0 and int((per_pair > threshold).sum()) >= needed
    threshold = VBENCH_THRESHOLD_PX_AT_256 * (min(height, width) / 256.0) * max(1.0, 8.0 / fps)
    needed = max(1, round(4 * (len(per_pair) + 1) / 16.0))
    return int((per_pair > threshold).sum()) >= needed


def dynamic_pairs(frames: np.ndarray, fps: float, protocol: str = DEFAULT_TEMPORAL_PROTOCOL, flows: ClipFlows | None = None) -> np.ndarray:
    """The per-pair motion statistic the dynamic rule reads: every pair (``synthvid``; ``flows`` of all
    frames reused when given) or pairs of the frames VBench keeps, padded as RAFT pads them (``vbench``)."""
    if protocol == "vbench":
        kept = raft_padded(frames[:: vbench_frame_step(fps)])
        return pair_motion(optical_flows(kept).forward, protocol) if len(kept) >= 2 else np.zeros(0)
    return pair_motion((flows if flows is not None else optical_flows(frames)).forward, protocol)


def raft_padded(frames: np.ndarray) -> np.ndarray:
    """Frames padded to multiples of 8 by edge replication, split evenly (the odd pixel at the bottom and
    right), as RAFT's ``InputPadder`` (mode ``sintel``) pads VBench's frames before their flow; VBench's
    top-5 % statistic then runs over the padded flow field."""
    height, width = frames.shape[1:3]
    pad_h, pad_w = -height % 8, -width % 8
    if not (pad_h or pad_w):
        return frames
    return np.pad(frames, ((0, 0), (pad_h // 2, pad_h - pad_h // 2), (pad_w // 2, pad_w - pad_w // 2), (0, 0)), mode="edge")


# ------------------------------------------------------------------------------------ metrics


class ClipMeanMetric(Metric):
    """Weighted mean over clips of a per-clip score; subclasses implement :meth:`scores`."""

    is_differentiable = False
    full_state_update = False

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.add_state("value_sum", torch.tensor(0.0, dtype=torch.float64), dist_reduce_fx="sum")
        self.add_state("weight_sum", torch.tensor(0.0, dtype=torch.float64), dist_reduce_fx="sum")

    @abc.abstractmethod  # torchmetrics' Metric is an abc.ABC already
    def scores(self, videos: torch.Tensor, fps: float) -> tuple[list[float], list[float]]:
        """Per clip: (score, weight) of the set-level mean."""

    def update(self, videos=None, fps: float = 8.0, *, scores=None, weights=None) -> None:
        """Add clips (``[B, T, H, W, 3]``, a clip, or a list) at ``fps``, or per-clip ``scores`` already
        computed (e.g. by :func:`temporal_clip_scores`) with their ``weights`` (default 1)."""
        if scores is None:
            scores, weights = self.scores(video_batch(videos), fps)
        values = torch.as_tensor(scores, dtype=torch.float64).reshape(-1)
        weights = torch.ones_like(values) if weights is None else torch.as_tensor(weights, dtype=torch.float64).reshape(-1)
        self.value_sum += (values * weights).sum().to(self.value_sum.device)
        self.weight_sum += weights.sum().to(self.weight_sum.device)

    def compute(self) -> torch.Tensor:
        return self.value_sum / self.weight_sum


def _needs(videos: torch.Tensor, minimum: int, what: str) -> None:
    if videos.shape[1] < minimum:
        raise FramesError(None, f"{what} needs clips of at least {minimum} frames, got {videos.shape[1]}")


class CLIPTemp(ClipMeanMetric):
    """CLIP-Temp = (1/(T−1)) Σ_t cos(E(f_t), E(f_{t+1})), averaged over clips; E a CLIP image encoder.

    Source: Esser et al. 2023, "Structure and Content-Guided Video Synthesis with Diffusion Models"
    (Gen-1, "temporal consistency": CLIP cosine of consecutive frames); named CLIP-Temp in EvalCrafter
    (Liu et al. 2024, reference code ``metrics/clip_temp_score.py``). Higher is steadier.
    """

    higher_is_better = True

    def __init__(self, encoder: ImageEncoder, **kwargs):
        super().__init__(**kwargs)
        self.encoder = encoder

    def scores(self, videos, fps):
        _needs(videos, 2, "CLIP-Temp")
        return [clip_temp(self.encoder.encode_frames(clip)) for clip in videos], [1.0] * len(videos)


class SubjectConsistency(ClipMeanMetric):
    """VBench subject consistency: S = Σ_clips Σ_{t≥2} ½ (max(0, ⟨d_1, d_t⟩) + max(0, ⟨d_{t−1}, d_t⟩)) /
    Σ_clips (T−1), d_t the L2-normalised features of frame t (a weighted mean over all frame pairs).

    Source: Huang et al. 2024, "VBench: Comprehensive Benchmark Suite for Video Generative Models";
    reference code ``vbench/subject_consistency.py``. VBench uses DINO ViT-B/16 features; the encoder
    is pluggable (``timm:vit_base_patch16_224.dino:FILE`` for DINO, default: the CLIP encoder in use).
    """

    higher_is_better = True

    def __init__(self, encoder: ImageEncoder, **kwargs):
        super().__init__(**kwargs)
        self.encoder = encoder

    def scores(self, videos, fps):
        _needs(videos, 2, "subject consistency")
        terms = [vbench_consistency(self.encoder.encode_frames(clip)) for clip in videos]
        return [s / n for s, n in terms], [n for _, n in terms]


class BackgroundConsistency(SubjectConsistency):
    """VBench background consistency: the subject-consistency formula on CLIP image features.

    Source: Huang et al. 2024 (VBench); reference code ``vbench/background_consistency.py`` (CLIP
    ViT-B/32). Encoder pluggable, default the CLIP encoder in use.
    """


class TemporalFlickering(ClipMeanMetric):
    """VBench temporal flickering: per clip (255 − mean_t MAE(f_t, f_{t+1}))/255, averaged over clips.

    Source: Huang et al. 2024 (VBench); reference code ``vbench/temporal_flickering.py``. VBench applies
    it to static scenes only (its static filter); here it scores every clip, so motion lowers it too.
    Higher is steadier.
    """

    higher_is_better = True

    def scores(self, videos, fps):
        _needs(videos, 2, "temporal flickering")
        return [flickering_score(clip.cpu().numpy()) for clip in videos], [1.0] * len(videos)


class WarpingError(ClipMeanMetric):
    """Warping error (Lai et al. 2018, "Learning Blind Video Temporal Consistency"; reference code
    phoenix104104/fast_blind_video_consistency ``evaluate_WarpError.py`` and ``utils.detect_occlusion``):

        E_warp = (1/(T−1)) Σ_t Σ_p M_t(p) ‖f_t(p) − warp(f_{t+1}, F_t)(p)‖² / (C Σ_p M_t(p))

    frames in [0, 1], F_t the forward optical flow (OpenCV DIS here, FlowNet2 there), M_t the
    non-occluded pixels (:func:`occlusion_mask`); averaged over clips. Lower is more consistent.
    DIS flow is smooth across object edges: a still object on a panning background is carried along
    with the background, and forward and backward flows agree, so the mask keeps it and it counts as
    error (about 10× a clean translation's on shapes-world clips).
    """

    higher_is_better = False

    def scores(self, videos, fps):
        _needs(videos, 2, "the warping error")
        frames = [clip.cpu().numpy() for clip in videos]
        return [warping_error(f, optical_flows(f)) for f in frames], [1.0] * len(videos)


class MotionMagnitude(ClipMeanMetric):
    """Motion magnitude, a dynamic-degree proxy: per clip the mean over frame pairs of the mean of the
    top 5 % forward-flow magnitudes (pixels per frame), averaged over clips; ``dynamic_share`` is the
    share of clips VBench's rule calls dynamic (:func:`is_dynamic`), i.e. VBench's dynamic degree.

    Source: Huang et al. 2024 (VBench) dynamic degree, reference code ``vbench/dynamic_degree.py``
    (RAFT flow there, OpenCV DIS here).
    """

    higher_is_better = True

    def __init__(self, protocol: str | None = None, **kwargs):
        super().__init__(**kwargs)
        self.protocol = check_protocol(protocol)
        self.add_state("dynamic_count", torch.tensor(0.0, dtype=torch.float64), dist_reduce_fx="sum")
        self.add_state("clip_count", torch.tensor(0.0, dtype=torch.float64), dist_reduce_fx="sum")

    def scores(self, videos, fps):
        _needs(videos, 2, "motion magnitude")
        values = []
        for clip in videos:
            per_pair = dynamic_pairs(clip.cpu().numpy(), fps, self.protocol)
            values.append(float(np.nanmean(per_pair)) if len(per_pair) and not np.isnan(per_pair).all() else float("nan"))
            self.add_dynamic(is_dynamic(per_pair, clip.shape[1], clip.shape[2], fps, self.protocol))
        return values, [1.0] * len(values)

    def add_dynamic(self, dynamic: bool) -> None:
        self.dynamic_count += float(dynamic)
        self.clip_count += 1.0

    def dynamic_share(self) -> float:
        return float(self.dynamic_count / self.clip_count) if float(self.clip_count) else float("nan")


# ------------------------------------------------------------------------ all of them, one clip

TEMPORAL_METRICS = ("clip_temp", "subject_consistency", "background_consistency", "temporal_flickering", "warping_error", "motion_magnitude")


def temporal_clip_scores(
    frames: np.ndarray,
    *,
    clip_encoder: ImageEncoder,
    subject_encoder: ImageEncoder | None = None,
    fps: float = 8.0,
    clip_embeddings: torch.Tensor | None = None,
    protocol: str | None = None,
    raft: torch.nn.Module | None = None,
) -> dict:
    """Every temporal score of one uint8 ``[T, H, W, 3]`` clip, embeddings and flows computed once.

    ``clip_embeddings`` (``clip_encoder.encode_frames(frames)``) may be passed when the caller has them
    (CLIPSIM encodes the same frames). Returns ``{name: value}`` for :data:`TEMPORAL_METRICS` plus
    ``dynamic`` (VBench's rule) and ``consistency_pairs`` (the weight of the two VBench consistencies).
    ``protocol`` (:data:`TEMPORAL_PROTOCOLS`) chooses the dynamic-degree rules; the encoders'
    preprocessing follows their own ``protocol`` attribute (``ImageEncoder.set_protocol``). ``raft``
    (:func:`eval.raft.load_raft`, ``vbench`` only): the flow of VBench's dynamic degree instead of DIS.
    This is :class:`TemporalStream` given the clip as one chunk.
    """
    stream = TemporalStream(clip_encoder=clip_encoder, subject_encoder=subject_encoder, fps=fps, protocol=protocol, raft=raft)
    stream.add(frames, clip_embeddings=clip_embeddings)
    return stream.result()


class TemporalStream:
    """The temporal scores of one clip whose frames arrive in chunks of any size (``add``), in memory
    independent of its length: frame embeddings and per-pair terms are kept, frames and flows are not
    (the last frame is, for the next pair). ``result()`` gives what :func:`temporal_clip_scores` gives for
    the whole clip, whatever the chunking (each pair's terms are computed from the same two frames)."""

    def __init__(
        self,
        *,
        clip_encoder: ImageEncoder,
        subject_encoder: ImageEncoder | None = None,
        fps: float = 8.0,
        protocol: str | None = None,
        raft: torch.nn.Module | None = None,
    ):
        import cv2

        self.protocol = check_protocol(protocol)
        if raft is not None and self.protocol != "vbench":
            raise EvalError(None, "RAFT is the flow of VBench's dynamic degree: use it with --protocol vbench")
        self.raft = raft
        self.clip_encoder = clip_encoder
        self.subject_encoder = None if subject_encoder in (None, clip_encoder) else subject_encoder
        self.fps = fps
        self.clip_embeddings: list[torch.Tensor] = []
        self.subject_embeddings: list[torch.Tensor] = []
        self.flicker: list[float] = []
        self.warping: list[float] = []
        self.motion: list[float] = []  # every pair's top-5 % flow (the synthvid dynamic rule)
        self.kept_motion: list[float] = []  # pairs of the frames VBench's dynamic degree keeps (vbench)
        self.frames = 0
        self.shape: tuple[int, int] | None = None
        self.previous = None  # (grey, uint8 RGB, [0, 1] float32) of the last frame
        self.kept = None  # the last frame VBench's subsampling kept, padded as RAFT pads (RGB for RAFT, else grey)
        self.step = vbench_frame_step(fps)
        self.dis = cv2.DISOpticalFlow_create(cv2.DISOPTICAL_FLOW_PRESET_MEDIUM)

    def add(self, frames: np.ndarray, clip_embeddings: torch.Tensor | None = None) -> TemporalStream:
        """Add the next uint8 ``[n, H, W, 3]`` frames (``clip_embeddings``: their CLIP embeddings, when known)."""
        import cv2

        if frames.ndim != 4 or frames.shape[-1] != 3 or frames.dtype != np.uint8:
            raise FramesError(None, f"temporal metrics take uint8 [T, H, W, 3] frames, got {frames.dtype} {list(frames.shape)}")
        if self.shape is None:
            self.shape = frames.shape[1:3]
        elif frames.shape[1:3] != self.shape:
            raise FramesError(None, f"frame size changed from {self.shape} to {frames.shape[1:3]} within the clip")
        if not len(frames):
            return self
        self.clip_embeddings.append(self.clip_encoder.encode_frames(frames) if clip_embeddings is None else clip_embeddings)
        if self.subject_encoder is not None:
            self.subject_embeddings.append(self.subject_encoder.encode_frames(frames))
        for frame in frames:
            frame = np.ascontiguousarray(frame)
            grey = cv2.cvtColor(frame, cv2.COLOR_RGB2GRAY)
            image = unit_image(frame)
            if self.previous is not None:
                previous_grey, previous_frame, previous_image = self.previous
                self.flicker.append(flicker_term(previous_frame, frame))
                forward = self.dis.calc(previous_grey, grey, None)
                backward = self.dis.calc(grey, previous_grey, None)
                self.warping.append(warping_term(previous_image, image, forward, backward))
                if self.protocol != "vbench":
                    self.motion.append(float(pair_motion(forward[None], self.protocol)[0]))
            if self.protocol == "vbench" and self.frames % self.step == 0:
                kept = np.ascontiguousarray(raft_padded(frame[None])[0])
                if self.raft is None:
                    kept = cv2.cvtColor(kept, cv2.COLOR_RGB2GRAY)
                if self.kept is not None:
                    self.kept_motion.append(float(pair_motion(self._kept_flow(kept), "vbench")[0]))
                self.kept = kept
            self.previous = (grey, frame, image)
            self.frames += 1
        return self

    def _kept_flow(self, kept: np.ndarray) -> np.ndarray:
        """Flow ``[1, H, W, 2]`` from the previous kept frame to ``kept``: RAFT's when given, else DIS's."""
        if self.raft is None:
            return self.dis.calc(self.kept, kept, None)[None]
        from eval.raft import RAFT_MIN_SIDE, raft_flow

        if min(kept.shape[:2]) < RAFT_MIN_SIDE:
            raise FramesError(None, f"RAFT (torchvision's) needs frames of at least {RAFT_MIN_SIDE} px a side, got {kept.shape[1]}x{kept.shape[0]}")
        return raft_flow(self.raft, self.kept, kept)[None]

    def result(self) -> dict:
        """The scores (see :func:`temporal_clip_scores`)."""
        if self.frames < 2:
            raise FramesError(None, f"temporal metrics need clips of at least 2 frames, got {self.frames}")
        clip_embeddings = torch.cat(self.clip_embeddings)
        subject_embeddings = torch.cat(self.subject_embeddings) if self.subject_encoder is not None else clip_embeddings
        per_pair = np.array(self.kept_motion if self.protocol == "vbench" else self.motion, dtype=np.float64)
        subject_sum, pairs = vbench_consistency(subject_embeddings)
        background_sum, _ = vbench_consistency(clip_embeddings)
        height, width = self.shape
        return {
            "clip_temp": clip_temp(clip_embeddings),
            "subject_consistency": subject_sum / pairs,
            "background_consistency": background_sum / pairs,
            "temporal_flickering": flickering_of_terms(self.flicker),
            "warping_error": sum(self.warping) / len(self.warping),
            "motion_magnitude": float(np.nanmean(per_pair)) if len(per_pair) and not np.isnan(per_pair).all() else float("nan"),
            "dynamic": is_dynamic(per_pair, height, width, self.fps, self.protocol),
            "consistency_pairs": pairs,
        }
