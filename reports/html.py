"""``report.html``: one static page per run folder — tables, matplotlib plots (PNG, embedded as data
URIs, so the file travels alone) and a contact sheet of clips. Written by ``synthvid report RUN_DIR``:
:func:`build_report` is the one producer of the run folder's ``report.html`` (:mod:`provenance.runfolder`)."""

from __future__ import annotations

import base64
import html
import logging
from datetime import datetime, timezone
from pathlib import Path

import pandas as pd

from provenance.files import atomic_path
from provenance.runfolder import ITEM_OK, REPORT_FILE, STATUS_COLUMN
from reports import data, plots
from reports.errors import ReportError

log = logging.getLogger(__name__)

CONTACT_CLIPS = 16
STYLE = """
body { font-family: system-ui, sans-serif; margin: 24px auto; max-width: 1100px; color: #222; background: #fff; }
h1 { font-size: 22px; } h2 { font-size: 17px; border-bottom: 2px solid #4C72B0; padding-bottom: 3px; margin-top: 28px; }
table.data { border-collapse: collapse; font-size: 12px; margin: 8px 0; display: block; overflow-x: auto; max-width: 100%; }
table.data th { background: #dde4f0; text-align: left; padding: 3px 8px; }
table.data td { border-top: 1px solid #ccc; padding: 3px 8px; text-align: right; }
img { max-width: 100%; display: block; margin: 8px 0; }
.note { color: #555; font-size: 12px; }
.warn { color: #8a1c1c; background: #fdecea; border-left: 4px solid #c0392b; padding: 4px 8px; font-size: 13px; }
"""


def _table(frame: pd.DataFrame, index: bool = True) -> str:
    if frame is None or frame.empty:
        return '<p class="note">nothing to show</p>'
    return frame.to_html(classes="data", border=0, index=index, float_format=lambda v: f"{v:.4g}", na_rep="—")


def _image(fig) -> str:
    encoded = base64.b64encode(plots.png_bytes(fig)).decode()
    return f'<img alt="plot" src="data:image/png;base64,{encoded}">'


def _section(title: str, *parts: str) -> str:
    return f"<h2>{html.escape(title)}</h2>\n" + "\n".join(parts)


def _note(text: str) -> str:
    return f'<p class="note">{html.escape(text)}</p>'


def domain_notes(domain: dict) -> list[str]:
    """A run's domain notes (:attr:`reports.data.Run.domain`, per metric computed with an encoder
    trained on the shapes world only): out-of-domain and unknown-domain notes as warnings, in-domain
    ones as plain notes."""
    out = []
    for metric, note in domain.items():
        text = html.escape(f"{metric}: {note}")
        out.append(f'<p class="note">{text}</p>' if str(note).startswith("in-domain") else f'<p class="warn">{text}</p>')
    return out


def contact_strips(run: data.Run, count: int = CONTACT_CLIPS, frames: int = 3) -> list[tuple[str, object]]:
    """First, middle and last frame of up to ``count`` clips (one per prompt first), read with
    :func:`provenance.media.read_video`; unreadable clips are skipped with a log line."""
    import numpy as np

    from provenance.errors import MediaError
    from provenance.media import read_video

    ok = run.ok
    if "path" not in ok.columns:
        return []
    chosen = ok.drop_duplicates("prompt_id") if "prompt_id" in ok.columns else ok
    chosen = chosen.head(count)
    strips = []
    for _, row in chosen.iterrows():
        try:
            video = read_video(run.root / row["path"])
        except MediaError as exc:
            log.warning("contact sheet: %s", exc)
            continue
        picks = np.unique(np.linspace(0, video.num_frames - 1, frames).round().astype(int))
        strips.append((str(row.get("prompt_id", row["path"])), video.frames[picks]))
    return strips


