"""Fréchet Video Distance as a torchmetrics ``Metric``, with pluggable feature extractors.

    FVD = ‖μ_r − μ_f‖² + Tr(Σ_r + Σ_f − 2 (Σ_r Σ_f)^{1/2})

over features of real and generated clips (Unterthiner et al. 2018, "Towards accurate generative
models of video: a new metric and challenges"; reference code google-research
``frechet_video_distance.py``, StyleGAN-V ``src/metrics/frechet_video_distance.py``, VideoGPT
``videogpt/fvd/fvd.py``). The distance itself is :func:`eval.frechet.frechet_distance` (float64;
covariances ÷ N−1 like torchmetrics' FID, ``ddof=0`` for StyleGAN-V's ÷ N).

Extractors (:func:`make_extractor` builds one from a spec string):

- ``synthvid-tiny-video`` (default): the shipped shapes-world encoder; scores are labelled
  "FVD-tiny (not comparable to published FVD)".
- ``i3d:PATH``: Inception-I3D from StyleGAN-V's ``i3d_torchscript.pt`` or VideoGPT/pytorch-i3d's
  ``i3d_pretrained_400.pt`` (:mod:`eval.i3d`), the original preprocessing; this is the published FVD.
- ``videomae:FOLDER``: a transformers VideoMAE encoder saved with ``save_pretrained``; mean-pooled
  tokens, the content-debiased FVD of Ge et al. 2024 ("On the Content Bias in Fréchet Video
  Distance", which uses VideoMAE-v2 self-supervised features).

The states are running sums (Σx, Σxxᵀ, N per set, float64) reduced by summation, so the metric syncs
across processes like torchmetrics' FID; ``keep_features=True`` also keeps the features (reduced by
concatenation) for FVD∞. Every result carries N, and a warning is issued when a set has fewer than
256 clips (the estimate is biased upward by ~1/N).
"""

from __future__ import annotations

import abc
import logging
from pathlib import Path

import numpy as np
import torch
from torch import nn
from torchmetrics import Metric
from torchmetrics.utilities import rank_zero_warn

from eval.errors import EvalError, ModelFileError
from eval.frames import video_batch
from eval.frechet import SMALL_SET, GaussianStats, frechet_distance_infinity, frechet_distance_stats

log = logging.getLogger(__name__)

TINY_LABEL = "FVD-tiny (not comparable to published FVD)"
I3D_LABEL = "FVD (I3D, Kinetics-400 logits)"
VIDEOMAE_LABEL = "FVD-VideoMAE (content-debiased, Ge et al. 2024)"


class VideoFeatureExtractor(nn.Module, abc.ABC):
    """Maps uint8 clips ``[B, T, H, W, 3]`` to features ``[B, num_features]`` (no gradients).

    Subclasses set ``name``, ``label`` (printed with every score), ``num_features`` and implement
    :meth:`preprocess` and :meth:`embed`; calls are batched by ``batch_size``.
    """

    name = "extractor"
    label = "FVD"
    num_features: int
    batch_size: int = 8

    @abc.abstractmethod
    def preprocess(self, videos: torch.Tensor) -> torch.Tensor:
        """uint8 clips ``[b, T, H, W, 3]`` → the network's input."""

    @abc.abstractmethod
    def embed(self, inputs: torch.Tensor) -> torch.Tensor:
        """Features ``[b, num_features]`` of preprocessed inputs."""

    def forward(self, videos) -> torch.Tensor:
        videos = video_batch(videos)
        out = []
        with torch.inference_mode():
            for start in range(0, videos.shape[0], self.batch_size):
                out.append(self.embed(self.preprocess(videos[start : start + self.batch_size])).float())
        return torch.cat(out)


class TinyVideoFeatures(VideoFeatureExtractor):
    name = "synthvid-tiny-video"
    label = TINY_LABEL

    def __init__(self, folder: str | Path | None = None, *, batch_size: int = 16):
        super().__init__()
        from eval.video_encoder import load_tiny_video_encoder

        self.encoder = load_tiny_video_encoder(folder)
        self.num_features = self.encoder.num_features
        self.batch_size = batch_size

    def preprocess(self, videos: torch.Tensor) -> torch.Tensor:
        return self.encoder.preprocess(videos)

    def embed(self, inputs: torch.Tensor) -> torch.Tensor:
        return self.encoder(inputs)


