"""Run folders: where a run keeps its clips, its table and its record of how it was made.

The layout, names, columns and status values are the run-folder contract (:mod:`provenance.runfolder`);
:class:`RunFolder` is the producer of three of its files::

    clips/<prompt id>.mp4   one clip per suite item (:meth:`RunFolder.clip_path` names it)
    results.parquet         one row per clip (:meth:`RunFolder.close`; read it with ``provenance.runfolder.read_run``)
    run.json                config, package versions, git commit, hardware, seed, status and timings

The others belong to their own producers (the contract's docstring lists them): ``ledger.sqlite``
(:mod:`genkit.ledger`), ``metrics.json`` and ``reference.parquet`` (``genkit.bench``), ``eval.json``
(``synthvid eval``), ``report.html`` (``synthvid report``).

:class:`RunFolder` owns that layout; jobs such as :func:`render_world_suite` fill it. Short jobs
(``world render``, ``generate``) keep their rows in memory (:meth:`RunFolder.add`); the benchmark runner
keeps them in the ledger and hands the ledger's rows to :meth:`RunFolder.close` for the export.
:meth:`RunFolder.create` with ``resume=True`` reopens a run folder made with the same config (and
refuses one made with another), so an interrupted run can continue where it stopped.

Nothing is lost on failure: ``with RunFolder.create(...) as run:`` writes the rows gathered so far
and the status (``complete``, ``failed`` or ``interrupted``) whatever happens inside the block.
"""

from __future__ import annotations

import functools
import json
import logging
import os
import platform
import re
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import datetime, timezone
from importlib import metadata
from pathlib import Path

from genkit.errors import RunFolderError, SuiteError
from genkit.suites import SuiteItem
from provenance.runfolder import (
    CLIPS_DIR,
    LEDGER_GLOB,
    RESULTS_FILE,
    RUN_COMPLETE,
    RUN_FAILED,
    RUN_FILE,
    RUN_FILES,
    RUN_INTERRUPTED,
    RUN_RUNNING,
    read_json,
    write_json_atomic,
    write_parquet_atomic,
)

log = logging.getLogger(__name__)

# What shapes a run's clips and scores (plus pandas/pyarrow/typer, which shape its files and CLI).
VERSIONED_DISTRIBUTIONS = (
    "synthvid",
    "numpy",
    "av",
    "pandas",
    "pyarrow",
    "typer",
    "torch",
    "diffusers",
    "transformers",
    "open_clip_torch",
    "torchmetrics",
    "opencv-python-headless",
    "scikit-learn",
    "scipy",
    "c2pa-python",
)
ATTRIBUTES = ("background", "color", "shape", "motion")


