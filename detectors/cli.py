"""Command line of the detectors package: ``synthvid detect FILE...`` and ``synthvid detect train``.

Mounted by the umbrella ``synthvid`` (genkit/cli.py); runnable alone as ``python -m detectors detect ...``.
Module level imports only typer, the standard library and our errors; numpy, PyAV, scikit-learn and
torch load inside the commands. The umbrella also wires :func:`verify_detector` into ``synthvid
verify`` (provenance, the bottom layer, never imports this package).

Exit codes: 0 success, 2 bad input (unreadable clips are reported one line each; the others are still
scored).
"""

from __future__ import annotations

import logging
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import List, Optional

import typer
from typer.core import TyperGroup

from detectors.errors import DetectorError
from provenance.console import one_line, print_json, progress_bar

USER_ERRORS = (DetectorError,)
EXIT_BAD_INPUT = 2

log = logging.getLogger(__name__)


class _FilesByDefault(TyperGroup):
    """``detect FILE...`` runs the hidden ``score`` command; ``detect train ...`` the subcommand."""

    def parse_args(self, ctx, args):
        if args and args[0] not in self.commands and args[0] not in ("--help", "-h"):
            args = ["score", *args]
        return super().parse_args(ctx, args)


app = typer.Typer(add_completion=False, rich_markup_mode="rich", no_args_is_help=True)
detect_app = typer.Typer(
    cls=_FilesByDefault,
    no_args_is_help=True,
    rich_markup_mode="rich",
    help="Real-vs-synthetic detection: `synthvid detect FILE...` scores clips (P(synthetic), a statistical "
    "estimate, never proof); `synthvid detect train` fits a detector. Example: synthvid detect clip.mp4 --json",
)
app.add_typer(detect_app, name="detect")


def _load(model: Optional[Path]):
    from detectors.detector import REALWORLD_MODEL, SHAPES_MODEL, Detector, default_model_name, load_shipped

    name = default_model_name() if model is None else str(model)
    return load_shipped(name) if name in (SHAPES_MODEL, REALWORLD_MODEL) else Detector.load(model)


def _model_name(model: Optional[Path]) -> str:
    from detectors.detector import default_model_name

    return default_model_name() if model is None else Path(model).name


@detect_app.command("score", hidden=True)
def detect_score(
    files: List[Path] = typer.Argument(..., help="Clips to score (anything FFmpeg reads)."),
    model: Optional[Path] = typer.Option(
        None,
        "--model",
        "-m",
        help="A detector folder, or a shipped model: synthvid-detector-realworld (the default where it ships: real generators vs camera footage) or synthvid-detector (shapes world vs synthvid-tiny).",
    ),
    max_frames: int = typer.Option(64, "--max-frames", min=1, help="Read at most this many frames of each clip."),
    as_json: bool = typer.Option(False, "--json", help="Print one JSON object per clip, in a list."),
) -> None:
    """Score clips: P(synthetic) per clip — a statistical estimate, never proof.

    Example: synthvid detect clip.mp4 other.mp4 --json
    """
    from detectors.detector import SCORE_THREADS
    from provenance.errors import ProvenanceError
    from provenance.media import read_video

    detector = _load(model)

    def read_and_score(path: Path) -> tuple[float | None, Exception | None]:
        try:
            video = read_video(path, max_frames=max_frames)
            return detector.score(video.frames, video.fps), None
        except (ProvenanceError, DetectorError) as exc:
            return None, exc

    results = []
    # SCORE_THREADS clips at a time, as Detector.score_many: decoding, the codec pass and the features
    # release the GIL. map keeps the files' order.
    with progress_bar(len(files), "detecting") as bar, ThreadPoolExecutor(SCORE_THREADS) as pool:
        for path, (score, exc) in zip(files, pool.map(read_and_score, files)):
            if exc is not None:
                message = one_line(exc) if str(path) in str(exc) else f"{path}: {one_line(exc)}"
                results.append({"path": str(path), "error": message})
            else:
                results.append(
                    {
                        "path": str(path),
                        "p_synthetic": round(score, 6),
                        "flagged": bool(score >= detector.threshold),
                        "threshold": detector.threshold,
                        "model": _model_name(model),
                        "backbone": detector.backbone.name,
                        "label": "statistical estimate",
                    }
                )
            bar.update()
    failed = [r for r in results if "error" in r]
    if as_json:
        print_json(results)
    else:
        _print_table([r for r in results if "error" not in r], detector.threshold)
    for r in failed:
        print(f"error: {r['error']}", file=sys.stderr)
    if failed:
        raise typer.Exit(EXIT_BAD_INPUT)


