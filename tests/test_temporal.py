"""Temporal metrics: golden values of each formula, optical flow and the occlusion mask on known motion,
the Metric objects against the per-clip functions, and shuffled frames against ordered ones."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from eval_helpers import save_tiny_clip, world_clips

from eval.encoders import TimmImageEncoder, load_clip, load_image_encoder
from eval.errors import EvalError, FramesError
from eval.temporal import (
    BackgroundConsistency,
    ClipFlows,
    CLIPTemp,
    MotionMagnitude,
    SubjectConsistency,
    TemporalFlickering,
    TemporalStream,
    WarpingError,
    clip_temp,
    dynamic_pairs,
    flickering_score,
    is_dynamic,
    occlusion_mask,
    optical_flows,
    temporal_clip_scores,
    vbench_consistency,
    warp,
    warping_error,
)
from genkit.world import render


def unit_rows(*rows) -> torch.Tensor:
    return torch.nn.functional.normalize(torch.tensor(rows, dtype=torch.float32), dim=-1)


def test_consistency_formulas_on_hand_made_embeddings():
    e = unit_rows([1, 0], [0, 1], [1, 0])
    assert clip_temp(e) == pytest.approx(0.0)
    assert clip_temp(unit_rows([1, 1], [1, 1])) == pytest.approx(1.0)
    # VBench: t=2 → ½(⟨e1,e2⟩ + ⟨e1,e2⟩) = 0; t=3 → ½(⟨e1,e3⟩ + ⟨e2,e3⟩) = ½
    assert vbench_consistency(e) == (pytest.approx(0.5), 2)
    # negative cosines count as 0: t=2 → 0, t=3 → ½(1 + 0)
    assert vbench_consistency(unit_rows([1, 0], [-1, 0], [1, 0]))[0] == pytest.approx(0.5)


def test_flickering_score_is_vbenchs():
    still = np.full((5, 8, 8, 3), 77, np.uint8)
    assert flickering_score(still) == 1.0
    blinking = np.stack([np.zeros((8, 8, 3), np.uint8), np.full((8, 8, 3), 10, np.uint8)] * 3)
    assert flickering_score(blinking) == pytest.approx((255 - 10) / 255)


def textured_frame(seed: int = 0, size: int = 48) -> np.ndarray:
    rng = np.random.default_rng(seed)
    small = rng.integers(0, 255, (size // 4, size // 4, 3)).astype(np.uint8)
    import cv2

    return cv2.resize(small, (size, size), interpolation=cv2.INTER_CUBIC)


def test_warp_undoes_a_known_translation_and_consistent_flows_have_no_occlusion():
    frame = textured_frame()
    moved = np.roll(frame, 2, axis=1)  # the next frame: content 2 px to the right
    flow = np.zeros((48, 48, 2), np.float32)
    flow[..., 0] = 2.0
    back = warp(moved.astype(np.float32), flow)
    np.testing.assert_allclose(back[:, :46], frame[:, :46].astype(np.float32), atol=1e-3)
    interior = (slice(4, -4), slice(4, -4))
    assert not occlusion_mask(flow, -flow)[interior].any()
    assert occlusion_mask(flow, np.zeros_like(flow))[interior].all()  # |F + B̂|² = 4 > 0.01·4 + 0.5
    boundary = flow.copy()
    boundary[:, 24:, 0] = 6.0  # a motion edge at column 23/24
    mask = occlusion_mask(boundary, -boundary)
    assert mask[10:-10, 23].all() and not mask[10:-10, 10].any()


def test_dis_flow_recovers_a_camera_pan():
    clip = render("a red circle standing still on a textured blue background with camera pan left", frames=8, size=64, seed=2).frames
    flows = optical_flows(clip)
    assert flows.forward.shape == (7, 64, 64, 2)
    expected = 0.30 * 64 / 7  # the texture slides 30 % of the frame to the right over the clip
    assert np.median(flows.forward[..., 0]) == pytest.approx(expected, rel=0.1)
    assert np.median(flows.backward[..., 0]) == pytest.approx(-expected, rel=0.1)


def test_warping_error_is_near_zero_for_a_pure_translation_and_large_without_the_flow():
    wide = textured_frame(size=96)
    clip = np.stack([wide[16:80, 20 - 2 * t : 84 - 2 * t] for t in range(6)])  # content moves 2 px right a frame
    flows = optical_flows(clip)
    unwarped = float(np.square(np.diff(clip.astype(np.float32) / 255, axis=0)).mean())
    assert warping_error(clip, flows) < unwarped / 10
    still = ClipFlows(np.zeros_like(flows.forward), np.zeros_like(flows.backward))
    assert warping_error(clip, still) == pytest.approx(unwarped, rel=1e-4)  # zero flow: nothing occluded, plain MSE


def test_dynamic_rule_is_vbenchs():
    # 64-px frames at 8 fps: threshold 6·64/256 = 1.5 px; 16 frames need round(4·16/16) = 4 pairs above it.
    assert is_dynamic(np.array([2.0] * 4 + [0.0] * 11), 64, 64, 8.0)
    assert not is_dynamic(np.array([2.0] * 3 + [0.0] * 12), 64, 64, 8.0)
    assert not is_dynamic(np.array([2.0] * 15), 64, 64, 4.0)  # 4 fps doubles the threshold to 3 px


@pytest.fixture(scope="module")
def encoder(tmp_path_factory):
    return load_clip(f"local-dir:{save_tiny_clip(tmp_path_factory.mktemp('clip') / 'tiny', seed=4)}")


def test_metric_objects_agree_with_the_per_clip_scores(encoder):
    clips, _ = world_clips(3, 7, frames=6)
    fps = 8.0
    per_clip = [temporal_clip_scores(clip, clip_encoder=encoder, fps=fps) for clip in clips]
    metrics = {
        "clip_temp": CLIPTemp(encoder),
        "subject_consistency": SubjectConsistency(encoder),
        "background_consistency": BackgroundConsistency(encoder),
        "temporal_flickering": TemporalFlickering(),
        "warping_error": WarpingError(),
        "motion_magnitude": MotionMagnitude(),
    }
    for name, metric in metrics.items():
        metric.update(clips, fps=fps)
        expected = np.mean([scores[name] for scores in per_clip])  # equal lengths: VBench's pair weighting = clip mean
        assert float(metric.compute()) == pytest.approx(expected, rel=1e-5, abs=1e-7), name
    assert metrics["motion_magnitude"].dynamic_share() == pytest.approx(np.mean([s["dynamic"] for s in per_clip]))


@pytest.mark.parametrize("protocol", ["synthvid", "vbench"])
def test_streamed_chunks_give_the_whole_clips_scores(encoder, protocol):
    """Frames in chunks of any size (a long clip decoded piece by piece) score as the whole clip does;
    the per-pair terms are the whole-clip functions' own (flows, warping error, VBench's kept pairs)."""
    clip = render("a yellow star moving right on a textured blue background", frames=13, size=64, seed=5).frames
    fps = 24.0  # VBench keeps every 3rd frame
    whole = TemporalStream(clip_encoder=encoder, fps=fps, protocol=protocol).add(clip).result()
    flows = optical_flows(clip)
    assert whole["warping_error"] == pytest.approx(warping_error(clip, flows), rel=1e-12)
    assert whole["temporal_flickering"] == flickering_score(clip)
    assert whole["motion_magnitude"] == pytest.approx(float(np.nanmean(dynamic_pairs(clip, fps, protocol, flows))), rel=1e-6)
    for size in (1, 4, 12):
        stream = TemporalStream(clip_encoder=encoder, fps=fps, protocol=protocol)
        for start in range(0, len(clip), size):
            stream.add(clip[start : start + size])
        chunked = stream.result()
        assert chunked.keys() == whole.keys()
        for name, value in whole.items():
            assert chunked[name] == pytest.approx(value, rel=1e-6, abs=1e-9), (size, name)
    with pytest.raises(FramesError, match="frame size changed"):
        TemporalStream(clip_encoder=encoder, fps=fps).add(clip[:2]).add(clip[:2, :32])


def test_shuffled_frames_raise_warping_error_and_flicker():
    clip = render("a yellow star moving right on a textured blue background", frames=12, size=64, seed=5).frames
    shuffled = clip[np.random.default_rng(0).permutation(12)]
    ordered_metrics, shuffled_metrics = (WarpingError(), TemporalFlickering()), (WarpingError(), TemporalFlickering())
    for metric in ordered_metrics:
        metric.update(clip)
    for metric in shuffled_metrics:
        metric.update(shuffled)
    assert float(shuffled_metrics[0].compute()) > 2 * float(ordered_metrics[0].compute())
    assert float(shuffled_metrics[1].compute()) < float(ordered_metrics[1].compute())  # VBench score: lower = more flicker


def test_motion_magnitude_tells_still_from_moving():
    still = render("a red square standing still on a green background", frames=8, size=64, seed=1).frames
    moving = render("a red square moving right on a green background", frames=8, size=64, seed=1).frames
    metric_still, metric_moving = MotionMagnitude(), MotionMagnitude()
    metric_still.update(still)
    metric_moving.update(moving)
    assert float(metric_still.compute()) < 0.2 < 1.0 < float(metric_moving.compute())


def test_subject_consistency_takes_a_timm_encoder_and_merges_states(tmp_path):
    import timm

    torch.manual_seed(0)
    backbone = timm.create_model("vit_tiny_patch16_224", pretrained=False, num_classes=0, img_size=32)
    torch.save(backbone.state_dict(), tmp_path / "dino.pt")
    encoder = TimmImageEncoder("vit_tiny_patch16_224", tmp_path / "dino.pt", img_size=32)
    assert load_image_encoder(encoder) is encoder
    clips, _ = world_clips(2, 8, frames=5)
    whole, part, rest = SubjectConsistency(encoder), SubjectConsistency(encoder), SubjectConsistency(encoder)
    whole.update(clips)
    part.update(clips[:1])
    rest.update(clips[1:])
    part.merge_state(rest)
    assert 0.0 <= float(whole.compute()) <= 1.0
    assert float(part.compute()) == pytest.approx(float(whole.compute()), rel=1e-6)


def test_one_frame_clips_are_refused():
    with pytest.raises(FramesError, match="at least 2 frames"):
        WarpingError().update(np.zeros((1, 16, 16, 3), np.uint8))
    with pytest.raises(FramesError, match="at least 2 frames"):
        optical_flows(np.zeros((1, 16, 16, 3), np.uint8))


def test_vbench_protocol_rules_without_the_package():
    """VBench's dynamic-degree subsampling (Python's round: halves to even), RAFT's padding, the required
    count that may round to 0, and its CLIP geometry: shorter side 224, the longer int(224·long/short),
    a centre crop whose odd margin rounds as torchvision rounds it (the tests against vbench itself are
    in test_vbench_reference.py)."""
    from eval.encoders import ImageEncoder
    from eval.temporal import raft_padded, vbench_frame_step

    assert [vbench_frame_step(f) for f in (4.0, 8.0, 12.0, 20.0, 24.0, 25.0, 30.0, 60.0)] == [1, 1, 2, 2, 3, 3, 4, 8]
    padded = raft_padded(np.arange(2 * 90 * 151 * 3, dtype=np.uint8).reshape(2, 90, 151, 3))
    assert padded.shape == (2, 96, 152, 3) and (padded[:, :3] == padded[:, 3:4]).all() and (padded[:, -3:] == padded[:, -4:-3]).all()
    assert is_dynamic(np.array([0.0]), 64, 64, 8.0, "vbench")  # two frames: round(0.5) = 0 pairs needed
    assert not is_dynamic(np.array([0.0]), 64, 64, 8.0)  # synthvid: at least one
    assert not is_dynamic(np.zeros(0), 64, 64, 8.0, "vbench")

    class Probe(ImageEncoder):
        def embed_images(self, pixels):
            return pixels.flatten(1)

    probe = Probe()
    probe._set_normalisation((0.0, 0.0, 0.0), (1.0, 1.0, 1.0))
    frames = torch.zeros(1, 90, 151, 3, dtype=torch.uint8)
    frames[..., 76, :] = 255  # one bright column: where it lands tells the crop offset
    x = probe.set_protocol("vbench").preprocess(frames)
    assert x.shape == (1, 3, 224, 224)
    # 151 → 375 wide, margin 151: round(75.5) = 76 (floor would be 75)
    assert int(x[0, 0, 100].argmax()) == int(vbench_resized_column(76, 90, 151)) - 76
    with pytest.raises(EvalError, match="unknown encoder protocol"):
        probe.set_protocol("vbench2")


def vbench_resized_column(column: int, height: int, width: int) -> float:
    """Where column ``column`` of a ``height``×``width`` frame lands after VBench's resize (bicubic, no antialias)."""
    line = torch.zeros(1, 1, height, width)
    line[..., column] = 1.0
    wide = torch.nn.functional.interpolate(line, size=(224, int(224 * width / height)), mode="bicubic", align_corners=False)
    return float(wide[0, 0, 100].argmax())
