"""MUSIQ, the multi-scale image quality transformer (Ke et al., ICCV 2021), as VBench's imaging quality runs it.

VBench 0.1.5 (``vbench/imaging_quality.py``) scores every frame with pyiqa's re-implementation of
MUSIQ and the SPAQ checkpoint ``musiq_spaq_ckpt-358bb6af.pth`` (github.com/chaofengc/IQA-PyTorch,
release v0.1-weights). :class:`Musiq` has exactly that network's parameter names and shapes, so the
file loads as it is; the forward pass is the same arithmetic:

- the frame in [0, 1] goes to [−1, 1], then to a multi-scale patch sequence: the frame resized
  (bicubic, no antialias) so its longer side is 224 and 384, plus the frame at its own size; each cut
  into 32×32 patches with TensorFlow's SAME padding; each patch carries a hashed spatial position (a
  10×10 grid stretched over the patch rows and columns, nearest neighbour) and its scale's index;
- every patch through a small ResNet root (weight-standardised 7×7/2 convolution, GroupNorm, ReLU,
  SAME max-pool 3/2, one bottleneck 64→256), flattened channels-last into one token;
- a class token and 14 pre-norm transformer blocks (384 wide, 6 heads, MLP 1152), the head on the
  class token: one output (SPAQ, KonIQ: the score) or ten (AVA: the mean of the softmax over 1–10).

pyiqa pads each scale's sequence to a fixed length and masks the padding out of the attention with
−1000 before the softmax; the padded tokens never reach a real token (exp(−1000) is 0 in float32),
so here the sequence holds only the real patches (a third fewer tokens at 16:9; 1.3× less CPU time than
pyiqa's class per 640×360 frame). Frames of one size share one token layout, so a batch of frames is
allowed, but one frame a forward is the fastest on 2 cores.
"""

from __future__ import annotations

import math
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from eval.errors import check_state_dict

MUSIQ_FILE = "musiq_spaq_ckpt-358bb6af.pth"
MUSIQ_SOURCE = "github.com/chaofengc/IQA-PyTorch, release v0.1-weights"
PATCH = 32
HASH_GRID = 10
SCALES = (224, 384)  # longer sides of the resized copies; the frame itself is the last scale
ROOT_WIDTH = 64


