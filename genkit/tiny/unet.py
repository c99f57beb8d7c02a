"""TinyVideoUNet: a factorised space-time UNet for pixel-space video diffusion on a CPU.

Spatial work is 2-D (frames folded into the batch); time is mixed by 1-D temporal convolutions at
every level and temporal self-attention at the coarse levels, so motion is modelled at a fraction of
the cost of 3-D convolutions (diffusers' UNet3DConditionModel is ~10x slower per step here). Text
conditions the network twice: the pooled prompt embedding joins the timestep embedding and modulates
every residual block (FiLM: cheap, global — colours), and cross-attention to the prompt tokens at the
coarse levels lets each location read the words that concern it (shape, direction).

Frame positions (``frame_positions=True``): every frame's FiLM embedding also gets a projection of
its normalised position in the clip (Fourier features of t/(F−1)). Temporal attention is blind to
frame order and kernel-3 convolutions see the clip's ends only through their zero padding, so
without it the network moved objects along the prompt's axis but often the wrong way (measured:
"left" sampled as rightward motion as often as leftward after 5,000 steps). The projection starts at
zero, so adding it to a trained model leaves the model's function unchanged until it is trained.

Frame-text mixing (``frame_text_mixing=True``): FiLM is linear in the embedding, so time + text + frame
position only ever add up — no block can modulate frame 7 differently for "left" than for "right"
except through its convolutions' nonlinearities. The model drew the prompt's axis with either direction
(measured at 11,000 steps: the predicted clean clip at high noise drifted by under 3 px where the data
move 10–14 px along the prompt's direction), because at high noise, where a trajectory is decided, the
input is noise and only the conditioning can say which way. A small MLP over [embedding, frame
features] adds a per-frame term that depends on both; its last layer starts at zero (same function).

Coordinate channels (``coordinate_channels=True``): two input channels hold each pixel's x and y in
[−1, 1] (CoordConv, Liu et al. 2018). A convolutional network knows where it is only through its zero
padding, so a per-frame modulation (frame position × prompt) can hardly say "put the object further
left in each later frame". Their input weights start at zero (same function). They were added in the
run that taught synthvid-tiny directions; what broke its time-reversal symmetry there (measured at
15,639 steps: ``|f(x) − rev f(rev x)|`` was 4–7 % of ``|f(x)|``, and the loss on moving clips was the
same under the right and the opposite direction; ``benchmarks/tiny_direction.py``) was the training loss's time-reversal contrast
(``genkit.tiny.train.direction_contrast_loss``); the two were not trained apart.

Tensors follow diffusers' video convention: ``sample`` is ``[B, C, F, H, W]``.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from diffusers import ConfigMixin, ModelMixin  # noqa: F401  (diffusers' loader looks them up here)
from diffusers.configuration_utils import register_to_config
from diffusers.models.embeddings import TimestepEmbedding, Timesteps
from diffusers.utils import BaseOutput
from torch import nn

FRAME_POSITION_FREQUENCIES = 8


def frame_position_features(frames: int, device=None, dtype=None) -> torch.Tensor:
    """``[frames, 2·FRAME_POSITION_FREQUENCIES]`` Fourier features of t/(frames−1) ∈ [0, 1] (any clip length)."""
    position = torch.arange(frames, device=device, dtype=torch.float32) / max(frames - 1, 1)
    angles = torch.pi * position[:, None] * torch.arange(1, FRAME_POSITION_FREQUENCIES + 1, device=device, dtype=torch.float32)
    return torch.cat([torch.sin(angles), torch.cos(angles)], dim=1).to(dtype or torch.float32)


def pixel_coordinates(height: int, width: int, device=None, dtype=None) -> torch.Tensor:
    """``[1, 2, height, width]``: every pixel's x and y, −1 at the first pixel and 1 at the last."""
    ys = torch.linspace(-1.0, 1.0, height, device=device, dtype=dtype or torch.float32)
    xs = torch.linspace(-1.0, 1.0, width, device=device, dtype=dtype or torch.float32)
    grid_y, grid_x = torch.meshgrid(ys, xs, indexing="ij")
    return torch.stack([grid_x, grid_y])[None]


