"""RAFT optical flow (Teed & Deng, ECCV 2020) as VBench's dynamic degree runs it.

VBench 0.1.5 (``vbench/dynamic_degree.py``) loads the original ``raft-things.pth`` of
github.com/princeton-vl/RAFT (``models.zip``: a DataParallel state dict, keys ``module.fnet...``) into
the original code and calls it with 20 iterations in test mode on frames padded to multiples of 8.
Here the network is torchvision's ``raft_large`` (the same architecture; torchvision ported these
weights), the original file's keys renamed to torchvision's (:func:`torchvision_state_dict`), and the
forward pass is the original's test mode: images to [−1, 1], features of both frames, the context
split into a tanh hidden state and a ReLU context, 20 lookups and GRU updates, and the convex
upsampling ×8 of the last flow only (torchvision's own forward upsamples after every iteration).
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import torch
from torch import nn

from eval.errors import check_state_dict

RAFT_FILE = "raft-things.pth"
RAFT_SOURCE = "github.com/princeton-vl/RAFT (models.zip; VBench: raft_model/models/raft-things.pth)"
RAFT_ITERATIONS = 20  # VBench's DynamicDegree: iters=20, test_mode=True
RAFT_MIN_SIDE = 128  # torchvision's correlation pyramid needs feature maps of 16 (the original pools smaller ones)

# The original RAFT's module names → torchvision's (applied in order to each key)
_RENAMES = (
    (r"^fnet\.", "feature_encoder."),
    (r"^cnet\.", "context_encoder."),
    (r"^(feature_encoder|context_encoder)\.conv1\.", r"\1.convnormrelu.0."),
    (r"^(feature_encoder|context_encoder)\.norm1\.", r"\1.convnormrelu.1."),
    (r"^(feature_encoder|context_encoder)\.conv2\.", r"\1.conv."),
    (r"\.(layer\d\.\d)\.conv(\d)\.", r".\1.convnormrelu\2.0."),
    (r"\.(layer\d\.\d)\.norm([12])\.", r".\1.convnormrelu\2.1."),
    (r"^update_block\.encoder\.conv([cf])(\d)\.", lambda m: f"update_block.motion_encoder.conv{'corr' if m[1] == 'c' else 'flow'}{m[2]}.0."),
    (r"^update_block\.encoder\.conv\.", "update_block.motion_encoder.conv.0."),
    (r"^update_block\.gru\.conv([zrq])(\d)\.", r"update_block.recurrent_block.convgru\2.conv\1."),
    (r"^update_block\.mask\.0\.", "mask_predictor.convrelu.0."),
    (r"^update_block\.mask\.2\.", "mask_predictor.conv."),
)


def torchvision_state_dict(original: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """The original RAFT's state dict (``module.`` prefixes allowed) under torchvision's ``raft_large``
    names. The original keeps each downsampling BatchNorm twice (``norm3`` is ``downsample.1``); the
    copy is dropped."""
    out = {}
    for key, value in original.items():
        key = key.removeprefix("module.")
        if re.search(r"\.layer\d\.\d\.norm3\.", key):
            continue
        for pattern, replacement in _RENAMES:
            key = re.sub(pattern, replacement, key)
        out[key] = value
    return out


def load_raft(path: str | Path) -> nn.Module:
    """torchvision's ``raft_large`` with the weights of the original ``raft-things.pth`` at ``path`` (or
    a file already in torchvision's names), or :class:`ModelFileError` naming the file."""
    from torchvision.models.optical_flow import raft_large

    from eval.checkpoints import load_state_dict_file

    state = load_state_dict_file(path, "RAFT", f"VBench's dynamic degree uses {RAFT_FILE} from {RAFT_SOURCE}")
    model = raft_large(weights=None)
    state = torchvision_state_dict(state)
    check_state_dict(path, "RAFT (large, the original raft-things.pth layout)", state, model.state_dict())
    model.load_state_dict(state)
    return model.eval()


def raft_flow(model: nn.Module, first: np.ndarray, second: np.ndarray, iterations: int = RAFT_ITERATIONS) -> np.ndarray:
    """Flow ``[H, W, 2]`` (x, y) from uint8 RGB frame ``first`` to ``second`` (sides multiples of 8),
    as the original RAFT's test mode computes it."""
    from torchvision.models.optical_flow.raft import make_coords_grid, upsample_flow

    def tensor(frame):
        return 2 * (torch.from_numpy(np.ascontiguousarray(frame)).permute(2, 0, 1)[None].float() / 255.0) - 1.0

    image1, image2 = tensor(first), tensor(second)
    h, w = image1.shape[-2:]
    with torch.inference_mode():
        fmap1, fmap2 = torch.chunk(model.feature_encoder(torch.cat([image1, image2])), 2)
        model.corr_block.build_pyramid(fmap1, fmap2)
        context_out = model.context_encoder(image1)
        hidden_size = model.update_block.hidden_state_size  # the rest of the channels is the context
        hidden, context = torch.split(context_out, [hidden_size, context_out.shape[1] - hidden_size], dim=1)
        hidden, context = torch.tanh(hidden), torch.relu(context)
        coords0 = make_coords_grid(1, h // 8, w // 8)
        coords1 = coords0.clone()
        for _ in range(iterations):
            corr = model.corr_block.index_pyramid(centroids_coords=coords1)
            hidden, delta = model.update_block(hidden, context, corr, coords1 - coords0)
            coords1 = coords1 + delta
        flow = upsample_flow(coords1 - coords0, up_mask=model.mask_predictor(hidden))
    return flow[0].permute(1, 2, 0).numpy()
