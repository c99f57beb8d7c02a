"""Fréchet Video Distance as a torchmetrics ``Metric``, with pluggable feature extractors and the
published protocols.

    FVD = ‖μ_r − μ_f‖² + Tr(Σ_r + Σ_f − 2 (Σ_r Σ_f)^{1/2})

over features of real and generated clips (Unterthiner et al. 2018, "Towards accurate generative
models of video: a new metric and challenges"; reference code google-research
``frechet_video_distance.py``, StyleGAN-V ``src/metrics/frechet_video_distance.py``, cd-fvd
``cdfvd/fvd.py``). The distance itself is :func:`eval.frechet.frechet_distance` (float64).

FVD numbers are comparable only under one protocol: which frames, how they are resized and scaled,
÷N or ÷N−1 in the covariance, how many clips. :data:`PROTOCOLS` holds them (:class:`FVDProtocol`);
every result names its protocol (``label`` and ``protocol``):

- ``synthvid`` (the default; synthvid's behaviour before protocols existed, kept so old numbers stay
  comparable): I3D on the first 16 frames (StyleGAN-V's ``fvd2048_16f`` preprocessing, frames taken
  from the start), VideoMAE on the model's frame count with an antialiased resize and mean/std
  normalisation, covariance ÷N−1 (torchmetrics' FID), every clip. Not a published protocol.
- ``cd-fvd``: cd-fvd 0.1.1's defaults (Ge et al. 2024, ``cdfvd.fvd.cdfvd(...).compute_fvd``): every
  frame of each clip, bilinear 224×224 without antialiasing or crop (non-square clips are squashed);
  I3D input in [−1, 1]; VideoMAE-v2 input in [0, 1] without mean/std, features ``fc_norm(mean of
  tokens)``; covariance ÷N; the first 2048 fake clips and every real clip.
- ``fvd2048_16f``, ``fvd2048_128f``, ``fvd2048_128f_subsample8f``: StyleGAN-V's metrics
  (``src/metrics/metric_main.py``): 16 or 128 consecutive frames, or every 8th of the first 128;
  clips shorter than that span are discarded (counted in ``skipped``); the I3D is called with
  ``rescale=True, resize=True`` on uint8 frames (a TorchScript archive such as ``i3d_torchscript.pt``
  does both itself; for a state dict the same [0, 255] → [−1, 1] and trilinear 224×224 resize run
  here); covariance ÷N; the first 2048 clips of each set. StyleGAN-V draws a random start frame for
  real clips; here every clip starts at its first frame (StyleGAN-V's rule for generated clips).

Extractors (:func:`make_extractor` builds one from a spec string):

- ``synthvid-tiny-video`` (default): the shipped shapes-world encoder; scores are labelled
  "FVD-tiny (not comparable to published FVD)"; ``synthvid`` protocol only.
- ``i3d:PATH``: Inception-I3D from StyleGAN-V's ``i3d_torchscript.pt`` or the VideoGPT/cd-fvd
  ``i3d_pretrained_400.pt`` (:mod:`eval.i3d`); the published FVD.
- ``videomae:PATH``: a VideoMAE-v2 checkpoint file as cd-fvd loads it (``vit_g_hybrid_pt_1200e_ssv2_ft.pth``,
  :mod:`eval.videomae`): the content-debiased FVD; or a transformers VideoMAE folder saved with
  ``save_pretrained`` (``synthvid`` protocol only: mean-pooled last hidden state, as before).

The states are running sums (Σx, Σxxᵀ, N per set, float64) reduced by summation, so the metric syncs
across processes like torchmetrics' FID; ``keep_features=True`` also keeps the features (reduced by
concatenation) for FVD∞. Every result carries N, and a warning is issued when a set has fewer than
256 clips (the estimate is biased upward by ~1/N). A reference set's statistics can be saved and
loaded as one ``.npz`` (:class:`ReferenceStats`), so a large real set is featurised once.
"""

from __future__ import annotations

import abc
import hashlib
import json
import logging
import zipfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn
from torchmetrics import Metric
from torchmetrics.utilities import rank_zero_warn

