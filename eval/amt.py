"""AMT-S frame interpolation (Li et al., CVPR 2023) and VBench's motion smoothness.

VBench 0.1.5 (``vbench/motion_smoothness.py``) drops every odd frame, interpolates each pair of
kept frames back at t = ½ with AMT-S (``amt-s.pth`` of github.com/MCG-NKU/AMT, config ``AMT-S.yaml``:
correlation radius 3, 4 levels, 3 flows), and compares each prediction with the frame it replaces:
score = (255 − mean |frame − prediction|) / 255 over the uint8 pictures (a prediction truncated to
uint8 as VBench's ``tensor2img`` does). Smooth motion is predictable motion: 1 is perfect.

:class:`AmtS` has the reference network's parameter names and shapes (the checkpoint's
``state_dict`` loads as it is) and the same arithmetic: bidirectional all-pairs correlation of
instance-normalised 1/8-scale features with a 4-level pyramid; an IFRNet-style pyramid decoder
(1/16 → 1/2) whose flows are refined at 1/8, 1/4 and 1/2 scale by correlation lookups, and a last
decoder that predicts three flow pairs with occlusion masks and residuals, merged by a small
convolution. On the CPU VBench never rescales (its memory heuristic gives scale 1), so neither do we.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from eval.errors import FramesError, check_state_dict
from eval.temporal import ClipMeanMetric

AMT_FILE = "amt-s.pth"
AMT_SOURCE = "github.com/MCG-NKU/AMT (VBench: amt_model/amt-s.pth)"
CHANNELS = (20, 32, 44, 56)
SKIP = 20
FLOWS = 3
RADIUS = 3
LEVELS = 4
PAD = 16  # VBench pads frames (replicating edges) to multiples of 16
MIN_SIDE = 128  # below it the last pyramid level of the 1/8-scale correlation is 1 px wide: NaN, in VBench's code too


def resize(x: torch.Tensor, scale: float) -> torch.Tensor:
    return F.interpolate(x, scale_factor=scale, mode="bilinear", align_corners=False)


def warp(image: torch.Tensor, flow: torch.Tensor) -> torch.Tensor:
    """``image`` sampled at x + flow(x) (bilinear, border padding), on AMT's normalised grid."""
    b, _, h, w = flow.shape
    xx = torch.linspace(-1.0, 1.0, w).view(1, 1, 1, w).expand(b, -1, h, -1)
    yy = torch.linspace(-1.0, 1.0, h).view(1, 1, h, 1).expand(b, -1, -1, w)
    grid = torch.cat([xx, yy], 1).to(image)
    scaled = torch.cat([flow[:, 0:1] / ((w - 1.0) / 2.0), flow[:, 1:2] / ((h - 1.0) / 2.0)], 1)
    return F.grid_sample(image, (grid + scaled).permute(0, 2, 3, 1), mode="bilinear", padding_mode="border", align_corners=True)


def conv_prelu(cin: int, cout: int, kernel: int = 3, stride: int = 1, padding: int = 1) -> nn.Sequential:
    return nn.Sequential(nn.Conv2d(cin, cout, kernel, stride, padding), nn.PReLU(cout))


