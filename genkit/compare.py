"""Do two benchmark runs agree? ``synthvid bench compare RUN_A RUN_B``.

Two runs of one config (suite, weights, settings, seed) make the same clips: a clip's frames depend only
on (weights, prompt, seed, settings) — not on workers, shards, batch size or threads
(:mod:`genkit.generate`) — so on one machine their ``content_sha256`` agree exactly. Scores may still
move, for two reasons, and the comparison allows for both:

- **another CPU kernel set** (AVX-512, AVX2, none: torch picks by CPU, ``ATEN_CPU_CAPABILITY`` lowers
  it) rounds floats differently; synthvid-tiny's frames then differ by a level here and there, and so
  does every score. :data:`DEFAULT_TOLERANCES` holds the per-metric drift measured between kernel sets
  (docs/benchmark-runs.md "Reproducibility"; ``benchmarks/results/reproducibility.md``).
- **the watermark payload** is random per clip (48 bits checked unused in the repository), so the
  delivered files of two runs with provenance differ in their marks. The columns that depend on the
  payload itself (file hash, CRF after the read-back, attack survival, p-value) are reported, never
  judged, when the two payloads differ; scores of the delivered clip are judged with tolerances that
  cover a mark's effect.

The verdict is ``reproduced`` when both runs have the same config and items, every item has the same
status, and every judged metric — per item and set-level — is within its tolerance; else ``drifted``
with what drifted (config differences first), its largest |Δ| and the items.
"""

from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass, field
from pathlib import Path

from genkit.errors import RunFolderError
from genkit.runfolder import flat_differences
from provenance.runfolder import ERROR_COLUMN, ITEM_KEY, ITEM_OK, PATH_COLUMN, STATUS_COLUMN, RunFiles, read_run

KEY = ITEM_KEY
# Config entries that name where things are on one machine, not what the run is (the suite's content is
# suite_sha256; the keys and repository only hold what signs and records the clips): environment.
LOCAL_CONFIG = ("suite: ", "provenance.key_dir: ", "provenance.repository: ")
# Columns that say what an item is or how long it took, not what came out: never judged.
BOOKKEEPING = {
    "prompt_id",
    "prompt",
    "model_prompt",
    "dimension",
    "prompt_index",
    "sample_index",
    "seed",
    "model",
    "model_id",
    "model_revision",
    "weights_sha256",
    "software",
    "device",
    "cpu_capability",
    PATH_COLUMN,
    "frames",
    "height",
    "width",
    "fps",
    "steps",
    "guidance",
    "generator_id",
    "extra",
    "worker",
    ERROR_COLUMN,
    STATUS_COLUMN,
    "content_sha256",
    "expected_background",
    "expected_color",
    "expected_shape",
    "expected_motion",
    # The encoder's output: x264 picks kernels by CPU, so files differ across machines while their scores
    # agree; identical files are counted (``identical_files``), not judged.
    "file_bytes",
    "file_sha256",
}
# Columns that depend on the random watermark payload: judged only where both runs have the same payload.
PAYLOAD_DEPENDENT = ("payload", "manifest_id", "crf", "watermark_p_value")
PAYLOAD_DEPENDENT_PREFIXES = ("wm_",)  # watermark survival under each attack


@dataclass(frozen=True)
class Tolerance:
    """``|a − b| ≤ abs + rel · max(|a|, |b|)`` for numbers; ``flips`` items may differ for true/false and text."""

    abs: float = 0.0
    rel: float = 0.0
    flips: int = 0

    def allows(self, a: float, b: float) -> bool:
        return abs(a - b) <= self.abs + self.rel * max(abs(a), abs(b))


EXACT = Tolerance()
# Twice the largest per-item |Δ| measured between runs of the smoke bench (synthvid-tiny, 20 items, with
# provenance) in other worker layouts, under torch/oneDNN/MKL kernel sets forced down to AVX2 and SSE4,
# and between two runs' random watermark payloads, rounded up to 1, 2 or 5 × a power of ten
# (benchmarks/reproducibility.py → benchmarks/results/reproducibility.md, docs/benchmark-runs.md "Reproducibility").
# Names are result columns or set-level metrics (``fvd``; ``means.<column>`` takes its column's).
DEFAULT_TOLERANCES: dict[str, Tolerance] = {
    "clipsim": Tolerance(abs=1e-2),  # measured 0.0035
    "clip_temp": Tolerance(abs=1e-2),  # 0.0049
    "subject_consistency": Tolerance(abs=1e-2),  # 0.0033
    "background_consistency": Tolerance(abs=1e-2),  # 0.0033
    "temporal_flickering": Tolerance(abs=1e-3),  # 0.00043
    "warping_error": Tolerance(abs=5e-3),  # 0.0016
    "motion_magnitude": Tolerance(abs=1.0),  # 0.49 px: Farneback flow on 64² clips follows the mark's dither
    "displacement_x": Tolerance(abs=2e-2),  # 0.0037
    "displacement_y": Tolerance(abs=2e-2),  # 0.0072
    "p_synthetic": Tolerance(abs=5e-2),  # 0.024
    "fvd": Tolerance(rel=2e-2),  # 1.4 of 227 (0.6 %)
}
# Set-level means named otherwise than their column.
SET_LEVEL_COLUMNS = {"means.dynamic_degree": "dynamic"}