from eval.errors import EvalError, ModelFileError
from eval.frames import require_frames, video_batch
from eval.frechet import SMALL_SET, GaussianStats, frechet_distance_infinity, frechet_distance_stats

log = logging.getLogger(__name__)

TINY_LABEL = "FVD-tiny (not comparable to published FVD)"
I3D_LABEL = "FVD (I3D, Kinetics-400 logits)"
VIDEOMAE_LABEL = "FVD-VideoMAE (content-debiased, Ge et al. 2024)"
NATIVE = 0  # FVDProtocol.frames: the extractor's own frame count (synthvid protocol)
STATS_FORMAT = "synthvid-fvd-reference-stats/1"


@dataclass(frozen=True)
class FVDProtocol:
    """How clips become features and features a distance (see the module docstring).

    ``frames``: frames a clip gives (``None`` every frame, :data:`NATIVE` the extractor's own count),
    taken from the first, every ``subsample``-th; with ``discard_short`` a clip shorter than
    ``frames × subsample`` is skipped (counted) instead of refused. ``ddof``: covariance ÷(N − ddof).
    ``max_real``/``max_fake``: only the first so many clips of a set count. ``extractors``: the
    extractor kinds the protocol is defined for.
    """

    name: str
    description: str
    frames: int | None = NATIVE
    subsample: int = 1
    discard_short: bool = False
    ddof: int = 1
    max_real: int | None = None
    max_fake: int | None = None
    extractors: tuple[str, ...] = ("synthvid-tiny-video", "i3d", "videomae")

    @property
    def span(self) -> int:
        """Frames a clip must have (0: any)."""
        return 0 if not self.frames else self.frames * self.subsample

    def select_frames(self, videos: torch.Tensor, what: str) -> torch.Tensor:
        """``[B, T, H, W, 3]`` → the protocol's frames (for ``frames`` other than :data:`NATIVE`)."""
        if self.frames is None:
            return videos
        require_frames(videos, self.span, f"{what} under protocol {self.name}")
        return videos[:, : self.span : self.subsample]


def _stylegan_v(name: str, frames: int, subsample: int = 1) -> FVDProtocol:
    what = f"every {subsample}th of the first {frames * subsample} frames" if subsample > 1 else f"the first {frames} frames"
    return FVDProtocol(
        name,
        f"StyleGAN-V {name}: I3D on {what} (shorter clips discarded), rescale/resize by the detector's own call, "
        "covariance ÷N, the first 2048 clips of each set",
        frames=frames,
        subsample=subsample,
        discard_short=True,
        ddof=0,
        max_real=2048,
        max_fake=2048,
        extractors=("i3d",),
    )


PROTOCOLS: dict[str, FVDProtocol] = {
    "synthvid": FVDProtocol(
        "synthvid",
        "synthvid's default: I3D on the first 16 frames (StyleGAN-V's preprocessing), VideoMAE on the model's "
        "frame count with mean/std normalisation, covariance ÷N−1 (torchmetrics), every clip; not a published protocol",
    ),
    "cd-fvd": FVDProtocol(
        "cd-fvd",
        "cd-fvd 0.1.1 defaults: every frame, bilinear 224×224 without antialias or crop, I3D in [−1, 1], "
        "VideoMAE-v2 in [0, 1] with fc_norm(mean of tokens), covariance ÷N, the first 2048 fake clips",
        frames=None,
        ddof=0,
        max_fake=2048,
        extractors=("i3d", "videomae"),
    ),
    "fvd2048_16f": _stylegan_v("fvd2048_16f", 16),
    "fvd2048_128f": _stylegan_v("fvd2048_128f", 128),
    "fvd2048_128f_subsample8f": _stylegan_v("fvd2048_128f_subsample8f", 16, 8),
}
DEFAULT_PROTOCOL = "synthvid"