@dataclass
class TinyVideoUNetOutput(BaseOutput):
    sample: torch.Tensor


def _groups(channels: int) -> int:
    return 8 if channels % 8 == 0 else 1


class ResBlock(nn.Module):
    """2-D residual block with FiLM (scale, shift) from the conditioning embedding."""

    def __init__(self, c_in: int, c_out: int, emb_dim: int):
        super().__init__()
        self.norm1 = nn.GroupNorm(_groups(c_in), c_in)
        self.conv1 = nn.Conv2d(c_in, c_out, 3, padding=1)
        self.film = nn.Linear(emb_dim, 2 * c_out)
        self.norm2 = nn.GroupNorm(_groups(c_out), c_out)
        self.conv2 = nn.Conv2d(c_out, c_out, 3, padding=1)
        nn.init.zeros_(self.conv2.weight)
        nn.init.zeros_(self.conv2.bias)
        self.skip = nn.Conv2d(c_in, c_out, 1) if c_in != c_out else nn.Identity()

    def forward(self, x: torch.Tensor, emb: torch.Tensor) -> torch.Tensor:
        h = self.conv1(F.silu(self.norm1(x)))
        scale, shift = self.film(emb).unsqueeze(-1).unsqueeze(-1).chunk(2, dim=1)
        h = self.norm2(h) * (1 + scale) + shift
        h = self.conv2(F.silu(h))
        return self.skip(x) + h


class TemporalMix(nn.Module):
    """Residual 1-D convolution over frames at every pixel, optionally followed by temporal attention."""

    def __init__(self, channels: int, attention: bool, heads: int = 4):
        super().__init__()
        self.norm = nn.GroupNorm(_groups(channels), channels)
        self.conv = nn.Conv1d(channels, channels, 3, padding=1)
        nn.init.zeros_(self.conv.weight)
        nn.init.zeros_(self.conv.bias)
        self.attention = SelfAttention(channels, heads) if attention else None

    def forward(self, x: torch.Tensor, frames: int) -> torch.Tensor:
        bf, c, h, w = x.shape
        b = bf // frames
        seq = x.reshape(b, frames, c, h, w).permute(0, 3, 4, 2, 1).reshape(b * h * w, c, frames)
        seq = seq + self.conv(F.silu(self.norm(seq)))
        if self.attention is not None:
            seq = seq + self.attention(seq.transpose(1, 2)).transpose(1, 2)
        return seq.reshape(b, h, w, c, frames).permute(0, 4, 3, 1, 2).reshape(bf, c, h, w)