def load_tolerances(path: str | Path) -> dict[str, Tolerance]:
    """A tolerance file: JSON ``{"clipsim": {"abs": 1e-3}, "fvd": {"rel": 0.01}, "match_all": {"flips": 1}}``."""
    path = Path(path)
    try:
        data = json.loads(path.read_text())
    except FileNotFoundError:
        raise RunFolderError(path, "no such tolerance file") from None
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        raise RunFolderError(path, f"not a JSON tolerance file ({' '.join(str(exc).split())})") from None
    if not isinstance(data, dict):
        raise RunFolderError(path, 'expected a JSON object such as {"clipsim": {"abs": 0.001}}')
    tolerances = {}
    for name, spec in data.items():
        if not isinstance(spec, dict) or not set(spec) <= {"abs", "rel", "flips"}:
            raise RunFolderError(path, f"{name}: expected an object with abs, rel and/or flips, got {json.dumps(spec)}")
        try:
            tolerance = Tolerance(**{key: (int if key == "flips" else float)(value) for key, value in spec.items()})
        except (TypeError, ValueError):
            raise RunFolderError(path, f"{name}: abs and rel must be numbers, flips a whole number") from None
        if min(tolerance.abs, tolerance.rel, tolerance.flips) < 0 or not math.isfinite(tolerance.abs + tolerance.rel):
            raise RunFolderError(path, f"{name}: tolerances must be finite and ≥ 0")
        tolerances[name] = tolerance
    return tolerances


@dataclass
class Drift:
    """One thing that keeps two runs from agreeing."""

    what: str  # config | items | status | metric | set-metric
    name: str
    detail: str
    max_abs_diff: float | None = None
    items: list[str] = field(default_factory=list)


@dataclass
class MetricComparison:
    name: str
    kind: str  # item | set
    compared: int
    tolerance: dict
    max_abs_diff: float | None = None  # numbers only
    beyond: int = 0  # items (or 1 for a set-level value) outside the tolerance; differing items for text/true-false
    worst: str | None = None


@dataclass
class Comparison:
    run_a: str
    run_b: str
    verdict: str = "reproduced"
    drifts: list[Drift] = field(default_factory=list)
    config_differences: list[str] = field(default_factory=list)
    environment_differences: list[str] = field(default_factory=list)
    items_compared: int = 0
    only_in_a: list[str] = field(default_factory=list)
    only_in_b: list[str] = field(default_factory=list)
    identical_content: int = 0
    different_content: list[str] = field(default_factory=list)
    identical_files: int = 0
    same_payload: int = 0
    metrics: list[MetricComparison] = field(default_factory=list)
    not_judged: list[str] = field(default_factory=list)

    def as_dict(self) -> dict:
        return asdict(self)

    @property
    def summary(self) -> str:
        """``reproduced`` or ``drifted: clipsim max |Δ| 0.004 (3 items); …``."""
        if not self.drifts:
            return "reproduced"
        parts = []
        for drift in self.drifts:
            if drift.what == "config":
                parts.append(f"config {drift.detail}")
            elif drift.max_abs_diff is not None:
                parts.append(f"{drift.name} max |Δ| {drift.max_abs_diff:.3g} ({len(drift.items) or 1} item{'s' * (len(drift.items) > 1)})")
            else:
                parts.append(f"{drift.name}: {drift.detail}")
        return "drifted: " + "; ".join(parts)


@dataclass
class _Run:
    files: RunFiles  # its record (run.json), results and set-level metrics (metrics.json)
    rows: dict[tuple[int, int], dict]


def _read_run(root: str | Path) -> _Run:
    """A finished benchmark run through the run-folder contract: run.json and a results table with
    :data:`KEY` required, metrics.json when present; anything else is one :class:`RunFolderError`."""
    files = read_run(root, columns=KEY, record=True, error=RunFolderError)
    rows = {(int(row[KEY[0]]), int(row[KEY[1]])): row for row in files.results.to_dict("records")}
    return _Run(files, rows)


