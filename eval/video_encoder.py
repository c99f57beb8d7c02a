"""synthvid-tiny-video: the small 3-D CNN whose features give FVD-tiny.

A residual 3-D CNN (stem + three stride-2 stages, GroupNorm, SiLU) over 16 frames of 32×32 RGB in
[−1, 1] (clips are resized to it); the features are a 128-d linear projection of the global mean and
max pools. It is trained here
(``synthvid eval-train video``, see :mod:`eval.train_video`) on shapes-world clips to recognise their
attributes (colours, shape, size, motion, texture, noise, camera pan) and whether the frames are in
order, shuffled or partly frozen, so its features see appearance and motion. Scores computed with it
are labelled "FVD-tiny (not comparable to published FVD)": it knows only the shapes world.

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
TRAIN_COMMAND = "synthvid eval-train video --minutes 15 --out runs/train-tiny-video"


@dataclass
class TinyVideoConfig:
    frames: int = 16
    size: int = 64
    channels: tuple[int, ...] = (16, 32, 64, 128)
    groups: int = 8
    feature_dim: int = 128
    heads: dict[str, int] = field(default_factory=dict)  # training heads: name → classes

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
        self.stem = nn.Sequential(nn.Conv3d(3, c[0], 3, (1, 2, 2), 1, bias=False), nn.GroupNorm(config.groups, c[0]), nn.SiLU())
        self.stages = nn.Sequential(*[ResidualBlock3d(c[i], c[i + 1], 2, config.groups) for i in range(len(c) - 1)])
        self.project = nn.Linear(2 * c[-1], config.feature_dim)
        self.heads = nn.ModuleDict({name: nn.Linear(config.feature_dim, classes) for name, classes in config.heads.items()})

    @property
    def num_features(self) -> int:
        return self.config.feature_dim

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``[B, 3, frames, size, size]`` in [−1, 1] → features ``[B, feature_dim]``: a projection of the
        mean and the max over space and time (the max keeps a small object's features from being
        averaged away by the background)."""
        maps = self.stages(self.stem(x)).flatten(2)
        return self.project(torch.cat([maps.mean(dim=2), maps.amax(dim=2)], dim=1))

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