class I3DFeatures(VideoFeatureExtractor):
    """The 400 I3D logits averaged over time, from 16 frames at 224×224 in [−1, 1] (see :mod:`eval.i3d`).

    Speed: inference mode, BatchNorm folded into the convolutions, channels-last-3d tensors (oneDNN's
    fast layout for 3-D convolutions) and ``batch_size`` clips a call.
    """

    name = "i3d"
    label = I3D_LABEL

    def __init__(self, path: str | Path, *, bn_eps: float | None = None, batch_size: int = 4, fuse: bool = True):
        super().__init__()
        from eval.i3d import InceptionI3d, fuse_for_inference, load_i3d

        model = load_i3d(path, bn_eps=bn_eps)
        if isinstance(model, InceptionI3d):
            self.num_features = model.num_classes
            if fuse:
                model = fuse_for_inference(model)
        else:  # TorchScript: the class count from its logits layer if it names one, else Kinetics-400
            counts = [v.shape[0] for k, v in model.state_dict().items() if "logits" in k and k.endswith("weight") and v.ndim == 5]
            self.num_features = int(counts[0]) if counts else 400
        self.model = model
        self.path = str(path)
        self.batch_size = batch_size

    def preprocess(self, videos: torch.Tensor) -> torch.Tensor:
        from eval.i3d import preprocess_i3d

        return preprocess_i3d(videos).contiguous(memory_format=torch.channels_last_3d)

    def embed(self, inputs: torch.Tensor) -> torch.Tensor:
        features = self.model(inputs)
        if features.ndim != 2 or features.shape[1] != self.num_features:
            raise ModelFileError(self.path, f"the network returns shape {list(features.shape)}, expected [batch, {self.num_features}]")
        return features


class VideoMAEFeatures(VideoFeatureExtractor):
    """Mean-pooled last hidden state of a transformers ``VideoMAEModel`` saved in a local folder;
    frames: the first ``num_frames``, resized to ``image_size``, normalised with the folder's
    ``preprocessor_config.json`` mean/std (ImageNet's when it has none, as VideoMAE checkpoints use)."""

    name = "videomae"
    label = VIDEOMAE_LABEL
    MEAN = (0.485, 0.456, 0.406)
    STD = (0.229, 0.224, 0.225)

    def __init__(self, folder: str | Path, *, batch_size: int = 4):
        super().__init__()
        folder = Path(folder)
        if not (folder / "config.json").is_file():
            raise ModelFileError(folder, "not a VideoMAE folder (no config.json); save one with VideoMAEModel.save_pretrained")
        from transformers import VideoMAEModel

        try:
            self.model = VideoMAEModel.from_pretrained(str(folder), local_files_only=True).eval()
        except (OSError, ValueError) as exc:
            raise ModelFileError(folder, f"cannot load a VideoMAE model ({' '.join(str(exc).split())[:200]})") from exc
        config = self.model.config
        self.frames, self.size = int(config.num_frames), int(config.image_size)
        self.num_features = int(config.hidden_size)
        self.batch_size = batch_size
        mean, std = self.MEAN, self.STD
        processor_file = folder / "preprocessor_config.json"
        if processor_file.is_file():  # the checkpoint's own normalisation wins
            import json

            processor = json.loads(processor_file.read_text())
            mean, std = processor.get("image_mean", mean), processor.get("image_std", std)
        self.register_buffer("mean", torch.tensor(mean, dtype=torch.float32).view(1, 1, 3, 1, 1), persistent=False)
        self.register_buffer("std", torch.tensor(std, dtype=torch.float32).view(1, 1, 3, 1, 1), persistent=False)

    def preprocess(self, videos: torch.Tensor) -> torch.Tensor:
        from eval.frames import require_frames, resize_frames, to_unit_float

        require_frames(videos, self.frames, "VideoMAE")
        x = resize_frames(to_unit_float(videos[:, : self.frames]), (self.size, self.size), antialias=True)
        return (x - self.mean) / self.std  # [B, T, 3, H, W], VideoMAE's pixel_values layout

    def embed(self, inputs: torch.Tensor) -> torch.Tensor:
        return self.model(pixel_values=inputs).last_hidden_state.mean(dim=1)


def make_extractor(spec: str | VideoFeatureExtractor | None = None) -> VideoFeatureExtractor:
    """``synthvid-tiny-video`` (or a folder of one: ``synthvid-tiny-video:FOLDER``), ``i3d:PATH``,
    ``videomae:FOLDER``, or an extractor instance (returned as is)."""
    if isinstance(spec, VideoFeatureExtractor):
        return spec
    spec = spec or TinyVideoFeatures.name
    kind, _, location = spec.partition(":")
    if kind == TinyVideoFeatures.name:
        return TinyVideoFeatures(location or None)
    if kind == "i3d" and location:
        return I3DFeatures(location)
    if kind == "videomae" and location:
        return VideoMAEFeatures(location)
    raise EvalError(None, f"unknown FVD extractor {spec!r}: use synthvid-tiny-video, i3d:PATH (i3d_torchscript.pt or "
                          "i3d_pretrained_400.pt) or videomae:FOLDER")