def _key_name(key: tuple[int, int]) -> str:
    return f"p{key[0]}-s{key[1]}"


def _payload_dependent(column: str) -> bool:
    return column in PAYLOAD_DEPENDENT or column.startswith(PAYLOAD_DEPENDENT_PREFIXES)


def _missing(value) -> bool:
    return value is None or (isinstance(value, float) and math.isnan(value))


def _is_number(value) -> bool:
    import numpy as np

    return isinstance(value, (int, float, np.integer, np.floating)) and not isinstance(value, (bool, np.bool_))


def _plain(value):
    """A cell as a comparable Python value (arrays and lists as JSON text)."""
    import numpy as np

    if isinstance(value, np.ndarray):
        value = value.tolist()
    if isinstance(value, (list, dict)):
        return json.dumps(value, sort_keys=True, default=str)
    if isinstance(value, np.generic):
        return value.item()
    return value


def _tolerance_for(name: str, tolerances: dict[str, Tolerance], default: Tolerance | None) -> Tolerance:
    base = name.split(".", 1)[1] if name.startswith("means.") else name.split(".", 1)[0]
    if name in tolerances:
        return tolerances[name]
    if base in tolerances:
        return tolerances[base]
    return default if default is not None else EXACT


def _set_level_values(metrics: dict) -> dict[str, float]:
    """The set-level numbers of metrics.json worth judging: FVD, means, verdict counts (breakdowns are
    means over subsets of the same items, judged through the items; the detector's AUC is not judged: it
    moves in steps of 1/(n·m) and has no measured tolerance yet)."""
    values = {}
    fvd = metrics.get("fvd")
    if isinstance(fvd, dict) and _is_number(fvd.get("value")):
        values["fvd"] = float(fvd["value"])
    for name, value in (metrics.get("means") or {}).items():
        if _is_number(value):
            values[f"means.{name}"] = float(value)
    for name, value in (metrics.get("verdicts") or {}).items():
        values[f"verdicts.{name}"] = float(value)
    return values


