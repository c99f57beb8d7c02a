"""Benchmark: speed of synthvid's evaluation metrics, each against its peer in the same run.

Sections (``--sections``, default all):

- ``frechet``: the Fréchet distance at d = 400, N = 2048 (target: ≥ 5× faster than the scipy ``sqrtm``
  formula of StyleGAN-V/pytorch-fid, same statistics, same BLAS threads), and their relative difference.
- ``i3d``: InceptionI3d features of 16×224² clips (target ≤ 1.5 s per clip on 2 cores), the naive way
  (``no_grad``, one clip a call, contiguous) against ours (``inference_mode``, ``channels_last_3d``,
  batches); random weights (speed does not depend on their values).
- ``metrics``: clips/s of every metric of ``synthvid eval`` on 16×64² shapes-world clips.

Medians of ``--repeats`` runs. Times are CPU seconds of the process (all threads): the machine is shared
with a training job at higher priority, so wall time mostly measures waiting for a core (both are
printed where they differ). Where a peer is timed, ours and the peer alternate and the speed-up is the
median of the paired ratios.

    nice -n 10 python benchmarks/eval_speed.py [--sections frechet,i3d,metrics] [--repeats 5] [--threads 2]
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import time
import warnings
from datetime import datetime, timezone
from pathlib import Path

import numpy as np

from genkit.runfolder import git_commit, hardware

RESULTS = Path(__file__).parent / "results" / "eval_speed.md"
SECTIONS = ("frechet", "i3d", "metrics")


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


# ---------------------------------------------------------------------------------------------- main

BENCHES = {"frechet": bench_frechet}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sections", default=",".join(SECTIONS), help=f"comma-separated subset of {','.join(SECTIONS)}")
    parser.add_argument("--repeats", type=int, default=5, help="timed runs per measurement (median reported)")
    parser.add_argument("--threads", type=int, default=2, help="torch/BLAS threads (the target machine has 2 cores)")
    parser.add_argument("--seed", type=int, default=0)
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
    command = "nice -n 10 python benchmarks/eval_speed.py " + " ".join(
        [f"--sections {','.join(sections)}", f"--repeats {args.repeats}", f"--threads {args.threads}", f"--seed {args.seed}"]
    )
    report = "\n".join(
        [
            "# Evaluation speed",
            "",
            f"`{command}` on {datetime.now(timezone.utc):%Y-%m-%d %H:%M} UTC, {machine.get('cpu', platform.processor())} "
            f"({machine['cpus_usable']} cores usable), Python {platform.python_version()}, torch {torch.__version__}, "
            f"commit {commit['commit'][:7] + (' (dirty)' if commit['dirty'] else '') if commit else 'unknown'}. "
            f"Load average at the end: {load[0]:.1f} / {load[1]:.1f} / {load[2]:.1f}: the machine is shared with a "
            "training job at higher priority, so times are CPU seconds of this process (all threads) unless "
            "marked wall, and ratios come from alternating runs in the same process.",
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