def get_protocol(protocol: str | FVDProtocol | None) -> FVDProtocol:
    if isinstance(protocol, FVDProtocol):
        return protocol
    name = protocol or DEFAULT_PROTOCOL
    if name not in PROTOCOLS:
        raise EvalError(None, f"unknown FVD protocol {name!r}: choose from {', '.join(PROTOCOLS)}")
    return PROTOCOLS[name]


def file_sha256(paths: list[Path]) -> str:
    """SHA-256 over the named files' contents, in the order given (one file: its own SHA-256)."""
    if len(paths) == 1:
        digest = hashlib.sha256()
        with open(paths[0], "rb") as handle:
            for block in iter(lambda: handle.read(1 << 20), b""):
                digest.update(block)
        return digest.hexdigest()
    combined = hashlib.sha256()
    for path in paths:
        combined.update(f"{path.name}:{file_sha256([path])}\n".encode())
    return combined.hexdigest()


class VideoFeatureExtractor(nn.Module, abc.ABC):
    """Maps uint8 clips ``[B, T, H, W, 3]`` to features ``[B, num_features]`` (no gradients).

    Subclasses set ``name``, ``base_label``, ``num_features``, ``protocol`` and ``weight_files`` (the
    files whose hash identifies the weights) and implement :meth:`preprocess` and :meth:`embed`; calls
    are batched by ``batch_size``. ``label`` names the extractor and the protocol.
    """

    name = "extractor"
    base_label = "FVD"
    num_features: int
    batch_size: int = 8
    protocol: FVDProtocol = PROTOCOLS[DEFAULT_PROTOCOL]
    weight_files: list[Path] = []

    def _set_protocol(self, protocol: str | FVDProtocol | None, kind: str | None = None) -> None:
        protocol = get_protocol(protocol)
        if (kind or self.name) not in protocol.extractors:
            raise EvalError(
                None,
                f"protocol {protocol.name} is defined for {' and '.join(protocol.extractors)} features, "
                f"not {kind or self.name} (choose from: {', '.join(p.name for p in PROTOCOLS.values() if (kind or self.name) in p.extractors)})",
            )
        self.protocol = protocol

    @property
    def label(self) -> str:
        return f"{self.base_label}, protocol {self.protocol.name}"

    @property
    def weights_sha256(self) -> str:
        if not hasattr(self, "_weights_sha256"):
            self._weights_sha256 = file_sha256(self.weight_files) if self.weight_files else "unknown"
        return self._weights_sha256

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
    base_label = TINY_LABEL

    def __init__(self, folder: str | Path | None = None, *, batch_size: int = 16, protocol: str | FVDProtocol | None = None):
        super().__init__()
        from eval.video_encoder import CONFIG_FILE, DEFAULT_DIR, WEIGHTS_FILE, load_tiny_video_encoder

        self._set_protocol(protocol)
        self.encoder = load_tiny_video_encoder(folder)
        self.num_features = self.encoder.num_features
        self.batch_size = batch_size
        root = Path(folder) if folder is not None else DEFAULT_DIR
        self.weight_files = [root / CONFIG_FILE, root / WEIGHTS_FILE]

    def preprocess(self, videos: torch.Tensor) -> torch.Tensor:
        return self.encoder.preprocess(videos)

    def embed(self, inputs: torch.Tensor) -> torch.Tensor:
        return self.encoder(inputs)


