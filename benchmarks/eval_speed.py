"""Benchmark: speed of synthvid's evaluation metrics, each against its peer in the same run.

Sections (``--sections``, default all):

- ``frechet``: the Fréchet distance at d = 400, N = 2048 (target: ≥ 5× faster than the scipy ``sqrtm``
  formula of StyleGAN-V/pytorch-fid, same statistics, same BLAS threads), and their relative difference.
- ``i3d``: InceptionI3d features of 16×224² clips (target ≤ 1.5 s per clip on 2 cores), the naive way
  (``no_grad``, one clip a call, contiguous) against ours (``inference_mode``, ``channels_last_3d``,
  batches); random weights (speed does not depend on their values).
- ``metrics``: clips/s of every metric of ``synthvid eval`` on 16×64² shapes-world clips.
- ``vbench``: subject consistency, background consistency, temporal flickering, dynamic degree, aesthetic
  quality and imaging quality beside vbench 0.1.5 (installed, with pyiqa) on real camera clips of
  ``../shared/realworld`` (``--real-clips``; the two quality dimensions on ``--vbench-quality-clips`` of
  them), the same random weights on both sides, each side in its own process: CPU and wall seconds,
  peak RSS, values.

Medians of ``--repeats`` runs. Times are CPU seconds of the process (all threads): the machine is shared
with a training job at higher priority, so wall time mostly measures waiting for a core (both are
printed where they differ). Where a peer is timed, ours and the peer alternate and the speed-up is the
median of the paired ratios.

    nice -n 10 python benchmarks/eval_speed.py [--sections frechet,i3d,metrics,vbench] [--repeats 5] [--threads 2]
"""

from __future__ import annotations

import argparse
import os
import platform
import shutil
import statistics
import time
import warnings
from datetime import datetime, timezone
from pathlib import Path

import numpy as np

from genkit.runfolder import git_commit, hardware, priority_prefix

RESULTS = Path(__file__).parent / "results" / "eval_speed.md"
SECTIONS = ("frechet", "i3d", "metrics", "vbench")


def timed(function) -> tuple[float, float]:
    """(wall seconds, CPU seconds of this process, all threads) of one call."""
    wall, cpu = time.perf_counter(), time.process_time()
    function()
    return time.perf_counter() - wall, time.process_time() - cpu


def median_times(function, repeats: int) -> tuple[float, float]:
    """Median wall and median CPU seconds of ``repeats`` calls."""
    runs = [timed(function) for _ in range(repeats)]
    return statistics.median(r[0] for r in runs), statistics.median(r[1] for r in runs)


def paired_cpu_medians(ours, peer, repeats: int) -> tuple[float, float, float]:
    """Median CPU seconds of ``ours`` and ``peer`` run alternately, and the median of the per-pair
    CPU-time ratios peer/ours. CPU time, because on this machine a priority job owns most of the wall
    clock: a process at lower priority waits for the CPU, and its wall time measures the wait."""
    pairs = [(timed(ours)[1], timed(peer)[1]) for _ in range(repeats)]
    return (
        statistics.median(p[0] for p in pairs),
        statistics.median(p[1] for p in pairs),
        statistics.median(p[1] / p[0] for p in pairs),
    )


# ------------------------------------------------------------------------------------------ frechet


def sqrtm_frechet(mu1, sigma1, mu2, sigma2) -> float:
    """The peer: StyleGAN-V / pytorch-fid's formula with scipy's matrix square root of Σ₁Σ₂."""
    import scipy.linalg

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # scipy 1.17 deprecates sqrtm's disp argument path
        root = scipy.linalg.sqrtm(sigma1 @ sigma2)
    return float(np.real(np.square(mu1 - mu2).sum() + np.trace(sigma1 + sigma2 - 2 * root)))


