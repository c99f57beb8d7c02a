"""benchmarks/watermark_protocol.py: its crops, its per-attack measurement and its report, on synthetic
frames and on one small real clip of ../shared/realworld (skipped where the corpus is absent)."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np
import pytest
from bench_helpers import load_script

from genkit.world import render

ROOT = Path(__file__).resolve().parents[1]
CORPUS = ROOT.parent / "shared" / "realworld"
SMALL_REAL = "real/DeepLabCut/data__vid2.mov"  # 200×200, 31 frames


@pytest.fixture(scope="module")
def bench():
    return load_script("watermark_protocol")


def test_square_crop_keeps_pixels_or_resizes_a_small_clip(bench):
    frames = np.random.default_rng(0).integers(0, 256, (2, 300, 400, 3), dtype=np.uint8)
    assert np.array_equal(bench.square_crop(frames), frames[:, 22:278, 72:328])
    small = bench.square_crop(frames[:, :120, :200])
    assert small.shape == (2, 256, 256, 3)


def test_attack_list_covers_the_videoseal_protocol_and_the_targets(bench):
    names = {a.name for a in bench.ATTACKS}
    for family, levels in (("H.264", (23, 30, 40, 50)), ("H.265", (23, 30, 40, 50)), ("VP9", (28, 37, 49, 62)), ("AV1", (28, 37, 49, 62))):
        assert {f"{family} CRF {crf}" for crf in levels} <= names
    assert {"resize 0.55", "resize 0.71 back", "crop 0.55", "crop 0.71", "brightness ×0.5", "brightness ×1.5", "frame reorder"} <= names
    assert {"H.264 CRF 28", "H.264 CRF 35", "H.264 CRF 30 + crop 0.8", "H.264 CRF 40 + crop 0.71 + bright ×0.5"} <= names
    assert all(bench.ATTACKS[-i].group == "AV1" for i in range(1, 5))  # AV1 after every other codec of a clip
    assert {target[1] for target in bench.TARGETS} <= names


def test_measure_reads_exact_payloads_and_bit_accuracy_at_the_true_geometry(bench):
    clip = render("a red circle moving right on a blue background", frames=8, size="128x128", seed=3).frames
    payload = b"\x01\x02\x03\x04\x05\x06\x07\x08"
    marked = bench.embed(clip, payload, bench.KEY)
    chosen = [bench.ATTACKS[0], next(a for a in bench.ATTACKS if a.name == "crop 0.8")]
    rows = bench.measure(marked, payload, chosen, seed=1)
    assert rows["none"]["exact"] and rows["none"]["bits"] > 0.95 and rows["none"]["p"] < 1e-9
    wrong = bench.measure(marked, b"\xff" * 8, chosen[:1], seed=1)["none"]
    assert not wrong["exact"] and wrong["found"]  # found, with another payload: not exact
    unmarked = bench.measure(clip, payload, chosen, seed=1)
    assert not unmarked["none"]["found"] and unmarked["none"]["bits"] < 0.8
    cropped = bench.centre_crop(marked, 0.8, scale_back=False)
    assert bench.coded_bit_accuracy(cropped, payload, 0.8) > bench.coded_bit_accuracy(cropped, payload, 1.0)


@pytest.mark.slow
def test_one_real_clip_end_to_end_and_its_report(bench, tmp_path):
    if not (CORPUS / SMALL_REAL).is_file():
        pytest.skip(f"the real-world corpus is not at {CORPUS}")
    pytest.importorskip("skimage", reason="the benchmark's SSIM needs the bench extra (pip install -e .[bench])")
    row = {"file": SMALL_REAL, "class": "real", "generator_or_source": "DeepLabCut"}
    # The peers come with the bench extra (invisible-watermark); CI installs the dev extra only.
    peers = ("dwtDct",) if importlib.util.find_spec("imwatermark") else ()
    record = bench.run_clip((row, str(CORPUS), peers))
    assert set(record["cases"]) == {"native 16f", "256² 16f"}  # 31 frames: no 64-frame case
    native = record["cases"]["native 16f"]
    assert native["frames"] == 16 and native["psnr"] > 40
    assert native["attacks"]["none"]["exact"] and native["attacks"]["frame reorder"]["exact"]
    assert len(native["attacks"]) == len(bench.ATTACKS)
    assert ("dwtDct" in record["cases"]["256² 16f"]["attacks"]["none"]) == bool(peers)
    broken = {"file": "real/none/missing.mp4", "class": "real", "generator_or_source": "none"}
    assert "missing.mp4" in bench.run_clip((broken, str(CORPUS), ()))["error"]

    class Args:
        clips, jobs = 2, 1

    text = "\n".join(bench.report(Args, [record, {**broken, "source": "none", "split": "tune", "error": "gone"}], 60.0))
    assert "| native 16f | H.264 CRF 28 | exact ≥ 99.5 % |" in text
    assert "1 skipped: `real/none/missing.mp4` (gone)" in text
    assert "| real | DeepLabCut |" in text


def test_spread_visits_every_group_before_any_second_clip(bench):
    rows = [
        {"class": c, "generator_or_source": s, "file": f"{c}/{s}/{i}"}
        for c, s, n in (("ai", "A", 3), ("ai", "B", 1), ("real", "C", 2))
        for i in range(n)
    ]
    order = [(r["generator_or_source"], r["file"][-1]) for r in bench.spread(rows)]
    assert order == [("A", "0"), ("B", "0"), ("C", "0"), ("A", "1"), ("C", "1"), ("A", "2")]
    assert sorted(r["file"] for r in bench.spread(rows)) == sorted(r["file"] for r in rows)