class I3DFeatures(VideoFeatureExtractor):
    """The 400 I3D logits averaged over time (see :mod:`eval.i3d`), frames as the protocol says.

    Speed (``synthvid`` protocol): inference mode, BatchNorm folded into the convolutions,
    channels-last-3d tensors (oneDNN's fast layout for 3-D convolutions) and ``batch_size`` clips a
    call. The reference protocols run the network as the references do (BatchNorm kept, contiguous
    tensors): the folded, channels-last network's features differ from theirs by ~7e-6 relative,
    which moves FVD by ~2e-6; kept as they are, the features are bit-identical to cd-fvd's.
    """

    name = "i3d"
    base_label = I3D_LABEL

    def __init__(
        self, path: str | Path, *, bn_eps: float | None = None, batch_size: int = 4, fuse: bool = True, protocol: str | FVDProtocol | None = None
    ):
        super().__init__()
        from eval.i3d import InceptionI3d, TorchScriptI3d, fuse_for_inference, load_i3d

        self._set_protocol(protocol)
        self.fast = fuse and self.protocol.name == DEFAULT_PROTOCOL
        model = load_i3d(path, bn_eps=bn_eps)
        self.scripted = isinstance(model, TorchScriptI3d)
        if isinstance(model, InceptionI3d):
            self.num_features = model.num_classes
            if self.fast:
                model = fuse_for_inference(model)
        else:  # TorchScript: the class count from its logits layer if it names one, else Kinetics-400
            counts = [v.shape[0] for k, v in model.state_dict().items() if "logits" in k and k.endswith("weight") and v.ndim == 5]
            self.num_features = int(counts[0]) if counts else 400
        self.model = model
        self.path = str(path)
        self.weight_files = [Path(path)]
        self.batch_size = batch_size

    def preprocess(self, videos: torch.Tensor) -> torch.Tensor:
        from eval.i3d import preprocess_i3d, preprocess_i3d_cdfvd, stylegan_v_rescale_resize

        protocol = self.protocol
        if protocol.frames == NATIVE:
            x = preprocess_i3d(videos)
        else:
            videos = protocol.select_frames(videos, "I3D")
            if protocol.name == "cd-fvd":
                x = preprocess_i3d_cdfvd(videos)
            else:  # StyleGAN-V: the detector gets uint8 [B, 3, T, H, W] and rescales and resizes itself
                x = videos.permute(0, 4, 1, 2, 3).contiguous()  # as StyleGAN-V hands it over
                if self.scripted:
                    return x
                x = stylegan_v_rescale_resize(x)
        return x.contiguous(memory_format=torch.channels_last_3d if self.fast else torch.contiguous_format)

    def embed(self, inputs: torch.Tensor) -> torch.Tensor:
        if self.scripted and inputs.dtype == torch.uint8:
            features = self.model(inputs, rescale=True, resize=True)
        else:
            features = self.model(inputs)
        if features.ndim != 2 or features.shape[1] != self.num_features:
            raise ModelFileError(self.path, f"the network returns shape {list(features.shape)}, expected [batch, {self.num_features}]")
        return features


