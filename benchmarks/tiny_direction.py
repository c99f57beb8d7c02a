"""Does synthvid-tiny know which way a motion goes? Three measurements of its denoiser, no sampling.

1. **Loss gap**: x0 error on rendered moving clips (shapes world, seeded) under the clip's own prompt
   and under the prompt of the opposite direction, at several noise levels. A model that reads the
   direction denoises worse under the wrong prompt; one that does not scores the same (gap ≈ 0).
2. **Time asymmetry**: ``|f(x) − rev f(rev x)| / |f(x)|`` on noise input with one moving prompt. A
   time-reversal-equivariant network (≈ 0) cannot tell a clip's first frame from its last.
3. **Drift from noise**: the predicted clean clip at t = 950 from pure noise, for "a white circle moving
   DIR on a black background": how far its brightness centroid moves the prompt's way from the first
   frame to the last (the mean of rendered clips moves ≈ 7 px at 32×32).

    python benchmarks/tiny_direction.py [--model DIR] [--compare DIR ...]

``--compare`` adds other pipeline folders as columns, e.g. the 10,040-step weights shipped before
session 5: ``git archive 94c6f1e genkit/tiny/synthvid-tiny | tar -x -C /tmp/old`` then
``--compare /tmp/old/genkit/tiny/synthvid-tiny``. Writes benchmarks/results/tiny_direction.md.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results"
LOSS_TIMESTEPS = (700, 800, 900, 950, 999)
SYMMETRY_TIMESTEPS = (300, 700, 950)
DRIFT_TIMESTEP = 950


def measure(model_dir: Path, clips: int, seed: int) -> dict:
    import torch

    from genkit.tiny import SynthvidTinyPipeline
    from genkit.tiny.train import training_noise_schedule
    from genkit.world import COLORS, DIRECTIONS, SHAPES, WorldPrompt, render_suite
    from genkit.world.grammar import OPPOSITE_DIRECTIONS
    from genkit.world.render import UNIT_VECTORS

    pipe = SynthvidTinyPipeline.from_pretrained(model_dir)
    unet = pipe.unet
    schedule = training_noise_schedule()
    alphas = schedule.alphas_cumprod

    def x0_hat(noisy, t, prompts):
        states, pooled, mask = pipe.encode_prompt(prompts)
        timesteps = torch.full((len(prompts),), t)
        v = unet(noisy, timesteps, states, pooled, mask).sample
        return alphas[t].sqrt() * noisy - (1 - alphas[t]).sqrt() * v

    rng = np.random.default_rng(seed)
    prompts = []
    for i in range(clips):
        color, background = rng.choice(len(COLORS), 2, replace=False)
        prompts.append(WorldPrompt(COLORS[color], SHAPES[rng.integers(len(SHAPES))], DIRECTIONS[i % len(DIRECTIONS)], COLORS[background]))
    frames = np.stack([video.frames for _, _, video in render_suite(prompts, frames=8, size=32, seed=seed * 1000)])  # clip i: seed × 1000 + i
    clean = torch.from_numpy(frames).float().div(127.5).sub(1).permute(0, 4, 1, 2, 3)
    own = [p.text for p in prompts]
    opposite = [WorldPrompt(p.color, p.shape, OPPOSITE_DIRECTIONS[p.motion], p.background).text for p in prompts]
    generator = torch.Generator().manual_seed(seed)
    result = {
        "steps": json.loads((model_dir / "training_state.json").read_text()).get("steps") if (model_dir / "training_state.json").is_file() else None
    }
    with torch.inference_mode():
        for t in LOSS_TIMESTEPS:
            noisy = schedule.add_noise(clean, torch.randn(clean.shape, generator=generator), torch.full((clips,), t))
            right = (x0_hat(noisy, t, own) - clean).square().mean().item()
            wrong = (x0_hat(noisy, t, opposite) - clean).square().mean().item()
            result[f"loss gap t={t}"] = (wrong - right) / right
        noise = torch.randn(4, 3, 8, 32, 32, generator=generator)
        moving = ["a red circle moving left on a blue background"] * 4
        for t in SYMMETRY_TIMESTEPS:
            forward = x0_hat(noise, t, moving)
            backward = x0_hat(noise.flip(2), t, moving).flip(2)
            # Asymmetry of the x0 prediction, which for these inputs is the v prediction up to scale and sign.
            result[f"time asymmetry t={t}"] = ((forward - backward).norm() / forward.norm()).item()
        coords = torch.arange(32).float()
        for direction in DIRECTIONS:
            dx, dy = UNIT_VECTORS[direction]
            noise = torch.randn(16, 3, 8, 32, 32, generator=generator)
            bright = (x0_hat(noise, DRIFT_TIMESTEP, [f"a white circle moving {direction} on a black background"] * 16).mean(1) + 1).clamp(min=0)
            profile = bright.sum(2) if dx else bright.sum(3)  # [N, F, 32] along the motion's axis
            centroid = (profile * coords).sum(-1) / profile.sum(-1)
            result[f"drift {direction}"] = (dx or dy) * (centroid[:, -1] - centroid[:, 0]).mean().item()
    return result


def formatted(key: str, value: float) -> str:
    if key.startswith("drift"):
        return f"{value:+.2f} px"
    return f"{100 * value:+.1f} %" if key.startswith("loss") else f"{100 * value:.1f} %"


def report(models: list[Path], results: list[dict], args: argparse.Namespace) -> str:
    """The results file: one column per pipeline folder."""

    def name(model: Path) -> str:
        return str(model.relative_to(ROOT)) if model.is_relative_to(ROOT) else str(model)

    header = "| measure | " + " | ".join(f"`{name(m)}` ({r['steps']} steps)" for m, r in zip(models, results)) + " |"
    lines = [
        "# synthvid-tiny: does the denoiser know a motion's direction?",
        "",
        f"{args.clips} rendered moving clips (32×32, 8 frames, seed {args.seed}); the measures are defined in `benchmarks/tiny_direction.py`.",
        "Loss gap: how much larger the x0 error is under the opposite direction's prompt (0: the direction is ignored).",
        "Time asymmetry: `|f(x) − rev f(rev x)| / |f(x)|` on noise input (0: time-reversal equivariant).",
        f"Drift: px the predicted clean clip's centroid moves the prompt's way from pure noise at t = {DRIFT_TIMESTEP} (rendered data: ≈ 7 px).",
        "",
        header,
        "|---|" + "---:|" * len(models),
    ]
    for key in results[0]:
        if key != "steps":
            lines.append(f"| {key} | " + " | ".join(formatted(key, r[key]) for r in results) + " |")
    compare = " --compare " + " ".join(args.compare) if args.compare else ""
    lines += ["", f"Reproduce: `python benchmarks/tiny_direction.py{compare}`"]
    if any(not model.is_relative_to(ROOT) or "runs" in model.parts for model in models):
        lines.append(
            "(folders outside the shipped one: older weights from git history, made as the script's docstring says, or training exports under runs/)"
        )
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default=None, help="pipeline folder (default: the shipped synthvid-tiny)")
    parser.add_argument("--compare", nargs="*", default=[], help="more pipeline folders, one column each")
    parser.add_argument("--clips", type=int, default=32, help="rendered moving clips for the loss gap")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--out", default=str(RESULTS / "tiny_direction.md"))
    args = parser.parse_args(argv)

    import torch

    from genkit.tiny import DEFAULT_MODEL_DIR

    torch.set_num_threads(args.threads)
    models = [Path(args.model) if args.model else DEFAULT_MODEL_DIR, *map(Path, args.compare)]
    for model in models:
        if not (model / "model_index.json").is_file():
            print(f"error: {model}: not a pipeline folder (no model_index.json)", file=sys.stderr)
            return 2
    results = [measure(model, args.clips, args.seed) for model in models]

    text = report(models, results, args)
    Path(args.out).write_text(text)
    print(text, end="")
    return 0


if __name__ == "__main__":
    sys.exit(main())
