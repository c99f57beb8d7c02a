"""Command line of the eval package: ``synthvid eval``.

Mounted by the umbrella ``synthvid`` (genkit/cli.py); runnable alone as ``python -m eval``. Module level
imports only typer, the standard library, eval's errors, provenance.console and the run-folder contract
(provenance.runfolder: eval is the producer of a run folder's eval.json); torch, open_clip, PyAV and
pandas load inside the commands. Training eval's embedded encoders needs the shapes world, which lives in genkit:
``synthvid eval-train`` is a genkit command that hands the world to :mod:`eval.train_video` and
:mod:`eval.train_clip`.

Exit codes: 0 success, 2 bad input (including clips that cannot be read; the others are still scored).
"""

from __future__ import annotations

import logging
import sys
from pathlib import Path
from typing import Optional

import typer

from eval.errors import EvalError
from provenance.console import print_json, progress_bar
from provenance.runfolder import EVAL_FILE, write_json_atomic

USER_ERRORS = (EvalError,)
EXIT_BAD_INPUT = 2
TABLE_ROWS_SHOWN = 40

app = typer.Typer(add_completion=False, rich_markup_mode="rich", no_args_is_help=True)

log = logging.getLogger(__name__)


def _parse_metrics(value: Optional[str]) -> Optional[tuple[str, ...]]:
    from eval.evaluate import METRIC_GROUPS

    if value is None:
        return None
    names = tuple(dict.fromkeys(part.strip().lower() for part in value.split(",") if part.strip()))
    unknown = [n for n in names if n not in METRIC_GROUPS]
    if unknown or not names:
        raise typer.BadParameter(f"choose from {','.join(METRIC_GROUPS)}, got {value!r}", param_hint="--metrics")
    return names