class VideoMAEFeatures(VideoFeatureExtractor):
    """VideoMAE features from a VideoMAE-v2 checkpoint file (:mod:`eval.videomae`, what cd-fvd loads:
    ``fc_norm(mean of tokens)``) or a transformers ``VideoMAEModel`` folder (mean-pooled last hidden
    state; ``synthvid`` protocol only).

    Frames: under ``cd-fvd`` every frame, bilinear 224×224 without antialias, [0, 1], no mean/std
    (the reference's input); under ``synthvid`` the first ``num_frames`` frames, an antialiased resize
    and mean/std normalisation (the folder's ``preprocessor_config.json``, else ImageNet's, which
    VideoMAE checkpoints are trained with).
    """

    name = "videomae"
    base_label = VIDEOMAE_LABEL
    MEAN = (0.485, 0.456, 0.406)
    STD = (0.229, 0.224, 0.225)

    def __init__(self, path: str | Path, *, batch_size: int = 4, protocol: str | FVDProtocol | None = None):
        super().__init__()
        path = Path(path)
        self._set_protocol(protocol)
        self.batch_size = batch_size
        mean, std = self.MEAN, self.STD
        if path.is_file():
            from eval.videomae import load_videomae_v2

            self.kind = "videomae-v2"
            self.model = load_videomae_v2(path)
            self.frames, self.size, self.num_features = self.model.frames, self.model.image_size, self.model.dim
            self.weight_files = [path]
        else:
            self.kind = "transformers"
            if get_protocol(protocol).name != "synthvid":
                raise ModelFileError(
                    path,
                    f"protocol {get_protocol(protocol).name} needs a VideoMAE-v2 checkpoint file as cd-fvd "
                    "loads it (vit_g_hybrid_pt_1200e_ssv2_ft.pth); a transformers folder is scored under synthvid only",
                )
            if not (path / "config.json").is_file():
                raise ModelFileError(path, "neither a VideoMAE-v2 checkpoint file nor a transformers VideoMAE folder (no config.json)")
            from transformers import VideoMAEModel

            try:
                self.model = VideoMAEModel.from_pretrained(str(path), local_files_only=True).eval()
            except (OSError, ValueError) as exc:
                raise ModelFileError(path, f"cannot load a VideoMAE model ({' '.join(str(exc).split())[:200]})") from exc
            config = self.model.config
            self.frames, self.size = int(config.num_frames), int(config.image_size)
            self.num_features = int(config.hidden_size)
            self.weight_files = sorted(p for p in path.iterdir() if p.suffix in (".json", ".safetensors", ".bin") and p.is_file())
            processor_file = path / "preprocessor_config.json"
            if processor_file.is_file():  # the checkpoint's own normalisation wins
                processor = json.loads(processor_file.read_text())
                mean, std = processor.get("image_mean", mean), processor.get("image_std", std)
        self.register_buffer("mean", torch.tensor(mean, dtype=torch.float32).view(1, 1, 3, 1, 1), persistent=False)
        self.register_buffer("std", torch.tensor(std, dtype=torch.float32).view(1, 1, 3, 1, 1), persistent=False)

    def preprocess(self, videos: torch.Tensor) -> torch.Tensor:
        from eval.frames import resize_frames, to_unit_float

        if self.protocol.frames == NATIVE:
            require_frames(videos, self.frames, "VideoMAE")
            x = resize_frames(to_unit_float(videos[:, : self.frames]), (self.size, self.size), antialias=True)
            x = (x - self.mean) / self.std  # [B, T, 3, H, W], transformers' pixel_values layout
            return x if self.kind == "transformers" else x.transpose(1, 2)
        videos = self.protocol.select_frames(videos, "VideoMAE")
        require_frames(videos, self.model.tubelet, "VideoMAE")
        # cd-fvd: each clip as [3, T, H, W] in [0, 1], resized as a 4-D batch (bilinear, no antialias)
        b, t, h, w, _ = videos.shape
        x = videos.permute(0, 4, 1, 2, 3).to(torch.float32) / 255
        x = F.interpolate(x.reshape(b * 3, t, h, w), size=(self.size, self.size), mode="bilinear", align_corners=False)
        return x.reshape(b, 3, t, self.size, self.size)

    def embed(self, inputs: torch.Tensor) -> torch.Tensor:
        if self.kind == "transformers":
            return self.model(pixel_values=inputs).last_hidden_state.mean(dim=1)
        return self.model.forward_features(inputs)


def make_extractor(spec: str | VideoFeatureExtractor | None = None, *, protocol: str | FVDProtocol | None = None) -> VideoFeatureExtractor:
    """``synthvid-tiny-video`` (or a folder of one: ``synthvid-tiny-video:FOLDER``), ``i3d:PATH``,
    ``videomae:PATH`` (a VideoMAE-v2 checkpoint file or a transformers folder), or an extractor
    instance (returned as is; ``protocol``, if given, must be its own)."""
    if isinstance(spec, VideoFeatureExtractor):
        if protocol is not None and get_protocol(protocol) != spec.protocol:
            raise EvalError(None, f"the extractor was built for protocol {spec.protocol.name}, not {get_protocol(protocol).name}")
        return spec
    spec = spec or TinyVideoFeatures.name
    kind, _, location = spec.partition(":")
    if kind == TinyVideoFeatures.name:
        return TinyVideoFeatures(location or None, protocol=protocol)
    if kind == "i3d" and location:
        return I3DFeatures(location, protocol=protocol)
    if kind == "videomae" and location:
        return VideoMAEFeatures(location, protocol=protocol)
    raise EvalError(
        None,
        f"unknown FVD extractor {spec!r}: use synthvid-tiny-video, i3d:PATH (i3d_torchscript.pt or "
        "i3d_pretrained_400.pt) or videomae:PATH (a VideoMAE-v2 .pth or a transformers folder)",
    )


