"""benchmarks/watermark_realworld.py: its cuts on synthetic frames, and no detection on a few real clips
of ../shared/realworld (skipped where the corpus is absent)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from bench_helpers import load_script

ROOT = Path(__file__).resolve().parents[1]
CORPUS = ROOT.parent / "shared" / "realworld"
# Small real clips of the corpus: 200² and 31 frames (a .mov), 192×144 and 300 frames, 3 frames of 568×320.
REAL_FILES = ("real/DeepLabCut/data__vid2.mov", "real/DOVER/demo__FEQ-gdkTN4Q_000008_000018.mp4", "real/decord/test_data__video_0.mov")


@pytest.fixture(scope="module")
def bench():
    return load_script("watermark_realworld")


def test_segments_and_cuts_of_synthetic_frames(bench):
    frames = np.random.default_rng(0).integers(0, 256, (70, 150, 300, 3), dtype=np.uint8)
    parts = bench.segments((frames[i : i + 8] for i in range(0, 70, 8)), expected=70)
    assert {name: (part.shape[0], int(part[0, 0, 0, 0])) for name, part in parts.items()} == {
        "first": (16, frames[0, 0, 0, 0]),
        "middle": (16, frames[27, 0, 0, 0]),
        "last": (16, frames[54, 0, 0, 0]),
        "long": (64, frames[0, 0, 0, 0]),
    }
    made = bench.cuts(parts, bench.clip_rng(18, "a.mp4"))
    again = bench.cuts(parts, bench.clip_rng(18, "a.mp4"))
    other = bench.cuts(parts, bench.clip_rng(18, "b.mp4"))
    assert [c.box for c in made] == [c.box for c in again] and all(np.array_equal(a.frames, b.frames) for a, b in zip(made, again))
    assert [c.box for c in made] != [c.box for c in other]
    kinds = [c.kind for c in made]
    assert kinds.count("crop 128²") == 5 and kinds.count("crop 64²") == 6 and "crop 256²" not in kinds  # 150 px high
    assert {"native, first 16 f", "native, middle 16 f", "native, last 16 f", "native, first 64 f", "crop 64², 64 f"} <= set(kinds)
    for cut in made:
        assert cut.frames.dtype == np.uint8 and cut.frames.flags.c_contiguous and min(cut.frames.shape[1:3]) >= 32
        if cut.box:  # a crop is exactly those pixels of its segment
            y, x, h, w = cut.box
            assert np.array_equal(cut.frames, parts[cut.segment][:, y : y + h, x : x + w])
        if cut.size:
            assert cut.frames.shape[1:3] == cut.size
    centre = next(c for c in made if c.kind == "crop 64²")
    assert centre.box == (43, 118, 64, 64)
    assert len({c.frames.tobytes() for c in made}) == len(made)

    short = bench.segments([frames[:10]], expected=10)  # 10 frames: no middle, last or long segment
    assert list(short) == ["first"] and short["first"].shape[0] == 10
    assert {c.segment for c in bench.cuts(short, bench.clip_rng(1, "c.mp4"))} == {"first"}


@pytest.mark.slow
def test_no_detection_on_real_clips(bench):
    paths = [CORPUS / name for name in REAL_FILES]
    if not all(p.is_file() for p in paths):
        pytest.skip(f"the real-world corpus is not at {CORPUS}")
    rows = [row for row in bench.real_rows(CORPUS) if row["file"] in REAL_FILES]
    assert len(rows) == len(REAL_FILES)
    keys = bench.run_keys(5, 2)
    result = bench.run(rows, CORPUS, keys, seed=5, timing_clips=1, log=lambda msg: None)
    cases = result["cases"]
    assert not result["skipped"] and len({c["file"] for c in cases}) == 3
    assert len(cases) >= 50
    assert sum(c["found"] for c in cases) == 0 and min(c["p"] for c in cases) > 1e-9
    # The first clip's cuts, marked with the first key, are found: the unmarked zero is not a broken detector.
    assert all(found for rows_t in result["timed"].values() for *_, found in rows_t)
    assert sum(len(rows_t) for rows_t in result["timed"].values()) == 2  # 200² has no 256² crop
