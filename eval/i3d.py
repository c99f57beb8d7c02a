"""Inception-I3D, the feature network of the Fréchet Video Distance, and the two checkpoint formats FVD uses.

Architecture: Carreira & Zisserman 2017, "Quo Vadis, Action Recognition? A New Model and the Kinetics
Dataset" (Inception-v1 inflated to 3-D). Written here after piergiaj/pytorch-i3d ``pytorch_i3d.py``
(and its copy in VideoGPT ``videogpt/fvd/pytorch_i3d.py``): the module and parameter names are the
same, so their 400-class state dicts (``i3d_pretrained_400.pt``, ``rgb_imagenet.pt``) load as they are.
TensorFlow "SAME" padding is computed from the input size in every convolution and pooling, with
zeros, as there.

FVD features (Unterthiner et al. 2018, reference code google-research ``frechet_video_distance.py``;
VideoGPT ``videogpt/fvd/fvd.py``): frames resized bilinearly to 224×224 without antialiasing, scaled
to [−1, 1]; the 400 Kinetics logits averaged over the remaining time steps. Which frames, and in which
order resize and scaling run, is the FVD protocol's choice (:mod:`eval.fvd`): :func:`preprocess_i3d`
(the first 16, synthvid's default), :func:`preprocess_i3d_cdfvd` (every frame, cd-fvd) and
:func:`stylegan_v_rescale_resize` (StyleGAN-V's detector call).

Checkpoints, from a local path (nothing is downloaded; :func:`load_i3d` says where to get them):

- a TorchScript archive such as StyleGAN-V's ``i3d_torchscript.pt`` (the TF-Hub I3D converted by
  Skorokhodov et al.), called as ``model(x, rescale=False, resize=False, return_features=True)`` on
  frames already preprocessed here (as common_metrics_on_video_quality does);
- a state dict with pytorch-i3d's keys (``Conv3d_1a_7x7.conv3d.weight``, ..., ``logits.conv3d.bias``),
  optionally under ``state_dict`` or with DataParallel's ``module.`` prefix. BatchNorm epsilon is not
  in the file: VideoGPT builds the network with 1e-5 (the default here, for ``i3d_pretrained_400.pt``),
  pytorch-i3d with 1e-3 (pass ``bn_eps=1e-3`` for ``rgb_imagenet.pt``).
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import List

import torch
import torch.nn.functional as F
from torch import nn

from eval.checkpoints import is_torchscript, load_torchscript
from eval.errors import ModelFileError, check_state_dict, first_line
from eval.frames import require_frames, resize_frames, to_unit_float

log = logging.getLogger(__name__)

I3D_FRAMES = 16
I3D_SIZE = 224
VIDEOGPT_BN_EPS = 1e-5
PYTORCH_I3D_BN_EPS = 1e-3
WHERE_TO_GET = (
    "get StyleGAN-V's i3d_torchscript.pt (https://www.dropbox.com/s/ge9e5ujwgetktms/i3d_torchscript.pt) or "
    "VideoGPT's i3d_pretrained_400.pt (linked from github.com/wilson1yan/VideoGPT) and pass its path"
)

# (name, input channels, [b0, b1a, b1b, b2a, b2b, b3b] output channels) of the Inception blocks.
MIXED_BLOCKS = (
    ("Mixed_3b", 192, (64, 96, 128, 16, 32, 32)),
    ("Mixed_3c", 256, (128, 128, 192, 32, 96, 64)),
    ("Mixed_4b", 480, (192, 96, 208, 16, 48, 64)),
    ("Mixed_4c", 512, (160, 112, 224, 24, 64, 64)),
    ("Mixed_4d", 512, (128, 128, 256, 24, 64, 64)),
    ("Mixed_4e", 512, (112, 144, 288, 32, 64, 64)),
    ("Mixed_4f", 528, (256, 160, 320, 32, 128, 128)),
    ("Mixed_5b", 832, (256, 160, 320, 32, 128, 128)),
    ("Mixed_5c", 832, (384, 192, 384, 48, 128, 128)),
)


def _same_padding(size: int, kernel: int, stride: int) -> int:
    if size % stride == 0:
        return max(kernel - stride, 0)
    return max(kernel - size % stride, 0)


def _pad_same(x: torch.Tensor, kernel: List[int], stride: List[int]) -> torch.Tensor:
    """Zero-pad ``[B, C, T, H, W]`` as TensorFlow's SAME does (the extra pixel after, not before)."""
    t = _same_padding(x.shape[2], kernel[0], stride[0])
    h = _same_padding(x.shape[3], kernel[1], stride[1])
    w = _same_padding(x.shape[4], kernel[2], stride[2])
    if t == 0 and h == 0 and w == 0:
        return x
    return F.pad(x, [w // 2, w - w // 2, h // 2, h - h // 2, t // 2, t - t // 2])


class MaxPool3dSame(nn.Module):
    def __init__(self, kernel: tuple[int, int, int], stride: tuple[int, int, int]):
        super().__init__()
        self.kernel: List[int] = list(kernel)
        self.stride: List[int] = list(stride)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.max_pool3d(_pad_same(x, self.kernel, self.stride), self.kernel, self.stride)


class Unit3D(nn.Module):
    """Conv3d with SAME padding, then BatchNorm and ReLU (the logits layer has a bias and neither)."""

    def __init__(
        self, in_channels: int, out_channels: int, kernel=(1, 1, 1), stride=(1, 1, 1), *, bn_eps: float = VIDEOGPT_BN_EPS, logits: bool = False
    ):
        super().__init__()
        self.kernel: List[int] = list(kernel)
        self.stride: List[int] = list(stride)
        self.conv3d = nn.Conv3d(in_channels, out_channels, self.kernel, self.stride, padding=0, bias=logits)
        self.bn = nn.Identity() if logits else nn.BatchNorm3d(out_channels, eps=bn_eps, momentum=0.01)
        self.relu = not logits

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.bn(self.conv3d(_pad_same(x, self.kernel, self.stride)))
        return F.relu(x) if self.relu else x


class InceptionModule(nn.Module):
    def __init__(self, in_channels: int, out: tuple[int, ...], bn_eps: float):
        super().__init__()
        self.b0 = Unit3D(in_channels, out[0], bn_eps=bn_eps)
        self.b1a = Unit3D(in_channels, out[1], bn_eps=bn_eps)
        self.b1b = Unit3D(out[1], out[2], (3, 3, 3), bn_eps=bn_eps)
        self.b2a = Unit3D(in_channels, out[3], bn_eps=bn_eps)
        self.b2b = Unit3D(out[3], out[4], (3, 3, 3), bn_eps=bn_eps)
        self.b3a = MaxPool3dSame((3, 3, 3), (1, 1, 1))
        self.b3b = Unit3D(in_channels, out[5], bn_eps=bn_eps)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.cat([self.b0(x), self.b1b(self.b1a(x)), self.b2b(self.b2a(x)), self.b3b(self.b3a(x))], dim=1)


class InceptionI3d(nn.Module):
    """Inception-I3D; ``forward`` maps ``[B, 3, T, 224, 224]`` in [−1, 1] to the class logits averaged
    over time ``[B, num_classes]`` (VideoGPT's forward; pytorch-i3d's returns them per time step)."""

    def __init__(self, num_classes: int = 400, in_channels: int = 3, *, bn_eps: float = VIDEOGPT_BN_EPS):
        super().__init__()
        self.num_classes = num_classes
        self.Conv3d_1a_7x7 = Unit3D(in_channels, 64, (7, 7, 7), (2, 2, 2), bn_eps=bn_eps)
        self.MaxPool3d_2a_3x3 = MaxPool3dSame((1, 3, 3), (1, 2, 2))
        self.Conv3d_2b_1x1 = Unit3D(64, 64, bn_eps=bn_eps)
        self.Conv3d_2c_3x3 = Unit3D(64, 192, (3, 3, 3), bn_eps=bn_eps)
        self.MaxPool3d_3a_3x3 = MaxPool3dSame((1, 3, 3), (1, 2, 2))
        self.Mixed_3b = InceptionModule(192, MIXED_BLOCKS[0][2], bn_eps)
        self.Mixed_3c = InceptionModule(256, MIXED_BLOCKS[1][2], bn_eps)
        self.MaxPool3d_4a_3x3 = MaxPool3dSame((3, 3, 3), (2, 2, 2))
        self.Mixed_4b = InceptionModule(480, MIXED_BLOCKS[2][2], bn_eps)
        self.Mixed_4c = InceptionModule(512, MIXED_BLOCKS[3][2], bn_eps)
        self.Mixed_4d = InceptionModule(512, MIXED_BLOCKS[4][2], bn_eps)
        self.Mixed_4e = InceptionModule(512, MIXED_BLOCKS[5][2], bn_eps)
        self.Mixed_4f = InceptionModule(528, MIXED_BLOCKS[6][2], bn_eps)
        self.MaxPool3d_5a_2x2 = MaxPool3dSame((2, 2, 2), (2, 2, 2))
        self.Mixed_5b = InceptionModule(832, MIXED_BLOCKS[7][2], bn_eps)
        self.Mixed_5c = InceptionModule(832, MIXED_BLOCKS[8][2], bn_eps)
        self.avg_pool = nn.AvgPool3d((2, 7, 7), stride=(1, 1, 1))
        self.dropout = nn.Dropout(0.5)
        self.logits = Unit3D(1024, num_classes, logits=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.MaxPool3d_2a_3x3(self.Conv3d_1a_7x7(x))
        x = self.MaxPool3d_3a_3x3(self.Conv3d_2c_3x3(self.Conv3d_2b_1x1(x)))
        x = self.MaxPool3d_4a_3x3(self.Mixed_3c(self.Mixed_3b(x)))
        x = self.Mixed_4f(self.Mixed_4e(self.Mixed_4d(self.Mixed_4c(self.Mixed_4b(x)))))
        x = self.Mixed_5c(self.Mixed_5b(self.MaxPool3d_5a_2x2(x)))
        x = self.logits(self.dropout(self.avg_pool(x)))
        return x.mean(dim=(2, 3, 4))


def stylegan_v_rescale_resize(videos: torch.Tensor) -> torch.Tensor:
    """StyleGAN-V's detector call ``rescale=True, resize=True`` for a network without it: uint8
    ``[B, 3, T, H, W]`` → 2·x/255 − 1, then trilinear to ``[T, 224, 224]`` (bilinear per frame)."""
    x = videos * (2.0 / 255.0) - 1.0
    return F.interpolate(x, size=[x.shape[2], I3D_SIZE, I3D_SIZE], mode="trilinear", align_corners=False)


def preprocess_i3d_cdfvd(videos: torch.Tensor) -> torch.Tensor:
    """cd-fvd 0.1.1's ``preprocess_i3d``: uint8 ``[B, T, H, W, 3]`` (every frame) → float
    ``[B, 3, T, 224, 224]``: bilinear resize of the [0, 255] values without antialias, then 2·x/255 − 1."""
    b, t, h, w, c = videos.shape
    frames = videos.to(torch.float32).flatten(end_dim=1).permute(0, 3, 1, 2).contiguous()
    resized = F.interpolate(frames, size=(I3D_SIZE, I3D_SIZE), mode="bilinear", align_corners=False)
    resized = resized.view(b, t, c, I3D_SIZE, I3D_SIZE).transpose(1, 2).contiguous()
    return 2.0 * resized / 255.0 - 1


class StyleGANVCalling(nn.Module):
    """StyleGAN-V's detector signature ``(x, rescale, resize, return_features)`` around an I3D, for
    :func:`save_torchscript`. ``rescale`` maps [0, 255] to [−1, 1]; ``resize`` makes frames 224×224;
    ``return_features`` returns the logits, else their softmax."""

    def __init__(self, model: nn.Module):
        super().__init__()
        self.model = model

    def forward(self, x: torch.Tensor, rescale: bool = False, resize: bool = False, return_features: bool = False) -> torch.Tensor:
        if rescale:
            x = x * (2.0 / 255.0) - 1.0
        if resize:
            x = F.interpolate(x, size=[x.shape[2], 224, 224], mode="trilinear", align_corners=False)
        logits = self.model(x)
        return logits if return_features else F.softmax(logits, dim=1)


def save_torchscript(model: InceptionI3d, path: str | Path) -> Path:
    """Write ``model`` as a TorchScript archive with StyleGAN-V's calling convention (what
    ``i3d_torchscript.pt`` is); :func:`load_i3d` reads it back."""
    scripted = torch.jit.script(StyleGANVCalling(model.eval()))
    scripted.save(str(path))
    return Path(path)


class TorchScriptI3d(nn.Module):
    """A loaded StyleGAN-V-style archive, called on preprocessed frames; returns its 400 features."""

    def __init__(self, scripted: torch.jit.ScriptModule):
        super().__init__()
        self.scripted = scripted

    def forward(self, x: torch.Tensor, rescale: bool = False, resize: bool = False) -> torch.Tensor:
        return self.scripted(x, rescale=rescale, resize=resize, return_features=True)


def load_i3d(path: str | Path, *, bn_eps: float | None = None) -> nn.Module:
    """An I3D in eval mode from a TorchScript archive or a pytorch-i3d/VideoGPT state dict (see module doc).

    Raises :class:`ModelFileError` naming the file when it is missing, unreadable or has other keys.
    """
    path = Path(path)
    if not path.is_file():
        raise ModelFileError(path, f"no such I3D checkpoint; {WHERE_TO_GET}")
    if is_torchscript(path):
        if bn_eps is not None:
            log.warning("%s: bn_eps is ignored for a TorchScript archive (its epsilon is compiled in)", path)
        return TorchScriptI3d(load_torchscript(path)).eval()
    try:
        state = torch.load(str(path), map_location="cpu", weights_only=True)
    except Exception as exc:  # torch.load raises pickle, zip and runtime errors alike
        raise ModelFileError(path, f"neither a TorchScript archive nor a torch state dict ({first_line(exc)})") from exc
    if isinstance(state, dict) and isinstance(state.get("state_dict"), dict):
        state = state["state_dict"]
    if not isinstance(state, dict) or not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise ModelFileError(path, "not a state dict of tensors")
    state = {key.removeprefix("module."): value for key, value in state.items()}
    logits = state.get("logits.conv3d.weight")
    if logits is None or logits.ndim != 5:
        raise ModelFileError(path, "not a pytorch-i3d/VideoGPT InceptionI3d state dict (no logits.conv3d.weight)")
    stem = state.get("Conv3d_1a_7x7.conv3d.weight")
    model = InceptionI3d(
        num_classes=int(logits.shape[0]),
        in_channels=int(stem.shape[1]) if stem is not None and stem.ndim == 5 else 3,
        bn_eps=VIDEOGPT_BN_EPS if bn_eps is None else bn_eps,
    )
    # Files saved before PyTorch 0.4.1 have no BatchNorm step counters; they do not affect inference.
    check_state_dict(path, "InceptionI3d", state, model.state_dict(), optional=("num_batches_tracked",))
    model.load_state_dict(state, strict=False)
    return model.eval()


def preprocess_i3d(videos: torch.Tensor, *, frames: int = I3D_FRAMES, source: str | None = None) -> torch.Tensor:
    """uint8 ``[B, T, H, W, 3]`` → float ``[B, 3, frames, 224, 224]`` in [−1, 1]: the first ``frames``
    frames, bilinear resize without antialiasing (TF ``resize_bilinear``), 2·x/255 − 1."""
    require_frames(videos, frames, "I3D", source=source)
    x = to_unit_float(videos[:, :frames])  # [B, T, 3, H, W] in [0, 1]
    x = resize_frames(x, (I3D_SIZE, I3D_SIZE), antialias=False)
    return x.mul_(2.0).sub_(1.0).permute(0, 2, 1, 3, 4)


def fuse_for_inference(model: nn.Module) -> nn.Module:
    """Fold every BatchNorm into its convolution (same outputs in eval mode, fewer passes over memory)
    and store weights channels-last-3d, the layout oneDNN's 3-D convolutions run fastest in."""
    from torch.nn.utils.fusion import fuse_conv_bn_eval

    for unit in [m for m in model.modules() if isinstance(m, Unit3D)]:
        if isinstance(unit.bn, nn.BatchNorm3d):
            unit.conv3d = fuse_conv_bn_eval(unit.conv3d.eval(), unit.bn.eval())
            unit.bn = nn.Identity()
    return model.to(memory_format=torch.channels_last_3d)