def build_report(root: str | Path, out: str | Path | None = None) -> Path:
    """Write the report of the run folder ``root`` (default ``root/report.html``); returns its path."""
    run = data.load_run(root)
    out = Path(out) if out is not None else run.root / REPORT_FILE
    config = run.record.get("config") or {}
    metrics = run.metrics or {}
    parts = [f"<h1>synthvid report: {html.escape(run.model)} on {html.escape(str(config.get('suite')))}</h1>"]
    git = run.record.get("git") or {}
    facts = {
        "run folder": str(run.root),
        "status": run.record.get("status"),
        "items": f"{len(run.ok)} of {len(run.results)} finished",
        "model": f"{run.model} @ {config.get('model_revision')}",
        "seed": config.get("seed"),
        "settings": ", ".join(f"{k}={v}" for k, v in (config.get("settings") or {}).items() if v is not None),
        "git": f"{git.get('commit', '?')[:12]}{' (dirty)' if git.get('dirty') else ''}",
        "started": run.record.get("started"),
        "report written": datetime.now(timezone.utc).isoformat(timespec="seconds"),
    }
    parts.append(_table(pd.DataFrame({"": list(facts.values())}, index=list(facts.keys()))))

    board = data.leaderboard([run])
    summary = board.drop(columns=["run", "model", "suite"]).T.rename(columns={0: "value"})
    fvd = metrics.get("fvd") or {}
    small_set = " With fewer than 256 clips a set FVD is biased upward (~1/N): compare runs at equal N." if fvd.get("warning") else ""
    fvd_note = (
        _note(f"{fvd.get('label')}: {fvd.get('n_fake')} generated vs {fvd.get('n_real')} reference clips ({fvd.get('reference')}).{small_set}")
        if fvd
        else ""
    )
    parts.append(_section("Summary", _table(summary), fvd_note, *domain_notes(run.domain)))
    means = {k: v for k, v in (metrics.get("means") or {}).items() if v is not None}
    if means:
        parts.append(_image(plots.leaderboard_bars(pd.DataFrame([{"run": run.name, "model": run.model, **means}]), "clipsim")))

    for column in data.breakdown_columns(run):
        table = data.breakdown(run, column)
        charted = "clipsim" if "clipsim" in table.columns else (table.columns[1] if len(table.columns) > 1 else None)
        parts.append(
            _section(f"By {column.removeprefix('expected_')}", _table(table), _image(plots.breakdown_bars(table, charted, column)) if charted else "")
        )
    parts.append(_section("Per prompt", _table(data.per_prompt(run))))

    robustness = data.watermark_robustness(run)
    parts.append(
        _section("Watermark robustness", _table(robustness, index=False), _image(plots.robustness_bars(robustness)) if not robustness.empty else "")
    )

    curve = data.roc_curve(run)
    if curve.empty:
        reason = (metrics.get("notes") or {}).get("detector") or "no detector scores for generated and reference clips in this run"
        parts.append(_section("Detector ROC", _note(reason)))
    else:
        area = data.detector_auc(run)
        parts.append(
            _section(
                "Detector ROC",
                _image(plots.roc_plot(curve, area)),
                _note("Reference clips stand for real ones (negatives); generated clips are positives."),
            )
        )

    if data.score_columns(run.ok):
        parts.append(_section("Metric distributions", _image(plots.distributions(run))))
    strips = contact_strips(run)
    if strips:
        parts.append(_section("Contact sheet (first, middle, last frame)", _image(plots.contact_sheet(strips))))
    parts.append(_section("Seconds per item", _table(data.stage_seconds(run), index=False)))
    if STATUS_COLUMN in run.results.columns:
        failed = run.results[run.results[STATUS_COLUMN] != ITEM_OK]
        if len(failed):
            parts.append(
                _section("Failed items", _table(failed[[c for c in ("prompt_id", "sample_index", "error") if c in failed.columns]], index=False))
            )
    for name, note in (metrics.get("notes") or {}).items():
        parts.append(_note(f"note ({name}): {note}"))

    page = (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        f"<title>synthvid report: {html.escape(run.name)}</title><style>{STYLE}</style></head>\n<body>\n" + "\n".join(parts) + "\n</body></html>\n"
    )
    try:
        with atomic_path(out) as tmp:
            tmp.write_text(page, encoding="utf-8")
    except OSError as exc:
        raise ReportError(out, f"cannot write the report ({exc.strerror or exc})") from None
    return out
