"""Benchmark: do synthvid's metrics move the right way when clips get worse?

On shapes-world sets (a reference set and a test set of the same prompt distribution, different
seeds), five distortions are applied to the test set at five growing strengths: Gaussian noise, blur,
frame shuffle, frame freeze and a colour shift. For each metric it prints Spearman's ρ between the
strength (0..4) and the set-level value, and writes ``benchmarks/results/metric_sanity.md``.

Targets (issue 6): FVD-tiny ρ ≥ 0.9 for noise, blur and shuffle; CLIPSIM(matched prompt) >
CLIPSIM(mismatched prompt) for ≥ 95 % of clips with synthvid-tiny-clip; temporal flickering and the
warping error rise with shuffle (flicker is reported as 1 − VBench's score, so "rises" is ρ > 0).

    nice -n 10 python benchmarks/metric_sanity.py [--clips 256] [--seed 0]
"""

from __future__ import annotations

import argparse
import platform
import time
import warnings
from datetime import datetime, timezone
from pathlib import Path

import numpy as np

from genkit.runfolder import git_commit, hardware
from genkit.world import render, sample_prompts

RESULTS = Path(__file__).parent / "results" / "metric_sanity.md"
LEVELS = 5
METRICS = ("fvd_tiny", "fvd_tiny_inf", "feature_trace", "clipsim", "clip_temp", "subject_consistency", "background_consistency", "flicker",
           "warping_error", "motion_magnitude")


def _blur(frames: np.ndarray, sigma: float) -> np.ndarray:
    import cv2

    return np.stack([cv2.GaussianBlur(f, (0, 0), sigma) for f in frames])


def distort(clip: np.ndarray, kind: str, level: int, rng: np.random.Generator) -> np.ndarray:
    """``clip`` uint8 [T, H, W, 3] distorted by ``kind`` at strength ``level`` (0 = untouched)."""
    if level == 0:
        return clip
    t = clip.shape[0]
    if kind == "noise":  # σ = 5, 10, 20, 40 grey levels
        sigma = 5 * 2 ** (level - 1)
        return np.clip(clip + rng.normal(0, sigma, clip.shape), 0, 255).astype(np.uint8)
    if kind == "blur":  # σ = 0.5, 1, 2, 3 px
        return _blur(clip, (0.5, 1.0, 2.0, 3.0)[level - 1])
    if kind == "shuffle":  # 25 %, 50 %, 75 %, 100 % of the frames trade places
        count = max(2, round(t * level / 4))
        positions = np.sort(rng.choice(t, count, replace=False))
        out = clip.copy()
        out[positions] = clip[rng.permutation(positions)]
        return out
    if kind == "freeze":  # the last 25 %, 50 %, 75 %, 94 % of the clip repeat one frame
        frozen = min(t - 1, round(t * (0.25, 0.5, 0.75, 0.94)[level - 1]))
        return np.concatenate([clip[: t - frozen], np.repeat(clip[t - frozen - 1 : t - frozen], frozen, axis=0)])
    if kind == "colour":  # mix towards the channel-rotated image: 10 %, 20 %, 40 %, 80 %
        mix = (0.1, 0.2, 0.4, 0.8)[level - 1]
        return np.clip((1 - mix) * clip + mix * clip[..., [1, 2, 0]], 0, 255).astype(np.uint8)
    raise ValueError(kind)


DISTORTIONS = ("noise", "blur", "shuffle", "freeze", "colour")


def world_set(count: int, seed: int, frames: int, size: int):
    rng = np.random.default_rng(seed)
    prompts = sample_prompts(count, rng)
    clips = [render(p, frames=frames, size=size, seed=seed * 100_003 + i).frames for i, p in enumerate(prompts)]
    return clips, [p.text for p in prompts]