def _print_table(rows: list[dict], threshold: float) -> None:
    from rich.console import Console
    from rich.table import Table

    if not rows:
        return
    table = Table(title=f"Detector: P(synthetic), a statistical estimate, never proof (flagged at ≥ {threshold:.3f})")
    table.add_column("clip", overflow="fold")
    table.add_column("P(synthetic)", justify="right")
    table.add_column("flagged")
    for r in rows:
        table.add_row(r["path"], f"{r['p_synthetic']:.3f}", "[bold red]yes[/]" if r["flagged"] else "no")
    Console(soft_wrap=True, width=None if sys.stdout.isatty() else 160).print(table)


@detect_app.command("train")
def detect_train(
    data: Path = typer.Option(
        ..., "--data", "-d", help="Manifest (.csv/.jsonl: path,label,generator,split) or a folder with real/ and fake/<generator>/."
    ),
    backbone: str = typer.Option(
        "forensic", "--backbone", "-b", help="forensic (features + classifier), cnn3d (small 3-D CNN) or probe (frozen eval encoder)."
    ),
    out: Path = typer.Option(..., "--out", "-o", help="Detector folder to write (detector.json + model.safetensors)."),
    target_fpr: float = typer.Option(0.01, "--target-fpr", min=0.0, max=0.5, help="Threshold: flag at most this share of validation reals."),
    epochs: int = typer.Option(12, "--epochs", min=1, max=1000, help="cnn3d: training epochs (the best on validation is kept)."),
    encoder: str = typer.Option("synthvid-tiny-clip", "--encoder", help="probe: an eval image encoder (synthvid-tiny-clip or an open_clip name)."),
    pretrained: Optional[Path] = typer.Option(None, "--pretrained", help="probe: local checkpoint of the open_clip encoder."),
    augment: bool = typer.Option(
        False, "--augment", help="Add an H.264 copy (CRF 23–32) of every train/val clip (robustness to re-encoding; the default model's recipe)."
    ),
    seed: int = typer.Option(0, "--seed", min=0, help="Seed of every random choice."),
    threads: Optional[int] = typer.Option(None, "--threads", min=1, max=256, help="CPU threads for torch."),
    recipe: str = typer.Option(
        "splits",
        "--recipe",
        help="splits: the options above on the dataset's train/val splits. realworld: the shipped "
        "real-world model's recipe on a corpus manifest (class, generator_or_source, file per JSON line): common form, pooled "
        "forensic features, heads chosen on grouped validation, threshold at 5 % of real clips scored by leave one generator out.",
    ),
    as_json: bool = typer.Option(False, "--json", help="Print the training report as JSON."),
) -> None:
    """Train a detector: backbone on the train split, head/checkpoint and threshold on val.

    Clips that cannot be read or are too short are skipped and listed; training goes on.

    Example: synthvid detect train --data runs/detector-data/manifest.csv --backbone forensic --out my-detector
    Example: synthvid detect train --recipe realworld --data ../shared/realworld/manifest.jsonl --out my-realworld-detector
    """
    from detectors.backbones import BACKBONES
    from detectors.dataset import load_dataset
    from detectors.detector import Detector

    if backbone not in BACKBONES:
        raise typer.BadParameter(f"choose {', '.join(BACKBONES)}, got {backbone!r}", param_hint="--backbone")
    if out.exists() and not out.is_dir():
        raise DetectorError(out, "exists and is not a folder")
    if threads is not None:
        import torch

        torch.set_num_threads(threads)
    if recipe not in ("splits", "realworld"):
        raise typer.BadParameter(f"choose splits or realworld, got {recipe!r}", param_hint="--recipe")
    if recipe == "realworld":
        _train_realworld(data, out, seed, as_json)
        return
    dataset = load_dataset(data)
    options = {"cnn3d": {"epochs": epochs}, "probe": {"encoder": encoder, "pretrained": str(pretrained) if pretrained else None}}
    detector = Detector(backbone, **options.get(backbone, {}))
    logging.getLogger("detectors").setLevel(logging.INFO if not as_json else logging.WARNING)
    with progress_bar(len(dataset.split("train")) + len(dataset.split("val")), "reading clips") as bar:
        report = detector.fit(
            dataset, target_fpr=target_fpr, seed=seed, augment=augment, progress=lambda what: bar.update() if what == "load" else None
        )
    detector.save(out)
    result = {"model": str(out), **report.to_dict(), "skipped": [{"path": p, "reason": r} for p, r in report.skipped]}
    if as_json:
        print_json(result)
        return
    print(
        f"trained {backbone} on {sum(report.counts['train'].values())} clips ({_counts(report.counts['train'])}); "
        f"validation {sum(report.counts['val'].values())} clips"
    )
    print(f"chosen on validation: {report.selection.get('chosen')}")
    val = report.val
    print(
        f"threshold {report.threshold:.4f} (≤ {report.target_fpr:.1%} of validation reals flagged): val AUC {val['auc']:.4f}, "
        f"TPR@1%FPR {val['tpr_at_1pct_fpr']:.3f}, real TNR {val['real_tnr']:.3f}"
    )
    for item in result["skipped"]:
        print(f"skipped {item['path']}: {item['reason']}")
    print(f"saved {out} (detector.json + model.safetensors); use it: synthvid detect FILE --model {out}")


