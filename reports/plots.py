"""Matplotlib figures of run tables (``matplotlib.figure.Figure``, no pyplot state: they render the same
in a notebook, in a script and in ``report.html``)."""

from __future__ import annotations

import io

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from reports.data import SCORES, Run, _as_float, score_columns

WIDTH = 7.0


def figure(height: float = 3.2, columns: int = 1) -> tuple[Figure, list]:
    fig = Figure(figsize=(WIDTH, height), layout="constrained")
    axes = fig.subplots(1, columns, squeeze=False)[0]
    return fig, list(axes)


def png_bytes(fig: Figure, dpi: int = 96) -> bytes:
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=dpi)
    return buffer.getvalue()


def leaderboard_bars(board: pd.DataFrame, column: str = "clipsim") -> Figure:
    """One bar per run for ``column`` (higher is better unless :data:`SCORES` says otherwise)."""
    fig, (ax,) = figure(0.6 + 0.4 * max(1, len(board)))
    values = board[column].astype(float) if column in board.columns else pd.Series([np.nan] * len(board))
    labels = [f"{model} ({run})" for model, run in zip(board["model"], board["run"])]
    ax.barh(labels, values.fillna(0), color="#4C72B0")
    ax.invert_yaxis()
    ax.set_xlabel(SCORES.get(column, (column,))[0])
    for y, value in enumerate(values):
        ax.text(0 if np.isnan(value) else value, y, " —" if np.isnan(value) else f" {value:.3f}", va="center", fontsize=8)
    return fig


def breakdown_bars(table: pd.DataFrame, column: str, by: str) -> Figure:
    """``column``'s mean per value of ``by`` (a breakdown table from :func:`reports.data.breakdown`)."""
    fig, (ax,) = figure(max(2.2, 0.32 * len(table) + 0.8))
    values = table[column].astype(float)
    ax.barh([str(i) for i in table.index], values, color="#55A868")
    ax.invert_yaxis()
    ax.set_xlabel(f"{SCORES.get(column, (column,))[0]} (mean)")
    ax.set_ylabel(by.removeprefix("expected_"))
    return fig


def distributions(run: Run, columns: list[str] | None = None) -> Figure:
    """A histogram per score over the run's items."""
    ok = run.ok
    columns = columns or [c for c in score_columns(ok) if ok[c].dtype != bool and c != "match_all" and c != "watermark_found"]
    columns = columns or score_columns(ok)
    count = max(1, len(columns))
    rows = (count + 2) // 3
    fig = Figure(figsize=(WIDTH, 2.2 * rows), layout="constrained")
    axes = fig.subplots(rows, 3, squeeze=False).ravel()
    for ax, column in zip(axes, columns):
        values = _as_float(ok[column]).dropna()
        ax.hist(values, bins=min(20, max(5, len(values) // 2)), color="#8172B2")
        ax.set_title(SCORES.get(column, (column,))[0], fontsize=8)
        ax.tick_params(labelsize=7)
    for ax in axes[len(columns) :]:
        ax.set_axis_off()
    return fig


def robustness_bars(table: pd.DataFrame) -> Figure:
    """Watermark detection rate per condition (a table from :func:`reports.data.watermark_robustness`)."""
    fig, (ax,) = figure(0.6 + 0.35 * max(1, len(table)))
    ax.barh(table["condition"], table["detected"], color="#C44E52")
    ax.invert_yaxis()
    ax.set_xlim(0, 1)
    ax.set_xlabel("payload read back (share of clips)")
    return fig


def roc_plot(curve: pd.DataFrame, area: float | None) -> Figure:
    fig, (ax,) = figure(3.4)
    ax.plot([0, 1], [0, 1], ls="--", color="grey", lw=1)
    if not curve.empty:
        ax.plot(
            np.concatenate([curve["fpr"], [1.0]]),
            np.concatenate([curve["tpr"], [1.0]]),
            color="#4C72B0",
            label=f"AUC {area:.3f}" if area is not None else None,
        )
        ax.legend(loc="lower right")
    ax.set_xlabel("false positive rate (reference clips)")
    ax.set_ylabel("true positive rate (generated clips)")
    ax.set_aspect("equal")
    return fig


def contact_sheet(strips: list[tuple[str, np.ndarray]], columns: int = 4) -> Figure:
    """Clips as rows of frames: ``strips`` holds ``(label, frames [k, H, W, 3] uint8)`` each."""
    rows = (len(strips) + columns - 1) // columns
    fig = Figure(figsize=(WIDTH, 1.25 * max(1, rows)), layout="constrained")
    axes = fig.subplots(max(1, rows), columns, squeeze=False).ravel()
    for ax, (label, frames) in zip(axes, strips):
        ax.imshow(np.concatenate(list(frames), axis=1), interpolation="nearest")
        ax.set_title(label, fontsize=6)
    for ax in axes:
        ax.set_axis_off()
    return fig