def evaluate_set(clips, prompts, reference_features, models) -> tuple[dict, list[float]]:
    """Set-level values of every metric for one condition, and the per-clip CLIPSIM."""
    from eval.clipsim import clip_scores
    from eval.fvd import FrechetVideoDistance
    from eval.temporal import temporal_clip_scores

    extractor, encoder = models
    fvd = FrechetVideoDistance(extractor, keep_features=True)
    fvd.update(features=reference_features, real=True)
    fvd.update(np.stack(clips), real=False)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the N < 256 warning: every condition has the same N
        result = fvd.compute()
    values = {"fvd_tiny": float(result["fvd"]), "fvd_tiny_inf": float(result["fvd_inf"]),
              "feature_trace": float(np.trace(fvd.stats(real=False).sigma))}  # how varied the fake features are
    per_clip = [float(clip_scores(encoder, clip, [prompt])[0]) for clip, prompt in zip(clips, prompts)]
    values["clipsim"] = float(np.mean(per_clip))
    temporal = [temporal_clip_scores(clip, clip_encoder=encoder, fps=8.0) for clip in clips]
    for name in ("clip_temp", "subject_consistency", "background_consistency", "warping_error", "motion_magnitude"):
        values[name] = float(np.mean([scores[name] for scores in temporal]))
    values["flicker"] = 1.0 - float(np.mean([scores["temporal_flickering"] for scores in temporal]))
    return values, per_clip


