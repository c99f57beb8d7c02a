"""VideoMAE-v2 ViT encoders from their original checkpoints: the feature network of content-debiased FVD.

Architecture: Wang et al. 2023, "VideoMAE V2: Scaling Video Masked Autoencoders with Dual Masking"
(reference code OpenGVLab/VideoMAEv2 ``models/modeling_finetune.py``), as vendored by cd-fvd 0.1.1
(``cdfvd/third_party/VideoMAEv2/videomaev2_finetune.py``; Ge et al. 2024, "On the Content Bias in
Fréchet Video Distance"). Module and parameter names are the same, so the checkpoints that code loads
(``vit_g_hybrid_pt_1200e_ssv2_ft.pth``: a state dict, optionally under ``model`` or ``module``) load here
as they are.

The features are the reference's ``forward_features``: tubelet embedding, fixed sine-cosine position
table (interpolated in time, trilinearly, when a clip has another number of tubelets than the model was
built for), the transformer blocks, then ``fc_norm`` of the mean over tokens. Every operation follows
the reference's order (explicit attention, not a fused kernel) so features agree to float rounding.

What the file does not say is read from the tensors: width and patch size (``patch_embed.proj.weight``),
tubelet size, depth (block count), MLP width, q/v biases, layer scale (``gamma_1``), cosine attention
(``attn.scale``). Heads are not in the file: VideoMAE-v2's models use 16 heads at widths 1024, 1280 and
1408 (ViT-L/H/g), 12 at 768, 6 at 384; other widths get width/64 unless ``num_heads`` is given. The
input size is 224 (cd-fvd resizes every frame to 224×224) and the model is built for 16 frames.
"""

from __future__ import annotations

import logging
import math
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from eval.errors import ModelFileError, check_state_dict, first_line

log = logging.getLogger(__name__)

VIDEOMAE_V2_IMAGE_SIZE = 224
VIDEOMAE_V2_FRAMES = 16
VIDEOMAE_V2_LAYERNORM_EPS = 1e-6
HEADS_BY_WIDTH = {384: 6, 768: 12, 1024: 16, 1280: 16, 1408: 16}
WHERE_TO_GET = (
    "get VideoMAE-v2's vit_g_hybrid_pt_1200e_ssv2_ft.pth (the checkpoint cd-fvd uses; linked from "
    "github.com/OpenGVLab/VideoMAEv2 MODEL_ZOO.md) and pass its path"
)