class RunFolder:
    """A run folder on disk; create one with :meth:`create` and use it as a context manager."""

    def __init__(self, root: str | Path):
        self.root = Path(root)
        self.rows: list[dict] = []
        self.record: dict = {}
        self._clip_names: set[str] = set()
        self._started = time.perf_counter()

    @property
    def clips_dir(self) -> Path:
        return self.root / CLIPS_DIR

    @property
    def results_path(self) -> Path:
        return self.root / RESULTS_FILE

    @property
    def run_path(self) -> Path:
        return self.root / RUN_FILE

    @classmethod
    def create(cls, root: str | Path, config: dict, *, overwrite: bool = False, resume: bool = False) -> RunFolder:
        """Make the folder (refusing to mix with other content) and write ``run.json`` (status running).

        An existing run folder is replaced only with ``overwrite=True``; with ``resume=True`` it is
        reopened when its config equals ``config`` (a :class:`RunFolderError` names the first difference
        otherwise). A non-empty folder that is not a run folder is never touched.
        """
        run = cls(root)
        root = run.root
        if root.exists() and not root.is_dir():
            raise RunFolderError(root, "exists and is not a folder")
        if root.is_dir() and any(root.iterdir()):
            if not run.run_path.exists():
                raise RunFolderError(root, "exists, is not empty and is not a run folder; choose a new or empty folder")
            if resume and not overwrite:
                return run._reopen(config)
            if not overwrite:
                raise RunFolderError(root, "already holds a run; pass --overwrite to replace it or choose another folder")
            shutil.rmtree(run.clips_dir, ignore_errors=True)
            for path in [*(root / name for name in RUN_FILES), *root.glob(LEDGER_GLOB)]:
                path.unlink(missing_ok=True)
        try:
            root.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise RunFolderError(root, f"cannot create the run folder ({exc.strerror or exc})") from exc
        run.record = {
            "status": RUN_RUNNING,
            "started": _now(),
            "config": _plain(config),
            "seed": config.get("seed"),
            "versions": package_versions(),
            "git": git_commit(),
            "hardware": hardware(),
            "command": sys.argv,
        }
        run._write_record()  # before clips/: a folder with content but no run.json is never ours
        run.clips_dir.mkdir(exist_ok=True)
        return run

    def _reopen(self, config: dict) -> RunFolder:
        try:
            self.record = read_json(self.run_path, required=True, error=RunFolderError)
        except RunFolderError as exc:
            raise RunFolderError(exc.path, f"{exc.reason}; pass --overwrite to start again") from None
        difference = first_difference(self.record.get("config"), _plain(config))
        if difference:
            raise RunFolderError(
                self.root,
                f"holds a run made with another config ({difference}); rerun with the same options, "
                "choose another --out, or pass --overwrite to replace it",
            )
        self.record.setdefault("resumed", []).append({"at": _now(), "command": sys.argv, "git": git_commit()})
        self.record["status"] = RUN_RUNNING
        self.clips_dir.mkdir(exist_ok=True)
        return self

    @classmethod
    def open(cls, root: str | Path) -> RunFolder:
        """An existing run folder, its record read from ``run.json``."""
        run = cls(root)
        if not run.run_path.exists():
            raise RunFolderError(run.root, f"is not a run folder (no {RUN_FILE})")
        run.record = read_json(run.run_path, required=True, error=RunFolderError)
        return run

    def clip_path(self, prompt_id: str) -> Path:
        """A new file for the clip of ``prompt_id``: ``clips/<id>.mp4`` with unsafe characters replaced,
        and ``-2``, ``-3``, ... added when two ids map to the same name (``a b`` and ``a_b``)."""
        safe = re.sub(r"[^A-Za-z0-9._-]+", "_", prompt_id).strip("._-") or "clip"
        name, count = safe, 1
        while name in self._clip_names:
            count += 1
            name = f"{safe}-{count}"
        self._clip_names.add(name)
        return self.clips_dir / f"{name}.mp4"

    def relative(self, path: Path) -> str:
        return path.relative_to(self.root).as_posix()

    def add(self, row: dict) -> None:
        self.rows.append(row)

    def close(self, status: str = RUN_COMPLETE, **summary) -> None:
        """Write ``results.parquet`` (atomically) and finish ``run.json`` with ``status`` and ``summary``."""
        write_parquet_atomic(self.rows, self.results_path, error=RunFolderError)
        self.record.update(
            status=status,
            finished=_now(),
            seconds=round(time.perf_counter() - self._started, 3),
            rows=len(self.rows),
            **summary,
        )
        self._write_record()

    def _write_record(self) -> None:
        self.write_json_atomic(RUN_FILE, self.record)

    def write_json_atomic(self, name: str, data) -> Path:
        """Write ``data`` as ``name`` in the run folder (:func:`provenance.runfolder.write_json_atomic`);
        a reader sees the old file or the new one, never a part."""
        return write_json_atomic(data, self.root / name, error=RunFolderError)

    def __enter__(self) -> RunFolder:
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        if exc_type is None:
            status = RUN_COMPLETE
        elif issubclass(exc_type, KeyboardInterrupt):
            status = RUN_INTERRUPTED
        else:
            status = RUN_FAILED
        extra = {"error": f"{exc_type.__name__}: {exc}"} if exc_type else {}
        if self.record.get("status") == RUN_RUNNING:
            self.close(status, **extra)