def bench_frechet(args) -> list[str]:
    from threadpoolctl import threadpool_limits

    from eval.frechet import GaussianStats, frechet_distance

    d, n = 400, 2048
    rng = np.random.default_rng(args.seed)
    real = rng.normal(size=(n, d)) @ rng.normal(size=(d, d)) * 0.1
    fake = rng.normal(size=(n, d)) @ rng.normal(size=(d, d)) * 0.1 + 0.2
    a, b = GaussianStats.from_features(real), GaussianStats.from_features(fake)
    lines = [
        "## Fréchet distance, d = 400, N = 2048 (float64)",
        "",
        "CPU time per distance (median; all threads of the process).",
        "",
        "| BLAS threads | synthvid (Cholesky + symmetric eigenvalues) | scipy sqrtm (StyleGAN-V formula) | speed-up (median of paired ratios) | relative difference |",
        "| ---: | ---: | ---: | ---: | ---: |",
    ]
    for threads in sorted({1, args.threads}):
        with threadpool_limits(threads):
            ours_value = frechet_distance(a.mu, a.sigma, b.mu, b.sigma)
            peer_value = sqrtm_frechet(a.mu, a.sigma, b.mu, b.sigma)
            ours, peer, ratio = paired_cpu_medians(
                lambda: frechet_distance(a.mu, a.sigma, b.mu, b.sigma), lambda: sqrtm_frechet(a.mu, a.sigma, b.mu, b.sigma), args.repeats
            )
        lines.append(
            f"| {threads} | {ours * 1000:.0f} ms | {peer * 1000:.0f} ms | {ratio:.1f}× ({'meets' if ratio >= 5 else 'misses'} ≥ 5×) "
            f"| {abs(ours_value - peer_value) / peer_value:.1e} |"
        )
    lines += ["", f"FD = {ours_value:.6f} (synthvid), {peer_value:.6f} (sqrtm).", ""]
    return lines


# ---------------------------------------------------------------------------------------------- i3d


def bench_i3d(args) -> list[str]:
    import torch

    from eval.i3d import InceptionI3d, fuse_for_inference, preprocess_i3d

    clips = torch.from_numpy(world_clips(args.i3d_clips, args.seed, frames=16, size=64))
    lines = [
        f"## I3D features, 16×224² clips (random weights; {args.i3d_clips} clips per measurement)",
        "",
        "Per clip, including preprocessing from uint8 frames (first 16 frames, bilinear to 224², [−1, 1]). "
        "The naive path is VideoGPT's: ``torch.no_grad()``, one clip a call, contiguous tensors, BatchNorm as "
        "its own layer. Ours: ``torch.inference_mode()``, BatchNorm folded into the convolutions, "
        "``channels_last_3d``, batches of 4. CPU seconds are of the whole process (all threads); "
        "wall seconds include waiting for a core behind the priority job.",
        "",
        "| torch threads | path | CPU s / clip | wall s / clip |",
        "| ---: | --- | ---: | ---: |",
    ]
    results = {}
    for threads in sorted({1, args.threads}):
        torch.set_num_threads(threads)
        naive = InceptionI3d().eval()
        fast = fuse_for_inference(InceptionI3d().eval())

        def run_naive(naive=naive):
            with torch.no_grad():
                for clip in clips:
                    naive(preprocess_i3d(clip[None]))

        def run_fast(fast=fast):
            with torch.inference_mode():
                for start in range(0, len(clips), 4):
                    fast(preprocess_i3d(clips[start : start + 4]).contiguous(memory_format=torch.channels_last_3d))

        for name, function in (("naive", run_naive), ("ours", run_fast)):
            function()  # warm-up: oneDNN picks its kernels on the first call
            wall, cpu = median_times(function, args.repeats)
            results[(threads, name)] = (cpu / len(clips), wall / len(clips))
            lines.append(f"| {threads} | {name} | {cpu / len(clips):.2f} | {wall / len(clips):.2f} |")
    torch.set_num_threads(args.threads)
    one_thread = results[(1, "ours")][0]
    lines += [
        "",
        f"Speed-up of ours over naive at {args.threads} threads (CPU time): "
        f"{results[(args.threads, 'naive')][0] / results[(args.threads, 'ours')][0]:.2f}×; at 1 thread: "
        f"{results[(1, 'naive')][0] / results[(1, 'ours')][0]:.2f}×.",
        f"Target ≤ 1.5 s per clip on 2 cores: one thread needs {one_thread:.2f} CPU s per clip, so two idle cores "
        f"need ≥ {one_thread / 2:.2f} s per clip (perfect scaling) and ≤ {results[(args.threads, 'ours')][0] / 2:.2f} s "
        f"if the {args.threads}-thread CPU time splits evenly over the two cores "
        f"({'meets' if results[(args.threads, 'ours')][0] / 2 <= 1.5 else 'misses'} the target on that estimate).",
        "",
    ]
    return lines


