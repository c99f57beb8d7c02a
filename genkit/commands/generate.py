"""``synthvid generate``: clips from a prompt or a suite, each watermarked, signed and registered.

Exit codes: 0 success, 2 bad input.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Optional

import typer

from genkit.commands.common import BATCHED_FORWARD_HELP, TABLE_ROWS_SHOWN, TINY_MODEL, Dtype, prompt_items, run_summary
from provenance.console import make_console, print_json, progress_bar

app = typer.Typer(add_completion=False, rich_markup_mode="rich", no_args_is_help=True)


@app.command("generate")
def generate(
    prompt: Optional[str] = typer.Argument(None, help="One prompt. synthvid-tiny knows only the shapes world (synthvid world vocab)."),
    suite: Optional[str] = typer.Option(
        None, "--suite", "-s", help="Suite file (.txt/.csv/.jsonl/VBench .json) or bundled name (shapes-smoke, shapes-full)."
    ),
    model: str = typer.Option(
        TINY_MODEL,
        "--model",
        "-m",
        help="synthvid-tiny (embedded), a name (wan2.1-1.3b, wan2.1-14b, cogvideox-2b, cogvideox-5b, ltx-video, zeroscope, "
        "modelscope), a Hugging Face hub id, or a pipeline folder (save_pretrained).",
    ),
    out: Path = typer.Option(..., "--out", "-o", help="Run folder to create: clips/, results.parquet, run.json."),
    seed: int = typer.Option(0, min=0, max=2**63 - 1, help="Base seed; clip k of prompt i gets a seed derived from (seed, i, k)."),
    num_videos_per_prompt: int = typer.Option(1, "--num-videos-per-prompt", "-n", min=1, max=1000, help="Clips per prompt."),
    frames: Optional[int] = typer.Option(None, min=1, max=2048, help="Frames per clip (default: the model's)."),
    height: Optional[int] = typer.Option(None, min=8, max=4096, help="Frame height in pixels (default: the model's; synthvid-tiny 64)."),
    width: Optional[int] = typer.Option(None, min=8, max=4096, help="Frame width in pixels (default: the model's; synthvid-tiny 64)."),
    fps: Optional[float] = typer.Option(None, min=0.01, max=1000.0, help="Frames per second of the files (default: the model's)."),
    steps: Optional[int] = typer.Option(None, min=1, max=1000, help="Denoising steps (default: the model's)."),
    guidance: Optional[float] = typer.Option(None, min=0.0, max=100.0, help="Classifier-free guidance scale (default: the model's)."),
    negative_prompt: Optional[str] = typer.Option(None, "--negative-prompt", help="What the clips should not show."),
    batch_size: Optional[int] = typer.Option(
        None, "--batch-size", min=1, max=256, help="Clips per batch (default: 8 for synthvid-tiny, 1 otherwise); never changes a clip."
    ),
    batched_forward: bool = typer.Option(False, "--batched-forward", help=BATCHED_FORWARD_HELP),
    device: str = typer.Option("auto", help="auto (cuda, else mps, else cpu), cpu, cuda, cuda:N or mps."),
    dtype: Dtype = typer.Option(Dtype.auto, help="Weights' precision; auto: fp32 on CPU, bf16 (else fp16) on GPUs."),
    cpu_offload: bool = typer.Option(
        False, "--cpu-offload", help="Keep the model in CPU memory, each part on the GPU only while it runs (needs a GPU)."
    ),
    revision: Optional[str] = typer.Option(None, "--revision", help="Hub revision (branch, tag or commit) of a hub model."),
    threads: Optional[int] = typer.Option(None, "--threads", min=1, max=256, help="CPU threads for torch (default: torch's choice)."),
    crf: int = typer.Option(18, min=0, max=51, help="H.264 quality (0 best, 51 worst)."),
    no_provenance: bool = typer.Option(
        False, "--no-provenance", help="Write clips without watermark, C2PA manifest or repository record (a warning says so)."
    ),
    keys: Optional[Path] = typer.Option(None, "--keys", help="Key directory (default: $SYNTHVID_HOME/keys); keys are made there on first use."),
    repo: Optional[Path] = typer.Option(None, "--repo", help="Manifest repository (default: $SYNTHVID_HOME/manifests.sqlite)."),
    hash_prompt: bool = typer.Option(False, "--hash-prompt", help="Manifests carry the prompt's SHA-256 instead of its text."),
    overwrite: bool = typer.Option(False, "--overwrite", help="Replace an existing run in --out."),
    as_json: bool = typer.Option(False, "--json", help="Print the run summary and rows as JSON."),
) -> None:
    """Generate clips from a prompt or a suite; watermark, sign and register every clip.

    Each clip: generate → watermark (payload: 2-byte generator id + 6-byte content id) → H.264 →
    C2PA sign → register in the manifest repository → one row of results.parquet (prompt, seed, model,
    path, payload, manifest id, seconds per stage). Clip k of prompt i always gets the same seed,
    whatever the batch size. Weights of hub models come from the Hugging Face cache (HF_HUB_OFFLINE=1
    is respected); synthvid-tiny ships with synthvid.

    Example: synthvid generate --suite shapes-smoke --out runs/gen && synthvid verify runs/gen/clips/*.mp4
    """
    from genkit.backends import load_backend, resolve_model
    from genkit.generate import model_prompts, open_provenance, resolve_settings, run_generation

    # Idle OpenMP threads sleep instead of spinning: measured here with a busy neighbour, a synthvid-tiny
    # clip on 2 threads cost 13.5 s of CPU spinning and 3.5 s sleeping (set OMP_WAIT_POLICY to override).
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    if prompt is not None and not prompt.strip():
        raise typer.BadParameter("the prompt is empty", param_hint="PROMPT")
    suite_path, items = prompt_items(prompt, suite)
    source = resolve_model(model)
    model_prompts(source, items, suite_path)  # before keys, weights and folders: a bad prompt costs nothing
    if threads is not None:
        import torch

        torch.set_num_threads(threads)
    err = make_console(stderr=True)
    if no_provenance:
        err.print(
            "[bold yellow]warning:[/] --no-provenance: clips get no watermark, no C2PA manifest and no repository "
            "record; nothing will tie them to this model",
            highlight=False,
        )
    backend = load_backend(source, device=device, dtype=dtype.value, cpu_offload=cpu_offload, revision=revision)
    provenance = None
    if not no_provenance:
        provenance = open_provenance(keys, repo)
        if provenance.created_keys:
            err.print(f"created signing keys in {provenance.key_dir} (trust anchor for verifiers: {provenance.trust_anchor})", highlight=False)
    try:
        settings = resolve_settings(
            backend,
            frames=frames,
            height=height,
            width=width,
            fps=fps,
            steps=steps,
            guidance=guidance,
            negative_prompt=negative_prompt,
            batch_size=batch_size,
            batched_forward=batched_forward,
            crf=crf,
            hash_prompt=hash_prompt,
            base_seed=seed,
        )
        config = {"suite": suite, "suite_file": str(suite_path) if suite_path else None, "prompt": prompt, "dtype": dtype.value}
        with progress_bar(len(items) * num_videos_per_prompt, "generating") as bar:
            run = run_generation(
                out,
                backend,
                items,
                settings,
                provenance,
                samples_per_prompt=num_videos_per_prompt,
                config=config,
                overwrite=overwrite,
                suite_path=suite_path,
                on_clip=lambda row: bar.update(),
            )
    finally:
        if provenance is not None:
            provenance.close()
    summary = {
        **run_summary(run),
        "model": backend.name,
        "model_id": backend.model_id,
        "model_revision": backend.revision,
        "provenance": provenance is not None,
        "repository": str(provenance.repository.path) if provenance else None,
        "trust_anchor": str(provenance.trust_anchor) if provenance else None,
        "seconds_per_clip": run.record.get("seconds_per_clip"),
    }
    if as_json:
        print_json({**summary, "rows": run.rows})
        return
    console = make_console()
    if len(run.rows) <= TABLE_ROWS_SHOWN:
        _print_generate_table(console, run.rows)
    console.print(f"Generated {len(run.rows)} clips with {backend.model_id} into {run.clips_dir} ({summary['seconds_per_clip']} s a clip)")
    if provenance is not None:
        console.print(f"Signed and registered in {provenance.repository.path}; check them: synthvid verify {run.clips_dir}/*.mp4")
        unverified = [row["path"] for row in run.rows if row["watermark_verified"] is False]
        if unverified:
            err.print(
                f"[bold yellow]warning:[/] the watermark could not be read back from {len(unverified)} clips "
                f"(e.g. {unverified[0]}): they are signed and registered, but a copy stripped of its manifest "
                "could not be traced by its pixels",
                highlight=False,
            )
    console.print(f"Table: {run.results_path}  (pandas.read_parquet)")


def _print_generate_table(console, rows: list[dict]) -> None:
    from rich.table import Table

    table = Table(title="Generated clips")
    for column in ("id", "sample", "seed", "prompt", "clip", "payload", "manifest", "s"):
        table.add_column(column, overflow="fold")
    for row in rows:
        table.add_row(
            row["prompt_id"],
            str(row["sample_index"]),
            str(row["seed"]),
            row["prompt"],
            row["path"],
            row["payload"] or "—",
            (row["manifest_id"] or "—").removeprefix("urn:c2pa:"),
            f"{row['total_seconds']:.2f}",
        )
    console.print(table)
