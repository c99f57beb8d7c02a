"""eval.musiq without pyiqa: the plumbing around the network (its arithmetic against pyiqa's own class
is tests/test_vbench_reference.py::test_imaging_quality_equals_vbench, run where pyiqa is installed)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from eval.musiq import HASH_GRID, Musiq, hashed_positions, load_musiq
from eval.quality import imaging_frames, imaging_score


def small_musiq(classes: int = 1) -> Musiq:
    torch.manual_seed(0)
    return Musiq(classes=classes, dim=24, hidden=32, heads=2, layers=1).eval()


def test_hashed_positions_stretch_the_grid_over_the_patches():
    rows, cols = 5, 23
    index = hashed_positions(rows, cols).reshape(rows, cols)
    expected = np.array([[(r * HASH_GRID // rows) * HASH_GRID + c * HASH_GRID // cols for c in range(cols)] for r in range(rows)])
    assert np.array_equal(index.numpy(), expected)
    assert int(hashed_positions(HASH_GRID, HASH_GRID).max()) == HASH_GRID * HASH_GRID - 1


def test_score_head_and_rating_head_from_the_state_dict(tmp_path):
    scorer, rater = small_musiq(), small_musiq(classes=10)
    with torch.no_grad():
        scorer.head.weight.zero_(), scorer.head.bias.fill_(37.0)
        rater.head[0].weight.zero_(), rater.head[0].bias.zero_()  # uniform over 1..10: mean rating 5.5
    frames = np.random.default_rng(0).integers(0, 256, (5, 40, 70, 3), dtype=np.uint8)
    assert imaging_score(frames, scorer) == pytest.approx(0.37)
    assert imaging_score(frames, rater) == pytest.approx(0.055)
    # the full-size network round-trips through a checkpoint file, with DataParallel's prefix
    full = Musiq()
    torch.save({"params": {f"module.{k}": v for k, v in full.state_dict().items()}}, tmp_path / "musiq.pth")
    loaded = load_musiq(tmp_path / "musiq.pth")
    x = torch.rand(1, 3, 40, 70)
    with torch.inference_mode():
        assert torch.equal(loaded(x), full.eval()(x))


def test_frames_above_512_are_brought_down_as_vbench_does():
    wide = imaging_frames(np.zeros((2, 288, 530, 3), dtype=np.uint8))
    assert wide.shape == (2, 3, 278, 512)  # int(512/530·288)
    small = imaging_frames(np.full((1, 90, 151, 3), 255, dtype=np.uint8))
    assert small.shape == (1, 3, 90, 151) and float(small.min()) == 1.0