def _train_realworld(data: Path, out: Path, seed: int, as_json: bool) -> None:
    from detectors.realworld import load_corpus_manifest, train_realworld

    with progress_bar(len(load_corpus_manifest(data)), "features") as bar:
        summary = train_realworld(data, out, seed=seed, progress=bar.update)
    if as_json:
        print_json(summary)
        return
    print(f"trained on {summary['clips']} clips ({summary['ai_clips']} AI); head {summary['head']}; threshold {summary['threshold']:.4f}")
    print(f"leave one generator out: mean AUC {summary['logo_auc_mean']:.3f}, pooled {summary['pooled_auc']:.3f}, ECE {summary['ece']:.3f}")
    for item in summary["skipped"]:
        print(f"skipped {item['path']}: {item['reason']}")
    print(f"saved {out} (detector.json + model.safetensors); use it: synthvid detect FILE --model {out}")


def _counts(counts: dict) -> str:
    return ", ".join(f"{k} {v}" for k, v in sorted(counts.items()))


def verify_detector(model: Optional[Path] = None):
    """The detector callable ``synthvid verify`` attaches (the umbrella wires it): a
    :class:`provenance.verify.DetectorEstimate` per decoded clip, or None for a clip it cannot score."""
    from provenance.verify import DetectorEstimate

    detector = _load(model)
    name = f"{_model_name(model)} ({detector.backbone.name})"

    def estimate(video):
        # verify hands only the planned frames (video.meta["frame_plan"]): they are at the common rate already.
        fps = None if video.meta.get("frame_plan") else video.fps
        try:
            return DetectorEstimate(name, round(detector.score(video.frames, fps), 6))
        except DetectorError as exc:
            log.info("no detector estimate: %s", exc)
            return None

    estimate.frame_plan, estimate.reduce_frames = detector.frame_plan, detector.reduce_frames
    return estimate


def _standalone_app() -> typer.Typer:
    from provenance.cli import standalone_app

    return standalone_app(app, name="detectors", help="synthvid detectors: real-vs-synthetic detection.")


def main() -> None:
    """``python -m detectors``."""
    from provenance.cli import USER_ERRORS as PROVENANCE_ERRORS
    from provenance.cli import run_typer_app

    sys.exit(run_typer_app(_standalone_app(), sys.argv[1:], prog_name="python -m detectors", user_errors=USER_ERRORS + PROVENANCE_ERRORS))
