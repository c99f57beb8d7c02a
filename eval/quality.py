"""Per-frame quality metrics of VBench as torchmetrics ``Metric`` objects.

Aesthetic quality (VBench 0.1.5, ``vbench/aesthetic_quality.py``): LAION's aesthetic predictor — one
linear layer, ``Linear(768, 1)``, trained on L2-normalised OpenAI CLIP ViT-L/14 image embeddings
(file ``sa_0_4_vit_l_14_linear.pth`` of github.com/LAION-AI/aesthetic-predictor) — scores every frame;
a clip's score is the mean over its frames of ``head(embedding) / 10``, and the set's the mean over
clips. The frames go through the CLIP encoder's preprocessing, so ``--protocol vbench`` gives VBench's
``clip_transform(224)`` (:mod:`eval.encoders`). The score is VBench's only with OpenAI's ViT-L/14 and
LAION's head; any other CLIP whose embedding has the head's width runs, and the summary says it is not
VBench's setup.

Imaging quality (VBench 0.1.5, ``vbench/imaging_quality.py``, its default ``longer`` preprocessing):
frames whose longer side exceeds 512 are resized (bilinear, no antialias, sizes truncated) so it is
512, then scored one by one by MUSIQ with the SPAQ checkpoint (:mod:`eval.musiq`); a clip's score is
the mean over its frames ÷ 100 (VBench keeps per-clip scores in 0–100 and divides the set's mean by
100: the set-level numbers are equal).
"""

from __future__ import annotations

from pathlib import Path

import torch
from torch import nn

from eval.encoders import ImageEncoder
from eval.errors import check_state_dict
from eval.temporal import ClipMeanMetric

IMAGING_LONGER_SIDE = 512  # VBench's "longer" mode: frames above it are brought down to it
IMAGING_SCALE = 100.0  # SPAQ's MOS is 0–100
IMAGING_BATCH = 1  # frames per MUSIQ forward: one frame's few hundred patches fill the cores; larger batches ran slower

AESTHETIC_HEAD_FILE = "sa_0_4_vit_l_14_linear.pth"
AESTHETIC_HEAD_SOURCE = "github.com/LAION-AI/aesthetic-predictor"
AESTHETIC_CLIP = "OpenAI CLIP ViT-L/14: --clip-model ViT-L-14-quickgelu --clip-pretrained ViT-L-14.pt"
AESTHETIC_SCALE = 10.0  # VBench divides LAION's 1–10 rating by 10


def load_aesthetic_head(path: str | Path, width: int) -> nn.Linear:
    """LAION's aesthetic head from ``path`` (a ``torch.save`` state dict of ``Linear(width, 1)``, as
    LAION ships it, or the same tensors in ``.safetensors``), or :class:`ModelFileError` naming the file."""
    from eval.checkpoints import load_state_dict_file

    state = load_state_dict_file(
        path, "LAION aesthetic head", f"VBench uses LAION's {AESTHETIC_HEAD_FILE} ({AESTHETIC_HEAD_SOURCE}) on {AESTHETIC_CLIP}"
    )
    head = nn.Linear(width, 1)
    check_state_dict(path, f"the aesthetic head on {width}-wide CLIP embeddings, Linear({width}, 1)", state, head.state_dict())
    head.load_state_dict({k: v.float() for k, v in state.items()})
    return head.eval()


def aesthetic_score(embeddings: torch.Tensor, head: nn.Linear) -> float:
    """A clip's aesthetic quality: the mean over frames of ``head(embedding) / 10``, ``embeddings`` the
    clip's L2-normalised CLIP frame embeddings ``[T, D]``."""
    with torch.inference_mode():
        return float((head(embeddings.float()).squeeze(-1) / AESTHETIC_SCALE).mean())


class AestheticQuality(ClipMeanMetric):
    """VBench's aesthetic quality: LAION's head on CLIP frame embeddings, mean over frames and clips."""

    higher_is_better = True

    def __init__(self, encoder: ImageEncoder, head: nn.Linear, **kwargs):
        super().__init__(**kwargs)
        self.encoder, self.head = encoder, head

    def scores(self, videos, fps):
        return [aesthetic_score(self.encoder.encode_frames(clip), self.head) for clip in videos], None


def imaging_frames(frames) -> torch.Tensor:
    """VBench's imaging-quality preprocessing of uint8 ``[T, H, W, 3]``: float ``[T, 3, h, w]`` in [0, 1],
    the longer side brought to 512 when above it (``int(512/long·side)``, bilinear, no antialias)."""
    import torch.nn.functional as F

    x = torch.as_tensor(frames).permute(0, 3, 1, 2).float()
    h, w = x.shape[-2:]
    if max(h, w) > IMAGING_LONGER_SIDE:
        scale = IMAGING_LONGER_SIDE / max(h, w)
        x = F.interpolate(x, (int(scale * h), int(scale * w)), mode="bilinear", align_corners=False, antialias=False)
    return x / 255.0


def imaging_frame_scores(frames, model: nn.Module) -> torch.Tensor:
    """MUSIQ's score of every frame of uint8 ``[T, H, W, 3]``, :data:`IMAGING_BATCH` frames a forward."""
    x = imaging_frames(frames)
    with torch.inference_mode():
        return torch.cat([model(x[start : start + IMAGING_BATCH]) for start in range(0, x.shape[0], IMAGING_BATCH)])


def imaging_of_frame_scores(scores: torch.Tensor) -> float:
    """A clip's imaging quality from its frames' MUSIQ scores: their mean ÷ 100."""
    return float(scores.double().mean()) / IMAGING_SCALE


def imaging_score(frames, model: nn.Module) -> float:
    """A clip's imaging quality: MUSIQ's mean score over its frames ÷ 100."""
    return imaging_of_frame_scores(imaging_frame_scores(frames, model))


class ImagingQuality(ClipMeanMetric):
    """VBench's imaging quality: MUSIQ (SPAQ) per frame ÷ 100, mean over frames and clips."""

    higher_is_better = True

    def __init__(self, model: nn.Module, **kwargs):
        super().__init__(**kwargs)
        self.model = model

    def scores(self, videos, fps):
        return [imaging_score(clip.cpu().numpy(), self.model) for clip in videos], None
