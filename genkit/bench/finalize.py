"""The end of a benchmark run: merge the workers' ledgers and manifest repositories, export
``results.parquet`` and ``reference.parquet``, compute the set-level metrics (FVD over every item's
features in item order, means and breakdowns, the detector's ROC AUC, domain notes) into
``metrics.json``, and close ``run.json``."""

from __future__ import annotations

import logging
import math

from genkit.bench.options import NO_REFERENCE
from genkit.bench.workers import Workers
from genkit.errors import BenchError, LedgerError
from genkit.ledger import LEDGER_FILE, Ledger, part_ledgers, remove_ledger
from genkit.runfolder import RunFolder
from provenance.runfolder import (
    ITEM_FAILED,
    ITEM_OK,
    METRICS_FILE,
    REFERENCE_FILE,
    RUN_COMPLETE,
    RUN_INCOMPLETE,
    STATUS_COLUMN,
    ok_rows,
    write_parquet_atomic,
)

log = logging.getLogger(__name__)

# Columns of the per-item row that are measurements (means and breakdowns are taken over these).
SCORE_COLUMNS = (
    "clipsim",
    "clip_temp",
    "subject_consistency",
    "background_consistency",
    "temporal_flickering",
    "warping_error",
    "motion_magnitude",
    "match_all",
    "match_background",
    "match_color",
    "match_shape",
    "match_motion",
    "watermark_found",
    "p_synthetic",
)
BREAKDOWN_COLUMNS = ("dimension", "expected_background", "expected_color", "expected_shape", "expected_motion")


def finalize(run: RunFolder, workers: Workers) -> dict:
    """Merge part ledgers into ledger.sqlite (main worker), export results.parquet, compute set-level
    metrics and write metrics.json and run.json. Every rank of a torchrun job calls this (the barrier
    after the merge is collective); only the main worker computes and writes."""
    config = run.record.get("config", {})
    main_ledger = run.root / LEDGER_FILE
    if workers.is_main:
        with Ledger(main_ledger) as ledger:
            for attempt in range(2):
                parts = part_ledgers(run.root)
                try:
                    if parts:
                        ledger.merge(parts)
                    break
                except LedgerError:  # two shards finishing together: the other merged and removed a part
                    if attempt:
                        raise
            ledger.settle()
        for part in parts:
            remove_ledger(part)
        merge_repositories(run, config)
    workers.barrier()
    with Ledger(main_ledger, readonly=True) as ledger:
        rows = ledger.rows()
        item_features = ledger.item_features()
        reference_features = ledger.reference_features()
        notes = ledger.meta("notes") or {}
        references = ledger.reference_rows()
    fvd = set_level_fvd(config, item_features, reference_features, workers)
    if not workers.is_main:
        return {}
    metrics = set_level_metrics(rows, config)
    if fvd is not None:
        metrics["fvd"] = fvd
    auc = detector_auc(
        [row.get("p_synthetic") for row in rows if row[STATUS_COLUMN] == ITEM_OK], [reference["p_synthetic"] for reference in references]
    )
    if auc is not None:
        metrics["detector_auc"] = auc
    if notes:
        metrics["notes"] = notes
    domain = bench_domain_notes(config, rows, references)
    if domain:
        metrics["domain"] = domain
    run.write_json_atomic(METRICS_FILE, metrics)
    if references:
        write_parquet_atomic(references, run.root / REFERENCE_FILE, error=BenchError)
    run.rows = rows
    ok = sum(row[STATUS_COLUMN] == ITEM_OK for row in rows)
    planned = int(config.get("items") or len(rows))
    status = RUN_COMPLETE if ok == planned else RUN_INCOMPLETE
    if status == RUN_COMPLETE:
        remove_partial_clips(run)
    run.close(
        status,
        items=planned,
        items_ok=ok,
        items_failed=sum(row[STATUS_COLUMN] == ITEM_FAILED for row in rows),
        items_missing=planned - len(rows),
        workers=workers.world if workers.distributed else 1,
    )
    return metrics


def merge_repositories(run: RunFolder, config: dict) -> int:
    """Merge the workers' manifest repositories of the run folder into the run's ``--repo`` and remove
    them; the records added. Two shards finishing together may both get here: the second finds a part
    gone (merged by the first) and looks again."""
    from provenance.errors import RepositoryError
    from provenance.repository import ManifestRepository, part_repositories, remove_repository

    for attempt in range(2):
        parts = part_repositories(run.root)
        if not parts:
            return 0
        main = (config.get("provenance") or {}).get("repository")
        if not main:
            raise BenchError(parts[0], "is a worker's manifest repository, but the run's config names no main repository")
        try:
            with ManifestRepository(main) as repository:
                added = repository.merge(parts)
            break
        except RepositoryError:
            if attempt or all(part.is_file() for part in parts):
                raise
    for part in parts:
        remove_repository(part)
    log.info("merged %d worker repositories into %s (%d records added)", len(parts), main, added)
    return added


def remove_partial_clips(run: RunFolder) -> None:
    """Delete the hidden temporary files of clips a killed process was writing (credential_clip and
    write_video finish a clip by renaming one of them); only once no worker is left running."""
    for path in run.clips_dir.glob(".*.mp4*"):
        path.unlink(missing_ok=True)