def spearman(levels, values) -> float:
    from scipy.stats import spearmanr

    rho = spearmanr(levels, values).statistic
    return float(rho) if np.isfinite(rho) else 0.0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--clips", type=int, default=256, help="clips per set (reference and test); FVD is biased below 256")
    parser.add_argument("--frames", type=int, default=16)
    parser.add_argument("--size", type=int, default=64)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args()

    import torch

    from eval.encoders import load_clip
    from eval.fvd import TinyVideoFeatures

    torch.set_num_threads(args.threads)
    started = time.perf_counter()
    extractor, encoder = TinyVideoFeatures(), load_clip()
    reference, _ = world_set(args.clips, args.seed + 1, args.frames, args.size)
    reference_features = extractor(np.stack(reference))
    test, prompts = world_set(args.clips, args.seed + 2, args.frames, args.size)

    table: dict[str, list[dict]] = {}
    clean_per_clip: list[float] = []
    for kind in DISTORTIONS:
        table[kind] = []
        for level in range(LEVELS):
            rng = np.random.default_rng([args.seed, DISTORTIONS.index(kind), level])
            distorted = [distort(clip, kind, level, rng) for clip in test]
            values, per_clip = evaluate_set(distorted, prompts, reference_features, (extractor, encoder))
            table[kind].append(values)
            if level == 0 and not clean_per_clip:
                clean_per_clip = per_clip
            print(f"{kind} level {level}: " + ", ".join(f"{k} {v:.4f}" for k, v in values.items()), flush=True)

    from eval.clipsim import clip_scores

    mismatched_prompts = prompts[1:] + prompts[:1]
    mismatched = [float(clip_scores(encoder, clip, [p])[0]) for clip, p in zip(test, mismatched_prompts)]
    wins = float(np.mean(np.array(clean_per_clip) > np.array(mismatched)))

    rho = {kind: {m: spearman(range(LEVELS), [row[m] for row in rows]) for m in METRICS} for kind, rows in table.items()}
    checks = [
        *(f"FVD-tiny ρ for {k}: {rho[k]['fvd_tiny']:+.2f} ({'meets' if rho[k]['fvd_tiny'] >= 0.9 else 'misses'} ≥ 0.9)"
          for k in ("noise", "blur", "shuffle")),
        f"CLIPSIM matched > mismatched: {wins:.1%} of {len(test)} clips ({'meets' if wins >= 0.95 else 'misses'} ≥ 95 %)",
        f"flicker (1 − VBench score) ρ for shuffle: {rho['shuffle']['flicker']:+.2f} ({'rises' if rho['shuffle']['flicker'] > 0 else 'does not rise'})",
        f"warping error ρ for shuffle: {rho['shuffle']['warping_error']:+.2f} ({'rises' if rho['shuffle']['warping_error'] > 0 else 'does not rise'})",
    ]
    why = []
    for kind in ("noise", "blur", "shuffle"):
        if rho[kind]["fvd_tiny"] >= 0.9:
            continue
        first, last = table[kind][0], table[kind][-1]
        change = (last["fvd_tiny"] - first["fvd_tiny"]) / first["fvd_tiny"]
        spread = (last["feature_trace"] - first["feature_trace"]) / first["feature_trace"]
        if rho[kind]["feature_trace"] < 0:
            reason = ("the encoder is nearly invariant to it, and what remains is its features' spread shrinking "
                      f"(Tr Σ {spread:+.1%}), which lowers a finite-N Fréchet distance (its upward bias is made of the trace terms)")
        else:
            reason = "the encoder is nearly invariant to it: its features barely move, so FVD-tiny stays at the set-to-set sampling floor"
        why.append(f"{kind}: FVD-tiny {first['fvd_tiny']:.2f} → {last['fvd_tiny']:.2f} ({change:+.1%}) from strength 0 to 4, "
                   f"FVD∞ ρ {rho[kind]['fvd_tiny_inf']:+.2f}; {reason}.")
    import json

    from eval.video_encoder import DEFAULT_DIR

    training = json.loads((DEFAULT_DIR / "config.json").read_text()).get("training", {})
    accuracy = training.get("evaluation", {})
    if why and accuracy:
        why.append(
            f"The shipped encoder had {training.get('steps')} steps ({training.get('minutes_trained')} min); held-out "
            f"accuracy of its frame-order head {accuracy.get('acc_order', float('nan')):.0%} (50 % = majority class), noise "
            f"head {accuracy.get('acc_noise', float('nan')):.0%}, shape {accuracy.get('acc_shape', float('nan')):.0%}: it has "
            "not yet learned what would make its features see noise or frame order (see its MODEL_CARD.md)."
        )
    header = "| distortion | " + " | ".join(METRICS) + " |"
    rule = "| --- | " + " | ".join("---:" for _ in METRICS) + " |"
    rho_rows = [f"| {k} | " + " | ".join(f"{rho[k][m]:+.2f}" for m in METRICS) + " |" for k in DISTORTIONS]
    value_rows = []
    for kind in DISTORTIONS:
        for level, values in enumerate(table[kind]):
            value_rows.append(f"| {kind} {level} | " + " | ".join(f"{values[m]:.4g}" for m in METRICS) + " |")
    machine, commit = hardware(), git_commit()
    report = "\n".join([
        "# Metric sanity: Spearman ρ between distortion strength and each metric",
        "",
        f"`nice -n 10 python benchmarks/metric_sanity.py --clips {args.clips} --frames {args.frames} --size {args.size} "
        f"--seed {args.seed} --threads {args.threads}` on {datetime.now(timezone.utc):%Y-%m-%d}, "
        f"{machine.get('cpu', platform.processor())}, Python {platform.python_version()}, commit "
        f"{commit['commit'][:7] + (' (dirty)' if commit['dirty'] else '') if commit else 'unknown'}; "
        f"{time.perf_counter() - started:.0f} s.",
        "",
        f"Sets: {args.clips} reference and {args.clips} test clips of the shapes world ({args.frames} frames, {args.size}×{args.size}, "
        "random size/texture/noise/pan), different seeds. Models: the shipped synthvid-tiny-video (FVD-tiny) and "
        "synthvid-tiny-clip (CLIPSIM, CLIP-Temp, both consistencies). Strength 0 is the clean test set; levels 1–4: "
        "noise σ 5/10/20/40, blur σ 0.5/1/2/3 px, shuffle 25/50/75/100 % of frames, freeze the last 25/50/75/94 %, "
        "colour mix 10/20/40/80 % towards the channel-rotated image.",
        "",
        "## Targets",
        "",
        *(f"- {line}" for line in checks),
        "",
        *(["## Why FVD-tiny misses", "", *(f"- {line}" for line in why), ""] if why else []),
        "## Spearman ρ (strength 0..4 vs metric)",
        "",
        "Flicker is 1 − VBench's temporal-flickering score (higher = more flicker); feature_trace is Tr Σ of the "
        "distorted set's FVD-tiny features.",
        "",
        header, rule, *rho_rows,
        "",
        "## Values",
        "",
        header.replace("distortion", "distortion, level"), rule, *value_rows,
        "",
    ])
    print(report)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(report)
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
