"""CLIPSIM: how well the frames of a clip match its prompt, as a torchmetrics ``Metric``.

    CLIPSIM(clip, prompt) = (1/T) Σ_t cos(E_img(frame_t), E_txt(prompt))

averaged over clips; raw cosine in [−1, 1] (``percent=True`` reports ×100, the usual display; no clamp
at 0, unlike CLIPScore). Source: Wu et al. 2021, "GODIVA: Generating open-domain videos from natural
descriptions" (CLIPSIM), as reported by NÜWA and Make-A-Video; per-image it is Hessel et al. 2021's
CLIPScore without the weight w = 2.5 and the clamp (reference code: torchmetrics
``multimodal/clip_score.py``, which gives 100·max(mean cos, 0)). Encoder: any open_clip model with a
local checkpoint (:func:`eval.encoders.load_clip`), default ``synthvid-tiny-clip``.

States: the sum of per-clip scores (float64) and the clip count, reduced by summation (sync across
processes).
"""

from __future__ import annotations

from pathlib import Path

import torch
from torchmetrics import Metric

from eval.encoders import TINY_CLIP, ClipEncoder, load_clip
from eval.errors import EvalError
from eval.frames import video_batch


def clip_scores(encoder: ClipEncoder, videos, prompts, *, frame_embeddings: torch.Tensor | None = None) -> torch.Tensor:
    """Per-clip CLIPSIM ``[B]`` (raw cosine) of clips ``[B, T, H, W, 3]`` against one prompt each.

    ``frame_embeddings`` (``[B·T, D]``, ``encoder.encode_frames(videos)``) skips encoding the frames
    again when the caller has them already (the temporal metrics use the same ones)."""
    batch = video_batch(videos)
    prompts = [prompts] if isinstance(prompts, str) else list(prompts)
    if len(prompts) != batch.shape[0]:
        raise EvalError(None, f"CLIPSIM needs one prompt per clip, got {len(prompts)} prompts for {batch.shape[0]} clips")
    if frame_embeddings is None:
        frame_embeddings = encoder.encode_frames(batch)
    return _mean_cosines(frame_embeddings.view(batch.shape[0], batch.shape[1], -1), encoder.encode_text(prompts))


def embedding_clipsim(encoder: ClipEncoder, frame_embeddings: torch.Tensor, prompt: str) -> float:
    """CLIPSIM of one clip from its frame embeddings ``[T, D]`` (what :func:`clip_scores` computes for it)."""
    return float(_mean_cosines(frame_embeddings[None], encoder.encode_text([prompt]))[0])


def _mean_cosines(frames: torch.Tensor, text: torch.Tensor) -> torch.Tensor:
    """Per clip, the mean over frames of frame·text: frames ``[B, T, D]``, text ``[B, D]`` (both L2-normalised)."""
    return torch.einsum("btd,bd->bt", frames, text).mean(dim=1)


class CLIPSIM(Metric):
    """Mean over clips of the mean frame–prompt cosine similarity (see the module docstring)."""

    is_differentiable = False
    higher_is_better = True
    full_state_update = False

    def __init__(
        self, model: str | ClipEncoder = TINY_CLIP, pretrained: str | Path | None = None, *, quick_gelu: bool = False, percent: bool = False, **kwargs
    ):
        super().__init__(**kwargs)
        self.encoder = model if isinstance(model, ClipEncoder) else load_clip(model, pretrained, quick_gelu=quick_gelu)
        self.percent = percent
        self.add_state("score_sum", torch.tensor(0.0, dtype=torch.float64), dist_reduce_fx="sum")
        self.add_state("clip_count", torch.tensor(0, dtype=torch.long), dist_reduce_fx="sum")

    def update(self, videos=None, prompts=None, *, scores=None) -> None:
        """Add clips (``[B, T, H, W, 3]``, a clip, or a list) with their prompts (a string per clip), or
        per-clip ``scores`` already computed with :func:`clip_scores`."""
        if scores is None:
            scores = clip_scores(self.encoder, videos, prompts)
        scores = torch.as_tensor(scores, dtype=torch.float64).reshape(-1)
        self.score_sum += scores.sum().to(self.score_sum.device)
        self.clip_count += scores.numel()

    def compute(self) -> torch.Tensor:
        if int(self.clip_count) == 0:
            raise EvalError(None, "CLIPSIM has no clips")
        mean = self.score_sum / self.clip_count
        return mean * 100 if self.percent else mean
