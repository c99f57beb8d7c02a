"""The watermark on real camera footage: no false positives on unmarked real crops and clips (issue #18).

    nice -n 10 python benchmarks/watermark_realworld.py              # every real clip of ../shared/realworld
    nice -n 10 python benchmarks/watermark_realworld.py --clips 5    # the first 5 real clips: a small run

Writes ``benchmarks/results/watermark_realworld.md`` (``--out``). Material: every clip of
``../shared/realworld/manifest.jsonl`` with class ``real`` (read from there, never copied), decoded
once with :func:`provenance.media.iter_video` up to the manifest's count of decodable frames (one MP4
promises a frame more than it holds); a clip that does not decode is skipped with its reason.
Each clip is cut many ways (:func:`cuts`, seeded per clip, so a subset gets the same cuts as the full
run): the native frame over its first, middle and last 16 frames and its first 64, 256², 128² and
64² crops at the centre, the top-left corner and random places of those segments, 128² and 64² crops
over 64 frames, free crops of random size, and four resizes. Identical cuts of a clip are counted
once. Every distinct cut is searched with ``--keys`` random keys (none of them ever marked anything:
each search is a false-positive trial): a detection is a failure.

Detect time (issue #18, deliverable 5: an unmarked clip should cost at most 2× a marked one): on each
clip's native first 16 frames, first 256² crop and first 64² crop, the same :func:`detect` on the
unmarked cut and on that cut marked with the first key (embed excluded), medians side by side.
One process, one BLAS/OpenMP thread: run it with ``nice`` beside other jobs (its times then include
their share of the cores, which the medians soften).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import sys
import time
import zlib
from collections import deque
from dataclasses import dataclass
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
os.environ.setdefault("MKL_NUM_THREADS", "1")

import numpy as np  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
# Python puts this script's folder first on sys.path, where benchmarks/c2pa.py would shadow the c2pa package.
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != Path(__file__).resolve().parent]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from benchmarks.watermark import FRAMES  # noqa: E402
from provenance.console import one_line, progress_bar  # noqa: E402
from provenance.errors import ProvenanceError  # noqa: E402
from provenance.media import iter_video  # noqa: E402
from provenance.watermark import (  # noqa: E402
    ALGORITHM,
    FALSE_POSITIVE_RATE,
    HYPOTHESES,
    IDENTITY_HYPOTHESES,
    detect,
    detect_work,
    embed,
    false_positive_bound,
    work_frames,
)
from provenance.watermark.attacks import resize_frames  # noqa: E402

CORPUS = ROOT.parent / "shared" / "realworld"
LONG = 64  # frames of the long segment
CROP_PLACES = {256: 4, 128: 5, 64: 6}  # crops per side: the centre, the top-left corner, then random places
LONG_CROPS = (128, 64)  # one crop of each side over the long segment
FREE_CROPS = 2
MIN_SIDE = 32  # the smallest side a free crop or a resize is given
TIMED_KINDS = {"native, first 16 f": "native", "crop 256²": "256²", "crop 64²": "64²"}


# ---------------------------------------------------------------- material


def real_rows(corpus: Path) -> list[dict]:
    """The manifest rows of class ``real``, in the manifest's order."""
    rows = [json.loads(line) for line in (corpus / "manifest.jsonl").read_text().splitlines() if line.strip()]
    return [row for row in rows if row["class"] == "real"]