@app.command("eval")
def eval_command(
    ctx: typer.Context,
    fake: Path = typer.Option(..., "--fake", help="Folder of generated clips, or a run folder (clips/ + results.parquet)."),
    real: Optional[Path] = typer.Option(None, "--real", help="Folder (or run folder) of reference clips for FVD."),
    reference: Optional[str] = typer.Option(
        None,
        "--reference",
        help="FVD reference without clips: world:SUITE (rendered on the fly; a suite file or bundled name) "
        "or a statistics file (.npz) saved by --save-reference with the same extractor, weights and protocol.",
    ),
    save_reference: Optional[Path] = typer.Option(
        None,
        "--save-reference",
        help="Save the reference set's FVD statistics (mean, covariance, N, extractor, weights "
        "hash, protocol) to this .npz, for later runs' --reference.",
    ),
    prompts: Optional[Path] = typer.Option(
        None, "--prompts", help="Prompts for CLIPSIM: .txt (one a line, clips in name order), .csv/.jsonl/.json (clip, prompt)."
    ),
    metrics: Optional[str] = typer.Option(
        None, "--metrics", help="Comma-separated: fvd,clipsim,temporal,aesthetic,imaging,smoothness (default: all that the inputs allow)."
    ),
    fvd_extractor: str = typer.Option(
        "synthvid-tiny-video",
        "--fvd-extractor",
        help="synthvid-tiny-video (FVD-tiny), i3d:PATH (i3d_torchscript.pt or "
        "i3d_pretrained_400.pt: published FVD), or videomae:PATH (VideoMAE-v2 .pth as cd-fvd loads it, or a transformers folder).",
    ),
    protocol: Optional[str] = typer.Option(
        None,
        "--protocol",
        help="Reference protocols, comma-separated. FVD: synthvid (default: first 16 frames, ÷N−1), cd-fvd "
        "(cd-fvd 0.1.1: every frame, ÷N), or StyleGAN-V's fvd2048_16f, fvd2048_128f, fvd2048_128f_subsample8f (I3D only). "
        "Temporal and aesthetic: vbench (VBench 0.1.5's resize/crop, DINO position interpolation, dynamic-degree "
        "subsampling and rounding; default synthvid). E.g. --protocol cd-fvd,vbench.",
    ),
    clip_model: str = typer.Option(
        "synthvid-tiny-clip",
        "--clip-model",
        help="synthvid-tiny-clip, an open_clip name (ViT-B-32, ViT-L-14-quickgelu, ...), a .json model config, or local-dir:FOLDER.",
    ),
    clip_pretrained: Optional[Path] = typer.Option(None, "--clip-pretrained", help="Local checkpoint for an open_clip name."),
    quick_gelu: bool = typer.Option(False, "--quick-gelu", help="Force QuickGELU (OpenAI weights with a plain model name)."),
    subject_encoder: Optional[str] = typer.Option(
        None, "--subject-encoder", help="Encoder of subject consistency: clip (default) or timm:NAME:CHECKPOINT (VBench: DINO ViT-B/16)."
    ),
    aesthetic_head: Optional[Path] = typer.Option(
        None,
        "--aesthetic-head",
        help="LAION's aesthetic predictor head (sa_0_4_vit_l_14_linear.pth, github.com/LAION-AI/aesthetic-predictor) for "
        "VBench's aesthetic quality; VBench runs it on OpenAI CLIP ViT-L/14: --clip-model ViT-L-14-quickgelu --clip-pretrained ViT-L-14.pt.",
    ),
    musiq: Optional[Path] = typer.Option(
        None,
        "--musiq",
        help="pyiqa's MUSIQ checkpoint (musiq_spaq_ckpt-358bb6af.pth, github.com/chaofengc/IQA-PyTorch release "
        "v0.1-weights) for VBench's imaging quality (--metrics imaging).",
    ),
    raft: Optional[Path] = typer.Option(
        None,
        "--raft",
        help="The original RAFT weights (raft-things.pth, github.com/princeton-vl/RAFT models.zip) for VBench's dynamic "
        "degree under --protocol vbench (default: OpenCV DIS flow, whose decisions can differ from VBench's).",
    ),
    amt: Optional[Path] = typer.Option(
        None,
        "--amt",
        help="AMT-S weights (amt-s.pth, github.com/MCG-NKU/AMT) for VBench's motion smoothness (--metrics smoothness).",
    ),
    reference_frames: Optional[int] = typer.Option(
        None, "--reference-frames", min=2, max=1024, help="Frames of world clips (default: the fake clips')."
    ),
    reference_size: Optional[str] = typer.Option(None, "--reference-size", help="WIDTHxHEIGHT of world clips (default: the fake clips')."),
    reference_seed: int = typer.Option(0, "--reference-seed", min=0, help="Seed of the first world clip; clip i gets seed + i."),
    reference_crf: int = typer.Option(
        18, "--reference-crf", min=-1, max=51, help="H.264 round trip of world clips (as world render writes them); -1: none."
    ),
    max_frames: Optional[int] = typer.Option(None, "--max-frames", min=2, help="Read at most this many frames of each clip."),
    batch_size: int = typer.Option(8, "--batch-size", min=1, max=256, help="Clips per FVD feature batch."),
    out: Optional[Path] = typer.Option(
        None,
        "--out",
        "-o",
        help="Write set-level metrics and per-clip rows as JSON here "
        "(default for a run folder: its eval.json; the bench's metrics.json is left alone).",
    ),
    threads: Optional[int] = typer.Option(None, "--threads", min=1, max=256, help="CPU threads for torch."),
    as_json: bool = typer.Option(False, "--json", help="Print set-level metrics and per-clip rows as JSON."),
) -> None:
    """Score generated clips: FVD against a reference set, CLIPSIM against prompts, temporal consistency.

    Clips are streamed (one in memory at a time; FVD features in small batches). Per-clip scores go
    to a table, set-level scores to JSON. FVD from the default extractor is FVD-tiny, meaningful on
    shapes-world content only; published FVD needs --fvd-extractor i3d:PATH and a published --protocol
    (cd-fvd or StyleGAN-V's fvd2048_16f, ...); every FVD result names its protocol.

    Example: synthvid eval --fake runs/gen --reference world:shapes-smoke --metrics fvd,clipsim,temporal --json

    Example (VBench's aesthetic quality): synthvid eval --fake runs/gen --metrics aesthetic --protocol vbench
    --clip-model ViT-L-14-quickgelu --clip-pretrained ViT-L-14.pt --aesthetic-head sa_0_4_vit_l_14_linear.pth

    Example: synthvid eval --fake runs/gen --real ucf101/ --fvd-extractor i3d:i3d_pretrained_400.pt --protocol cd-fvd --save-reference ucf.npz
    (later: synthvid eval --fake runs/gen2 --reference ucf.npz --fvd-extractor i3d:i3d_pretrained_400.pt --protocol cd-fvd)
    """
    from eval.evaluate import EvalSettings, FolderEvaluation, find_clips, read_prompts

    chosen = _parse_metrics(metrics)
    protocol, temporal_protocol = _parse_protocols(protocol)
    if real is not None and reference is not None:
        raise typer.BadParameter("give --real DIR or --reference world:SUITE, not both", param_hint="--real / --reference")
    stats_file = Path(reference) if reference is not None and not reference.startswith("world:") else None
    if stats_file is not None and stats_file.suffix.lower() != ".npz":
        raise typer.BadParameter("give world:SUITE (e.g. world:shapes-smoke) or an FVD statistics file (.npz)", param_hint="--reference")
    if save_reference is not None and (real is None and (reference is None or stats_file is not None)):
        raise typer.BadParameter("saving statistics needs reference clips: --real DIR or --reference world:SUITE", param_hint="--save-reference")
    world_reference = None
    if reference is not None and stats_file is None:
        # The shapes world lives in genkit, above eval: the umbrella CLI hands its renderer in (ctx.obj).
        world_reference = ((ctx.find_root().obj or {}).get("reference_providers") or {}).get("world")
        if world_reference is None:
            raise typer.BadParameter(
                "world:SUITE references are rendered by synthvid's genkit: run `synthvid eval` "
                "(python -m eval takes --real DIR or a statistics file)",
                param_hint="--reference",
            )
    fakes = find_clips(fake)
    reals = find_clips(real) if real is not None else None
    if prompts is not None:
        fakes.prompts = read_prompts(prompts, fakes)
    has_reference = reals is not None or reference is not None
    if chosen is None:
        allowed = {
            "fvd": has_reference,
            "clipsim": bool(fakes.prompts),
            "temporal": True,
            "aesthetic": aesthetic_head is not None,
            "imaging": musiq is not None,
            "smoothness": amt is not None,
        }
        chosen = tuple(m for m, ok in allowed.items() if ok)
    if temporal_protocol is not None and not {"temporal", "aesthetic"} & set(chosen):
        raise EvalError(None, f"--protocol: {temporal_protocol} is a protocol of the temporal and aesthetic metrics, which --metrics leaves out")
    if "fvd" in chosen and not has_reference:
        raise EvalError(fake, "FVD needs a reference set: give --real DIR or --reference world:SUITE")
    if "clipsim" in chosen:
        missing = [p for p in fakes.paths if p not in fakes.prompts]
        if missing:
            raise EvalError(missing[0], f"no prompt for this clip and {len(missing) - 1} others; CLIPSIM needs --prompts FILE or a run folder")
    if threads is not None:
        import torch

        torch.set_num_threads(threads)
    settings = EvalSettings(
        metrics=chosen,
        fvd_extractor=fvd_extractor,
        fvd_protocol=protocol,
        clip_model=clip_model,
        clip_pretrained=str(clip_pretrained) if clip_pretrained else None,
        quick_gelu=quick_gelu,
        subject_encoder=subject_encoder,
        temporal_protocol=temporal_protocol,
        aesthetic_head=str(aesthetic_head) if aesthetic_head else None,
        musiq=str(musiq) if musiq else None,
        raft=str(raft) if raft else None,
        amt=str(amt) if amt else None,
        max_frames=max_frames,
        batch_size=batch_size,
    )
    # Whether clips are shapes-world clips (the embedded encoders' only domain) is known to genkit's analyzer,
    # above eval: the umbrella hands its check in (ctx.obj); python -m eval says the domain is unknown.
    domain_checker = (ctx.find_root().obj or {}).get("domain_checker")
    evaluation = FolderEvaluation(settings, in_domain=domain_checker)
    if stats_file is not None and evaluation.fvd is not None:
        evaluation.fvd.load_reference(stats_file)  # checked against the extractor and protocol before any clip is scored
    rows: list[dict] = []
    with progress_bar(len(fakes.paths), "scoring") as bar:
        rows.extend(evaluation.run(fakes, on_clip=bar.update))
    if not rows:
        _report_failures(evaluation.failed)
        raise EvalError(fake, "no clip could be scored")
    reference_name = None
    if evaluation.fvd is not None:
        if stats_file is not None:
            reference_name = str(stats_file)
        elif reals is not None:
            reference_name = str(real)
            with progress_bar(len(reals.paths), "reference") as bar:
                evaluation.add_real((v.frames for v in map(evaluation.read, reals.paths) if v is not None), on_clip=bar.update)
        else:
            suite = reference.removeprefix("world:")
            reference_name = reference
            first = rows[0]
            width, height = map(int, (reference_size or first["size"]).lower().split("x"))
            frames = reference_frames or first["frames"]
            clips = world_reference(
                suite, frames=frames, size=(height, width), fps=8.0, seed=reference_seed, crf=None if reference_crf < 0 else reference_crf
            )
            evaluation.add_real(clips, in_domain=True)  # shapes-world renders
        if save_reference is not None:
            evaluation.fvd.reference_stats().save(save_reference)
    summary = {
        "fake": str(fake),
        "reference": reference_name,
        "clips": len(rows),
        "failed": evaluation.failed,
        "metrics": list(chosen),
        **evaluation.summary(),
    }
    # A run folder's metrics.json belongs to the bench that made it: eval is the one producer of eval.json
    # beside it (provenance.runfolder).
    target = out or (fakes.run_folder / EVAL_FILE if fakes.run_folder else None)
    if target is not None:
        write_json_atomic({**summary, "per_clip": rows}, target, error=EvalError)
    if as_json:
        print_json({**summary, "per_clip": rows})
    else:
        _print_report(rows, summary, target)
    _report_failures(evaluation.failed)
    if evaluation.failed:
        raise typer.Exit(EXIT_BAD_INPUT)