class Bottleneck(nn.Module):
    """RAFT's small-encoder bottleneck with instance norms (no parameters)."""

    def __init__(self, cin: int, cout: int, stride: int):
        super().__init__()
        self.conv1 = nn.Conv2d(cin, cout // 4, 1)
        self.conv2 = nn.Conv2d(cout // 4, cout // 4, 3, padding=1, stride=stride)
        self.conv3 = nn.Conv2d(cout // 4, cout, 1)
        self.downsample = nn.Sequential(nn.Conv2d(cin, cout, 1, stride=stride), nn.InstanceNorm2d(cout)) if stride != 1 else None

    def forward(self, x):
        y = F.relu(F.instance_norm(self.conv1(x)))
        y = F.relu(F.instance_norm(self.conv2(y)))
        y = F.relu(F.instance_norm(self.conv3(y)))
        return F.relu((x if self.downsample is None else self.downsample(x)) + y)


class FeatureEncoder(nn.Module):
    """1/8-scale matching features (84 channels) of both frames at once."""

    def __init__(self, out: int = 84):
        super().__init__()
        self.conv1 = nn.Conv2d(3, 32, 7, stride=2, padding=3)
        self.layer1 = nn.Sequential(Bottleneck(32, 32, 1), Bottleneck(32, 32, 1))
        self.layer2 = nn.Sequential(Bottleneck(32, 64, 2), Bottleneck(64, 64, 1))
        self.layer3 = nn.Sequential(Bottleneck(64, 96, 2), Bottleneck(96, 96, 1))
        self.conv2 = nn.Conv2d(96, out, 1)

    def forward(self, x):
        x = F.relu(F.instance_norm(self.conv1(x)))
        return self.conv2(self.layer3(self.layer2(self.layer1(x))))


class ResBlock(nn.Module):
    """IFRNet's residual block: the last ``side`` channels get their own convolutions in between."""

    def __init__(self, channels: int, side: int):
        super().__init__()
        self.side = side
        self.conv1 = conv_prelu(channels, channels)
        self.conv2 = conv_prelu(side, side)
        self.conv3 = conv_prelu(channels, channels)
        self.conv4 = conv_prelu(side, side)
        self.conv5 = nn.Conv2d(channels, channels, 3, 1, 1)
        self.prelu = nn.PReLU(channels)

    def forward(self, x):
        out = self.conv1(x)
        out = self.conv3(torch.cat([out[:, : -self.side], self.conv2(out[:, -self.side :])], 1))
        out = self.conv5(torch.cat([out[:, : -self.side], self.conv4(out[:, -self.side :])], 1))
        return self.prelu(x + out)


class Pyramid(nn.Module):
    """Context features at 1/2, 1/4, 1/8 and 1/16 scale."""

    def __init__(self):
        super().__init__()
        previous = 3
        for index, width in enumerate(CHANNELS, 1):
            self.register_module(f"pyramid{index}", nn.Sequential(conv_prelu(previous, width, 3, 2, 1), conv_prelu(width, width)))
            previous = width

    def forward(self, x):
        out = []
        for index in range(len(CHANNELS)):
            x = getattr(self, f"pyramid{index + 1}")(x)
            out.append(x)
        return out


class InitDecoder(nn.Module):
    def __init__(self, cin: int, cout: int):
        super().__init__()
        self.convblock = nn.Sequential(conv_prelu(2 * cin + 1, 2 * cin), ResBlock(2 * cin, SKIP), nn.ConvTranspose2d(2 * cin, cout + 4, 4, 2, 1))

    def forward(self, f0, f1, t):
        out = self.convblock(torch.cat([f0, f1, t.repeat(1, 1, *f0.shape[2:])], 1))
        flow0, flow1 = torch.chunk(out[:, :4], 2, 1)
        return flow0, flow1, out[:, 4:]


class IntermediateDecoder(nn.Module):
    def __init__(self, cin: int, cout: int):
        super().__init__()
        self.convblock = nn.Sequential(conv_prelu(3 * cin + 4, 3 * cin), ResBlock(3 * cin, SKIP), nn.ConvTranspose2d(3 * cin, cout + 4, 4, 2, 1))

    def forward(self, ft, f0, f1, flow0, flow1):
        out = self.convblock(torch.cat([ft, warp(f0, flow0), warp(f1, flow1), flow0, flow1], 1))
        delta0, delta1 = torch.chunk(out[:, :4], 2, 1)
        return delta0 + 2.0 * resize(flow0, 2.0), delta1 + 2.0 * resize(flow1, 2.0), out[:, 4:]


class MultiFlowDecoder(nn.Module):
    def __init__(self, cin: int):
        super().__init__()
        self.convblock = nn.Sequential(conv_prelu(3 * cin + 4, 3 * cin), ResBlock(3 * cin, SKIP), nn.ConvTranspose2d(3 * cin, 8 * FLOWS, 4, 2, 1))

    def forward(self, ft, f0, f1, flow0, flow1):
        out = self.convblock(torch.cat([ft, warp(f0, flow0), warp(f1, flow1), flow0, flow1], 1))
        delta0, delta1, mask, residual = torch.split(out, [2 * FLOWS, 2 * FLOWS, FLOWS, 3 * FLOWS], 1)
        flow0 = delta0 + 2.0 * resize(flow0, 2.0).repeat(1, FLOWS, 1, 1)
        flow1 = delta1 + 2.0 * resize(flow1, 2.0).repeat(1, FLOWS, 1, 1)
        return flow0, flow1, torch.sigmoid(mask), residual


class UpdateBlock(nn.Module):
    """RAFT's small update block as AMT uses it: correlation and flow → feature and flow corrections."""

    def __init__(self, cdim: int, scale: int | None = None, hidden: int = 76, flow_dim: int = 20, corr_dim: int = 64, fc_dim: int = 68):
        super().__init__()
        planes = LEVELS * (2 * RADIUS + 1) ** 2
        self.scale = scale
        self.convc1 = nn.Conv2d(2 * planes, corr_dim, 1)
        self.convf1 = nn.Conv2d(4, 2 * flow_dim, 7, padding=3)
        self.convf2 = nn.Conv2d(2 * flow_dim, flow_dim, 3, padding=1)
        self.conv = nn.Conv2d(corr_dim + flow_dim, fc_dim, 3, padding=1)
        self.gru = nn.Sequential(nn.Conv2d(fc_dim + 4 + cdim, hidden, 3, padding=1), nn.LeakyReLU(0.1), nn.Conv2d(hidden, hidden, 3, padding=1))
        self.feat_head = nn.Sequential(nn.Conv2d(hidden, hidden, 3, padding=1), nn.LeakyReLU(0.1), nn.Conv2d(hidden, cdim, 3, padding=1))
        self.flow_head = nn.Sequential(nn.Conv2d(hidden, hidden, 3, padding=1), nn.LeakyReLU(0.1), nn.Conv2d(hidden, 4, 3, padding=1))

    def forward(self, net, flow, corr):
        if self.scale is not None:
            net = resize(net, 1 / self.scale)
        cor = F.leaky_relu(self.convc1(corr), 0.1)
        flo = F.leaky_relu(self.convf2(F.leaky_relu(self.convf1(flow), 0.1)), 0.1)
        inp = torch.cat([F.leaky_relu(self.conv(torch.cat([cor, flo], 1)), 0.1), flow, net], 1)
        out = self.gru(inp)
        delta_net, delta_flow = self.feat_head(out), self.flow_head(out)
        if self.scale is not None:
            delta_net = resize(delta_net, self.scale)
            delta_flow = self.scale * resize(delta_flow, self.scale)
        return delta_net, delta_flow


class BidirectionalCorrelation:
    """All-pairs correlation of two feature maps, both ways, as 4-level pyramids, looked up in a
    (2·radius+1)² window around given coordinates (bilinear, zeros outside)."""

    def __init__(self, fmap0: torch.Tensor, fmap1: torch.Tensor):
        b, dim, h, w = fmap0.shape
        corr = (fmap0.view(b, dim, h * w).transpose(1, 2) @ fmap1.view(b, dim, h * w)).view(b, h, w, 1, h, w)
        corr = corr / torch.sqrt(torch.tensor(dim).float())
        transposed = corr.clone().permute(0, 4, 5, 3, 1, 2).reshape(b * h * w, 1, h, w)
        corr = corr.reshape(b * h * w, 1, h, w)
        self.pyramids = ([corr], [transposed])
        for _ in range(LEVELS - 1):
            for pyramid in self.pyramids:
                pyramid.append(F.avg_pool2d(pyramid[-1], 2, stride=2))

    def __call__(self, coords0: torch.Tensor, coords1: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        b, _, h, w = coords0.shape
        span = torch.linspace(-RADIUS, RADIUS, 2 * RADIUS + 1)
        delta = torch.stack(torch.meshgrid(span, span, indexing="ij"), dim=-1).view(1, 2 * RADIUS + 1, 2 * RADIUS + 1, 2)
        out = []
        for coords, pyramid in zip((coords0, coords1), self.pyramids):
            centre = coords.permute(0, 2, 3, 1).reshape(b * h * w, 1, 1, 2)
            levels = []
            for level, corr in enumerate(pyramid):
                grid = centre / 2**level + delta
                lh, lw = corr.shape[-2:]
                x, y = grid.split([1, 1], dim=-1)
                normalised = torch.cat([2 * x / (lw - 1) - 1, 2 * y / (lh - 1) - 1], dim=-1)
                levels.append(F.grid_sample(corr, normalised, align_corners=True).view(b, h, w, -1))
            out.append(torch.cat(levels, dim=-1).permute(0, 3, 1, 2).contiguous().float())
        return out[0], out[1]


class AmtS(nn.Module):
    """AMT-S with the reference's parameter names (``amt-s.pth``'s ``state_dict`` loads as it is)."""

    def __init__(self):
        super().__init__()
        self.feat_encoder = FeatureEncoder()
        self.encoder = Pyramid()
        self.decoder4 = InitDecoder(CHANNELS[3], CHANNELS[2])
        self.decoder3 = IntermediateDecoder(CHANNELS[2], CHANNELS[1])
        self.decoder2 = IntermediateDecoder(CHANNELS[1], CHANNELS[0])
        self.decoder1 = MultiFlowDecoder(CHANNELS[0])
        self.update4 = UpdateBlock(44)
        self.update3 = UpdateBlock(32, 2)
        self.update2 = UpdateBlock(20, 4)
        self.comb_block = nn.Sequential(nn.Conv2d(3 * FLOWS, 6 * FLOWS, 3, 1, 1), nn.PReLU(6 * FLOWS), nn.Conv2d(6 * FLOWS, 3, 3, 1, 1))

    @staticmethod
    def _lookup(corr, coords, flow0, flow1, t, downsample: int):
        if downsample != 1:
            flow0, flow1 = resize(flow0, 1 / downsample) / downsample, resize(flow1, 1 / downsample) / downsample
        corr0, corr1 = corr(coords + flow1 * (1.0 / t), coords + flow0 * (1.0 / (1.0 - t)))
        return torch.cat([corr0, corr1], 1), torch.cat([flow0, flow1], 1)

    def _refine(self, update, ft, flow0, flow1, corr, coords, t, downsample):
        correlation, flows = self._lookup(corr, coords, flow0, flow1, t, downsample)
        delta_ft, delta_flow = update(ft, flows, correlation)
        delta0, delta1 = torch.chunk(delta_flow, 2, 1)
        return flow0 + delta0, flow1 + delta1, ft + delta_ft

    def forward(self, img0: torch.Tensor, img1: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        """The frame at time ``t`` (``[1, 1, 1, 1]``) between ``img0`` and ``img1`` (``[B, 3, H, W]`` in
        [0, 1], sides multiples of 16), clamped to [0, 1]."""
        mean = torch.cat([img0, img1], 2).mean(1, keepdim=True).mean(2, keepdim=True).mean(3, keepdim=True)
        img0, img1 = img0 - mean, img1 - mean
        b, _, h, w = img0.shape
        ys, xs = torch.meshgrid(torch.arange(h // 8), torch.arange(w // 8), indexing="ij")
        coords = torch.stack([xs, ys]).float()[None].repeat(b, 1, 1, 1)
        fmap0, fmap1 = torch.split(self.feat_encoder(torch.cat([img0, img1])), [b, b])
        corr = BidirectionalCorrelation(fmap0, fmap1)
        f0 = self.encoder(img0)
        f1 = self.encoder(img1)
        flow0, flow1, ft = self.decoder4(f0[3], f1[3], t)
        flow0, flow1, ft = self._refine(self.update4, ft, flow0, flow1, corr, coords, t, 1)
        flow0, flow1, ft = self.decoder3(ft, f0[2], f1[2], flow0, flow1)
        flow0, flow1, ft = self._refine(self.update3, ft, flow0, flow1, corr, coords, t, 2)
        flow0, flow1, ft = self.decoder2(ft, f0[1], f1[1], flow0, flow1)
        flow0, flow1, ft = self._refine(self.update2, ft, flow0, flow1, corr, coords, t, 4)
        flow0, flow1, mask, residual = self.decoder1(ft, f0[0], f1[0], flow0, flow1)
        return torch.clamp(self._combine(img0, img1, flow0, flow1, mask, residual, mean), 0, 1)

    def _combine(self, img0, img1, flow0, flow1, mask, residual, mean):
        """The three flow pairs' warps, blended by their masks, plus residuals, averaged and corrected."""
        b, _, h, w = flow0.shape
        flow0, flow1 = flow0.reshape(b * FLOWS, 2, h, w), flow1.reshape(b * FLOWS, 2, h, w)
        mask, residual = mask.reshape(b * FLOWS, 1, h, w), residual.reshape(b * FLOWS, 3, h, w)
        img0 = torch.stack([img0] * FLOWS, 1).reshape(-1, 3, h, w)
        img1 = torch.stack([img1] * FLOWS, 1).reshape(-1, 3, h, w)
        mean = torch.stack([mean] * FLOWS, 1).reshape(-1, 1, 1, 1)
        warps = (mask * warp(img0, flow0) + (1 - mask) * warp(img1, flow1) + mean + residual).reshape(b, FLOWS, 3, h, w)
        return warps.mean(1) + self.comb_block(warps.view(b, -1, h, w))


def load_amt(path: str | Path) -> AmtS:
    """AMT-S from the reference checkpoint (``{"state_dict": ...}``, as ``amt-s.pth`` holds it), or
    :class:`ModelFileError` naming the file."""
    from eval.checkpoints import load_state_dict_file

    state = load_state_dict_file(path, "AMT-S", f"VBench's motion smoothness uses {AMT_FILE} from {AMT_SOURCE}", wrappers=("state_dict",))
    model = AmtS()
    check_state_dict(path, "AMT-S (amt-s.pth)", state, model.state_dict())
    model.load_state_dict(state)
    return model.eval()


def _padded(frame: np.ndarray) -> torch.Tensor:
    """uint8 ``[H, W, 3]`` → ``[1, 3, H', W']`` in [0, 1], edges replicated to multiples of :data:`PAD`."""
    x = torch.from_numpy(np.ascontiguousarray(frame)).permute(2, 0, 1)[None] / 255.0
    h, w = x.shape[-2:]
    pad_h, pad_w = -h % PAD, -w % PAD
    return F.pad(x, [pad_w // 2, pad_w - pad_w // 2, pad_h // 2, pad_h - pad_h // 2], mode="replicate")


class SmoothnessStream:
    """VBench's motion smoothness of one clip whose frames arrive in order (``add``): each even frame
    pair interpolated at ½ and compared with the odd frame between them; only the last even frame and
    a running sum are kept."""

    def __init__(self, model: AmtS):
        self.model = model
        self.index = 0
        self.previous: torch.Tensor | None = None  # the last even frame, padded
        self.between: np.ndarray | None = None  # the odd frame after it
        self.diffs: list[float] = []
        self.t = torch.tensor(0.5).float().view(1, 1, 1, 1)

    def add(self, frames: np.ndarray) -> SmoothnessStream:
        for frame in frames:
            if self.index % 2:
                self.between = frame
            else:
                current = _padded(frame)
                if min(current.shape[-2:]) < MIN_SIDE:
                    raise FramesError(
                        None, f"motion smoothness (AMT-S) needs frames of at least {MIN_SIDE} px a side, got {frame.shape[1]}x{frame.shape[0]}"
                    )
                if self.previous is not None and self.between is not None:
                    with torch.inference_mode():
                        predicted = self.model(self.previous, current, self.t)
                    h, w = frame.shape[:2]
                    top, left = (predicted.shape[-2] - h) // 2, (predicted.shape[-1] - w) // 2
                    picture = (predicted[0, :, top : top + h, left : left + w] * 255.0).permute(1, 2, 0).numpy().clip(0, 255).astype(np.uint8)
                    self.diffs.append(float(np.mean(np.abs(self.between.astype(np.int16) - picture.astype(np.int16)))))
                self.previous = current
            self.index += 1
        return self

    def result(self) -> float:
        if not self.diffs:
            raise FramesError(None, f"motion smoothness needs at least 3 frames, got {self.index}")
        return float((255.0 - np.mean(np.array(self.diffs))) / 255.0)


class MotionSmoothness(ClipMeanMetric):
    """VBench's motion smoothness (AMT-S), mean over clips."""

    higher_is_better = True

    def __init__(self, model: AmtS, **kwargs):
        super().__init__(**kwargs)
        self.model = model

    def scores(self, videos, fps):
        return [SmoothnessStream(self.model).add(clip.cpu().numpy()).result() for clip in videos], None
