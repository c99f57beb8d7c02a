"""The shared attack suite: shapes, rates, seeding and what each attack really does to pixels."""

from __future__ import annotations

import numpy as np
import pytest

from provenance.watermark import attacks
from provenance.watermark.attacks import ATTACKS, ATTACKS_BY_NAME

FRAMES = np.random.default_rng(5).integers(40, 216, (10, 48, 64, 3), dtype=np.uint8)


@pytest.mark.parametrize("attack", ATTACKS, ids=[a.name for a in ATTACKS])
def test_every_attack_returns_frames_and_is_reproducible(attack):
    out, fps = attack.apply(FRAMES, 30.0, np.random.default_rng(1))
    again, _ = attack.apply(FRAMES, 30.0, np.random.default_rng(1))
    assert out.dtype == np.uint8 and out.ndim == 4 and out.shape[-1] == 3 and out.shape[0] >= 1
    assert np.array_equal(out, again)
    assert fps > 0
    assert 0 < attack.target <= 1


def test_suite_names_are_unique_and_cover_every_family():
    assert len(ATTACKS_BY_NAME) == len(ATTACKS)
    assert {a.family for a in ATTACKS} == {"none", "noise", "h264", "resize", "crop", "photometric", "blur", "temporal", "combined"}


def test_geometry():
    assert attacks.resize(FRAMES, 0.5, scale_back=False).shape[1:3] == (24, 32)
    assert attacks.resize(FRAMES, 0.5, scale_back=True).shape == FRAMES.shape
    crop = attacks.centre_crop(FRAMES, 0.8, scale_back=False)
    assert crop.shape[1:3] == (38, 51)
    assert np.array_equal(crop, FRAMES[:, 5:43, 6:57])
    assert attacks.centre_crop(FRAMES, 0.8, scale_back=True).shape == FRAMES.shape


def test_photometric():
    assert np.array_equal(attacks.brightness(FRAMES, 0.5), np.rint(FRAMES * 0.5).astype(np.uint8))
    assert attacks.brightness(FRAMES, 1.5).max() == 255
    low = attacks.contrast(FRAMES, 0.5)
    assert low.std() == pytest.approx(FRAMES.std() * 0.5, rel=0.02)
    assert low.mean() == pytest.approx(FRAMES.mean(), abs=0.5)
    blurred = attacks.gaussian_blur(FRAMES, 1.0)
    assert np.abs(np.diff(blurred.astype(int), axis=2)).mean() < 0.5 * np.abs(np.diff(FRAMES.astype(int), axis=2)).mean()
    noisy = attacks.gaussian_noise(FRAMES, 5.0, np.random.default_rng(0))
    assert (noisy.astype(float) - FRAMES).std() == pytest.approx(5.0, rel=0.05)


def test_h264_is_lossy_and_keeps_shape():
    out = attacks.h264(FRAMES, 30.0, crf=35)
    assert out.shape == FRAMES.shape and not np.array_equal(out, FRAMES)


def test_temporal():
    dropped = attacks.drop_frames(FRAMES, 0.2, np.random.default_rng(0))
    assert dropped.shape[0] == 8
    assert all(any(np.array_equal(f, g) for g in FRAMES) for f in dropped)
    shuffled = attacks.shuffle_frames(FRAMES, np.random.default_rng(0))
    assert sorted(map(bytes, shuffled)) == sorted(map(bytes, FRAMES))
    retimed, fps = attacks.change_fps(FRAMES, 30.0, 24.0)
    assert fps == 24.0 and retimed.shape[0] == 8
    assert np.array_equal(retimed[-1], FRAMES[8])  # 7 × 30/24 = 8.75 → frame 8
    assert attacks.drop_frames(FRAMES[:1], 0.2, np.random.default_rng(0)).shape[0] == 1