@dataclass(frozen=True)
class ReferenceStats:
    """A reference set's FVD statistics: mean ``mu``, covariance ``sigma`` (÷(N − ``ddof``)), N, and what
    made them (extractor kind, weights SHA-256, protocol, label). One ``.npz`` file without pickles:
    :meth:`save`, :meth:`load`; :meth:`check` refuses an extractor or protocol other than its own."""

    mu: np.ndarray
    sigma: np.ndarray
    n: int
    ddof: int
    extractor: str
    weights_sha256: str
    protocol: str
    label: str

    def save(self, path: str | Path) -> Path:
        path = Path(path)
        meta = {
            "format": STATS_FORMAT,
            "n": self.n,
            "ddof": self.ddof,
            "extractor": self.extractor,
            "weights_sha256": self.weights_sha256,
            "protocol": self.protocol,
            "label": self.label,
        }
        partial = path.with_name(path.name + ".partial.npz")
        try:
            np.savez(partial, mu=self.mu, sigma=self.sigma, meta=np.array(json.dumps(meta)))
            partial.replace(path)
        except OSError as exc:
            raise EvalError(path, f"cannot write ({exc.strerror or exc})") from exc
        return path

    @classmethod
    def load(cls, path: str | Path) -> ReferenceStats:
        path = Path(path)
        if not path.is_file():
            raise EvalError(path, "no such FVD statistics file")
        try:
            with np.load(path, allow_pickle=False) as data:
                meta = json.loads(str(data["meta"]))
                mu, sigma = np.asarray(data["mu"], dtype=np.float64), np.asarray(data["sigma"], dtype=np.float64)
        except (OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile) as exc:
            raise EvalError(path, f"not an FVD statistics file ({' '.join(str(exc).split())[:160]})") from exc
        if not isinstance(meta, dict) or meta.get("format") != STATS_FORMAT:
            raise EvalError(
                path, f"not an FVD statistics file (format {meta.get('format') if isinstance(meta, dict) else None!r}, expected {STATS_FORMAT})"
            )
        d = mu.shape[0] if mu.ndim == 1 else -1
        if d < 1 or sigma.shape != (d, d) or int(meta["n"]) < 2 or not (np.isfinite(mu).all() and np.isfinite(sigma).all()):
            raise EvalError(path, f"damaged FVD statistics: mean {list(mu.shape)}, covariance {list(sigma.shape)}, N {meta['n']}")
        return cls(
            mu,
            sigma,
            int(meta["n"]),
            int(meta["ddof"]),
            str(meta["extractor"]),
            str(meta["weights_sha256"]),
            str(meta["protocol"]),
            str(meta["label"]),
        )

    def check(self, extractor: VideoFeatureExtractor, source: str | Path | None = None) -> None:
        """Raise :class:`EvalError` unless ``extractor`` (its kind, weights and protocol) made these statistics."""
        asked = (extractor.name, extractor.weights_sha256, extractor.protocol.name)
        if asked != (self.extractor, self.weights_sha256, self.protocol) or self.mu.shape[0] != extractor.num_features:
            raise EvalError(
                source,
                f"made with {self.extractor} (weights sha256 {self.weights_sha256[:12]}) under protocol "
                f"{self.protocol}; this run asks for {asked[0]} (weights sha256 {asked[1][:12]}) under "
                f"protocol {asked[2]}: recompute the statistics or use the same --fvd-extractor and --protocol",
            )