# ------------------------------------------------------------------------------------------ metrics


def world_clips(count: int, seed: int, *, frames: int, size: int) -> np.ndarray:
    from genkit.world import render_suite, sample_prompts

    prompts = sample_prompts(count, np.random.default_rng(seed))
    return np.stack([video.frames for _, _, video in render_suite(prompts, frames=frames, size=size, seed=seed)])


def bench_metrics(args) -> list[str]:
    import torch

    from eval.clipsim import clip_scores
    from eval.encoders import load_clip
    from eval.fvd import TinyVideoFeatures
    from eval.temporal import clip_temp, flickering_score, optical_flows, pair_motion, vbench_consistency, warping_error

    count = args.metric_clips
    clips = world_clips(count, args.seed, frames=16, size=64)
    prompts = ["a red circle moving left on a blue background"] * count
    extractor, encoder = TinyVideoFeatures(), load_clip()
    flows = [optical_flows(c) for c in clips]
    embeddings = [encoder.encode_frames(c) for c in clips]
    cases = {
        "FVD-tiny features (synthvid-tiny-video, batches of 8)": lambda: [extractor(clips[i : i + 8]) for i in range(0, count, 8)],
        "CLIPSIM (synthvid-tiny-clip, 16 frames + prompt)": lambda: [clip_scores(encoder, c, p) for c, p in zip(clips, prompts)],
        "frame embeddings (synthvid-tiny-clip, 16 frames)": lambda: [encoder.encode_frames(c) for c in clips],
        "CLIP-Temp + subject + background consistency, given embeddings": lambda: [(clip_temp(e), vbench_consistency(e)) for e in embeddings],
        "optical flow (DIS, forward + backward, 15 pairs)": lambda: [optical_flows(c) for c in clips],
        "warping error, given flows": lambda: [warping_error(c, f) for c, f in zip(clips, flows)],
        "motion magnitude, given flows": lambda: [pair_motion(f.forward) for f in flows],
        "temporal flickering": lambda: [flickering_score(c) for c in clips],
    }
    lines = [
        f"## Metrics on 16×64² shapes-world clips ({count} clips per measurement, {torch.get_num_threads()} torch threads)",
        "",
        "| metric | clips/s (CPU time) | clips/s (wall) |",
        "| --- | ---: | ---: |",
    ]
    for name, function in cases.items():
        function()
        wall, cpu = median_times(function, args.repeats)
        lines.append(f"| {name} | {count / cpu:,.1f} | {count / wall:,.1f} |")
    lines.append("")
    return lines


# ------------------------------------------------------------------------------------------- vbench

REALWORLD = Path(__file__).resolve().parents[2] / "shared" / "realworld"


def pick_real_clips(count: int) -> list[dict]:
    """``count`` camera clips of the shared corpus, ≈480p (shorter side 360–512), 16–117 frames, .mp4 (VBench's
    dynamic degree reads only .mp4), spread over the frame counts (shortest and longest included)."""
    import json

    rows = [json.loads(line) for line in (REALWORLD / "manifest.jsonl").read_text().splitlines() if line.strip()]
    fits = sorted(
        (
            r
            for r in rows
            if r["class"] == "real"
            and r["file"].endswith(".mp4")
            and r["codec"] == "h264"
            and 360 <= min(r["width"], r["height"]) <= 512
            and 16 <= r["frames"] <= 117
        ),
        key=lambda r: (r["frames"], r["file"]),
    )
    readable = []
    from provenance.errors import MediaError
    from provenance.media import read_video

    for row in fits:
        try:
            read_video(REALWORLD / row["file"], max_frames=2)
        except MediaError:
            continue
        readable.append(row)
    picks = np.unique(np.linspace(0, len(readable) - 1, count).round().astype(int))
    return [readable[i] for i in picks]


