"""Benchmark: how well the shapes-world analyzer recovers prompts, and how fast the world renders.

For each configuration (64x64x16, 32x32x8, 128x128x16) it draws ``--clips`` prompts of the core
grammar (the bundled shapes-full suite) with random size, texture, noise and camera pan, renders each
with its own seed, and analyzes the clip twice: as rendered, and after an H.264 CRF 28 round trip.
It prints per-attribute accuracy (target >= 99 %) and render speed at 64x64 (target >= 500 frames/s),
and writes both to ``benchmarks/results/world_analyzer.md``. Same ``--seed``, same clips, same table.

    python benchmarks/world_analyzer.py [--clips 240] [--seed 0] [--out benchmarks/results/world_analyzer.md]
"""

from __future__ import annotations

import argparse
import platform
import time
from datetime import datetime, timezone
from pathlib import Path

import numpy as np
import pandas as pd
from tqdm import tqdm

from genkit.runfolder import ATTRIBUTES, git_commit, hardware
from genkit.world import analyze, render_suite, sample_prompts
from provenance.media import encode_decode

CONFIGS = [("64x64x16", 64, 16), ("32x32x8", 32, 8), ("128x128x16", 128, 16)]
CRF = 28
SPEED_CONFIG = "64x64x16"
RESULTS = Path(__file__).parent / "results" / "world_analyzer.md"


def run_config(name: str, size: int, frames: int, clips: int, seed: int) -> tuple[list[dict], float]:
    """Score ``clips`` clips at one size; return one row per clip and condition, and render seconds."""
    rng = np.random.default_rng([seed, size, frames])
    rows, render_seconds = [], 0.0
    prompts = sample_prompts(clips, rng)
    videos = render_suite(prompts, frames=frames, size=size, seed=seed * 1_000_003)  # clip i: seed × 1,000,003 + i
    for prompt in tqdm(prompts, desc=name, unit="clip"):
        started = time.perf_counter()
        _, _, video = next(videos)
        render_seconds += time.perf_counter() - started
        expected = video.meta["attributes"]
        for condition, clip in (("raw", video), (f"H.264 CRF {CRF}", encode_decode(video, crf=CRF))):
            found = analyze(clip)
            rows.append(
                {
                    "config": name,
                    "condition": condition,
                    "prompt": prompt.text,
                    **{key: getattr(found, key) == expected[key] for key in ATTRIBUTES},
                    "found": f"{found.background}/{found.color}/{found.shape}/{found.motion}",
                }
            )
    return rows, render_seconds


def accuracy_table(rows: list[dict]) -> pd.DataFrame:
    frame = pd.DataFrame(rows)
    frame["all four"] = frame[list(ATTRIBUTES)].all(axis=1)
    columns = [*ATTRIBUTES, "all four"]
    table = frame.groupby(["config", "condition"], sort=False)[columns].mean().mul(100)
    table.insert(0, "clips", frame.groupby(["config", "condition"], sort=False).size())
    return table.reset_index()


def markdown(table: pd.DataFrame) -> str:
    header = "| " + " | ".join(table.columns) + " |"
    rule = "| " + " | ".join("---" if c in ("config", "condition") else "---:" for c in table.columns) + " |"
    body = ["| " + " | ".join(f"{v:.1f} %" if isinstance(v, float) else str(v) for v in row) + " |" for row in table.itertuples(index=False)]
    return "\n".join([header, rule, *body])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--clips", type=int, default=240, help="clips per configuration (default 240)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the prompt draw and the renders")
    parser.add_argument("--out", type=Path, default=RESULTS, help="markdown file to write")
    args = parser.parse_args()

    rows, speeds = [], {}
    for name, size, frames in CONFIGS:
        config_rows, seconds = run_config(name, size, frames, args.clips, args.seed)
        rows += config_rows
        speeds[name] = args.clips * frames / seconds
    table = accuracy_table(rows)
    misses = [row for row in rows if not all(row[key] for key in ATTRIBUTES)]

    speed_lines = [f"- {name}: {fps:,.0f} frames/s" + (" (target >= 500)" if name == SPEED_CONFIG else "") for name, fps in speeds.items()]
    miss_lines = [f"- {m['config']}, {m['condition']}: '{m['prompt']}' read as {m['found']}" for m in misses[:20]]
    machine = hardware()
    commit = git_commit()
    report = "\n".join(
        [
            "# Shapes-world analyzer benchmark",
            "",
            f"`python benchmarks/world_analyzer.py --clips {args.clips} --seed {args.seed}` on "
            f"{datetime.now(timezone.utc):%Y-%m-%d}, {machine.get('cpu', platform.processor())} "
            f"({machine['cpus_usable']} cores usable), Python {platform.python_version()}, "
            f"commit {commit['commit'][:7] + (' (dirty)' if commit['dirty'] else '') if commit else 'unknown'}.",
            "",
            "Prompts: the core grammar (shapes-full) with a random size and, independently, texture (30 %), "
            "noise (30 %) and camera pan (20 %); one seed per clip. Accuracy is the share of clips whose "
            f"analyzed attribute equals the prompt's, on the rendered frames and after an H.264 CRF {CRF} round trip.",
            "",
            markdown(table),
            "",
            "Render speed (render() only, one process):",
            "",
            *speed_lines,
            "",
            f"Misses: {len(misses)} of {len(rows)} analyses." + (" First ones:" if misses else ""),
            *miss_lines,
            "",
        ]
    )
    print(report)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(report)
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