class FrechetVideoDistance(Metric):
    """FVD between the real and the fake clips given to :meth:`update` (see the module docstring).

    ``compute()`` returns ``{"fvd", "n_real", "n_fake"}`` (and ``"fvd_inf"`` with ``keep_features``);
    :attr:`label` names the extractor and the protocol; ``ddof`` defaults to the protocol's.
    """

    is_differentiable = False
    higher_is_better = False
    full_state_update = False

    def __init__(
        self,
        extractor: str | VideoFeatureExtractor | None = None,
        *,
        protocol: str | FVDProtocol | None = None,
        ddof: int | None = None,
        keep_features: bool = False,
        seed: int = 0,
        **kwargs,
    ):
        super().__init__(**kwargs)
        self.extractor = make_extractor(extractor, protocol=protocol)
        self.protocol = self.extractor.protocol
        self.label = self.extractor.label
        self.ddof = self.protocol.ddof if ddof is None else ddof
        self.keep_features = keep_features
        self.seed = seed
        d = self.extractor.num_features
        for side in ("real", "fake"):
            self.add_state(f"{side}_sum", torch.zeros(d, dtype=torch.float64), dist_reduce_fx="sum")
            self.add_state(f"{side}_outer", torch.zeros(d, d, dtype=torch.float64), dist_reduce_fx="sum")
            self.add_state(f"{side}_count", torch.tensor(0, dtype=torch.long), dist_reduce_fx="sum")
            self.add_state(f"{side}_skipped", torch.tensor(0, dtype=torch.long), dist_reduce_fx="sum")
            if keep_features:
                self.add_state(f"{side}_features", [], dist_reduce_fx="cat")

    def _room(self, side: str, count: int) -> int:
        """How many of ``count`` new clips the protocol's cap on this set still admits."""
        cap = self.protocol.max_real if side == "real" else self.protocol.max_fake
        return count if cap is None else max(0, min(count, cap - int(getattr(self, f"{side}_count"))))

    def update(self, videos=None, real: bool = True, *, features: torch.Tensor | None = None) -> None:
        """Add clips (uint8 ``[B, T, H, W, 3]``, a clip, or a list of clips), or their precomputed
        ``features`` ``[B, num_features]`` (e.g. cached reference features), to the real or fake set.
        Clips beyond the protocol's cap are ignored; clips too short for a discarding protocol are counted
        in ``skipped``."""
        if (videos is None) == (features is None):
            raise EvalError(None, "give either videos or features to FrechetVideoDistance.update")
        side = "real" if real else "fake"
        if features is None:
            videos = video_batch(videos)
            if self.protocol.discard_short and videos.shape[1] < self.protocol.span:
                setattr(self, f"{side}_skipped", getattr(self, f"{side}_skipped") + videos.shape[0])
                return
            room = self._room(side, videos.shape[0])
            if room == 0:
                return
            features = self.extractor(videos[:room])
        features = torch.as_tensor(features).to(device=self.device, dtype=torch.float64)
        if features.ndim != 2 or features.shape[1] != self.extractor.num_features:
            raise EvalError(None, f"features must have shape [batch, {self.extractor.num_features}], got {list(features.shape)}")
        features = features[: self._room(side, features.shape[0])]
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
            getattr(self, f"{side}_sum").cpu().numpy(),
            getattr(self, f"{side}_outer").cpu().numpy(),
            int(getattr(self, f"{side}_count")),
            ddof=self.ddof,
        )

    def reference_stats(self) -> ReferenceStats:
        """The real set's statistics, ready to :meth:`ReferenceStats.save`."""
        stats = self.stats(real=True)
        ex = self.extractor
        return ReferenceStats(stats.mu, stats.sigma, stats.n, self.ddof, ex.name, ex.weights_sha256, self.protocol.name, self.label)

    def load_reference(self, stats: ReferenceStats | str | Path) -> None:
        """Make the real set the one ``stats`` describe (after :meth:`ReferenceStats.check`)."""
        source = None
        if not isinstance(stats, ReferenceStats):
            source, stats = stats, ReferenceStats.load(stats)
        stats.check(self.extractor, source)
        if int(self.real_count):
            raise EvalError(source, "the real set already has clips; load reference statistics into an empty one")
        n = stats.n
        self.real_sum = torch.from_numpy(n * stats.mu).to(self.device)
        outer = stats.sigma * (n - stats.ddof) + n * np.outer(stats.mu, stats.mu)
        self.real_outer = torch.from_numpy(outer).to(self.device)
        self.real_count = torch.tensor(n, device=self.device)

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