def _vbench_models(root: Path, save: bool = False) -> dict:
    """Random weights, the same on both sides: DINO ViT-B/16 in DINO's own structure (the test's hubconf
    code at ViT-B size) and its state dict for timm; OpenAI's CLIP ViT-B/32 (openai-clip's model class,
    float32) and its state dict for open_clip. ``save``: make and save them, else load the saved ones
    (made in a child process: a parent that ran torch's OpenMP threads cannot fork safely)."""
    import ast
    import importlib.util
    import sys
    import types

    import torch

    if importlib.util.find_spec("pkg_resources") is None:  # openai-clip: `from pkg_resources import packaging`
        import packaging.version

        sys.modules["pkg_resources"] = types.SimpleNamespace(packaging=packaging)
    from clip.model import CLIP

    source = (Path(__file__).resolve().parents[1] / "tests" / "test_vbench_reference.py").read_text()
    hubconf = next(
        ast.literal_eval(node.value)
        for node in ast.parse(source).body
        if isinstance(node, ast.Assign) and getattr(node.targets[0], "id", "") == "HUBCONF"
    )
    namespace: dict = {}
    exec(compile(hubconf, "hubconf.py", "exec"), namespace)
    torch.manual_seed(0)
    dino = namespace["ViT"](dim=768, depth=12, heads=12).eval()
    clip_large = CLIP(
        embed_dim=768,
        image_resolution=224,
        vision_layers=24,
        vision_width=1024,
        vision_patch_size=14,
        context_length=77,
        vocab_size=49408,
        transformer_width=768,
        transformer_heads=12,
        transformer_layers=12,
    ).eval()
    head = torch.nn.Linear(768, 1)
    from pyiqa.archs.musiq_arch import MUSIQ

    musiq = MUSIQ(pretrained=False, num_class=1).eval()
    clip_model = CLIP(
        embed_dim=512,
        image_resolution=224,
        vision_layers=12,
        vision_width=768,
        vision_patch_size=32,
        context_length=77,
        vocab_size=49408,
        transformer_width=512,
        transformer_heads=8,
        transformer_layers=12,
    ).eval()
    if save:
        torch.save(dino.state_dict(), root / "dino_vitbase16.pth")
        torch.save(clip_model.state_dict(), root / "clip_vitb32.pt")
        torch.save(clip_large.state_dict(), root / "clip_vitl14.pt")
        torch.save(head.state_dict(), root / "aesthetic_head.pth")
        torch.save(musiq.state_dict(), root / "musiq.pth")
        from easydict import EasyDict
        from omegaconf import OmegaConf
        from vbench.third_party.amt.utils.build_utils import build_from_cfg
        from vbench.third_party.RAFT.core.raft import RAFT

        torch.manual_seed(2)
        raft = RAFT(EasyDict(small=False, mixed_precision=False, alternate_corr=False))
        torch.save({f"module.{k}": v for k, v in raft.state_dict().items()}, root / "raft-things.pth")  # as models.zip holds it
        import vbench

        config = OmegaConf.load(str(Path(vbench.__file__).parent / "third_party" / "amt" / "cfgs" / "AMT-S.yaml")).network
        torch.save({"state_dict": build_from_cfg(config).state_dict()}, root / "amt-s.pth")
        return {}
    dino.load_state_dict(torch.load(root / "dino_vitbase16.pth"))
    clip_model.load_state_dict(torch.load(root / "clip_vitb32.pt"))
    clip_large.load_state_dict(torch.load(root / "clip_vitl14.pt"))
    head.load_state_dict(torch.load(root / "aesthetic_head.pth"))
    return {"dino": dino, "clip": clip_model, "clip_large": clip_large, "head": head}


# Imported in each child before its clock starts: packages both sides load (2–3.5 CPU s of imports, which
# would otherwise outweigh the work on a short clip). Model files are loaded inside the timed part.
PRELOAD = ("torch", "torchvision", "cv2", "av", "open_clip", "timm", "eval.temporal", "eval.encoders", "provenance.media", "vbench.utils")


