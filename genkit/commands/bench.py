"""``synthvid bench [run] SUITE``, ``bench compare`` and ``bench merge``: the benchmark runner's commands.

Exit codes: 0 success / reproduced, 1 a failed item, an incomplete merge or a drifted comparison,
2 bad input.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Optional

import typer
from typer.core import TyperGroup

from genkit.commands.common import BATCHED_FORWARD_HELP, TINY_MODEL, Dtype, prompt_items
from provenance.console import make_console, print_json, progress_bar
from provenance.runfolder import METRICS_FILE, RUN_COMPLETE, RUN_RUNNING

app = typer.Typer(add_completion=False, rich_markup_mode="rich", no_args_is_help=True)


class _DefaultRunGroup(TyperGroup):
    """``synthvid bench SUITE ...`` means ``synthvid bench run SUITE ...``; ``merge`` is the other command."""

    def parse_args(self, ctx, args):
        if args and not args[0].startswith("-") and args[0] not in self.commands:
            args = ["run", *args]
        return super().parse_args(ctx, args)


bench_app = typer.Typer(
    cls=_DefaultRunGroup,
    help="Benchmark a model on a prompt suite (resumable, shardable): synthvid bench SUITE --model M --out runs/NAME.",
    no_args_is_help=True,
    rich_markup_mode="rich",
)
app.add_typer(bench_app, name="bench")


@bench_app.command("run")
def bench_run(
    suite: str = typer.Argument(..., help="Suite file (.txt/.csv/.jsonl/VBench .json) or bundled name (shapes-smoke, shapes-full)."),
    model: str = typer.Option(
        TINY_MODEL,
        "--model",
        "-m",
        help="synthvid-tiny, shapes-world (the renderer itself: ground truth), a registered name, a hub id or a pipeline folder.",
    ),
    out: Path = typer.Option(..., "--out", "-o", help="Run folder: clips/, ledger.sqlite, results.parquet, metrics.json, run.json."),
    num_videos_per_prompt: int = typer.Option(1, "--num-videos-per-prompt", "-n", min=1, max=1000, help="Clips per prompt."),
    metrics: str = typer.Option(
        "default",
        "--metrics",
        help="Comma-separated: clipsim, temporal, fvd, analyzer (shapes-world adherence), detector, robustness (watermark under "
        "attacks: slow, off by default); default = all but robustness; all.",
    ),
    reference: Optional[str] = typer.Option(
        None,
        "--reference",
        help="FVD reference set: world:SUITE (shapes-world renders), a folder of clips, or none. Default: world:<SUITE>.",
    ),
    fvd_extractor: Optional[str] = typer.Option(
        None, "--fvd-extractor", help="FVD features: synthvid-tiny-video (default), i3d:PATH or videomae:FOLDER."
    ),
    clip_model: str = typer.Option("synthvid-tiny-clip", "--clip-model", help="open_clip model for CLIPSIM and CLIP-Temp."),
    clip_pretrained: Optional[str] = typer.Option(None, "--clip-pretrained", help="Local checkpoint of --clip-model."),
    seed: int = typer.Option(0, min=0, max=2**63 - 1, help="Base seed; item (i, k) gets a seed derived from (seed, i, k)."),
    frames: Optional[int] = typer.Option(None, min=1, max=2048, help="Frames per clip (default: the model's)."),
    height: Optional[int] = typer.Option(None, min=8, max=4096, help="Frame height (default: the model's)."),
    width: Optional[int] = typer.Option(None, min=8, max=4096, help="Frame width (default: the model's)."),
    fps: Optional[float] = typer.Option(None, min=0.01, max=1000.0, help="Frames per second of the files (default: the model's)."),
    steps: Optional[int] = typer.Option(None, min=1, max=1000, help="Denoising steps (default: the model's)."),
    guidance: Optional[float] = typer.Option(None, min=0.0, max=100.0, help="Guidance scale (default: the model's)."),
    batch_size: Optional[int] = typer.Option(None, "--batch-size", min=1, max=256, help="Clips per batch; never changes a clip."),
    batched_forward: bool = typer.Option(False, "--batched-forward", help=BATCHED_FORWARD_HELP),
    device: str = typer.Option("auto", help="auto (under torchrun: this rank's GPU), cpu, cuda, cuda:N or mps."),
    dtype: Dtype = typer.Option(Dtype.auto, help="Weights' precision."),
    threads: Optional[int] = typer.Option(None, "--threads", min=1, max=256, help="CPU threads for torch."),
    crf: int = typer.Option(18, min=0, max=51, help="H.264 quality (0 best, 51 worst)."),
    no_provenance: bool = typer.Option(False, "--no-provenance", help="No watermark, manifest or record (and no verify/robustness columns)."),
    keys: Optional[Path] = typer.Option(None, "--keys", help="Key directory (default: $SYNTHVID_HOME/keys)."),
    repo: Optional[Path] = typer.Option(None, "--repo", help="Manifest repository (default: $SYNTHVID_HOME/manifests.sqlite)."),
    num_shards: int = typer.Option(1, "--num-shards", min=1, max=100_000, help="Split the items over this many independent jobs (job arrays)."),
    shard_index: int = typer.Option(0, "--shard-index", min=0, help="Which shard this job runs (0-based); merge with synthvid bench merge."),
    overwrite: bool = typer.Option(False, "--overwrite", help="Delete the run in --out and start again (default: resume it)."),
    as_json: bool = typer.Option(False, "--json", help="Print the summary and set-level metrics as JSON."),
) -> None:
    """Run a model on a prompt suite: generate, credential and score every item, then set-level metrics.

    Each item (prompt, sample): generate → watermark → sign → register → read back → CLIPSIM,
    temporal metrics, FVD features, world analyzer, verify verdict, watermark under attacks, detector
    score → one committed row of ledger.sqlite. Then FVD against the reference set and breakdowns
    (metrics.json) and results.parquet. Run the same command again to resume (finished items are
    skipped; another config is refused). Under torchrun the ranks split the items; --num-shards and
    --shard-index do the same for job arrays. Exit 1 when an item failed (its error is in its row).

    Example: synthvid bench shapes-smoke --model synthvid-tiny --out runs/bench && synthvid report runs/bench
    """
    from genkit.backends import load_backend, resolve_model
    from genkit.bench import BenchOptions, parse_metrics, run_bench, start_process_group, stop_process_group, worker_device, workers_from_env
    from genkit.generate import model_prompts, open_provenance, resolve_settings

    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")  # see generate: idle OpenMP threads sleep
    workers = workers_from_env(num_shards, shard_index)
    chosen = parse_metrics(metrics)
    suite_path, items = prompt_items(None, suite)
    source = resolve_model(model)
    model_prompts(source, items, suite_path)  # a bad prompt costs nothing
    if threads is not None:
        import torch

        torch.set_num_threads(threads)
    resolved_device = worker_device(device, workers)
    start_process_group(workers, resolved_device)
    err = make_console(stderr=True)
    try:
        backend = load_backend(source, device=resolved_device, dtype=dtype.value, revision=None)
        # Several workers never open the shared repository (SQLite over NFS): each writes its own part.
        # Under torchrun rank 0 makes the keys (when there are none) before the other ranks load them.
        if workers.distributed and not workers.is_main:
            workers.barrier()
        try:
            provenance = None if no_provenance else open_provenance(keys, repo, open_repository=workers.kind == "single")
        finally:
            if workers.distributed and workers.is_main:
                workers.barrier()
        if provenance is not None and provenance.created_keys and workers.is_main:
            err.print(f"created signing keys in {provenance.key_dir} (trust anchor: {provenance.trust_anchor})", highlight=False)
        try:
            settings = resolve_settings(
                backend,
                frames=frames,
                height=height,
                width=width,
                fps=fps,
                steps=steps,
                guidance=guidance,
                batch_size=batch_size,
                batched_forward=batched_forward,
                crf=crf,
                base_seed=seed,
            )
            options = BenchOptions(
                suite=suite,
                suite_file=str(suite_path),
                samples_per_prompt=num_videos_per_prompt,
                metrics=chosen,
                reference=reference,
                fvd_extractor=fvd_extractor,
                clip_model=clip_model,
                clip_pretrained=clip_pretrained,
                provenance=provenance is not None,
            )
            with progress_bar(len(items) * num_videos_per_prompt if workers.is_main else 0, f"bench {workers.name}", "item") as bar:
                result = run_bench(
                    out,
                    backend,
                    items,
                    settings,
                    provenance,
                    options,
                    workers=workers,
                    overwrite=overwrite,
                    on_start=lambda total: setattr(bar, "total", total),
                    on_item=lambda row: bar.update(),
                )
        finally:
            if provenance is not None:
                provenance.close()
    finally:
        stop_process_group(workers)
    _bench_summary(result, as_json)


def _bench_summary(result, as_json: bool) -> None:
    run = result.run
    record = run.record
    summary = {
        "run": str(run.root),
        "worker": result.workers.name,
        "items": result.total,
        "done_before": result.done_before,
        "made_now": result.made,
        "failed_now": result.failed,
        "finalized": result.finalized,
        "status": record.get("status") if result.finalized else RUN_RUNNING,
        "table": str(run.results_path) if result.finalized else None,
        "metrics_file": str(run.root / METRICS_FILE) if result.finalized else None,
        "metrics": result.metrics,
    }
    if not result.workers.is_main and result.workers.distributed:
        return  # rank 0 speaks for the job
    if as_json:
        print_json(summary)
    else:
        console = make_console()
        console.print(
            f"{result.workers.name}: {result.made} items made now ({result.failed} failed), {result.done_before} were done before", highlight=False
        )
        if result.finalized:
            _print_bench_metrics(console, result.metrics)
            console.print(
                f"Run folder: {run.root}  (status {record.get('status')}; table {run.results_path}; metrics {run.root / METRICS_FILE})",
                highlight=False,
            )
            console.print(f"Report: synthvid report {run.root}", highlight=False)
        else:
            console.print(f"Shard done; when every shard has finished: synthvid bench merge {run.root}", highlight=False)
    failed = result.failed or (result.finalized and record.get("items_failed"))
    if failed:
        raise typer.Exit(1)


def _print_bench_metrics(console, metrics: dict) -> None:
    from rich.table import Table

    table = Table(title=f"{metrics.get('model')} on {metrics.get('suite')}: {metrics.get('items_ok')} of {metrics.get('items')} items")
    table.add_column("metric")
    table.add_column("value", justify="right")
    fvd = metrics.get("fvd")
    if fvd:
        table.add_row(fvd["label"], "—" if fvd.get("value") is None else f"{fvd['value']:.3f}")
    for name, value in (metrics.get("means") or {}).items():
        table.add_row(name, "—" if value is None else f"{value:.4f}")
    for verdict, count in (metrics.get("verdicts") or {}).items():
        table.add_row(f"verdict {verdict}", str(count))
    console.print(table)
    for name, note in (metrics.get("notes") or {}).items():
        console.print(f"note ({name}): {note}", highlight=False)


@bench_app.command("compare")
def bench_compare(
    run_a: Path = typer.Argument(..., help="A finished run folder (results.parquet, run.json)."),
    run_b: Path = typer.Argument(..., help="The run to compare with it: another worker layout, machine, kernel set, version."),
    tolerances: Optional[Path] = typer.Option(
        None,
        "--tolerances",
        help='JSON file of per-metric tolerances over the defaults: {"clipsim": {"abs": 0.001}, "fvd": {"rel": 0.01}, "match_all": {"flips": 1}}.',
    ),
    atol: Optional[float] = typer.Option(None, "--atol", min=0.0, help="Absolute tolerance for every numeric metric (replaces the defaults)."),
    rtol: Optional[float] = typer.Option(None, "--rtol", min=0.0, help="Relative tolerance for every numeric metric (replaces the defaults)."),
    exact: bool = typer.Option(False, "--exact", help="No tolerance at all: every score must be equal (same machine, same kernels)."),
    as_json: bool = typer.Option(False, "--json", help="Print the whole comparison as JSON."),
) -> None:
    """Do two benchmark runs agree? Config differences first, then which items have identical content
    (SHA-256 of the generated frames), then every metric per item and set-level against its tolerance.

    Verdict "reproduced" (exit 0) or "drifted: METRIC max |Δ| X (N items); …" (exit 1); bad input exit 2.
    Default tolerances cover the float rounding of another CPU kernel set and the random watermark
    payloads (docs/benchmark-runs.md, "Reproducibility"); columns that depend on the payload itself (file hash, CRF,
    mark survival under attacks) are not judged when the payloads differ. Run folders copied from
    other machines compare the same way.

    Example: synthvid bench compare runs/smoke runs/smoke-2ranks --json
    """
    from genkit.compare import DEFAULT_TOLERANCES, EXACT, Tolerance, compare_runs, load_tolerances

    given = load_tolerances(tolerances) if tolerances else {}
    default = None
    if exact or atol is not None or rtol is not None:
        default = EXACT if exact else Tolerance(abs=atol or 0.0, rel=rtol or 0.0)
        given = {name: default for name in DEFAULT_TOLERANCES} | given
    result = compare_runs(run_a, run_b, tolerances=given, default=default)
    if as_json:
        print_json({**result.as_dict(), "summary": result.summary})
    else:
        _print_comparison(make_console(), result)
    if result.verdict != "reproduced":
        raise typer.Exit(1)


def _print_comparison(console, result) -> None:
    from rich.table import Table

    console.print(f"A: {result.run_a}\nB: {result.run_b}", highlight=False)
    if result.config_differences:
        console.print(f"[bold]config differs[/] ({len(result.config_differences)}):", highlight=False)
        for difference in result.config_differences:
            console.print(f"  {difference}", highlight=False)
    if result.environment_differences:
        console.print("environment (not judged): " + "; ".join(result.environment_differences), highlight=False)
    console.print(
        f"items: {result.items_compared} in both ({len(result.only_in_a)} only in A, {len(result.only_in_b)} only in B); "
        f"identical content {result.identical_content} of {result.items_compared}, identical files {result.identical_files}, "
        f"same watermark payload {result.same_payload}",
        highlight=False,
    )
    table = Table(title="metrics (per item, then set-level)")
    for name in ("metric", "kind", "compared", "max |Δ|", "tolerance", "beyond", "worst item"):
        table.add_column(name, justify="right" if name in ("compared", "max |Δ|", "beyond") else "left")
    for metric in result.metrics:
        tolerance = ", ".join(f"{k} {v:g}" for k, v in metric.tolerance.items() if v) or "exact"
        diff = "" if metric.max_abs_diff is None else f"{metric.max_abs_diff:.3g}"
        style = "red" if metric.beyond else None
        table.add_row(metric.name, metric.kind, str(metric.compared), diff, tolerance, str(metric.beyond), metric.worst or "", style=style)
    console.print(table)
    if result.not_judged:
        console.print("not judged (depend on the random watermark payload, which differs): " + ", ".join(result.not_judged), highlight=False)
    console.print(f"[bold]{'[green]' if result.verdict == 'reproduced' else '[red]'}{result.summary}[/]", highlight=False)


@bench_app.command("merge")
def bench_merge(
    run_dir: Path = typer.Argument(..., help="A run folder whose shards wrote ledger.shard*-of-*.sqlite."),
    as_json: bool = typer.Option(False, "--json", help="Print the summary and set-level metrics as JSON."),
) -> None:
    """Merge the shard ledgers of a run into ledger.sqlite and write results.parquet, metrics.json and run.json.

    Items still missing are counted (run.json status "incomplete", exit 1); run the missing shards again
    (they resume) and merge again.

    Example: synthvid bench merge runs/bench
    """
    from genkit.bench import merge_run

    result = merge_run(run_dir)
    _bench_summary(result, as_json)
    if result.run.record.get("status") != RUN_COMPLETE:
        raise typer.Exit(1)
