"""eval.amt without vbench: checkpoint loading, streaming and refusals (its arithmetic against VBench's own
AMT-S is tests/test_vbench_reference.py::test_motion_smoothness_equals_vbench)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from eval.amt import AmtS, SmoothnessStream, load_amt
from eval.errors import FramesError, ModelFileError


@pytest.fixture(scope="module")
def amt(tmp_path_factory):
    torch.manual_seed(0)
    path = tmp_path_factory.mktemp("amt") / "amt-s.pth"
    torch.save({"state_dict": AmtS().state_dict()}, path)
    return load_amt(path)


def test_chunks_of_any_size_give_the_whole_clips_score(amt):
    rng = np.random.default_rng(1)
    base = rng.integers(0, 256, (17, 18, 3), dtype=np.uint8).repeat(8, 0).repeat(8, 1)[:130, :140]
    clip = np.stack([np.roll(base, 2 * t, axis=1) for t in range(7)])
    whole = SmoothnessStream(amt).add(clip).result()
    assert 0.0 < whole < 1.0
    stream = SmoothnessStream(amt)
    for start in range(0, len(clip), 2):
        stream.add(clip[start : start + 2])
    assert stream.result() == whole
    # a still clip is predicted from its neighbours better than a clip of fresh noise
    noise = rng.integers(0, 256, clip.shape, dtype=np.uint8)
    assert SmoothnessStream(amt).add(np.stack([base] * 5)).result() > SmoothnessStream(amt).add(noise[:5]).result()


def test_refusals_name_the_reason(amt, tmp_path):
    with pytest.raises(FramesError, match="at least 128 px a side, got 96x96"):
        SmoothnessStream(amt).add(np.zeros((3, 96, 96, 3), np.uint8))
    with pytest.raises(FramesError, match="at least 3 frames, got 2"):
        SmoothnessStream(amt).add(np.zeros((2, 128, 128, 3), np.uint8)).result()
    torch.save({"state_dict": {"conv.weight": torch.zeros(1)}}, tmp_path / "other.pth")
    with pytest.raises(ModelFileError, match="other.pth: keys differ from AMT-S"):
        load_amt(tmp_path / "other.pth")
    with pytest.raises(ModelFileError, match="none.pth: no such AMT-S checkpoint: VBench's motion smoothness uses amt-s.pth"):
        load_amt(tmp_path / "none.pth")
