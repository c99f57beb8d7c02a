"""The run loop of ``synthvid bench``: plan the items, deal them to this worker, generate in batches,
deliver and score each clip, commit one ledger row per item; then finalize (:mod:`genkit.bench.finalize`).

Per item: the backend's frames ─► :func:`genkit.generate.finish_clip` (watermark → H.264 → read the
mark back → C2PA sign → register) ─► one :class:`~genkit.bench.record.ItemRecord` (the delivered file's
pixels as that check decoded them, its hash, its watermark reading, the parsed prompt) ─► every scorer
of :mod:`genkit.bench.scoring`, verify included ─► one atomic ledger commit.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path

from genkit.backends import TinyBackend, WorldBackend
from genkit.bench.finalize import finalize
from genkit.bench.options import NO_REFERENCE, BenchOptions, bench_config
from genkit.bench.record import ItemRecord, make_record, parse_specs
from genkit.bench.reference import add_reference_scores
from genkit.bench.scoring import ItemScoring, ScoringContext
from genkit.bench.workers import Workers
from genkit.errors import BenchError
from genkit.generate import (
    ClipRequest,
    Provenance,
    Settings,
    batches,
    check_watermark_fits,
    finish_clip,
    generate_batch,
    model_prompts,
    plan_clips,
)
from genkit.ledger import LEDGER_FILE, Ledger, item_key, part_ledgers
from genkit.runfolder import RunFolder, first_difference
from genkit.suites import SuiteItem
from provenance.runfolder import ERROR_COLUMN, ITEM_FAILED, ITEM_OK, STATUS_COLUMN
from provenance.timing import StageTimer

log = logging.getLogger(__name__)


@dataclass
class BenchResult:
    run: RunFolder
    workers: Workers
    total: int
    done_before: int
    made: int = 0
    failed: int = 0
    finalized: bool = False
    metrics: dict = field(default_factory=dict)
    rows: list[dict] = field(default_factory=list)
    seconds: dict = field(default_factory=dict)  # wall time of setup, reference, items, finalize
    cpu_seconds: dict = field(default_factory=dict)  # process CPU time of the same stages
    scoring_cpu_seconds: dict = field(default_factory=dict)  # CPU time of the scorers' stages, summed over items


@dataclass
class ItemContext:
    """What every item of a run shares: where it goes, what makes it, how it is scored and recorded."""

    run: RunFolder
    backend: object
    settings: Settings
    provenance: Provenance | None
    scoring: ItemScoring
    ledger: Ledger
    workers: Workers
    paths: dict[str, Path]  # item key → clip file
    specs: list  # prompt index → parsed shapes-world prompt (or None)


def run_bench(
    out: str | Path,
    backend,
    items: list[SuiteItem],
    settings: Settings,
    provenance: Provenance | None,
    options: BenchOptions,
    *,
    workers: Workers = Workers(),
    overwrite: bool = False,
    on_start: Callable[[int], None] | None = None,
    on_item: Callable[[dict], None] | None = None,
) -> BenchResult:
    """Run (or resume) the benchmark into ``out`` for this worker's items; the main worker (or a single
    process) then merges the ledgers and writes results.parquet, metrics.json and run.json."""
    timer = StageTimer()
    texts = model_prompts(backend, items, options.suite_file)
    specs = parse_specs(items)
    if provenance is not None:
        check_watermark_fits(settings.height, settings.width, provenance.watermark_key)
    if overwrite and workers.kind == "shard":
        raise BenchError(out, "--overwrite with --num-shards would delete the other shards' work; remove the folder first")
    requests = plan_clips(items, texts, options.samples_per_prompt, settings.base_seed)
    config = bench_config(options, items, backend, settings, provenance)
    run = open_run_folder(out, config, workers, overwrite)
    paths = {item_key(r.prompt_index, r.sample_index): run.clip_path(r.clip_name) for r in requests}  # plan order: stable names
    main_provenance = provenance
    if provenance is not None and workers.kind != "single":  # one repository file per worker (see genkit.bench)
        from provenance.repository import ManifestRepository, part_repository_name

        provenance = replace(provenance, repository=ManifestRepository(run.root / part_repository_name(workers.kind, workers.rank, workers.world)))
    scoring = ItemScoring(
        ScoringContext(
            options, provenance, world_prompts=all(spec is not None for spec in specs), world_model=isinstance(backend, (TinyBackend, WorldBackend))
        )
    )
    done, references_done = finished_items(run.root)
    workers.barrier()  # torchrun: every rank has read the same ledgers before any rank writes
    if workers.distributed:
        # Ranks deal out what is left, so a resumed run keeps them evenly loaded.
        left = [r for r in requests if item_key(r.prompt_index, r.sample_index) not in done]
        pending = [left[position] for position in workers.mine(len(left))]
        done_before = len(done) if workers.is_main else 0
    else:
        # Shards start at different times and may not see the same ledgers: they deal by plan position.
        mine = [requests[position] for position in workers.mine(len(requests))]
        pending = [r for r in mine if item_key(r.prompt_index, r.sample_index) not in done]
        done_before = len(mine) - len(pending)
    result = BenchResult(
        run, workers, len(requests), done_before=done_before, seconds=timer.wall, cpu_seconds=timer.cpu, scoring_cpu_seconds=scoring.cpu_seconds
    )
    if on_start:
        on_start(done_before + len(pending))
    lap = timer.lap
    with Ledger(run.root / workers.ledger_name) as ledger:
        ledger.set_meta("config", config)
        ledger.set_meta("notes", scoring.notes)
        lap("setup")
        if scoring.scores_references and options.resolved_reference() != NO_REFERENCE:
            add_reference_scores(ledger, references_done, options, settings, scoring, workers)
        lap("reference")
        for _ in range(result.done_before):
            if on_item:
                on_item({})
        context = ItemContext(run, backend, settings, provenance, scoring, ledger, workers, paths, specs)
        for batch in batches(pending, settings.batch_size):
            try:
                clips, generate_seconds = generate_batch(backend, batch, settings)
            except Exception as exc:  # a model failure fails its batch; the run goes on
                log.debug("batch failed", exc_info=True)
                clips, generate_seconds = [exc] * len(batch), [0.0] * len(batch)
            for request, frames, seconds in zip(batch, clips, generate_seconds):
                row = commit_item(context, request, frames, seconds)
                result.made += 1
                result.failed += row[STATUS_COLUMN] == ITEM_FAILED
                if on_item:
                    on_item(row)
    if provenance is not main_provenance:
        provenance.repository.close()
    lap("items")
    workers.barrier()  # every rank's ledger and repository is complete before rank 0 merges
    if workers.kind == "single" or workers.distributed:
        result.metrics = finalize(run, workers)
        result.finalized = workers.is_main
    else:
        done, _ = finished_items(run.root)
        if len(done) == len(requests):  # the last shard to finish merges
            result.metrics = finalize(run, Workers())
            result.finalized = True
    lap("finalize")
    if result.finalized:
        result.rows = run.rows
    return result


def deliver_item(context: ItemContext, request: ClipRequest, frames, generate_seconds: float) -> ItemRecord:
    """Write, credential and measure one generated clip: its :class:`ItemRecord` (row without scores)."""
    path = context.paths[item_key(request.prompt_index, request.sample_index)]
    provenance = context.provenance
    if provenance is not None:  # a killed run may have registered this item's clip before its commit
        from provenance.sign import forget_undelivered

        for payload in forget_undelivered(path, provenance.repository):
            log.info("%s: removed repository record %s of a clip an interrupted run never committed", path.name, payload)
    timer = StageTimer()
    finished = finish_clip(context.run, context.backend, request, frames, context.settings, provenance, path, generate_seconds, keep_decoded=True)
    timer.lap("provenance")
    record = make_record(finished, request, path, context.specs[request.prompt_index], None if provenance is None else provenance.watermark_key)
    timer.lap("decode")
    finished.row.update({f"{stage}_seconds": round(seconds, 4) for stage, seconds in timer.wall.items()})
    return record


def commit_item(context: ItemContext, request: ClipRequest, frames, generate_seconds: float) -> dict:
    """Deliver, score and commit one item; any failure is committed as the item's error."""
    key = item_key(request.prompt_index, request.sample_index)
    record = None
    try:
        if isinstance(frames, BaseException):
            raise frames
        record = deliver_item(context, request, frames, generate_seconds)
        row = record.row
        timer = StageTimer()
        row.update(context.scoring.score(record))
        row["metrics_seconds"] = round(timer.lap("metrics"), 4)
        error = None
    except Exception as exc:
        log.debug("%s failed", key, exc_info=True)
        error = f"{type(exc).__name__}: {' '.join(str(exc).split())}"[:500]
        log.warning("item %s (%s) failed: %s", key, request.item.prompt_id, error)
        backend = context.backend
        row = {
            "prompt_id": request.item.prompt_id,
            "prompt": request.item.prompt,
            "dimension": request.item.dimension,
            "prompt_index": request.prompt_index,
            "sample_index": request.sample_index,
            "seed": request.seed,
            "model": backend.name,
            "model_id": backend.model_id,
            "path": context.run.relative(context.paths[key]),
        }
    workers = context.workers
    row["worker"] = workers.name
    features = record.fvd_features if record is not None and error is None else None
    timer = StageTimer()
    context.ledger.record(request.prompt_index, request.sample_index, row, error=error, features=features, worker=workers.name)
    row["ledger_seconds"] = round(timer.lap("ledger"), 4)  # reported, not stored: the commit is done
    row[STATUS_COLUMN], row[ERROR_COLUMN] = (ITEM_FAILED, error) if error else (ITEM_OK, None)
    return row