def render_world_suite(
    run: RunFolder,
    items: list[SuiteItem],
    *,
    suite_path: Path | str | None = None,
    frames: int = 16,
    size: int | str | tuple[int, int] = 64,
    fps: float = 8.0,
    seed: int = 0,
    crf: int = 18,
) -> Iterator[dict]:
    """Render every item with the shapes world into ``run``; yield each row as it is added.

    Item ``i`` is rendered with seed ``seed + i`` (:func:`genkit.world.render_suite`). Each clip is
    written as H.264 at ``crf``, read back and analysed, so the row's ``analyzed_*`` columns judge the
    file a user gets, not the frames in memory. Every prompt is parsed before the first clip is
    rendered, so a bad prompt costs nothing.
    """
    from genkit.world import render_suite
    from genkit.world.render import parse_size
    from provenance.media import read_video, write_video

    specs = parse_world_prompts(items, suite_path)
    height, width = parse_size(size)
    clips = render_suite(specs, frames=frames, size=(height, width), fps=fps, seed=seed)
    for item, spec in zip(items, specs):
        started = time.perf_counter()
        _, _, video = next(clips)
        render_seconds = time.perf_counter() - started
        path = run.clip_path(item.prompt_id)
        started = time.perf_counter()
        write_video(video, path, crf=crf)
        encode_seconds = time.perf_counter() - started
        analyzed = analyzer_columns(read_video(path), video.meta["attributes"])
        row = {
            "prompt_id": item.prompt_id,
            "prompt": item.prompt,
            "canonical_prompt": spec.text,
            "dimension": item.dimension,
            "seed": video.meta["seed"],
            "path": run.relative(path),
            "frames": frames,
            "width": width,
            "height": height,
            "fps": float(fps),
            "crf": crf,
            "render_seconds": round(render_seconds, 5),
            "encode_seconds": round(encode_seconds, 5),
            "file_bytes": path.stat().st_size,
            "size": spec.size,
            "textured": spec.textured,
            "noise": spec.noise,
            "pan": spec.pan,
            **analyzed,
            "extra": json.dumps(item.extra, sort_keys=True, default=str) if item.extra else None,
        }
        run.add(row)
        yield row


def analyzer_columns(video, expected: dict) -> dict:
    """What the shapes-world analyzer reads in ``video`` against the ``expected`` attributes (a prompt's
    background, color, shape, motion): ``expected_*``, ``analyzed_*``, ``match_*``, ``match_all`` and the
    object's displacement."""
    from genkit.world import analyze

    found = analyze(video)
    matches = found.matches(expected)
    return {
        **{f"expected_{key}": expected[key] for key in ATTRIBUTES},
        **{f"analyzed_{key}": getattr(found, key) for key in ATTRIBUTES},
        **{f"match_{key}": matches[key] for key in ATTRIBUTES},
        "match_all": all(matches.values()),
        "displacement_x": found.displacement[0],
        "displacement_y": found.displacement[1],
    }


def parse_world_prompts(items: list[SuiteItem], suite_path: Path | str | None = None) -> list:
    """Parse every item as a shapes-world prompt; a bad one raises ``PromptError``, or ``SuiteError``
    naming the suite file and the prompt id when ``suite_path`` is given."""
    from genkit.world import PromptError, parse_prompt

    specs = []
    for item in items:
        try:
            specs.append(parse_prompt(item.prompt))
        except PromptError as exc:
            if suite_path is None:
                raise
            raise SuiteError(suite_path, f"prompt {item.prompt_id}: {exc}") from exc
    return specs