def compare_runs(
    root_a: str | Path, root_b: str | Path, *, tolerances: dict[str, Tolerance] | None = None, default: Tolerance | None = None
) -> Comparison:
    """Compare two run folders (see the module docstring). ``tolerances`` by metric name override
    :data:`DEFAULT_TOLERANCES`; ``default`` applies to metrics named in neither (exact otherwise)."""
    tolerances = {**DEFAULT_TOLERANCES, **(tolerances or {})}
    a, b = _read_run(root_a), _read_run(root_b)
    result = Comparison(str(a.files.root), str(b.files.root))

    for difference in flat_differences(a.files.record.get("config"), b.files.record.get("config")):
        if difference.startswith(LOCAL_CONFIG):
            result.environment_differences.append(f"config.{difference}")
        else:
            result.config_differences.append(difference)
            result.drifts.append(Drift("config", "config", difference))
    environment = {name: (a.files.record.get(name), b.files.record.get(name)) for name in ("versions", "hardware")}
    for name, (left, right) in environment.items():
        result.environment_differences += [f"{name}.{d}" for d in flat_differences(left, right)]
    for column in ("cpu_capability", "device"):
        left = sorted({str(row.get(column)) for row in a.rows.values()})
        right = sorted({str(row.get(column)) for row in b.rows.values()})
        if left != right:
            result.environment_differences.append(f"{column}: {', '.join(left)} → {', '.join(right)}")

    common = sorted(set(a.rows) & set(b.rows))
    result.only_in_a = [_key_name(k) for k in sorted(set(a.rows) - set(b.rows))]
    result.only_in_b = [_key_name(k) for k in sorted(set(b.rows) - set(a.rows))]
    if result.only_in_a or result.only_in_b:
        result.drifts.append(
            Drift(
                "items", "items", f"{len(result.only_in_a)} only in A, {len(result.only_in_b)} only in B", items=result.only_in_a + result.only_in_b
            )
        )
    result.items_compared = len(common)
    status_changes = [
        f"{_key_name(k)} {a.rows[k].get(STATUS_COLUMN)} → {b.rows[k].get(STATUS_COLUMN)}"
        for k in common
        if a.rows[k].get(STATUS_COLUMN) != b.rows[k].get(STATUS_COLUMN)
    ]
    if status_changes:
        result.drifts.append(Drift("status", "status", f"{len(status_changes)} items changed status", items=status_changes))

    same_payload = set()
    for key in common:
        row_a, row_b = a.rows[key], b.rows[key]
        content_a, content_b = row_a.get("content_sha256"), row_b.get("content_sha256")
        if not _missing(content_a) and content_a == content_b:
            result.identical_content += 1
        else:
            result.different_content.append(_key_name(key))
        if not _missing(row_a.get("file_sha256")) and row_a.get("file_sha256") == row_b.get("file_sha256"):
            result.identical_files += 1
        if _plain(row_a.get("payload")) == _plain(row_b.get("payload")):
            same_payload.add(key)
    result.same_payload = len(same_payload)

    columns = sorted({c for k in common for c in (*a.rows[k], *b.rows[k])} - BOOKKEEPING)
    columns = [c for c in columns if not c.endswith("_seconds")]
    skipped, true_false = set(), set()
    for column in columns:
        tolerance = _tolerance_for(column, tolerances, default)
        compared, beyond, worst_diff, worst_key, numeric, one_sided = 0, [], None, None, True, 0
        for key in common:
            if a.rows[key].get(STATUS_COLUMN) != ITEM_OK or b.rows[key].get(STATUS_COLUMN) != ITEM_OK:
                continue
            if _payload_dependent(column) and key not in same_payload:
                skipped.add(column)
                continue
            left, right = _plain(a.rows[key].get(column)), _plain(b.rows[key].get(column))
            if _missing(left) and _missing(right):
                continue
            compared += 1
            if _missing(left) or _missing(right):
                one_sided += 1
                beyond.append((None, key))
                continue
            if _is_number(left) and _is_number(right):
                diff = abs(float(left) - float(right))
                if worst_diff is None or diff > worst_diff:
                    worst_diff, worst_key = diff, key
                if not tolerance.allows(float(left), float(right)):
                    beyond.append((diff, key))
            else:
                numeric = False
                if left != right:
                    beyond.append((None, key))
                    worst_key = worst_key or key
        if not compared:
            continue
        if not numeric:
            true_false.add(column)
        entry = MetricComparison(
            column, "item", compared, asdict(tolerance), worst_diff if numeric else None, len(beyond), _key_name(worst_key) if worst_key else None
        )
        result.metrics.append(entry)
        over = len(beyond) > (0 if numeric else tolerance.flips)
        if over:
            detail = f"{len(beyond)} of {compared} items beyond {_describe(tolerance, numeric)}"
            if one_sided:
                detail += f" ({one_sided} with a value in one run only)"
            result.drifts.append(
                Drift(
                    "metric",
                    column,
                    detail,
                    max_abs_diff=max((d for d, _ in beyond if d is not None), default=None),
                    items=[_key_name(k) for _, k in beyond],
                )
            )
    payloads_differ = result.same_payload < result.items_compared
    set_a, set_b = _set_level_values(a.files.metrics), _set_level_values(b.files.metrics)
    for name in sorted(set(set_a) & set(set_b)):
        column = SET_LEVEL_COLUMNS.get(name, name.split(".", 1)[1] if "." in name else name)
        if payloads_differ and _payload_dependent(column):
            skipped.add(name)
            continue
        tolerance = _tolerance_for(name, tolerances, default)
        if column in true_false:  # a rate over the items: as many flips as its column allows, no more
            tolerance = Tolerance(abs=(tolerance.flips + 0.5) / max(1, result.items_compared))
        elif name.startswith("verdicts."):
            tolerance = Tolerance(abs=_tolerance_for("verdict", tolerances, default).flips)
        diff = abs(set_a[name] - set_b[name])
        ok = tolerance.allows(set_a[name], set_b[name])
        result.metrics.append(MetricComparison(name, "set", 1, asdict(tolerance), diff, int(not ok), None))
        if not ok:
            result.drifts.append(
                Drift("set-metric", name, f"{set_a[name]:.6g} → {set_b[name]:.6g}, beyond {_describe(tolerance, True)}", max_abs_diff=diff)
            )
    for name in sorted(set(set_a) ^ set(set_b)):
        result.drifts.append(Drift("set-metric", name, f"only in {'A' if name in set_a else 'B'}"))
    result.not_judged = sorted(skipped)
    result.verdict = "reproduced" if not result.drifts else "drifted"
    return result


def _describe(tolerance: Tolerance, numeric: bool) -> str:
    if not numeric:
        return f"{tolerance.flips} allowed flips" if tolerance.flips else "exact equality"
    parts = [f"abs {tolerance.abs:g}"] if tolerance.abs else []
    parts += [f"rel {tolerance.rel:g}"] if tolerance.rel else []
    return "tolerance " + (" + ".join(parts) if parts else "0 (exact)")