def sinusoid_table(positions: int, dim: int) -> torch.Tensor:
    """The fixed position table ``[1, positions, dim]``: sin on even, cos on odd channels, float64 angles."""
    exponents = 2 * (np.arange(dim) // 2) / dim
    angles = np.arange(positions)[:, None] / np.power(10000, exponents)[None, :]
    angles[:, 0::2] = np.sin(angles[:, 0::2])
    angles[:, 1::2] = np.cos(angles[:, 1::2])
    return torch.tensor(angles, dtype=torch.float).unsqueeze(0)


class Attention(nn.Module):
    def __init__(self, dim: int, heads: int, *, qkv_bias: bool, cosine: bool):
        super().__init__()
        self.heads = heads
        self.cosine = cosine
        head_dim = dim // heads
        self.qkv = nn.Linear(dim, head_dim * heads * 3, bias=False)
        self.q_bias = nn.Parameter(torch.zeros(head_dim * heads)) if qkv_bias else None
        self.v_bias = nn.Parameter(torch.zeros(head_dim * heads)) if qkv_bias else None
        if cosine:
            self.scale = nn.Parameter(torch.log(10 * torch.ones((heads, 1, 1))))
        else:
            self.scale_factor = head_dim**-0.5
        self.proj = nn.Linear(head_dim * heads, dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, n, _ = x.shape
        bias = None
        if self.q_bias is not None:
            bias = torch.cat((self.q_bias, torch.zeros_like(self.v_bias), self.v_bias))
        q, k, v = F.linear(x, self.qkv.weight, bias).reshape(b, n, 3, self.heads, -1).permute(2, 0, 3, 1, 4)
        if self.cosine:
            attn = (F.normalize(q, dim=-1) @ F.normalize(k, dim=-1).transpose(-2, -1)) * torch.clamp(self.scale, max=4.6052).exp()
        else:
            attn = (q * self.scale_factor) @ k.transpose(-2, -1)
        return self.proj((attn.softmax(dim=-1) @ v).transpose(1, 2).reshape(b, n, -1))


class Mlp(nn.Module):
    def __init__(self, dim: int, hidden: int):
        super().__init__()
        self.fc1 = nn.Linear(dim, hidden)
        self.act = nn.GELU()
        self.fc2 = nn.Linear(hidden, dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc2(self.act(self.fc1(x)))


class Block(nn.Module):
    def __init__(self, dim: int, heads: int, hidden: int, *, qkv_bias: bool, layer_scale: bool, cosine: bool):
        super().__init__()
        self.norm1 = nn.LayerNorm(dim, eps=VIDEOMAE_V2_LAYERNORM_EPS)
        self.attn = Attention(dim, heads, qkv_bias=qkv_bias, cosine=cosine)
        self.norm2 = nn.LayerNorm(dim, eps=VIDEOMAE_V2_LAYERNORM_EPS)
        self.mlp = Mlp(dim, hidden)
        self.gamma_1 = nn.Parameter(torch.ones(dim)) if layer_scale else None
        self.gamma_2 = nn.Parameter(torch.ones(dim)) if layer_scale else None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.gamma_1 is None:
            x = x + self.attn(self.norm1(x))
            return x + self.mlp(self.norm2(x))
        x = x + self.gamma_1 * self.attn(self.norm1(x))
        return x + self.gamma_2 * self.mlp(self.norm2(x))


class PatchEmbed(nn.Module):
    def __init__(self, dim: int, patch: int, tubelet: int, channels: int = 3):
        super().__init__()
        self.proj = nn.Conv3d(channels, dim, kernel_size=(tubelet, patch, patch), stride=(tubelet, patch, patch))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.proj(x).flatten(2).transpose(1, 2)


class VideoMAEv2(nn.Module):
    """VideoMAE-v2's ViT with mean pooling; :meth:`forward_features` maps ``[B, 3, T, 224, 224]`` to
    ``fc_norm(mean of tokens)`` ``[B, dim]`` (the reference's features; no classifier head)."""

    def __init__(
        self,
        *,
        dim: int,
        depth: int,
        heads: int,
        hidden: int,
        patch: int = 14,
        tubelet: int = 2,
        qkv_bias: bool = True,
        layer_scale: bool = False,
        cosine: bool = False,
        image_size: int = VIDEOMAE_V2_IMAGE_SIZE,
        frames: int = VIDEOMAE_V2_FRAMES,
    ):
        super().__init__()
        self.dim, self.patch, self.tubelet = dim, patch, tubelet
        self.image_size, self.frames = image_size, frames
        self.grid = (frames // tubelet, image_size // patch, image_size // patch)
        self.patch_embed = PatchEmbed(dim, patch, tubelet)
        self.register_buffer("pos_embed", sinusoid_table(math.prod(self.grid), dim), persistent=False)
        self.blocks = nn.ModuleList(Block(dim, heads, hidden, qkv_bias=qkv_bias, layer_scale=layer_scale, cosine=cosine) for _ in range(depth))
        self.fc_norm = nn.LayerNorm(dim, eps=VIDEOMAE_V2_LAYERNORM_EPS)

    def position_table(self, frames: int) -> torch.Tensor:
        """The position table for ``frames`` input frames: the model's own, or interpolated in time as
        the reference does (trilinear, scale (tubelets + 0.1) / built tubelets)."""
        built, tubelets = self.grid[0], frames // self.tubelet
        if tubelets == built:
            return self.pos_embed
        table = self.pos_embed.permute(0, 2, 1).reshape(1, self.dim, *self.grid)
        table = F.interpolate(table, scale_factor=((tubelets + 0.1) / built, 1, 1), mode="trilinear")
        return table.reshape(1, self.dim, -1).permute(0, 2, 1)

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        if tuple(x.shape[-2:]) != (self.image_size, self.image_size):
            raise ValueError(f"VideoMAE-v2 takes {self.image_size}×{self.image_size} frames, got {tuple(x.shape[-2:])}")
        tokens = self.patch_embed(x)
        tokens = tokens + self.position_table(x.shape[2]).expand(x.shape[0], -1, -1).type_as(tokens)
        for block in self.blocks:
            tokens = block(tokens)
        return self.fc_norm(tokens.mean(1))

    forward = forward_features


def load_videomae_v2(path: str | Path, *, num_heads: int | None = None) -> VideoMAEv2:
    """A :class:`VideoMAEv2` in eval mode from an original VideoMAE-v2 checkpoint (see the module doc).

    Raises :class:`ModelFileError` naming the file when it is missing, unreadable or not such a checkpoint.
    """
    path = Path(path)
    if not path.is_file():
        raise ModelFileError(path, f"no such VideoMAE-v2 checkpoint; {WHERE_TO_GET}")
    try:
        state = torch.load(str(path), map_location="cpu", weights_only=True)
    except Exception as exc:  # torch.load raises pickle, zip and runtime errors alike
        raise ModelFileError(path, f"not a torch checkpoint ({first_line(exc)})") from exc
    for key in ("model", "module"):  # the reference unwraps the first of these it finds
        if isinstance(state, dict) and key in state:
            state = state[key]
            break
    if not isinstance(state, dict) or not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise ModelFileError(path, "not a state dict of tensors")
    embed = state.get("patch_embed.proj.weight")
    if embed is None or embed.ndim != 5:
        raise ModelFileError(path, "not a VideoMAE-v2 ViT state dict (no patch_embed.proj.weight)")
    if "fc_norm.weight" not in state:
        raise ModelFileError(
            path,
            "has no fc_norm: a VideoMAE-v2 model without mean pooling (e.g. a pre-training "
            "checkpoint) does not give cd-fvd's features; use a fine-tuned checkpoint",
        )
    dim, tubelet, patch = int(embed.shape[0]), int(embed.shape[2]), int(embed.shape[3])
    depth = len({key.split(".")[1] for key in state if key.startswith("blocks.")})
    hidden = state.get("blocks.0.mlp.fc1.weight")
    heads = num_heads or HEADS_BY_WIDTH.get(dim, max(1, dim // 64))
    if depth == 0 or hidden is None or dim % heads:
        raise ModelFileError(path, f"not a VideoMAE-v2 ViT state dict ({depth} blocks, width {dim}, {heads} heads)")
    model = VideoMAEv2(
        dim=dim,
        depth=depth,
        heads=heads,
        hidden=int(hidden.shape[0]),
        patch=patch,
        tubelet=tubelet,
        qkv_bias="blocks.0.attn.q_bias" in state,
        layer_scale="blocks.0.gamma_1" in state,
        cosine="blocks.0.attn.scale" in state,
    )
    expected = model.state_dict()
    check_state_dict(path, "VideoMAE-v2", state, expected, ignored=("head.",))  # the classifier is not a feature
    model.load_state_dict({k: state[k] for k in expected})
    return model.eval()
