"""synthvid-tiny-video: the small 3-D CNN whose features give FVD-tiny.

A residual 3-D CNN over 16 frames of 64×64 RGB in [−1, 1], the native size of shapes-world clips
(other sizes are resized to it, antialiased). A stem of ``stem_layers`` stride-(1, 2, 2) convolutions
brings 64×64 to 16×16 without averaging pixels first, so the first filters see noise, blur and
frame-to-frame jumps at full resolution; three stride-2 residual stages (GroupNorm, SiLU) follow.
The 128-d features are a linear projection of the deep maps' global mean and max pools and of the log
energy of each first-layer filter (a learned filter bank's spectrum: it rises with noise and falls
with blur, and the temporal filters' energy rises when frames jump; GroupNorm would normalise it
away further in). It is trained here (``synthvid eval-train video``, see :mod:`eval.train_video`)
on shapes-world clips to recognise their attributes, their frame order and the kind and strength of
applied degradations, so its features see content, motion and low-level quality. Scores computed
with it are labelled "FVD-tiny (not comparable to published FVD)": it knows only the shapes world.

Files: ``config.json`` (:class:`TinyVideoConfig`) and ``model.safetensors`` in one folder; the shipped
one is :data:`DEFAULT_DIR`.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from eval.errors import ModelFileError
from eval.frames import resize_frames, sample_indices, to_unit_float

NAME = "synthvid-tiny-video"
DEFAULT_DIR = Path(__file__).resolve().parent / "models" / NAME
CONFIG_FILE = "config.json"
WEIGHTS_FILE = "model.safetensors"
TRAIN_COMMAND = "synthvid eval-train video --minutes 90 --out runs/train-tiny-video-v2"


@dataclass
class TinyVideoConfig:
    frames: int = 16
    size: int = 64
    channels: tuple[int, ...] = (16, 32, 64, 128)
    groups: int = 8
    feature_dim: int = 128
    stem_layers: int = 2  # stride-(1, 2, 2) convolutions before the residual stages
    heads: dict[str, int] = field(default_factory=dict)  # training heads: name → outputs (classes, or 1 for a level)

    @classmethod
    def from_dict(cls, data: dict) -> TinyVideoConfig:
        known = {k: v for k, v in data.items() if k in cls.__dataclass_fields__}
        if "channels" in known:
            known["channels"] = tuple(known["channels"])
        return cls(**known)


class ResidualBlock3d(nn.Module):
    def __init__(self, cin: int, cout: int, stride: int, groups: int):
        super().__init__()
        self.conv1 = nn.Conv3d(cin, cout, 3, stride, 1, bias=False)
        self.norm1 = nn.GroupNorm(groups, cout)
        self.conv2 = nn.Conv3d(cout, cout, 3, 1, 1, bias=False)
        self.norm2 = nn.GroupNorm(groups, cout)
        self.skip = nn.Conv3d(cin, cout, 1, stride, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = F.silu(self.norm1(self.conv1(x)))
        return F.silu(self.norm2(self.conv2(y)) + self.skip(x))


class TinyVideoEncoder(nn.Module):
    def __init__(self, config: TinyVideoConfig):
        super().__init__()
        self.config = config
        c = config.channels
        # The stem runs per frame as 2-D convolutions (PyTorch's 3-D convolution is several times
        # slower at full resolution, and on 3 input channels); time is mixed from the first stage on.
        # The first filters' energy is a feature, so no norm comes before it.
        self.first = nn.Conv2d(3, c[0], 3, 2, 1, bias=False)
        layers: list[nn.Module] = [nn.GroupNorm(config.groups, c[0]), nn.SiLU()]
        for _ in range(config.stem_layers - 1):
            layers += [nn.Conv2d(c[0], c[0], 3, 2, 1, bias=False), nn.GroupNorm(config.groups, c[0]), nn.SiLU()]
        self.stem = nn.Sequential(*layers)
        self.stages = nn.Sequential(*[ResidualBlock3d(c[i], c[i + 1], 2, config.groups) for i in range(len(c) - 1)])
        self.project = nn.Linear(2 * c[-1] + 2 * c[0], config.feature_dim)
        self.heads = nn.ModuleDict({name: nn.Linear(config.feature_dim, classes) for name, classes in config.heads.items()})

    @property
    def num_features(self) -> int:
        return self.config.feature_dim

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``[B, 3, frames, size, size]`` in [−1, 1] → features ``[B, feature_dim]``: a projection of
        the mean and the max of the deep maps over space and time (the max keeps a small object's
        features from being averaged away by the background), and of the log mean energy of each
        first filter's response and of its change from frame to frame."""
        b, _, t, h, w = x.shape
        low = self.first(x.transpose(1, 2).reshape(b * t, 3, h, w))
        per_frame = low.reshape(b, t, low.shape[1], -1)  # [B, T, C, H/2 · W/2]
        energy = per_frame.square().mean(dim=(1, 3))
        change = per_frame.diff(dim=1).square().mean(dim=(1, 3)) if t > 1 else torch.zeros_like(energy)
        stem = self.stem(low)
        maps = self.stages(stem.reshape(b, t, *stem.shape[1:]).transpose(1, 2)).flatten(2)
        levels = torch.cat([energy, change], dim=1).add(1e-6).log()
        return self.project(torch.cat([maps.mean(dim=2), maps.amax(dim=2), levels], dim=1))

    def classify(self, features: torch.Tensor) -> dict[str, torch.Tensor]:
        hidden = F.silu(features)
        return {name: head(hidden) for name, head in self.heads.items()}

    def preprocess(self, videos: torch.Tensor) -> torch.Tensor:
        """uint8 ``[B, T, H, W, 3]`` → ``[B, 3, frames, size, size]`` in [−1, 1]: ``frames`` indices
        spread evenly over the clip, antialiased bilinear resize."""
        index = torch.tensor(sample_indices(videos.shape[1], self.config.frames), device=videos.device)
        x = to_unit_float(videos.index_select(1, index))
        x = resize_frames(x, (self.config.size, self.config.size), antialias=True)
        return x.mul_(2.0).sub_(1.0).permute(0, 2, 1, 3, 4).contiguous()

    def save(self, folder: str | Path, *, extra: dict | None = None) -> Path:
        from safetensors.torch import save_file

        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        config = {"name": NAME, **asdict(self.config), **(extra or {})}
        (folder / CONFIG_FILE).write_text(json.dumps(config, indent=2) + "\n")
        save_file({k: v.contiguous() for k, v in self.state_dict().items()}, str(folder / WEIGHTS_FILE))
        return folder


