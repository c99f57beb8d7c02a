"""Run folders as pandas tables: what the notebooks and ``synthvid report`` show.

A benchmark run folder (``synthvid bench``) holds ``results.parquet`` (one row per item), ``metrics.json``
(set-level), ``run.json`` (config and provenance of the run), ``eval.json`` after ``synthvid eval`` and,
when a reference set was scored, ``reference.parquet``. They are read through the run-folder contract
(:func:`provenance.runfolder.read_run`, with pandas); nothing heavier is imported.

    run = load_run("runs/smoke")
    leaderboard([run, load_run("runs/other")])
    breakdown(run, "expected_color")
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from provenance.runfolder import RunFiles, read_run
from reports.errors import ReportError

RUN_ENV = "SYNTHVID_RUN"  # the notebooks' run folder when no parameter is injected
RUNS_ENV = "SYNTHVID_RUNS"  # the leaderboard's run folders, separated by os.pathsep
# Per-item scores, what they mean and which way is better (True: higher).
SCORES = {
    "clipsim": ("CLIPSIM (prompt adherence, cosine)", True),
    "match_all": ("world analyzer: all four attributes right", True),
    "clip_temp": ("CLIP-Temp (frame-to-frame similarity)", True),
    "subject_consistency": ("subject consistency", True),
    "background_consistency": ("background consistency", True),
    "temporal_flickering": ("temporal flickering (1 = none)", True),
    "warping_error": ("warping error", False),
    "motion_magnitude": ("motion magnitude (px/frame)", None),
    "watermark_found": ("watermark read back", True),
    "p_synthetic": ("detector P(synthetic)", None),
}
ATTRIBUTES = ("background", "color", "shape", "motion")


@dataclass
class Run(RunFiles):
    """One run folder, loaded: ``root``, ``results``, ``metrics``, ``record``, ``reference``, ``evaluation``
    (the contract's :class:`~provenance.runfolder.RunFiles`; ``ok`` is the finished items) and what the
    notebooks and the report show of it."""

    @property
    def domain(self) -> dict:
        """Per metric, whether the shapes-world encoders scored clips of their domain (bench's
        metrics.json, else the latest `synthvid eval` of the folder)."""
        return self.metrics.get("domain") or self.evaluation.get("domain") or {}

    @property
    def name(self) -> str:
        return self.root.name

    @property
    def model(self) -> str:
        config = self.record.get("config") or {}
        return str(config.get("model_id") or config.get("model") or self.name)


def run_dir_parameter(default: str = "runs/smoke") -> Path:
    """A notebook's run folder: ``$SYNTHVID_RUN`` if set, else ``default``."""
    return Path(os.environ.get(RUN_ENV) or default)


def load_run(root: str | Path) -> Run:
    """Read a run folder (:func:`provenance.runfolder.read_run`); a missing or damaged file is a one-line
    :class:`ReportError` naming it."""
    return Run(**vars(read_run(root, error=ReportError)))


def score_columns(table: pd.DataFrame) -> list[str]:
    """The per-item scores present (and not all empty) in ``table``, in :data:`SCORES` order."""
    return [c for c in SCORES if c in table.columns and table[c].notna().any()]


def robustness_columns(table: pd.DataFrame) -> list[str]:
    return sorted(c for c in table.columns if c.startswith("wm_") and table[c].notna().any())


def _as_float(series: pd.Series) -> pd.Series:
    return pd.to_numeric(series.astype("float64"), errors="coerce") if series.dtype == object else series.astype("float64")


def summary(run: Run) -> dict:
    """One leaderboard row: items, FVD, the mean of every score, the share of TRUSTED verdicts."""
    ok = run.ok
    row = {"run": run.name, "model": run.model, "suite": (run.record.get("config") or {}).get("suite"), "items": len(run.results), "ok": len(ok)}
    fvd = (run.metrics or {}).get("fvd") or {}
    row["fvd"] = fvd.get("value")
    for column in score_columns(ok):
        row[column] = float(_as_float(ok[column]).mean())
    if "verdict" in ok.columns and len(ok):
        row["trusted"] = float((ok["verdict"] == "TRUSTED").mean())
    auc = (run.metrics or {}).get("detector_auc") or {}
    if auc:
        row["detector_auc"] = auc.get("value")
    return row


def leaderboard(runs: list[Run], sort_by: str = "clipsim") -> pd.DataFrame:
    """One row per run, best first by ``sort_by`` (when present)."""
    table = pd.DataFrame([summary(run) for run in runs])
    if sort_by in table.columns:
        table = table.sort_values(sort_by, ascending=False, na_position="last")
    return table.reset_index(drop=True)


def breakdown(run: Run, by: str) -> pd.DataFrame:
    """Mean of every score per value of ``by`` (``dimension``, ``prompt_id``, ``expected_color``, ...), with counts."""
    ok = run.ok
    if by not in ok.columns or not ok[by].notna().any():
        return pd.DataFrame()
    scores = score_columns(ok)
    numeric = ok[scores].apply(_as_float)
    numeric[by] = ok[by]
    table = numeric.groupby(by).mean()
    table.insert(0, "items", ok.groupby(by).size())
    return table


def breakdown_columns(run: Run) -> list[str]:
    """The columns worth a breakdown in this run: the suite's dimension and the shapes-world attributes."""
    ok = run.ok
    return [c for c in ("dimension", *(f"expected_{a}" for a in ATTRIBUTES)) if c in ok.columns and ok[c].notna().any()]


def per_prompt(run: Run) -> pd.DataFrame:
    """Mean scores per prompt (over its samples), the prompt text beside its id."""
    table = breakdown(run, "prompt_id")
    if table.empty:
        return table
    prompts = run.ok.drop_duplicates("prompt_id").set_index("prompt_id")["prompt"]
    table.insert(0, "prompt", prompts.reindex(table.index))
    return table


def watermark_robustness(run: Run) -> pd.DataFrame:
    """Share of clips whose watermark payload is read back, as delivered and after each attack."""
    ok = run.ok
    rows = []
    if "watermark_found" in ok.columns and ok["watermark_found"].notna().any():
        rows.append({"condition": "as delivered (H.264 file)", "detected": float(_as_float(ok["watermark_found"]).mean()), "clips": len(ok)})
    for column in robustness_columns(ok):
        rows.append(
            {
                "condition": column.removeprefix("wm_").replace("_", " "),
                "detected": float(_as_float(ok[column]).mean()),
                "clips": int(ok[column].notna().sum()),
            }
        )
    return pd.DataFrame(rows)


def roc_curve(run: Run) -> pd.DataFrame:
    """The detector's ROC: generated clips (positives) against the reference clips (negatives), one row
    per threshold (false and true positive rates); empty without scores on both sides."""
    positives = _as_float(run.ok["p_synthetic"]).dropna().to_numpy() if "p_synthetic" in run.ok.columns else np.array([])
    negatives = np.array([])
    if run.reference is not None and "p_synthetic" in run.reference.columns:
        negatives = _as_float(run.reference["p_synthetic"]).dropna().to_numpy()
    if not len(positives) or not len(negatives):
        return pd.DataFrame(columns=["threshold", "fpr", "tpr"])
    thresholds = np.unique(np.concatenate([positives, negatives, [np.inf]]))[::-1]
    return pd.DataFrame(
        {
            "threshold": thresholds,
            "fpr": [(negatives >= t).mean() for t in thresholds],
            "tpr": [(positives >= t).mean() for t in thresholds],
        }
    )


def detector_auc(run: Run) -> float | None:
    """The detector's ROC AUC as the bench computed it (metrics.json ``detector_auc``: one producer)."""
    return ((run.metrics or {}).get("detector_auc") or {}).get("value")


def stage_seconds(run: Run) -> pd.DataFrame:
    """Median seconds per item of every recorded stage (generate, watermark, sign, verify, metrics ...)."""
    ok = run.ok
    columns = [c for c in ok.columns if c.endswith("_seconds") and c not in ("total_seconds",) and ok[c].notna().any()]
    return pd.DataFrame(
        {
            "stage": [c.removesuffix("_seconds") for c in columns],
            "median_s": [float(_as_float(ok[c]).median()) for c in columns],
            "total_s": [float(_as_float(ok[c]).sum()) for c in columns],
        }
    )