def segments(chunks, expected: int) -> dict[str, np.ndarray]:
    """The frames of a clip that the cuts use, read in one pass over ``chunks`` (uint8 ``[n, H, W, 3]``
    arrays in order): ``first`` (frames 0–15), ``middle`` (16 about the middle of ``expected`` frames),
    ``last`` (the last 16) and ``long`` (frames 0–63); segments that would repeat ``first`` (a clip of
    16 frames or fewer) or be cut short are left out."""
    head: list[np.ndarray] = []
    tail: deque[np.ndarray] = deque(maxlen=FRAMES)
    middle: list[np.ndarray] = []
    start = max(0, (expected - FRAMES) // 2)
    count = 0
    for chunk in chunks:
        for frame in chunk:
            if count < LONG:
                head.append(frame)
            if start <= count < start + FRAMES:
                middle.append(frame)
            tail.append(frame)
            count += 1
    out = {"first": np.stack(head[:FRAMES])}
    if count > FRAMES and 0 < start and len(middle) == FRAMES:
        out["middle"] = np.stack(middle)
    if count > FRAMES and count - FRAMES != start:
        out["last"] = np.stack(tail)
    if count >= LONG:
        out["long"] = np.stack(head)
    return out


@dataclass(frozen=True)
class Cut:
    """One unmarked case: ``frames`` cut from segment ``segment`` of a clip (``box`` = y, x, height,
    width of a crop; ``size`` = height, width of a resize of the whole frame)."""

    kind: str
    segment: str
    frames: np.ndarray
    box: tuple[int, int, int, int] | None = None
    size: tuple[int, int] | None = None


def cuts(parts: dict[str, np.ndarray], rng: np.random.Generator) -> list[Cut]:
    """Every way the benchmark cuts one clip's :func:`segments`, deterministic for ``rng``'s seed."""
    short = [name for name in ("first", "middle", "last") if name in parts]
    height, width = parts["first"].shape[1:3]
    out = [Cut(f"native, {name} 16 f", name, parts[name]) for name in short]
    if "long" in parts:
        out.append(Cut(f"native, first {LONG} f", "long", parts["long"]))

    def crop(kind: str, segment: str, y: int, x: int, h: int, w: int) -> Cut:
        return Cut(kind, segment, np.ascontiguousarray(parts[segment][:, y : y + h, x : x + w]), box=(y, x, h, w))

    def place(h: int, w: int) -> tuple[int, int]:
        return int(rng.integers(0, height - h + 1)), int(rng.integers(0, width - w + 1))

    for side, places in CROP_PLACES.items():
        if side > min(height, width):
            continue
        for i in range(places):
            y, x = ((height - side) // 2, (width - side) // 2) if i == 0 else (0, 0) if i == 1 else place(side, side)
            out.append(crop(f"crop {side}²", short[i % len(short)], y, x, side, side))
    if "long" in parts:
        for side in LONG_CROPS:
            if side <= min(height, width):
                out.append(crop(f"crop {side}², {LONG} f", "long", *place(side, side), side, side))
    for _ in range(FREE_CROPS):
        h, w = int(rng.integers(MIN_SIDE, height + 1)), int(rng.integers(MIN_SIDE, width + 1))
        out.append(crop("crop, free size", short[int(rng.integers(len(short)))], *place(h, w), h, w))
    short_side = min(height, width)
    resizes = [
        ("resize ×0.5", round(height * 0.5), round(width * 0.5), "AREA"),
        ("resize ×0.75", round(height * 0.75), round(width * 0.75), "BICUBIC"),
        ("resize to 64² (squashed)", 64, 64, "AREA"),
        ("resize, short side 128", round(height * 128 / short_side), round(width * 128 / short_side), "BILINEAR"),
    ]
    for i, (kind, h, w, interpolation) in enumerate(resizes):
        if min(h, w) >= MIN_SIDE and (h, w) != (height, width):
            segment = short[(i + int(rng.integers(len(short)))) % len(short)]
            out.append(Cut(kind, segment, resize_frames(parts[segment], h, w, interpolation), size=(h, w)))
    return out


def clip_rng(seed: int, file: str) -> np.random.Generator:
    """The generator of one clip's cuts: the run's seed and the clip's file name (not its position)."""
    return np.random.default_rng([seed, zlib.crc32(file.encode())])


def clip_cases(row: dict, corpus: Path, seed: int) -> tuple[list[Cut], int]:
    """The distinct cuts of one manifest row's clip and how many repeated an earlier cut of it."""
    expected = int(row.get("frames") or 0)  # the manifest counts the frames that decode
    # Up to that count: a container that promises one more frame than decodes is read, not refused.
    parts = segments(iter_video(corpus / row["file"], chunk=8, max_frames=expected or None), expected)
    every = cuts(parts, clip_rng(seed, row["file"]))
    seen, distinct = set(), []
    for cut in every:
        digest = hashlib.sha256(repr(cut.frames.shape).encode() + cut.frames.tobytes()).digest()
        if digest not in seen:
            seen.add(digest)
            distinct.append(cut)
    return distinct, len(every) - len(distinct)


def run_keys(seed: int, count: int) -> list[bytes]:
    """``count`` random 32-byte keys (none of them ever marked a frame of this corpus)."""
    rng = np.random.default_rng([seed, 0x6B6579])
    return [rng.bytes(32) for _ in range(count)]


def search(cut: Cut, keys: list[bytes]) -> dict:
    """:func:`detect` of the unmarked cut with every key (the work frames made once: bit for bit the
    same as ``detect``): whether any key found a mark, the smallest p-value, and the seconds of the
    first key's whole detect."""
    began = time.perf_counter()
    work = work_frames(cut.frames)
    results = [detect_work(work, keys[0])]
    seconds = time.perf_counter() - began
    results += [detect_work(work, key) for key in keys[1:]]
    return {"found": sum(r.found for r in results), "p": min(r.p_value for r in results), "seconds": seconds}


def marked_detect_seconds(cut: Cut, key: bytes, rng: np.random.Generator) -> tuple[float, bool]:
    """The seconds of :func:`detect` on the cut marked with ``key`` (embed not counted), and whether it
    found the payload."""
    payload = rng.bytes(8)
    marked = embed(cut.frames, payload, key)
    began = time.perf_counter()
    result = detect(marked, key)
    return time.perf_counter() - began, bool(result.found and result.payload == payload)


# ---------------------------------------------------------------- run


def run(rows: list[dict], corpus: Path, keys: list[bytes], seed: int, timing_clips: int, log) -> dict:
    """Every real clip cut, searched with every key, and (for the first ``timing_clips`` clips) timed
    unmarked against marked: the records the report is made of."""
    cases, skipped, repeats = [], [], 0
    timed: dict[str, list[tuple[float, float, bool]]] = {label: [] for label in TIMED_KINDS.values()}
    seconds = {"decode and cut": 0.0, "detect": 0.0, "embed and marked detect": 0.0}
    payload_rng = np.random.default_rng([seed, 1])
    with progress_bar(len(rows), "real clips") as bar:
        for number, row in enumerate(rows, 1):
            began = time.perf_counter()
            try:
                clip_cuts, repeated = clip_cases(row, corpus, seed)
            except ProvenanceError as exc:
                skipped.append((row["file"], one_line(exc)))
                log(f"  skipped {row['file']}: {skipped[-1][1]}")
                bar.update()
                continue
            seconds["decode and cut"] += time.perf_counter() - began
            repeats += repeated
            timed_here: set[str] = set()
            for cut in clip_cuts:
                began = time.perf_counter()
                result = search(cut, keys)
                seconds["detect"] += time.perf_counter() - began
                t, height, width = cut.frames.shape[:3]
                cases.append({"source": row["generator_or_source"], "file": row["file"], "kind": cut.kind, "shape": (t, height, width), **result})
                label = TIMED_KINDS.get(cut.kind)
                if label and number <= timing_clips and label not in timed_here:  # each clip's first cut of the kind
                    timed_here.add(label)
                    began = time.perf_counter()
                    marked_seconds, found = marked_detect_seconds(cut, keys[0], payload_rng)
                    seconds["embed and marked detect"] += time.perf_counter() - began
                    timed[label].append((result["seconds"], marked_seconds, found))
            bar.update()
            if number % 10 == 0 or number == len(rows):
                found = sum(case["found"] for case in cases)
                log(f"  {number}/{len(rows)} clips, {len(cases)} cases, {found} detections")
    return {"cases": cases, "skipped": skipped, "repeats": repeats, "timed": timed, "seconds": seconds}


# ---------------------------------------------------------------- report


def _p(value: float) -> str:
    return f"{value:.3g}"


def _sizes(shapes: list[tuple[int, int, int]]) -> str:
    frames = sorted({s[0] for s in shapes})
    by_area = sorted({s[1:] for s in shapes}, key=lambda hw: (hw[0] * hw[1], hw))
    f = f"{frames[0]}" if len(frames) == 1 else f"{frames[0]}–{frames[-1]}"
    small, large = by_area[0], by_area[-1]
    area = f"{small[0]}×{small[1]}" if small == large else f"{small[0]}×{small[1]} – {large[0]}×{large[1]}"
    return f"{f} f, {area}"


def report(args, rows: list[dict], keys: list[bytes], result: dict, wall: float) -> list[str]:
    cases, skipped = result["cases"], result["skipped"]
    n_keys = len(keys)
    detections = sum(case["found"] for case in cases)
    worst = min((case["p"] for case in cases), default=1.0)
    sources = sorted({row["generator_or_source"] for row in rows})
    used = {case["file"] for case in cases}
    bound = false_positive_bound()
    command = "python benchmarks/watermark_realworld.py" + (f" --clips {args.clips}" if args.clips else "")
    if n_keys != 2:
        command += f" --keys {n_keys}"
    stage = ", ".join(f"{name} {value:.0f} s" for name, value in result["seconds"].items())
    lines = [
        "# The watermark on real camera footage",
        "",
        f"`nice -n 10 {command}` — {ALGORITHM}, the detector as shipped. Material: the {len(rows)} clips of class `real` in "
        f"`../shared/realworld/manifest.jsonl` ({len(sources)} sources; read from there, nothing of them is kept here), "
        f"{len(used)} decoded, {len(skipped)} skipped. Each clip cut many ways (native frames over its first, middle and "
        f"last 16 frames and its first {LONG}; 256², 128² and 64² crops at the centre, the top-left corner and random "
        f"places; 128² and 64² crops over {LONG} frames; free crops of random size; four resizes — "
        "`cuts()` in the script, seeded per clip): "
        f"**{len(cases):,} distinct unmarked cases** ({result['repeats']} further cuts repeated one of the same clip "
        f"exactly and were dropped). Each case searched with {n_keys} random 32-byte keys (seed {args.seed}; none ever "
        f"marked anything): {len(cases) * n_keys:,} searches. Wall time {wall / 60:.1f} min ({stage}), one process at "
        "nice 10 with one BLAS thread, on 2 cores shared with another benchmark.",
        "",
        "## False positives",
        "",
        f"**{detections} detections** in {len(cases):,} distinct cases × {n_keys} keys ({len(cases) * n_keys:,} searches); "
        f"smallest p-value seen {_p(worst)}"
        + (" (1.0: in no search did any trial decode, by BCH or soft, to a codeword with the keyed check)." if worst == 1.0 else ".")
        + f" Over {len(cases) * n_keys:,} searches the analytic bound allows at most {len(cases) * n_keys * bound:.1e} "
        "expected false detections.",
        "",
        f"Analytic bound: the detector's search is the one `provenance/watermark/core.py` derives the bound for "
        f"(at most {IDENTITY_HYPOTHESES + HYPOTHESES} trials, each decoded by BCH, any decode trusted, and soft "
        "within the rest of each tier's budget), so the per-clip "
        f"false-positive probability stays ≤ {bound:.2e} ≤ "
        f"{FALSE_POSITIVE_RATE:g}. It holds whatever the picture (the dither makes every hard bit a fair coin), so real "
        "footage needs no other bound; this run checks that nothing in real pictures (codec blocks, text overlays, "
        "stock watermarks, GIF palettes, still frames) breaks that argument in practice.",
        "",
        "### Per cut kind",
        "",
        "| cut | cases | frames, size (smallest – largest) | detections | smallest p | median detect ms (one key) |",
        "|---|---|---|---|---|---|",
    ]
    kinds = sorted(dict.fromkeys(case["kind"] for case in cases), key=_kind_order)
    for kind in kinds:
        group = [c for c in cases if c["kind"] == kind]
        lines.append(
            f"| {kind} | {len(group)} | {_sizes([c['shape'] for c in group])} | {sum(c['found'] for c in group)} | "
            f"{_p(min(c['p'] for c in group))} | {1000 * np.median([c['seconds'] for c in group]):.0f} |"
        )
    lines += ["", "### Per source", "", "| source | clips | cases | detections | smallest p |", "|---|---|---|---|---|"]
    for source in sources:
        group = [c for c in cases if c["source"] == source]
        clips = len({c["file"] for c in group})
        smallest = _p(min(c["p"] for c in group)) if group else "–"
        lines.append(f"| {source} | {clips} | {len(group)} | {sum(c['found'] for c in group)} | {smallest} |")
    if skipped:
        lines += ["", f"Skipped ({len(skipped)}): " + "; ".join(f"`{file}`: {reason}" for file, reason in skipped)]
    lines += [
        "",
        "## Detect time: unmarked against marked",
        "",
        "Issue #18 asks that an unmarked clip cost at most 2× a marked one. Per clip, its native first 16 frames, its "
        "first 256² crop and its first 64² crop: the same `detect` (work frames included) on the unmarked cut and on "
        "the cut marked with the first key (embed not timed). Wall-clock medians on the shared, niced cores.",
        "",
        "| cut | cuts | median unmarked ms | median marked ms | unmarked / marked | marked found |",
        "|---|---|---|---|---|---|",
    ]
    ratios = {}
    for label, rows_t in result["timed"].items():
        if not rows_t:
            continue
        unmarked = float(np.median([r[0] for r in rows_t]))
        marked = float(np.median([r[1] for r in rows_t]))
        ratios[label] = unmarked / marked
        lines.append(
            f"| {label} | {len(rows_t)} | {1000 * unmarked:.1f} | {1000 * marked:.1f} | {ratios[label]:.1f}× | "
            f"{sum(r[2] for r in rows_t)}/{len(rows_t)} |"
        )
    if ratios:
        over = [label for label, ratio in ratios.items() if ratio > 2]
        lines += [
            "",
            (
                f"Above the 2× target at {', '.join(over)}: a marked clip is found at the unchanged geometry (the first "
                "tier, a few hypotheses), while an unmarked one runs the whole crop, shift and gain search on both grids "
                "before it can say no (issue #18's speed-ups — one BCH codec per thread, all gains of a statistic at once, "
                "each frame size's search geometry cached — narrowed the gap; the search itself is what is left)."
                if over
                else "Within the 2× target at every size."
            ),
        ]
    return lines + [""]


def _kind_order(kind: str) -> int:
    """Kinds in the order :func:`cuts` makes them."""
    order = ("native, first 16", "native, middle", "native, last", "native, first 64", "crop 256", "crop 128²", "crop 64²", "crop 128², ")
    order += ("crop 64², ", "crop,", "resize ×0.5", "resize ×0.75", "resize to", "resize,")
    return max((i for i, prefix in enumerate(order) if kind.startswith(prefix)), default=len(order))


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--corpus", type=Path, default=CORPUS, help="the real-world corpus folder (manifest.jsonl)")
    parser.add_argument("--clips", type=int, default=None, help="only the first N real clips of the manifest (a small run)")
    parser.add_argument("--keys", type=int, default=2, help="random keys each case is searched with (at least 2)")
    parser.add_argument("--timing-clips", type=int, default=None, help="clips whose cuts are also timed marked (default: all)")
    parser.add_argument("--seed", type=int, default=18, help="seed of the cuts and the keys")
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results" / "watermark_realworld.md")
    args = parser.parse_args(argv)
    if args.keys < 2:
        parser.error("--keys must be at least 2")
    if not (args.corpus / "manifest.jsonl").is_file():
        parser.error(f"no manifest.jsonl in {args.corpus} (the shared real-world corpus)")
    started = time.time()
    log = lambda msg: print(f"[{time.time() - started:7.0f} s] {msg}", flush=True)  # noqa: E731
    rows = real_rows(args.corpus)[: args.clips]
    keys = run_keys(args.seed, args.keys)
    log(f"{len(rows)} real clips, {args.keys} keys")
    result = run(rows, args.corpus, keys, args.seed, len(rows) if args.timing_clips is None else args.timing_clips, log)
    lines = report(args, rows, keys, result, time.time() - started)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text("\n".join(lines))
    log("\n".join(lines))
    return 1 if any(case["found"] for case in result["cases"]) else 0


if __name__ == "__main__":
    raise SystemExit(main())