class FrechetVideoDistance(Metric):
    """FVD between the real and the fake clips given to :meth:`update` (see the module docstring).

    ``compute()`` returns ``{"fvd", "n_real", "n_fake"}`` (and ``"fvd_inf"`` with ``keep_features``);
    :attr:`label` says which extractor made it.
    """

    is_differentiable = False
    higher_is_better = False
    full_state_update = False

    def __init__(self, extractor: str | VideoFeatureExtractor | None = None, *, ddof: int = 1,
                 keep_features: bool = False, seed: int = 0, **kwargs):
        super().__init__(**kwargs)
        self.extractor = make_extractor(extractor)
        self.label = self.extractor.label
        self.ddof = ddof
        self.keep_features = keep_features
        self.seed = seed
        d = self.extractor.num_features
        for side in ("real", "fake"):
            self.add_state(f"{side}_sum", torch.zeros(d, dtype=torch.float64), dist_reduce_fx="sum")
            self.add_state(f"{side}_outer", torch.zeros(d, d, dtype=torch.float64), dist_reduce_fx="sum")
            self.add_state(f"{side}_count", torch.tensor(0, dtype=torch.long), dist_reduce_fx="sum")
            if keep_features:
                self.add_state(f"{side}_features", [], dist_reduce_fx="cat")

    def update(self, videos=None, real: bool = True, *, features: torch.Tensor | None = None) -> None:
        """Add clips (uint8 ``[B, T, H, W, 3]``, a clip, or a list of clips), or their precomputed
        ``features`` ``[B, num_features]`` (e.g. cached reference features), to the real or fake set."""
        if (videos is None) == (features is None):
            raise EvalError(None, "give either videos or features to FrechetVideoDistance.update")
        if features is None:
            features = self.extractor(videos)
        features = torch.as_tensor(features).to(device=self.device, dtype=torch.float64)
        if features.ndim != 2 or features.shape[1] != self.extractor.num_features:
            raise EvalError(None, f"features must have shape [batch, {self.extractor.num_features}], got {list(features.shape)}")
        side = "real" if real else "fake"
        setattr(self, f"{side}_sum", getattr(self, f"{side}_sum") + features.sum(0))
        setattr(self, f"{side}_outer", getattr(self, f"{side}_outer") + features.T @ features)
        setattr(self, f"{side}_count", getattr(self, f"{side}_count") + features.shape[0])
        if self.keep_features:
            getattr(self, f"{side}_features").append(features)

    def update_features(self, features: torch.Tensor, real: bool) -> None:
        self.update(features=features, real=real)

    def stats(self, real: bool) -> GaussianStats:
        side = "real" if real else "fake"
        return GaussianStats.from_sums(
            getattr(self, f"{side}_sum").cpu().numpy(), getattr(self, f"{side}_outer").cpu().numpy(),
            int(getattr(self, f"{side}_count")), ddof=self.ddof,
        )

    def compute(self) -> dict[str, torch.Tensor]:
        n_real, n_fake = int(self.real_count), int(self.fake_count)
        if min(n_real, n_fake) < 2:
            raise EvalError(None, f"FVD needs at least 2 real and 2 fake clips, got {n_real} real and {n_fake} fake")
        if min(n_real, n_fake) < SMALL_SET:
            rank_zero_warn(
                f"{self.label} from {n_real} real and {n_fake} fake clips: with fewer than {SMALL_SET} per set the "
                "estimate is biased upward (~1/N); compare scores only at equal N, or use FVD∞ (keep_features=True)",
                UserWarning,
            )
        real = self.stats(real=True)
        result = {
            "fvd": torch.tensor(frechet_distance_stats(real, self.stats(real=False)), dtype=torch.float64),
            "n_real": torch.tensor(n_real),
            "n_fake": torch.tensor(n_fake),
        }
        if self.keep_features and n_fake >= 4:
            fake = self.fake_features
            fake = torch.cat(fake) if isinstance(fake, list) else fake
            extrapolated = frechet_distance_infinity(fake.cpu().numpy(), real, ddof=self.ddof, rng=np.random.default_rng(self.seed))
            result["fvd_inf"] = torch.tensor(extrapolated.value, dtype=torch.float64)
        return result