def load_tiny_video_encoder(folder: str | Path | None = None) -> TinyVideoEncoder:
    """The encoder saved in ``folder`` (default: the shipped :data:`DEFAULT_DIR`), in eval mode."""
    from safetensors import SafetensorError
    from safetensors.torch import load_file

    folder = Path(folder) if folder is not None else DEFAULT_DIR
    config_path, weights_path = folder / CONFIG_FILE, folder / WEIGHTS_FILE
    for path in (config_path, weights_path):
        if not path.is_file():
            raise ModelFileError(path, f"missing; {NAME} is made by `{TRAIN_COMMAND}` (its folder holds {CONFIG_FILE} and {WEIGHTS_FILE})")
    try:
        config = TinyVideoConfig.from_dict(json.loads(config_path.read_text()))
    except (ValueError, TypeError) as exc:
        raise ModelFileError(config_path, f"not a {NAME} config ({exc})") from exc
    model = TinyVideoEncoder(config)
    try:
        state = load_file(str(weights_path))
    except (SafetensorError, OSError) as exc:
        raise ModelFileError(weights_path, f"not a safetensors file ({exc})") from exc
    try:
        model.load_state_dict(state)
    except RuntimeError as exc:  # missing, unexpected or mis-shaped tensors
        raise ModelFileError(weights_path, f"weights do not fit {CONFIG_FILE} ({' '.join(str(exc).split())[:200]})") from exc
    return model.eval()