def _in_child(function, *args):
    """(result, CPU s, wall s, peak RSS MiB) of ``function(*args)`` in a forked child process, timed after
    importing :data:`PRELOAD`."""
    import importlib
    import multiprocessing
    import resource

    def target(queue):
        for name in PRELOAD:
            importlib.import_module(name)
        wall, cpu = time.perf_counter(), time.process_time()
        value = function(*args)
        queue.put((value, time.process_time() - cpu, time.perf_counter() - wall, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024))

    context = multiprocessing.get_context("fork")
    queue = context.Queue()
    child = context.Process(target=target, args=(queue,))
    child.start()
    result = queue.get()
    child.join()
    return result


DIMENSIONS = (
    "subject_consistency",
    "background_consistency",
    "temporal_flickering",
    "dynamic_degree",
    "aesthetic_quality",
    "imaging_quality",
    "motion_smoothness",
)


def bench_vbench(args) -> list[str]:
    import tempfile

    import torch

    clips = pick_real_clips(args.real_clips)
    paths = [str(REALWORLD / c["file"]) for c in clips]
    dynamic_paths = paths[: args.vbench_dynamic_clips]
    quality_paths = paths[: args.vbench_quality_clips]
    root = Path(tempfile.mkdtemp(prefix="eval-speed-"))
    _in_child(_vbench_models, root, True)

    def ours(dimension: str, files: list[str]):
        from eval.amt import SmoothnessStream, load_amt
        from eval.encoders import TimmImageEncoder, load_clip
        from eval.raft import load_raft, raft_flow
        from eval.temporal import flickering_score, is_dynamic, pair_motion, raft_padded, vbench_consistency, vbench_frame_step
        from provenance.media import Video, iter_video, probe_video

        torch.set_num_threads(args.threads)
        if dimension == "subject_consistency":
            encoder = TimmImageEncoder("vit_base_patch16_224.dino", root / "dino_vitbase16.pth").set_protocol("vbench")
        elif dimension == "background_consistency":
            encoder = load_clip("ViT-B-32-quickgelu", root / "clip_vitb32.pt").set_protocol("vbench")
        elif dimension == "aesthetic_quality":
            from eval.quality import aesthetic_score, load_aesthetic_head

            encoder = load_clip("ViT-L-14-quickgelu", root / "clip_vitl14.pt").set_protocol("vbench")
            head = load_aesthetic_head(root / "aesthetic_head.pth", 768)
        elif dimension == "imaging_quality":
            from eval.musiq import load_musiq
            from eval.quality import imaging_score

            musiq = load_musiq(root / "musiq.pth")
        elif dimension == "dynamic_degree":
            raft = load_raft(root / "raft-things.pth")
        elif dimension == "motion_smoothness":
            amt = load_amt(root / "amt-s.pth")
        total = count = 0.0
        values = []
        for path in files:
            video = Video(np.concatenate(list(iter_video(path, chunk=64, threaded=True))), probe_video(path).fps, {})  # as synthvid eval decodes
            if dimension == "aesthetic_quality":
                values.append(aesthetic_score(encoder.encode_frames(video.frames), head))
            elif dimension == "imaging_quality":
                values.append(imaging_score(video.frames, musiq))
            elif dimension == "temporal_flickering":
                values.append(flickering_score(video.frames))
            elif dimension == "dynamic_degree":
                kept = raft_padded(video.frames[:: vbench_frame_step(video.fps)])
                flows = [raft_flow(raft, a, b)[None] for a, b in zip(kept[:-1], kept[1:])]
                pairs = np.array([pair_motion(flow, "vbench")[0] for flow in flows])
                values.append(float(is_dynamic(pairs, video.frames.shape[1], video.frames.shape[2], video.fps, "vbench")))
            elif dimension == "motion_smoothness":
                values.append(SmoothnessStream(amt).add(video.frames).result())
            else:
                term, n = vbench_consistency(encoder.encode_frames(video.frames))
                total, count = total + term, count + n
        return total / count if count else float(np.mean(values))

    def theirs(dimension: str, files: list[str]):
        from easydict import EasyDict

        torch.set_num_threads(args.threads)
        models = _vbench_models(root) if "consistency" in dimension or "aesthetic" in dimension else {}
        if dimension == "subject_consistency":
            from vbench.subject_consistency import subject_consistency

            return subject_consistency(models["dino"], files, "cpu", False)[0]
        if dimension == "background_consistency":
            from vbench.background_consistency import background_consistency

            return background_consistency(models["clip"], None, files, "cpu", False)[0]
        if dimension == "temporal_flickering":
            from vbench.temporal_flickering import temporal_flickering

            return temporal_flickering(files)[0]
        if dimension == "aesthetic_quality":
            from vbench.aesthetic_quality import laion_aesthetic

            class Encoder(torch.nn.Module):  # openai-clip's CLIP as clip.load builds it on the CPU: float32
                def __init__(self, model):
                    super().__init__()
                    self.model = model

                def encode_image(self, images):
                    return self.model.encode_image(images)

            return laion_aesthetic(models["head"], Encoder(models["clip_large"]), files, "cpu")[0]
        if dimension == "imaging_quality":
            from pyiqa.archs.musiq_arch import MUSIQ
            from vbench.imaging_quality import technical_quality

            model = MUSIQ(pretrained_model_path=str(root / "musiq.pth"))
            model.training = False
            return technical_quality(model, files, "cpu")[0]  # the mean over clips ÷ 100, as ours
        if dimension == "motion_smoothness":
            import vbench
            from vbench.motion_smoothness import MotionSmoothness

            config = str(Path(vbench.__file__).parent / "third_party" / "amt" / "cfgs" / "AMT-S.yaml")
            motion = MotionSmoothness(config, str(root / "amt-s.pth"), "cpu")
            return float(np.mean([motion.motion_score(path) for path in files]))
        from vbench.dynamic_degree import DynamicDegree

        detector = DynamicDegree(EasyDict(model=str(root / "raft-things.pth"), small=False, mixed_precision=False, alternate_corr=False), "cpu")
        return float(np.mean([detector.infer(path) for path in files]))

    lines = [
        f"## VBench dimensions beside vbench 0.1.5, real camera clips ({args.threads} torch threads)",
        "",
        "Clips (shared real-world corpus, chosen by `pick_real_clips`: ≈480p, 16–117 frames, .mp4): "
        + ", ".join(f"`{c['file']}` ({c['width']}×{c['height']}, {c['frames']} frames, {c['fps']:g} fps)" for c in clips)
        + ".",
        "",
        "Same random weights on both sides: DINO ViT-B/16 (VBench: DINO's own model code; ours: timm "
        "`vit_base_patch16_224.dino`, `--protocol vbench`), OpenAI CLIP ViT-B/32 (VBench: openai-clip's model; ours: "
        "open_clip `ViT-B-32-quickgelu`). Each side and dimension runs in its own forked process from the file "
        "to the score (decoding included: VBench's decord/OpenCV, ours PyAV with FFmpeg's frame threads, as `synthvid eval` "
        "decodes; model files loaded inside the clock, the packages both sides import — torch, torchvision, OpenCV, PyAV, "
        "open_clip, timm, vbench.utils — before it); CPU seconds of that process (all "
        "threads), wall seconds, its peak RSS. Dynamic degree: VBench's RAFT against ours (`eval.raft`), the same "
        f"random weights in the original `raft-things.pth` layout, on the first {len(dynamic_paths)} clip(s) (RAFT is slow "
        "on 2 cores). Aesthetic quality (OpenAI CLIP ViT-L/14 at random weights, a "
        f"random LAION-format head) and imaging quality (pyiqa's MUSIQ at random weights) on the first {len(quality_paths)} "
        "clip(s), motion smoothness (AMT-S at random weights) on the same: ViT-L/14, MUSIQ and AMT-S take about a second "
        "a frame on 2 cores.",
        "",
        "| dimension | clips | synthvid CPU s | vbench CPU s | speed-up (CPU) | synthvid wall s | vbench wall s | synthvid peak RSS | vbench peak RSS | synthvid value | vbench value |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    try:
        for dimension in [d.strip() for d in args.dimensions.split(",") if d.strip()]:
            files = dynamic_paths if dimension == "dynamic_degree" else quality_paths if dimension.endswith(("_quality", "_smoothness")) else paths
            mine = _in_child(ours, dimension, files)
            peer = _in_child(theirs, dimension, files)
            lines.append(
                f"| {dimension} | {len(files)} | {mine[1]:.1f} | {peer[1]:.1f} | {peer[1] / mine[1]:.1f}× | {mine[2]:.1f} | "
                f"{peer[2]:.1f} | {mine[3]:,.0f} MiB | {peer[3]:,.0f} MiB | {mine[0]:.6f} | {peer[0]:.6f} |"
            )
            print(lines[-1], flush=True)
    finally:
        shutil.rmtree(root, ignore_errors=True)  # 2.7 GB of random weights (ViT-L/14 among them)
    lines.append("")
    return lines


# ---------------------------------------------------------------------------------------------- main

BENCHES = {"frechet": bench_frechet, "i3d": bench_i3d, "metrics": bench_metrics, "vbench": bench_vbench}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sections", default=",".join(SECTIONS), help=f"comma-separated subset of {','.join(SECTIONS)}")
    parser.add_argument("--repeats", type=int, default=5, help="timed runs per measurement (median reported)")
    parser.add_argument("--threads", type=int, default=2, help="torch/BLAS threads (the target machine has 2 cores)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--i3d-clips", type=int, default=4, help="clips per I3D measurement")
    parser.add_argument("--metric-clips", type=int, default=16, help="clips per metric measurement")
    parser.add_argument("--real-clips", type=int, default=6, help="real camera clips of the vbench section")
    parser.add_argument("--vbench-dynamic-clips", type=int, default=2, help="clips of VBench's RAFT dynamic degree (slow)")
    parser.add_argument("--vbench-quality-clips", type=int, default=2, help="clips of aesthetic and imaging quality (slow)")
    parser.add_argument("--dimensions", default=",".join(DIMENSIONS), help="the vbench section's dimensions, comma-separated")
    parser.add_argument("--out", type=Path, default=RESULTS, help="markdown file to write")
    args = parser.parse_args()
    sections = [s.strip() for s in args.sections.split(",") if s.strip()]
    unknown = [s for s in sections if s not in BENCHES]
    if unknown:
        parser.error(f"unknown or not yet available sections: {', '.join(unknown)} (available: {', '.join(BENCHES)})")

    import torch

    torch.set_num_threads(args.threads)
    body: list[str] = []
    for name in sections:
        body += BENCHES[name](args)
    machine = hardware()
    commit = git_commit()
    load = os.getloadavg()
    command = (
        priority_prefix()
        + "python benchmarks/eval_speed.py "
        + " ".join(
            [
                f"--sections {','.join(sections)}",
                f"--repeats {args.repeats}",
                f"--threads {args.threads}",
                f"--seed {args.seed}",
                f"--i3d-clips {args.i3d_clips}",
                f"--metric-clips {args.metric_clips}",
                *(
                    [
                        f"--real-clips {args.real_clips}",
                        f"--vbench-dynamic-clips {args.vbench_dynamic_clips}",
                        f"--vbench-quality-clips {args.vbench_quality_clips}",
                    ]
                    if "vbench" in sections
                    else []
                ),
            ]
        )
    )
    report = "\n".join(
        [
            "# Evaluation speed",
            "",
            f"`{command}` on {datetime.now(timezone.utc):%Y-%m-%d %H:%M} UTC, {machine.get('cpu', platform.processor())} "
            f"({machine['cpus_usable']} cores usable), Python {platform.python_version()}, torch {torch.__version__}, "
            f"commit {commit['commit'][:7] + (' (dirty)' if commit['dirty'] else '') if commit else 'unknown'}. "
            f"Load average at the end: {load[0]:.1f} / {load[1]:.1f} / {load[2]:.1f} (above {machine['cpus_usable']}: other jobs "
            "shared the cores), so times are CPU seconds of this "
            "process (all threads) unless marked wall, and ratios come from alternating runs in the same process.",
            "",
            *body,
        ]
    )
    print(report)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(report)
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