class SelfAttention(nn.Module):
    def __init__(self, channels: int, heads: int):
        super().__init__()
        self.heads = heads
        self.norm = nn.LayerNorm(channels)
        self.qkv = nn.Linear(channels, 3 * channels)
        self.out = nn.Linear(channels, channels)
        nn.init.zeros_(self.out.weight)
        nn.init.zeros_(self.out.bias)

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        n, length, c = tokens.shape
        q, k, v = self.qkv(self.norm(tokens)).reshape(n, length, 3, self.heads, c // self.heads).permute(2, 0, 3, 1, 4)
        attended = F.scaled_dot_product_attention(q, k, v)
        return self.out(attended.transpose(1, 2).reshape(n, length, c))


class CrossAttention(nn.Module):
    """Every spatial location of every frame attends to the prompt tokens."""

    def __init__(self, channels: int, context_dim: int, heads: int = 4):
        super().__init__()
        self.heads = heads
        self.norm = nn.GroupNorm(_groups(channels), channels)
        self.q = nn.Linear(channels, channels)
        self.kv = nn.Linear(context_dim, 2 * channels)
        self.out = nn.Linear(channels, channels)
        nn.init.zeros_(self.out.weight)
        nn.init.zeros_(self.out.bias)

    def forward(self, x: torch.Tensor, context: torch.Tensor, mask: torch.Tensor | None) -> torch.Tensor:
        bf, c, h, w = x.shape
        d = c // self.heads
        q = self.q(self.norm(x).flatten(2).transpose(1, 2)).reshape(bf, h * w, self.heads, d).transpose(1, 2)
        k, v = self.kv(context).reshape(bf, -1, 2, self.heads, d).permute(2, 0, 3, 1, 4)
        attn_mask = None if mask is None else mask[:, None, None, :].bool()
        attended = F.scaled_dot_product_attention(q, k, v, attn_mask=attn_mask)
        attended = self.out(attended.transpose(1, 2).reshape(bf, h * w, c))
        return x + attended.transpose(1, 2).reshape(bf, c, h, w)


class Level(nn.Module):
    """One resolution of the UNet: residual blocks, temporal mixing, optional cross-attention."""

    def __init__(self, c_in, c_out, emb_dim, context_dim, blocks, cross_attention, temporal_attention):
        super().__init__()
        self.res = nn.ModuleList([ResBlock(c_in if i == 0 else c_out, c_out, emb_dim) for i in range(blocks)])
        self.temporal = nn.ModuleList([TemporalMix(c_out, temporal_attention) for _ in range(blocks)])
        self.cross = nn.ModuleList([CrossAttention(c_out, context_dim) for _ in range(blocks)]) if cross_attention else None

    def forward(self, x, emb, context, mask, frames):
        for i, block in enumerate(self.res):
            x = block(x, emb)
            x = self.temporal[i](x, frames)
            if self.cross is not None:
                x = self.cross[i](x, context, mask)
        return x


class TinyVideoUNet(ModelMixin, ConfigMixin):
    """Denoiser ``[B, C, F, H, W]`` → same shape, conditioned on timestep, prompt tokens and pooled prompt."""

    @register_to_config
    def __init__(
        self,
        in_channels: int = 3,
        out_channels: int = 3,
        block_channels: tuple[int, ...] = (32, 64, 128),
        blocks_per_level: tuple[int, ...] = (1, 1, 2),
        cross_attention_levels: tuple[bool, ...] = (False, True, True),
        temporal_attention_levels: tuple[bool, ...] = (False, True, True),
        context_dim: int = 128,
        time_embed_dim: int = 256,
        patch_size: int = 1,
        frame_positions: bool = False,
        frame_text_mixing: bool = False,
        coordinate_channels: bool = False,
    ):
        super().__init__()
        c0 = block_channels[0]
        # Pixel (un)shuffle: the network runs at 1/patch_size resolution on patch_size² × more channels,
        # ~patch_size² cheaper on CPU while every pixel keeps its own output.
        self.patch = patch_size
        self.time_proj = Timesteps(c0, flip_sin_to_cos=True, downscale_freq_shift=0)
        self.time_embedding = TimestepEmbedding(c0, time_embed_dim)
        self.text_embedding = nn.Sequential(nn.Linear(context_dim, time_embed_dim), nn.SiLU(), nn.Linear(time_embed_dim, time_embed_dim))
        self.frame_position = None
        if frame_positions:
            self.frame_position = nn.Linear(2 * FRAME_POSITION_FREQUENCIES, time_embed_dim)
            nn.init.zeros_(self.frame_position.weight)
            nn.init.zeros_(self.frame_position.bias)
        self.frame_text_mixer = None
        if frame_text_mixing:
            self.frame_text_mixer = nn.Sequential(
                nn.Linear(time_embed_dim + 2 * FRAME_POSITION_FREQUENCIES, time_embed_dim), nn.SiLU(), nn.Linear(time_embed_dim, time_embed_dim)
            )
            nn.init.zeros_(self.frame_text_mixer[2].weight)
            nn.init.zeros_(self.frame_text_mixer[2].bias)
        self.coordinate_channels = coordinate_channels
        self.conv_in = nn.Conv2d((in_channels + 2 * coordinate_channels) * patch_size**2, c0, 3, padding=1)
        if coordinate_channels:  # pixel_unshuffle puts the coordinates' channels last: start them at zero
            nn.init.zeros_(self.conv_in.weight[:, in_channels * patch_size**2 :])
        levels = len(block_channels)
        self.down = nn.ModuleList()
        self.downsample = nn.ModuleList()
        c_prev = c0
        for i, c in enumerate(block_channels):
            self.down.append(
                Level(c_prev, c, time_embed_dim, context_dim, blocks_per_level[i], cross_attention_levels[i], temporal_attention_levels[i])
            )
            c_prev = c
            if i < levels - 1:
                self.downsample.append(nn.Conv2d(c, c, 3, stride=2, padding=1))
        self.mid = Level(c_prev, c_prev, time_embed_dim, context_dim, 1, True, True)
        self.up = nn.ModuleList()
        for i in reversed(range(levels)):
            c = block_channels[i]
            self.up.append(
                Level(c_prev + c, c, time_embed_dim, context_dim, blocks_per_level[i], cross_attention_levels[i], temporal_attention_levels[i])
            )
            c_prev = c
        self.norm_out = nn.GroupNorm(_groups(c0), c0)
        self.conv_out = nn.Conv2d(c0, out_channels * patch_size**2, 3, padding=1)
        nn.init.zeros_(self.conv_out.weight)
        nn.init.zeros_(self.conv_out.bias)

    def forward(
        self,
        sample: torch.Tensor,
        timestep: torch.Tensor | float | int,
        encoder_hidden_states: torch.Tensor,
        pooled_text_embeds: torch.Tensor,
        encoder_attention_mask: torch.Tensor | None = None,
        return_dict: bool = True,
    ):
        b, c, frames, h, w = sample.shape
        t = torch.as_tensor(timestep, device=sample.device)
        if t.ndim == 0:
            t = t.expand(b)
        emb = self.time_embedding(self.time_proj(t).to(sample.dtype)) + self.text_embedding(pooled_text_embeds)
        # Fold frames into the batch for the 2-D work; conditioning is repeated per frame.
        emb = emb.repeat_interleave(frames, dim=0)
        if self.frame_position is not None or self.frame_text_mixer is not None:  # rows are (clip, frame), frame-minor
            positions = frame_position_features(frames, sample.device, emb.dtype).repeat(b, 1)
            if self.frame_position is not None:
                emb = emb + self.frame_position(positions)
            if self.frame_text_mixer is not None:
                emb = emb + self.frame_text_mixer(torch.cat([emb, positions], dim=1))
        context = encoder_hidden_states.repeat_interleave(frames, dim=0)
        mask = None if encoder_attention_mask is None else encoder_attention_mask.repeat_interleave(frames, dim=0)
        if h % self.patch or w % self.patch:
            raise ValueError(f"height and width must be multiples of {self.patch}, got {h}x{w}")
        x = sample.permute(0, 2, 1, 3, 4).reshape(b * frames, c, h, w)
        if self.coordinate_channels:
            x = torch.cat([x, pixel_coordinates(h, w, x.device, x.dtype).expand(b * frames, -1, -1, -1)], dim=1)
        x = self.conv_in(F.pixel_unshuffle(x, self.patch) if self.patch > 1 else x)
        skips = []
        for i, level in enumerate(self.down):
            x = level(x, emb, context, mask, frames)
            skips.append(x)
            if i < len(self.downsample):
                x = self.downsample[i](x)
        x = self.mid(x, emb, context, mask, frames)
        for level in self.up:
            skip = skips.pop()
            if x.shape[-2:] != skip.shape[-2:]:
                x = F.interpolate(x, size=skip.shape[-2:], mode="nearest")
            x = level(torch.cat([x, skip], dim=1), emb, context, mask, frames)
        x = self.conv_out(F.silu(self.norm_out(x)))
        if self.patch > 1:
            x = F.pixel_shuffle(x, self.patch)
        out = x.reshape(b, frames, -1, h, w).permute(0, 2, 1, 3, 4)
        if not return_dict:
            return (out,)
        return TinyVideoUNetOutput(sample=out)
