"""Prompt adherence and speed of synthvid-tiny, judged by the shapes-world analyzer.

Samples N prompts of the bundled shapes-full suite (seeded), generates one clip each at the default
settings, recovers background colour, object colour, shape and motion with `genkit.world.analyze`,
and reports per-attribute accuracy against the targets of issue 5, the time of one default clip, and
a contact sheet of samples.

    python benchmarks/tiny_quality.py [--model DIR] [--clips 128] [--threads 2]

Writes benchmarks/results/tiny_quality.md and benchmarks/results/tiny_contact_sheet.png.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results"
TARGETS = {"background": 0.95, "color": 0.85, "shape": 0.70, "motion": 0.75}
ATTRIBUTES = tuple(TARGETS)


def to_uint8(frames: np.ndarray) -> np.ndarray:
    return np.clip(np.rint(frames * 255.0), 0, 255).astype(np.uint8)


def contact_sheet(clips: list[np.ndarray], labels: list[str], path: Path, scale: int = 3) -> None:
    """One row per clip (its frames left to right), upscaled with nearest neighbour, prompt beside it."""
    from PIL import Image, ImageDraw

    t, h, w, _ = clips[0].shape
    label_width = 330
    sheet = Image.new("RGB", (label_width + t * w * scale, len(clips) * h * scale), (255, 255, 255))
    draw = ImageDraw.Draw(sheet)
    for row, (clip, label) in enumerate(zip(clips, labels)):
        strip = np.concatenate(list(clip), axis=1)
        image = Image.fromarray(strip).resize((t * w * scale, h * scale), Image.NEAREST)
        sheet.paste(image, (label_width, row * h * scale))
        draw.text((4, row * h * scale + h * scale // 2 - 10), label, fill=(0, 0, 0))
    sheet.save(path)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default=None, help="pipeline folder (default: the shipped synthvid-tiny)")
    parser.add_argument("--clips", type=int, default=128)
    parser.add_argument("--batch", type=int, default=16)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--guidance", type=float, default=None, help="classifier-free guidance (default: the pipeline's)")
    parser.add_argument("--sheet-rows", type=int, default=16)
    parser.add_argument("--out", default=str(RESULTS / "tiny_quality.md"))
    args = parser.parse_args(argv)

    import torch

    from genkit.suites import load_suite
    from genkit.tiny import DEFAULT_MODEL_DIR, SynthvidTinyPipeline
    from genkit.tiny.pipeline import DEFAULT_FRAMES, DEFAULT_GUIDANCE, DEFAULT_SIZE, DEFAULT_STEPS
    from genkit.world import analyze, parse_prompt
    from genkit.world.grammar import OPPOSITE_DIRECTIONS

    torch.set_num_threads(args.threads)
    guidance = DEFAULT_GUIDANCE if args.guidance is None else args.guidance
    model_dir = Path(args.model) if args.model else DEFAULT_MODEL_DIR
    pipe = SynthvidTinyPipeline.from_pretrained(model_dir)
    pipe.set_progress_bar_config(disable=True)
    items = load_suite("shapes-full")
    rng = np.random.default_rng(args.seed)
    chosen = [items[i] for i in rng.choice(len(items), args.clips, replace=False)]
    prompts = [parse_prompt(item.prompt) for item in chosen]

    clips: list[np.ndarray] = []
    started = time.perf_counter()
    for start in range(0, len(prompts), args.batch):
        batch = prompts[start : start + args.batch]
        generators = [torch.Generator().manual_seed(args.seed * 100_003 + start + i) for i in range(len(batch))]
        frames = pipe([p.text for p in batch], generator=generators, guidance_scale=guidance).frames
        clips.extend(to_uint8(frames))
        print(f"\r{len(clips)}/{len(prompts)} clips", end="", file=sys.stderr, flush=True)
    print(file=sys.stderr)
    batch_seconds = (time.perf_counter() - started) / len(prompts)

    hits = {a: [] for a in ATTRIBUTES}
    per_value: dict[tuple[str, str], list[bool]] = {}
    # A moving prompt's clip moves its way, the opposite way (axis right, direction wrong), or otherwise.
    moving = {"as asked": 0, "opposite direction": 0, "other axis or still": 0}
    for prompt, clip in zip(prompts, clips):
        expected = {"background": prompt.background, "color": prompt.color, "shape": prompt.shape, "motion": prompt.motion}
        analysis = analyze(clip)
        for attribute, ok in analysis.matches(expected).items():
            hits[attribute].append(ok)
            per_value.setdefault((attribute, expected[attribute]), []).append(ok)
        if prompt.motion in OPPOSITE_DIRECTIONS:
            seen = analysis.motion
            moving[
                "as asked" if seen == prompt.motion else "opposite direction" if seen == OPPOSITE_DIRECTIONS[prompt.motion] else "other axis or still"
            ] += 1
    accuracy = {a: float(np.mean(v)) for a, v in hits.items()}

    single = []
    for i in range(min(5, len(prompts))):
        t0 = time.perf_counter()
        pipe(prompts[i].text, generator=torch.Generator().manual_seed(i), guidance_scale=guidance)
        single.append(time.perf_counter() - t0)
    one_clip = statistics.median(single)

    sheet_path = RESULTS / "tiny_contact_sheet.png"
    rows = min(args.sheet_rows, len(clips))
    contact_sheet(clips[:rows], [p.text for p in prompts[:rows]], sheet_path)

    import json

    state_file = model_dir / "training_state.json"
    state = json.loads(state_file.read_text()) if state_file.exists() else {}
    lines = [
        "# synthvid-tiny: prompt adherence and speed",
        "",
        f"Model: `{model_dir.relative_to(ROOT) if model_dir.is_relative_to(ROOT) else model_dir}` — "
        f"{state.get('steps', '?')} training steps, {float(state.get('seconds', 0)) / 60:.0f} min of training.",
        f"{len(prompts)} prompts sampled from shapes-full (seed {args.seed}), one clip each, settings: "
        f"{DEFAULT_FRAMES} frames, {DEFAULT_SIZE}x{DEFAULT_SIZE}, {DEFAULT_STEPS} DPM-Solver++ steps, guidance {guidance}. "
        "Judge: the shapes-world analyzer (≥ 99% accurate on rendered clips, benchmarks/results/world_analyzer.md).",
        "",
        "| attribute | accuracy | target | met |",
        "|---|---|---|---|",
    ]
    for a in ATTRIBUTES:
        lines.append(f"| {a} | {accuracy[a]:.1%} | ≥ {TARGETS[a]:.0%} | {'yes' if accuracy[a] >= TARGETS[a] else 'no'} |")
    lines += [
        "",
        f"Speed ({args.threads} threads, this machine): one default clip {one_clip:.2f} s (median of 5, target ≤ 2 s); "
        f"{batch_seconds:.2f} s per clip in batches of {args.batch}.",
        "",
        "Accuracy per requested value:",
        "",
        "| attribute | value | n | accuracy |",
        "|---|---|---|---|",
    ]
    for (attribute, value), oks in sorted(per_value.items()):
        lines.append(f"| {attribute} | {value} | {len(oks)} | {np.mean(oks):.0%} |")
    lines += [
        "",
        f"Moving prompts ({sum(moving.values())}), by the motion the analyzer saw: "
        + ", ".join(f"{kind} {count}" for kind, count in moving.items())
        + ". A model that draws the prompt's axis but not its direction has as many opposite as asked.",
    ]
    lines += ["", f"Contact sheet (first {rows} clips, frames left to right): `benchmarks/results/{sheet_path.name}`", ""]
    flag = "" if args.guidance is None else f" --guidance {args.guidance:g}"
    lines.append(f"Reproduce: `python benchmarks/tiny_quality.py --clips {args.clips} --threads {args.threads}{flag}`")
    text = "\n".join(lines) + "\n"
    Path(args.out).write_text(text)
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
