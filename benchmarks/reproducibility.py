"""Reproducibility of a benchmark run: the smoke bench (what `make run` does: synthvid-tiny on shapes-smoke,
watermark, C2PA, every default metric) made in other worker layouts and under lower CPU kernel sets,
each compared with one reference run by `synthvid bench compare`.

    nice -n 10 python benchmarks/reproducibility.py     # writes benchmarks/results/reproducibility.md

Scenarios (all on this machine; each a real `python -m genkit bench` in a subprocess):

- layouts — one process with batch 1 and 1 thread (the reference), the same command again (new random
  watermark payloads), 2 torchrun ranks, 2 shards with batch 4 and 2 threads + `bench merge`:
  the generated frames must be identical (content_sha256) and compare must say "reproduced";
- kernel sets — torch's own kernels forced down with ATEN_CPU_CAPABILITY=avx2 and =default, and the
  whole stack forced down (ATEN + oneDNN's ONEDNN_MAX_CPU_ISA + MKL's MKL_ENABLE_INSTRUCTIONS) to AVX2
  and to SSE4: what another CPU would change. Once with provenance (as make run) and once without
  (kernel rounding alone, no payload differences);
- throughput — `synthvid generate` of the suite, one model call per clip (the default) against one per
  batch of 8 (--batched-forward), alternating, median of the repetitions.

The per-metric maxima are set against genkit.compare.DEFAULT_TOLERANCES; a tolerance below a measured
maximum is reported as a failure (exit 1).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

# Python puts this script's folder first on sys.path, where benchmarks/c2pa.py would shadow the c2pa package.
sys.path[:] = [entry for entry in sys.path if Path(entry or ".").resolve() != Path(__file__).resolve().parent]

from genkit.compare import DEFAULT_TOLERANCES, compare_runs  # noqa: E402
from genkit.runfolder import hardware, priority_prefix  # noqa: E402

PYTHON = sys.executable
TORCHRUN = (PYTHON, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node", "2")
STACK_AVX2 = {"ATEN_CPU_CAPABILITY": "avx2", "ONEDNN_MAX_CPU_ISA": "AVX2", "MKL_ENABLE_INSTRUCTIONS": "AVX2"}
STACK_SSE = {"ATEN_CPU_CAPABILITY": "default", "ONEDNN_MAX_CPU_ISA": "SSE41", "MKL_ENABLE_INSTRUCTIONS": "SSE4_2"}
KERNEL_SCENARIOS = {  # name: (environment, what it stands for)
    "aten-avx2": ({"ATEN_CPU_CAPABILITY": "avx2"}, "torch's kernels at AVX2 (ATEN_CPU_CAPABILITY=avx2)"),
    "aten-default": ({"ATEN_CPU_CAPABILITY": "default"}, "torch's kernels unvectorised (ATEN_CPU_CAPABILITY=default)"),
    "stack-avx2": (STACK_AVX2, "torch, oneDNN and MKL at AVX2 (a CPU without AVX-512)"),
    "stack-sse": (STACK_SSE, "torch unvectorised, oneDNN SSE4.1, MKL SSE4.2 (an old CPU)"),
}


def bench(out: Path, home: Path, *extra, env: dict | None = None, prefix: tuple = (), provenance: bool = True) -> float:
    """One smoke bench into ``out`` (resumed if it is there: a finished run costs nothing); its wall seconds."""
    command = [*(prefix or (PYTHON,)), "-m", "genkit", "bench", "shapes-smoke", "--model", "synthvid-tiny", "--out", str(out), *extra]
    command += ["--keys", str(home / "keys"), "--repo", str(home / f"{out.name}.sqlite")] if provenance else ["--no-provenance"]
    environment = {**os.environ, "PYTHONWARNINGS": "ignore", **(env or {})}
    started = time.perf_counter()
    done = subprocess.run(command, env=environment, capture_output=True, text=True)
    if done.returncode != 0:
        sys.exit(f"{' '.join(command)} failed (exit {done.returncode}):\n{done.stderr[-2000:]}")
    return time.perf_counter() - started


def throughput(work: Path, repetitions: int) -> dict:
    """Median seconds of model inference per clip of the suite, per clip vs one call per batch of 8."""
    times = {"per-clip": [], "batched": []}
    for repetition in range(repetitions):
        for mode in ("per-clip", "batched"):
            out = work / f"throughput-{mode}-{repetition}"
            extra = ["--batched-forward"] if mode == "batched" else []
            command = [
                PYTHON,
                "-m",
                "genkit",
                "generate",
                "--suite",
                "shapes-smoke",
                "--model",
                "synthvid-tiny",
                "--out",
                str(out),
                "--no-provenance",
                "--batch-size",
                "8",
                "--overwrite",
                "--json",
                *extra,
            ]
            done = subprocess.run(command, capture_output=True, text=True, env={**os.environ, "PYTHONWARNINGS": "ignore"})
            if done.returncode != 0:
                sys.exit(f"{' '.join(command)} failed:\n{done.stderr[-2000:]}")
            rows = json.loads(done.stdout)["rows"]
            times[mode].append(sum(row["generate_seconds"] for row in rows) / len(rows))
    return {mode: statistics.median(values) for mode, values in times.items()} | {"all": times}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--work", default="runs/reproducibility", help="Run folders (kept: a second call resumes them).")
    parser.add_argument("--fresh", action="store_true", help="Start every run again.")
    parser.add_argument("--repetitions", type=int, default=3, help="Throughput repetitions per mode.")
    parser.add_argument("--report-only", action="store_true", help="Compare the runs already in --work again (and reuse the timing).")
    parser.add_argument("--results", default=str(Path(__file__).parent / "results" / "reproducibility.md"))
    args = parser.parse_args()
    work = Path(args.work)
    if args.fresh and work.exists():
        shutil.rmtree(work)
    work.mkdir(parents=True, exist_ok=True)
    home = work / "home"  # keys and repositories of the runs: the same on a second call, so the runs resume
    walls_file = work / "walls.json"
    walls = json.loads(walls_file.read_text()) if args.report_only and walls_file.is_file() else {}
    reference = work / "one-process"
    if not args.report_only:
        make_runs(work, home, walls)
        walls_file.write_text(json.dumps(walls))
    comparisons = {name: compare_runs(reference, work / name) for name in ["again", "2-ranks", "2-shards", *KERNEL_SCENARIOS]}
    comparisons["no-provenance-stack-sse"] = compare_runs(work / "no-provenance", work / "no-provenance-stack-sse")
    cached = work / "throughput.json"  # --report-only (e.g. after changing tolerances) reuses the timing
    speed = json.loads(cached.read_text()) if args.report_only and cached.is_file() else throughput(work, args.repetitions)
    cached.write_text(json.dumps(speed))

    lines = report(comparisons, walls, speed, args)
    text = "\n".join(lines) + "\n"
    Path(args.results).write_text(text)
    print(text)
    if any(line.startswith("**FAIL") for line in lines):
        sys.exit(1)


def make_runs(work: Path, home: Path, walls: dict) -> None:
    """Every run of the module docstring into ``work``; their wall seconds into ``walls``."""
    reference = work / "one-process"
    walls["one-process"] = bench(reference, home, "--batch-size", "1", "--threads", "1")
    walls["again"] = bench(work / "again", home, "--batch-size", "1", "--threads", "1")
    walls["2-ranks"] = bench(work / "2-ranks", home, prefix=TORCHRUN, env={"OMP_NUM_THREADS": "1"})
    started = time.perf_counter()
    for index in range(2):
        bench(work / "2-shards", home, "--num-shards", "2", "--shard-index", str(index), "--batch-size", "4", "--threads", "2")
    walls["2-shards"] = time.perf_counter() - started
    for name, (env, _) in KERNEL_SCENARIOS.items():
        walls[name] = bench(work / name, home, env=env)
    walls["no-provenance"] = bench(work / "no-provenance", home, provenance=False)
    walls["no-provenance-stack-sse"] = bench(work / "no-provenance-stack-sse", home, env=STACK_SSE, provenance=False)


def report(comparisons: dict, walls: dict, speed: dict, args) -> list[str]:
    info = hardware()
    lines = [
        "# Reproducibility of a benchmark run",
        "",
        f"`{priority_prefix()}python benchmarks/reproducibility.py` on {info.get('cpu', '?')} ({info.get('cpus_usable')} usable cores), "
        f"{time.strftime('%Y-%m-%d')}. Each row compares one run of the smoke bench (synthvid-tiny, shapes-smoke, 20 items, "
        "watermark + C2PA, default metrics) with the reference run (one process, batch 1, 1 thread, native kernels) "
        "through `synthvid bench compare`.",
        "",
        "## Worker layouts and kernel sets",
        "",
        "| run | what differs | identical content | identical files | verdict (default tolerances) | wall s |",
        "|---|---|---|---|---|---|",
    ]
    what = {
        "again": "the same command again (new random payloads)",
        "2-ranks": "2 torchrun ranks, 1 thread each",
        "2-shards": "2 shards (batch 4, 2 threads) + merge",
        "no-provenance-stack-sse": "no provenance, whole stack at SSE4 vs no provenance native",
    }
    what |= {name: description for name, (_, description) in KERNEL_SCENARIOS.items()}
    for name, comparison in comparisons.items():
        n = comparison.items_compared
        lines.append(
            f"| {name} | {what[name]} | {comparison.identical_content} of {n} | {comparison.identical_files} of {n} | "
            f"{comparison.summary} | {walls.get(name, 0):.0f} |"
        )
    lines += ["", "## Largest difference per metric (|Δ| against the reference)", ""]
    names = list(comparisons)
    metrics = sorted({m.name for c in comparisons.values() for m in c.metrics if m.max_abs_diff is not None})
    lines.append("| metric | " + " | ".join(names) + " | max | default tolerance | headroom |")
    lines.append("|---|" + "---|" * (len(names) + 3))
    failures = []
    for metric in metrics:
        values = []
        for name in names:
            found = [m for m in comparisons[name].metrics if m.name == metric and m.max_abs_diff is not None]
            values.append(found[0].max_abs_diff if found else None)
        measured = max((v for v in values if v is not None), default=0.0)
        base = metric.removeprefix("means.")
        tolerance = DEFAULT_TOLERANCES.get(metric) or DEFAULT_TOLERANCES.get(base)
        if tolerance is None:
            allowed = "exact" if measured == 0 else "exact (or flips)"
            headroom = "—"
        else:
            allowed = f"abs {tolerance.abs:g}" if tolerance.abs else f"rel {tolerance.rel:g}"
            limit = tolerance.abs if tolerance.abs else tolerance.rel * 1.0
            headroom = "∞" if measured == 0 else f"{limit / measured:.1f}×" if tolerance.abs else "see rel"
            if tolerance.abs and measured > tolerance.abs:
                failures.append(f"{metric}: measured {measured:.3g} > tolerance {tolerance.abs:g}")
        cells = ["" if v is None else f"{v:.2g}" for v in values]
        lines.append(f"| {metric} | " + " | ".join(cells) + f" | {measured:.2g} | {allowed} | {headroom} |")
    not_judged = sorted({n for c in comparisons.values() for n in c.not_judged})
    lines += [
        "",
        f"Not judged where payloads differ (they depend on the random payload itself): {', '.join(not_judged) or 'none'}.",
        "Text and true/false columns (verdict, analyzer matches, watermark found) are compared exactly: a '0' above.",
        "",
    ]
    lines += failures and [f"**FAIL: {failure}**" for failure in failures] or ["Every default tolerance is at or above the measured maximum."]
    per_clip, batched = speed["per-clip"], speed["batched"]
    lines += [
        "",
        f"## Throughput of generation (model inference per clip, 20 clips, median of {len(speed['all']['per-clip'])} alternating runs)",
        "",
        "| mode | s per clip | runs |",
        "|---|---|---|",
        f"| one model call per clip (default) | {per_clip:.3f} | {', '.join(f'{v:.3f}' for v in speed['all']['per-clip'])} |",
        f"| one call per batch of 8 (--batched-forward) | {batched:.3f} | {', '.join(f'{v:.3f}' for v in speed['all']['batched'])} |",
        "",
        f"Per-clip calls cost {100 * (per_clip / batched - 1):+.1f} % against one call per batch of 8.",
    ]
    return lines


if __name__ == "__main__":
    main()