def agreement(rows: list[dict]) -> dict[str, float]:
    """Share of rows whose analyzed attribute matches the prompt, per attribute and for all four."""
    if not rows:
        return {}
    keys = [f"match_{key}" for key in ATTRIBUTES] + ["match_all"]
    return {key.removeprefix("match_"): sum(bool(row[key]) for row in rows) / len(rows) for key in keys}


def package_versions() -> dict[str, str]:
    """Installed versions of the packages that shape a run's results (read from metadata, no imports)."""
    versions = {"python": platform.python_version()}
    for name in VERSIONED_DISTRIBUTIONS:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            continue
    return versions


@functools.cache
def software_identity() -> str:
    """One line naming the software that made a clip: ``synthvid=0.1.0+g1e2b9d6 torch=2.14.1 …``
    (``.dirty`` when the checkout has uncommitted changes), for the identity columns of every row."""
    versions = package_versions()
    commit = git_commit()
    if commit and "synthvid" in versions:
        versions["synthvid"] += f"+g{commit['commit'][:7]}{'.dirty' if commit['dirty'] else ''}"
    import av

    versions["ffmpeg"] = av.ffmpeg_version_info  # the codecs inside PyAV's wheel
    return " ".join(f"{name}={version}" for name, version in versions.items())


@functools.cache
def cpu_capability() -> str:
    """The CPU kernel set torch runs (``AVX512``, ``AVX2``, ``DEFAULT``…; ATEN_CPU_CAPABILITY can lower
    it): scores on the CPU move by float rounding between kernel sets."""
    import torch

    return str(torch.backends.cpu.get_cpu_capability())


def git_commit() -> dict | None:
    """Commit and dirtiness of the source checkout synthvid runs from, or ``None`` outside a checkout."""
    source = Path(__file__).resolve().parent.parent
    try:
        commit = subprocess.run(
            ["git", "-C", str(source), "rev-parse", "HEAD"], capture_output=True, text=True, timeout=10, check=True
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "-C", str(source), "status", "--porcelain", "--untracked-files=no"],
            capture_output=True,
            text=True,
            timeout=10,
            check=True,
        ).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return None
    return {"commit": commit, "dirty": bool(dirty)}


def priority_prefix() -> str:
    """``"nice -n N "`` when this process runs at niceness N ≠ 0, else ``""``: benchmark reports quote the command as it ran."""
    niceness = os.getpriority(os.PRIO_PROCESS, 0)
    return f"nice -n {niceness} " if niceness else ""


def hardware() -> dict:
    """The machine a run ran on: CPU model and count, memory, OS."""
    info = {
        "platform": platform.platform(),
        "machine": platform.machine(),
        "cpus": os.cpu_count(),
        "cpus_usable": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count(),
    }
    try:
        info["memory_gb"] = round(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 1024**3, 1)
    except (ValueError, OSError, AttributeError):
        pass
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                info["cpu"] = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return info


def flat_differences(old, new, where: str = "") -> list[str]:
    """Every place two JSON values differ, as ``"settings.steps: 25 → 10"``, in key order."""
    if isinstance(old, dict) and isinstance(new, dict):
        found = []
        for key in sorted(set(old) | set(new), key=str):
            found += flat_differences(old.get(key), new.get(key), f"{where}.{key}" if where else str(key))
        return found
    if _plain(old) != _plain(new):
        return [f"{where or 'value'}: {json.dumps(_plain(old), default=str)} → {json.dumps(_plain(new), default=str)}"]
    return []


def first_difference(old, new, where: str = "") -> str | None:
    """``"settings.steps: 25 → 10"`` for the first place two JSON values differ, else ``None``."""
    found = flat_differences(old, new, where)
    return found[0] if found else None


def _plain(data):
    """``data`` as JSON gives it back (tuples → lists, paths → strings), so configs compare as stored."""
    return json.loads(json.dumps(data, default=str))


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")