def _parse_protocols(value: Optional[str]) -> tuple[Optional[str], Optional[str]]:
    """``--protocol`` → (FVD protocol, temporal protocol), each ``None`` when not given."""
    from eval.fvd import PROTOCOLS
    from eval.temporal import TEMPORAL_PROTOCOLS

    if value is None:
        return None, None
    fvd = temporal = None
    for name in (part.strip() for part in value.split(",") if part.strip()):
        if name in PROTOCOLS and fvd is None:
            fvd = name
        elif name in TEMPORAL_PROTOCOLS and name not in PROTOCOLS and temporal is None:
            temporal = name
        else:
            known = ", ".join([*PROTOCOLS, *(p for p in TEMPORAL_PROTOCOLS if p not in PROTOCOLS)])
            raise EvalError(None, f"--protocol: unknown or repeated protocol {name!r}: at most one FVD and one temporal protocol from {known}")
    if fvd is None and temporal is None:
        raise EvalError(None, "--protocol: give a protocol name")
    return fvd, temporal


def _report_failures(failed: list[dict]) -> None:
    for item in failed:
        print(f"error: {item['error']}", file=sys.stderr)


def _print_report(rows: list[dict], summary: dict, target: Optional[Path]) -> None:
    from rich.console import Console
    from rich.markup import escape
    from rich.table import Table

    console = Console(soft_wrap=True, width=None if sys.stdout.isatty() else 200)
    if len(rows) <= TABLE_ROWS_SHOWN:
        table = Table(title="Per-clip scores")
        columns = [c for c in rows[0] if c not in ("prompt", "frames", "size")]
        for column in columns:
            table.add_column(column, overflow="fold")
        for row in rows:
            table.add_row(*[f"{row[c]:.4f}" if isinstance(row[c], float) else str(row[c]) for c in columns])
        console.print(table)
    lines = []
    if "fvd" in summary:
        fvd = summary["fvd"]
        value = "n/a" if fvd["value"] is None else f"{fvd['value']:.3f}"
        extra = f", FVD∞ {fvd['fvd_inf']:.3f}" if "fvd_inf" in fvd else ""
        lines.append(f"{fvd['label']}: {value} (N real {fvd['n_real']}, N fake {fvd['n_fake']}{extra})")
        if "warning" in fvd:
            lines.append(f"  [yellow]warning:[/] {fvd['warning']}")
        if "skipped_short" in fvd:
            skipped = fvd["skipped_short"]
            lines.append(f"  {skipped['real']} real and {skipped['fake']} fake clips too short for protocol {fvd['protocol']}: discarded")
    if "clipsim" in summary and summary["clipsim"]["value"] is not None:
        c = summary["clipsim"]
        lines.append(f"CLIPSIM ({c['model']}): {c['value']:.4f} (×100: {c['percent']:.2f}) over {c['clips']} clips")
    if "temporal" in summary:
        t = summary["temporal"]
        lines.append(f"Temporal (protocol {t['protocol']}): " + ", ".join(f"{k} {v:.4f}" for k, v in t.items() if isinstance(v, float)))
        for note in t.get("notes", []):
            lines.append(f"  [yellow]note:[/] {note}")
    if "aesthetic" in summary and summary["aesthetic"]["value"] is not None:
        a = summary["aesthetic"]
        lines.append(f"Aesthetic quality ({a['model']}, protocol {a['protocol']}): {a['value']:.4f} over {a['clips']} clips")
        for note in a.get("notes", []):
            lines.append(f"  [yellow]note:[/] {note}")
    if "imaging" in summary and summary["imaging"]["value"] is not None:
        lines.append(f"Imaging quality ({summary['imaging']['model']}): {summary['imaging']['value']:.4f} over {summary['imaging']['clips']} clips")
    if "smoothness" in summary and summary["smoothness"]["value"] is not None:
        s = summary["smoothness"]
        lines.append(f"Motion smoothness ({s['model']}): {s['value']:.4f} over {s['clips']} clips")
    from eval.domain import is_out_of_domain

    for metric, note in (summary.get("domain") or {}).items():
        lines.append(f"{'[bold red]' if is_out_of_domain(note) else '[green]'}{metric}:[/] {escape(note)}")
    for line in lines:
        console.print(line, highlight=False)
    if target is not None:
        console.print(f"Set-level JSON and per-clip rows: {target}", highlight=False)


def _standalone_app() -> typer.Typer:
    from provenance.cli import standalone_app

    return standalone_app(app, name="eval", help="synthvid eval: FVD, CLIPSIM and temporal metrics.")


def main() -> None:
    """``python -m eval``."""
    from provenance.cli import run_typer_app

    sys.exit(run_typer_app(_standalone_app(), sys.argv[1:], prog_name="python -m eval", user_errors=USER_ERRORS))
