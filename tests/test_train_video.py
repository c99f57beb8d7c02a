"""Training of synthvid-tiny-video: the degradations and their targets, and a tiny run that exports a
loadable model and resumes exactly."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest
import torch
from eval_helpers import world_clips

from eval.errors import EvalError
from eval.train_video import (
    LEVEL_HEADS,
    VideoEncoderTrainer,
    VideoTrainConfig,
    add_noise,
    degrade,
    freeze_frames,
    low_pass,
    permute_frames,
    train_video_encoder,
)
from eval.video_encoder import load_tiny_video_encoder
from genkit.world import world_source

TINY = VideoTrainConfig(batch_size=2, frames=8, model_size=32, render_size=32, eval_clips=4)


def numbered_frames(count: int) -> np.ndarray:
    """Frames whose value is their index: where each one went is readable from its pixels."""
    return np.broadcast_to(np.arange(count, dtype=np.uint8)[:, None, None, None], (count, 4, 4, 3)).copy()


def high_frequency_energy(frames: np.ndarray) -> float:
    return float(np.mean(np.diff(frames.astype(np.float32), axis=2) ** 2))


def test_permuted_frames_are_a_permutation_and_the_displaced_share_is_counted():
    frames = numbered_frames(16)
    for seed in range(20):
        out, displaced = permute_frames(frames, np.random.default_rng(seed))
        order = out[:, 0, 0, 0]
        assert sorted(order) == list(range(16))
        assert displaced == np.mean(order != np.arange(16))
        assert displaced > 0


def test_frozen_clips_repeat_one_frame_to_the_end():
    frames = numbered_frames(16)
    for seed in range(20):
        order = freeze_frames(frames, np.random.default_rng(seed))[:, 0, 0, 0]
        start = int(np.argmax(np.diff(order) == 0)) + 1  # the first repeat
        assert list(order[:start]) == list(range(start)) and (order[start:] == start - 1).all()
        assert 4 <= 16 - start <= 15  # a quarter of the clip to all but one frame


def test_low_pass_filters_remove_more_detail_as_sigma_grows_and_report_their_width():
    clips, _ = world_clips(2, 3, frames=4, size=64)
    for seed in range(6):  # every kind is drawn at least once over these seeds
        energies, widths = [], []
        for sigma in (0.5, 1.5, 3.0):
            out, width = low_pass(clips[0], sigma, np.random.default_rng(seed))
            assert out.shape == clips[0].shape and out.dtype == np.uint8
            energies.append(high_frequency_energy(out))
            widths.append(width)
        assert energies[0] < high_frequency_energy(clips[0]) and energies[0] > energies[1] > energies[2]
        assert widths[0] < widths[1] < widths[2] and abs(widths[1] - 1.5) <= 0.6  # box widths come in odd pixels


@pytest.mark.parametrize("seed", range(3))
def test_added_noise_has_the_requested_sigma(seed):
    grey = np.full((4, 32, 32, 3), 128, np.uint8)
    for sigma in (4.0, 20.0):
        out = add_noise(grey, sigma, np.random.default_rng(seed))
        assert abs(np.std(out.astype(np.float32) - 128) - sigma) < 0.1 * sigma + 0.5


def test_degradation_targets_follow_what_was_done():
    trainer_config = replace(TINY, shuffled_share=0.5, frozen_share=0.25, noise_share=0.5, low_pass_share=0.5)
    clip = world_clips(1, 5, frames=8, size=32)[0][0]
    seen = set()
    for seed in range(40):
        out, faults = degrade(clip, trainer_config, np.random.default_rng(seed))
        seen.add(faults.order)
        assert (faults.displaced > 0) == (faults.order == 1)
        if faults.order == 0 and not faults.blur_sigma and not faults.noise_sigma:
            assert np.array_equal(out, clip)
        if faults.noise_sigma:
            assert 2.0 <= faults.noise_sigma <= 50.0
    assert seen == {0, 1, 2}


def test_a_tiny_run_exports_a_loadable_encoder_and_resumes_exactly(tmp_path):
    world = world_source()
    straight = train_video_encoder(tmp_path / "straight", world, minutes=5, max_steps=4, config=TINY)
    train_video_encoder(tmp_path / "split", world, minutes=5, max_steps=2, config=TINY)
    with pytest.raises(EvalError, match="--resume"):
        train_video_encoder(tmp_path / "split", world, minutes=5, max_steps=4, config=TINY)
    resumed = train_video_encoder(tmp_path / "split", world, minutes=5, max_steps=4, config=TINY, resume=True)
    assert straight["steps"] == resumed["steps"] == 4
    a, b = (load_tiny_video_encoder(tmp_path / name / "model") for name in ("straight", "split"))
    for (name, x), (_, y) in zip(a.state_dict().items(), b.state_dict().items()):
        torch.testing.assert_close(x, y, msg=name)
    assert all(a.config.heads[name] == 1 for name in LEVEL_HEADS) and a.config.heads["order"] == 3
    assert set(straight["evaluation"]) >= {"acc_order", "acc_shape", "mae_noise_level", "loss"}
    clips = torch.from_numpy(world_clips(2, 8, frames=8, size=32)[0])
    with torch.inference_mode():
        assert a(a.preprocess(clips)).shape == (2, 128)


def test_held_out_labels_mask_what_cannot_be_seen():
    trainer = VideoEncoderTrainer(world_source(), TINY)
    _, labels, mask = trainer.eval_batch
    assert not mask["motion"][labels["order"] == 1].any()  # shuffled clips: motion is not scored
    assert ((labels["noise_level"] >= 0) & (labels["noise_level"] <= 1)).all()