def same_padding(x: torch.Tensor, kernel: int, stride: int) -> torch.Tensor:
    """TensorFlow's SAME padding of ``[N, C, H, W]`` for a ``kernel``/``stride`` window (extra on the far side)."""
    pads = []
    for size in (x.shape[-1], x.shape[-2]):
        total = max((math.ceil(size / stride) - 1) * stride + kernel - size, 0)
        pads += [total // 2, total - total // 2]
    return F.pad(x, pads)


class StandardisedConv(nn.Conv2d):
    """A bias-free convolution with weight standardisation (per output channel: minus the mean, over the
    unbiased standard deviation + 1e-5) and SAME padding, as BiT and MUSIQ's root use."""

    def forward(self, x):
        weight = self.weight - self.weight.mean((1, 2, 3), keepdim=True)
        weight = weight / (weight.std((1, 2, 3), keepdim=True) + 1e-5)
        return F.conv2d(same_padding(x, self.kernel_size[0], self.stride[0]), weight, None, self.stride)


class Bottleneck(nn.Module):
    def __init__(self, width: int, out: int):
        super().__init__()
        self.conv1 = StandardisedConv(width, width, 1, bias=False)
        self.gn1 = nn.GroupNorm(32, width, eps=1e-4)
        self.conv2 = StandardisedConv(width, width, 3, bias=False)
        self.gn2 = nn.GroupNorm(32, width, eps=1e-4)
        self.conv3 = StandardisedConv(width, out, 1, bias=False)
        self.gn3 = nn.GroupNorm(32, out, eps=1e-4)
        self.conv_proj = StandardisedConv(width, out, 1, bias=False)
        self.gn_proj = nn.GroupNorm(32, out, eps=1e-4)

    def forward(self, x):
        shortcut = self.gn_proj(self.conv_proj(x))
        x = F.relu(self.gn1(self.conv1(x)))
        x = F.relu(self.gn2(self.conv2(x)))
        return F.relu(self.gn3(self.conv3(x)) + shortcut)


class Attention(nn.Module):
    def __init__(self, dim: int, heads: int):
        super().__init__()
        self.heads = heads
        self.query, self.key, self.value, self.out = (nn.Linear(dim, dim) for _ in range(4))

    def forward(self, x):
        n, length, dim = x.shape

        def split(t):
            return t.reshape(n, length, self.heads, dim // self.heads).permute(0, 2, 1, 3)

        q, k, v = split(self.query(x)), split(self.key(x)), split(self.value(x))
        weights = ((q @ k.transpose(-2, -1)) * (dim // self.heads) ** -0.5).softmax(dim=-1)
        return self.out((weights @ v).transpose(1, 2).reshape(n, length, dim))


class Mlp(nn.Module):
    def __init__(self, dim: int, hidden: int):
        super().__init__()
        self.fc1, self.fc2 = nn.Linear(dim, hidden), nn.Linear(hidden, dim)

    def forward(self, x):
        return self.fc2(F.gelu(self.fc1(x)))


class Block(nn.Module):
    def __init__(self, dim: int, hidden: int, heads: int):
        super().__init__()
        self.norm1 = nn.LayerNorm(dim, eps=1e-6)
        self.attention = Attention(dim, heads)
        self.norm2 = nn.LayerNorm(dim, eps=1e-6)
        self.mlp = Mlp(dim, hidden)

    def forward(self, x):
        x = x + self.attention(self.norm1(x))
        return x + self.mlp(self.norm2(x))


class PositionEmbedding(nn.Module):
    def __init__(self, count: int, dim: int):
        super().__init__()
        self.position_emb = nn.Parameter(torch.zeros(1, count, dim))


class ScaleEmbedding(nn.Module):
    def __init__(self, count: int, dim: int):
        super().__init__()
        self.scale_emb = nn.Parameter(torch.zeros(count, dim))


class Encoder(nn.Module):
    def __init__(self, dim: int, hidden: int, heads: int, layers: int, scales: int):
        super().__init__()
        self.posembed_input = PositionEmbedding(HASH_GRID * HASH_GRID, dim)
        self.scaleembed_input = ScaleEmbedding(scales, dim)
        self.cls = nn.Parameter(torch.zeros(1, 1, dim))
        self.encoder_norm = nn.LayerNorm(dim, eps=1e-6)
        self.transformer = nn.ModuleDict({f"encoderblock_{i}": Block(dim, hidden, heads) for i in range(layers)})

    def forward(self, tokens, positions, scale_ids):
        x = tokens + self.posembed_input.position_emb[0][positions]
        x = x + self.scaleembed_input.scale_emb[scale_ids]
        x = torch.cat([self.cls.expand(x.shape[0], -1, -1), x], dim=1)
        for block in self.transformer.values():
            x = block(x)
        return self.encoder_norm(x)


def hashed_positions(rows: int, cols: int) -> torch.Tensor:
    """Each patch's index into the HASH_GRID² position table: the grid stretched (nearest) over ``rows``×``cols``."""
    grid = torch.arange(HASH_GRID, dtype=torch.float32).reshape(1, 1, HASH_GRID)
    row = F.interpolate(grid, rows, mode="nearest").reshape(rows, 1)
    col = F.interpolate(grid, cols, mode="nearest").reshape(1, cols)
    return (row * HASH_GRID + col).reshape(-1).long()


def patches(x: torch.Tensor) -> torch.Tensor:
    """``[N, 3, H, W]`` → ``[N, P, 3·32·32]`` SAME-padded 32×32 patches, rows first (F.unfold's order)."""
    return F.unfold(same_padding(x, PATCH, PATCH), PATCH, stride=PATCH).transpose(1, 2)


class Musiq(nn.Module):
    """MUSIQ with pyiqa's parameter names; ``classes`` 1 (a score) or 10 (AVA's rating distribution)."""

    def __init__(self, classes: int = 1, dim: int = 384, hidden: int = 1152, heads: int = 6, layers: int = 14):
        super().__init__()
        self.conv_root = StandardisedConv(3, ROOT_WIDTH, 7, 2, bias=False)
        self.gn_root = nn.GroupNorm(32, ROOT_WIDTH, eps=1e-6)
        self.block1 = Bottleneck(ROOT_WIDTH, 4 * ROOT_WIDTH)
        self.embedding = nn.Linear(4 * ROOT_WIDTH * (PATCH // 4) ** 2, dim)
        self.transformer_encoder = Encoder(dim, hidden, heads, layers, len(SCALES) + 1)
        self.head = nn.Linear(dim, classes) if classes == 1 else nn.Sequential(nn.Linear(dim, classes), nn.Softmax(dim=-1))

    def sequence(self, images: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Patches, hashed positions and scale ids of images in [0, 1], ``[N, 3, H, W]``, one size."""
        x = (images - 0.5) * 2
        h, w = x.shape[-2:]
        pieces, positions, scale_ids = [], [], []
        for scale, longer in enumerate((*SCALES, None)):
            if longer is None:
                resized = x
            else:
                ratio = longer / max(h, w)
                resized = F.interpolate(x, (round(h * ratio), round(w * ratio)), mode="bicubic", align_corners=False)
            rows, cols = math.ceil(resized.shape[-2] / PATCH), math.ceil(resized.shape[-1] / PATCH)
            pieces.append(patches(resized))
            positions.append(hashed_positions(rows, cols))
            scale_ids.append(torch.full((rows * cols,), scale, dtype=torch.long))
        return torch.cat(pieces, dim=1), torch.cat(positions), torch.cat(scale_ids)

    def embed_patches(self, flat: torch.Tensor) -> torch.Tensor:
        """``[M, 3·32·32]`` patches → ``[M, dim]`` tokens through the ResNet root."""
        x = self.gn_root(self.conv_root(flat.reshape(-1, 3, PATCH, PATCH)))
        x = F.max_pool2d(same_padding(F.relu(x), 3, 2), 3, 2)
        x = self.block1(x)
        return self.embedding(x.permute(0, 2, 3, 1).reshape(x.shape[0], -1))  # channels last, as TensorFlow flattened

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        """Quality scores ``[N]`` of images in [0, 1] (``[N, 3, H, W]``, one size)."""
        sequence, positions, scale_ids = self.sequence(images)
        n, length = sequence.shape[:2]
        tokens = self.embed_patches(sequence.reshape(n * length, -1)).reshape(n, length, -1)
        out = self.head(self.transformer_encoder(tokens, positions, scale_ids)[:, 0])
        if out.shape[-1] == 1:
            return out[:, 0]
        return (out * torch.arange(1, out.shape[-1] + 1, dtype=out.dtype)).sum(-1)


def load_musiq(path: str | Path) -> Musiq:
    """MUSIQ from pyiqa's checkpoint file (a ``torch.save`` state dict; ``params``/``state_dict`` wrappers
    and DataParallel's ``module.`` prefix accepted), or :class:`ModelFileError` naming the file."""
    from eval.checkpoints import load_state_dict_file

    state = load_state_dict_file(
        path, "MUSIQ", f"VBench's imaging quality uses pyiqa's {MUSIQ_FILE} ({MUSIQ_SOURCE})", wrappers=("params", "state_dict")
    )
    head = state.get("head.weight", state.get("head.0.weight"))
    model = Musiq(classes=1 if head is None else head.shape[0])
    check_state_dict(path, "pyiqa's MUSIQ", state, model.state_dict())
    model.load_state_dict(state)
    return model.eval()