def set_level_fvd(config: dict, item_features: list, reference_features: list, workers: Workers) -> dict | None:
    """FVD of the items against the reference set through :class:`eval.fvd.FrechetVideoDistance`, over
    every item's features from the merged ledger in item order. Every process computes the same sums in
    the same order, so FVD does not depend on the worker layout (a round-robin share per rank synced by
    torchmetrics summed in another order: 4e-5 apart on 6 items); ranks other than the main one skip it."""
    import warnings

    import numpy as np
    import torch

    if "fvd" not in (config.get("metrics") or []) or config.get("reference") in (None, NO_REFERENCE):
        return None
    if not workers.is_main:
        return None
    from eval.fvd import FrechetVideoDistance

    metric = FrechetVideoDistance(config.get("fvd_extractor"), keep_features=False, sync_on_compute=False)
    fake = [np.frombuffer(blob, np.float32) for _, _, blob in item_features]
    real = [np.frombuffer(blob, np.float32) for _, blob in reference_features]
    if fake:
        metric.update(features=torch.from_numpy(np.stack(fake)), real=False)
    if real:
        metric.update(features=torch.from_numpy(np.stack(real)), real=True)
    entry = {
        "label": metric.label,
        "extractor": metric.extractor.name,
        "protocol": metric.protocol.name,
        "reference": config.get("reference"),
        "n_real": len(real),
        "n_fake": len(fake),
    }
    if min(len(real), len(fake)) < 2:
        entry.update(value=None, warning=f"FVD needs at least 2 real and 2 fake clips, got {len(real)} real and {len(fake)} fake")
        return entry
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        value = metric.compute()
    entry["value"] = float(value["fvd"])
    if caught:
        entry["warning"] = " ".join(str(caught[0].message).split())
    return entry


def set_level_metrics(rows: list[dict], config: dict) -> dict:
    """Counts, means of every per-item score and breakdowns per prompt dimension and shapes-world attribute."""
    import pandas as pd

    table = pd.DataFrame(rows)
    ok = ok_rows(table) if len(table) else table
    out: dict = {
        "items": int(config.get("items") or len(table)),
        "items_ok": int(len(ok)),
        "items_failed": int((table[STATUS_COLUMN] == ITEM_FAILED).sum()) if len(table) else 0,
        "model": config.get("model_id"),
        "suite": config.get("suite"),
    }
    scores = [column for column in SCORE_COLUMNS if column in ok.columns and ok[column].notna().any()]
    wm_columns = sorted(column for column in ok.columns if column.startswith("wm_"))
    out["means"] = {column: _mean(ok[column]) for column in scores + wm_columns}
    if "verdict" in ok.columns:
        out["verdicts"] = {str(key): int(value) for key, value in ok["verdict"].value_counts().items()}
    if "dynamic" in ok.columns:
        out["means"]["dynamic_degree"] = _mean(ok["dynamic"])
    breakdowns = {}
    for column in BREAKDOWN_COLUMNS:
        if column in ok.columns and ok[column].notna().any() and scores:
            grouped = ok.groupby(column)[scores].agg(lambda values: _mean(values))
            breakdowns[column] = {
                str(key): {name: _clean(value) for name, value in values.items()} for key, values in grouped.to_dict(orient="index").items()
            }
    out["breakdowns"] = breakdowns
    return out


def detector_auc(synthetic: list, reference: list) -> dict | None:
    """ROC AUC of P(synthetic) separating the generated clips from the reference clips (the
    Mann-Whitney statistic, ties counted half), or ``None`` without scores on both sides."""
    from detectors.metrics import roc_auc

    positives = [v for v in synthetic if v is not None]
    negatives = [v for v in reference if v is not None]
    if not positives or not negatives:
        return None
    value = roc_auc([1] * len(positives) + [0] * len(negatives), positives + negatives)
    return {"value": value, "n_generated": len(positives), "n_reference": len(negatives), "note": "reference clips stand for real ones"}


def _mean(values) -> float | None:
    values = values.dropna()
    if not len(values):
        return None
    return _clean(float(values.astype(float).mean()))


def _clean(value):
    return None if value is None or (isinstance(value, float) and math.isnan(value)) else value


def bench_domain_notes(config: dict, rows: list[dict], references: list[dict]) -> dict[str, str]:
    """metrics.json's ``domain``: per metric computed with an embedded encoder, whether the items (and, for
    FVD, the reference clips) are shapes-world clips (eval.domain)."""
    from eval.domain import domain_notes, embedded_metrics

    metrics = config.get("metrics") or []
    embedded = embedded_metrics(metrics, clip_model=config.get("clip_model"), fvd_extractor=config.get("fvd_extractor"))
    if not embedded:
        return {}
    judged = [row["in_domain"] for row in rows if row.get(STATUS_COLUMN) == ITEM_OK and row.get("in_domain") is not None]
    known = bool(judged) or not any(row.get(STATUS_COLUMN) == ITEM_OK for row in rows)
    scored = dict.fromkeys(embedded, len(judged))
    outside = dict.fromkeys(embedded, sum(not value for value in judged))
    if "fvd" in embedded and references:
        if str(config.get("reference") or "").startswith("world:"):
            scored["fvd"] += len(references)  # renders of a world suite: in the domain
        else:  # a folder of clips: look at each (its first 32 frames)
            from genkit.world.analyze import is_world_clip
            from provenance.errors import MediaError
            from provenance.media import read_video

            for reference in references:
                try:
                    world = is_world_clip(read_video(reference["source"], max_frames=32).frames)
                except MediaError:
                    continue
                scored["fvd"] += 1
                outside["fvd"] += not world
    return domain_notes(embedded, scored, outside, known)