def open_run_folder(out: str | Path, config: dict, workers: Workers, overwrite: bool) -> RunFolder:
    """The main worker creates or reopens the folder; torchrun's other ranks wait, then check the config."""
    if workers.distributed and not workers.is_main:
        workers.barrier()
        run = RunFolder.open(out)
        difference = first_difference(run.record.get("config"), json.loads(json.dumps(config, default=str)))
        if difference:
            raise BenchError(out, f"rank {workers.rank} sees another config than rank 0 ({difference})")
        return run
    try:
        run = RunFolder.create(out, config, overwrite=overwrite, resume=True)
    finally:
        if workers.distributed:
            workers.barrier()
    return run


def finished_items(root: Path) -> tuple[set[str], set[int]]:
    """Items finished (status ok) and reference features present in any ledger of the run folder."""
    done: set[str] = set()
    references: set[int] = set()
    for path in [root / LEDGER_FILE, *part_ledgers(root)]:
        if path.is_file():
            with Ledger(path, readonly=True) as ledger:
                done |= ledger.finished_keys()
                references |= ledger.reference_indices()
    return done, references


def merge_run(root: str | Path) -> BenchResult:
    """``synthvid bench merge``: fold every shard ledger into ledger.sqlite and write the set-level
    results, whatever is still missing (run.json's status says ``incomplete`` then)."""
    run = RunFolder.open(root)
    config = run.record.get("config") or {}
    if config.get("job") != "bench":
        raise BenchError(root, "is not a benchmark run folder (its run.json is not from synthvid bench)")
    if not (run.root / LEDGER_FILE).is_file() and not part_ledgers(run.root):
        raise BenchError(root, "holds no ledger (ledger.sqlite or ledger.shard*-of-*.sqlite) to merge")
    metrics = finalize(run, Workers())
    total = int(config.get("items") or 0)
    result = BenchResult(run, Workers(), total, done_before=sum(row[STATUS_COLUMN] == ITEM_OK for row in run.rows), finalized=True)
    result.metrics, result.rows = metrics, run.rows
    return result
