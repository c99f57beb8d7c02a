"""The benchmark runner behind ``synthvid bench``: a model on a prompt suite, every clip credentialed and
scored, one ledger row per item, set-level metrics at the end.

Per item (prompt index i, sample index k; seed :func:`genkit.generate.item_seed` (base, i, k))::

    generate (in batches) ─► finish_clip: watermark → H.264 → C2PA sign → register   (genkit.generate)
        ─► read the file back ─► CLIPSIM, temporal metrics (eval), FVD features, world analyzer,
           verify verdict + watermark check (provenance.verify), watermark under attacks,
           detector P(synthetic) (detectors, when installed)
        ─► one atomic ledger commit (genkit.ledger)

Then, set-level: FVD of the items' features against the reference set's (by default shapes-world
renders of the same prompts), means and breakdowns per prompt dimension and shapes-world attribute,
written to ``metrics.json``; ``results.parquet`` is exported from the ledger.

Resuming. Re-running the same command skips every item finished in any ledger of the folder; a failed
item is tried again. A folder made with another config is refused (:class:`RunFolderError`).

Scale-out. Items are dealt round-robin over workers (torchrun ranks: the items left to do, after all
ranks have read the ledgers; shards: by position in the plan, item n to shard n mod N); since every
item has its own seed, a clip does not depend on who made it.

- ``torchrun --nproc-per-node N -m genkit bench ...`` (RANK/WORLD_SIZE/LOCAL_RANK in the environment):
  a process group is started (gloo on CPU, NCCL on GPUs), each rank writes ``ledger.rank{r}-of-{N}.sqlite``,
  rank 0 merges them into ``ledger.sqlite`` after a barrier, and FVD's torchmetrics states (feature
  sums and outer products) are reduced across ranks, each rank contributing its share of the items.
- ``--num-shards N --shard-index i`` (job arrays, no process group): shard i writes
  ``ledger.shard{i}-of-{N}.sqlite``; ``synthvid bench merge RUN_DIR`` merges the shards and computes
  the set-level metrics (a shard that finds every item done merges by itself).

Manifest repository. SQLite's locks do not hold over a network filesystem, so with more than one
worker none writes the shared repository (``--repo``): each registers its clips into its own
``manifests.{rank|shard}{i}-of-{N}.sqlite`` in the run folder, and whoever merges the ledgers merges
those into ``--repo`` too (idempotent; a payload that maps to two manifests stops the merge with its
name) and removes them.
"""

from __future__ import annotations

import hashlib
import logging
import math
import os
import re
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

from genkit.backends import TinyBackend, WorldBackend
from genkit.errors import BenchError, GenkitError, LedgerError
from genkit.generate import (
    ClipRequest,
    Provenance,
    Settings,
    batches,
    check_watermark_fits,
    finish_clip,
    generate_batch,
    generator_id,
    model_prompts,
    plan_clips,
)
from genkit.ledger import LEDGER_FILE, Ledger, item_key, part_ledgers, remove_ledger, worker_ledger_name
from genkit.runfolder import METRICS_FILE, RunFolder, first_difference
from genkit.suites import SuiteItem
from genkit.timing import StageTimer
from provenance.files import atomic_path

log = logging.getLogger(__name__)

METRICS = ("clipsim", "temporal", "fvd", "analyzer", "detector", "robustness")
# Robustness re-detects the watermark after each attack, and a failed detection runs the full search
# (seconds a clip): measured at 2.3 s an item against 1.0 s for everything else, so it is opt-in.
DEFAULT_METRICS = ("clipsim", "temporal", "fvd", "analyzer", "detector")
DEFAULT_ATTACKS = ("H.264 CRF 28", "resize ×0.5 back", "brightness ×1.5")
NO_REFERENCE = "none"
REFERENCE_FILE = "reference.parquet"  # the reference clips' sources and detector scores (the ROC's negatives)
DETECTOR_MISSING = "the detectors package has no load_default() yet (issue #7); p_synthetic is null"
# Columns of the per-item row that are measurements (means and breakdowns are taken over these).
SCORE_COLUMNS = ("clipsim", "clip_temp", "subject_consistency", "background_consistency", "temporal_flickering",
                 "warping_error", "motion_magnitude", "match_all", "match_background", "match_color", "match_shape",
                 "match_motion", "watermark_found", "p_synthetic")
BREAKDOWN_COLUMNS = ("dimension", "expected_background", "expected_color", "expected_shape", "expected_motion")


# ------------------------------------------------------------------------------------------ workers


@dataclass(frozen=True)
class Workers:
    """Who does which items: ``rank`` of ``world`` workers (``kind``: single, rank or shard)."""

    rank: int = 0
    world: int = 1
    kind: str = "single"
    local_rank: int = 0

    @property
    def distributed(self) -> bool:
        return self.kind == "rank"

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    @property
    def name(self) -> str:
        return "single" if self.kind == "single" else f"{self.kind}{self.rank}-of-{self.world}"

    @property
    def ledger_name(self) -> str:
        return LEDGER_FILE if self.kind == "single" else worker_ledger_name(self.kind, self.rank, self.world)

    def mine(self, count: int) -> list[int]:
        """Positions ``0 .. count-1`` this worker owns (round-robin)."""
        return list(range(self.rank, count, self.world))

    def barrier(self) -> None:
        if self.distributed:
            import torch.distributed as dist

            dist.barrier()


def workers_from_env(num_shards: int = 1, shard_index: int = 0, environ=os.environ) -> Workers:
    """torchrun's RANK/WORLD_SIZE/LOCAL_RANK, or ``--num-shards/--shard-index``, or a single worker."""
    world = int(environ.get("WORLD_SIZE", "1") or 1)
    if world > 1:
        if num_shards > 1:
            raise BenchError(None, "--num-shards is for job arrays without torchrun; under torchrun the ranks are the shards")
        return Workers(int(environ["RANK"]), world, "rank", int(environ.get("LOCAL_RANK", "0") or 0))
    if num_shards < 1 or not 0 <= shard_index < num_shards:
        raise BenchError(None, f"--shard-index {shard_index} must be in 0..{num_shards - 1} (--num-shards {num_shards})")
    if num_shards == 1:
        return Workers()
    return Workers(shard_index, num_shards, "shard")


def start_process_group(workers: Workers, device: str) -> None:
    """gloo on CPU, NCCL when the ranks use GPUs (the env:// rendezvous torchrun sets up)."""
    if not workers.distributed:
        return
    import torch.distributed as dist

    if not dist.is_initialized():
        # Ranks meet at a barrier after their items; a resumed run can leave one rank far more to do
        # than another, so the wait may be long (torch's default gives up after 10-30 minutes).
        from datetime import timedelta

        dist.init_process_group(backend="nccl" if device.startswith("cuda") else "gloo", timeout=timedelta(hours=24))


def stop_process_group(workers: Workers) -> None:
    if workers.distributed:
        import torch.distributed as dist

        if dist.is_initialized():
            dist.destroy_process_group()


def worker_device(device: str, workers: Workers) -> str:
    """``auto`` under torchrun on a GPU machine means this rank's GPU (LOCAL_RANK)."""
    if device == "auto" and workers.distributed:
        import torch

        if torch.cuda.is_available():
            return f"cuda:{workers.local_rank}"
        return "cpu"
    return device


# ------------------------------------------------------------------------------------------ options


@dataclass
class BenchOptions:
    """What ``synthvid bench`` was asked to do; :meth:`identity` is what a resumed run must repeat."""

    suite: str
    suite_file: str | None
    samples_per_prompt: int = 1
    metrics: tuple[str, ...] = DEFAULT_METRICS
    reference: str | None = None  # world:SUITE, a folder of clips, or "none"; default world:<suite>
    fvd_extractor: str | None = None  # eval.fvd.make_extractor spec; default FVD-tiny
    clip_model: str = "synthvid-tiny-clip"
    clip_pretrained: str | None = None
    attacks: tuple[str, ...] = DEFAULT_ATTACKS
    provenance: bool = True

    def resolved_reference(self) -> str:
        return self.reference or f"world:{self.suite}"


def parse_metrics(text: str | None) -> tuple[str, ...]:
    """``clipsim,temporal`` → ("clipsim", "temporal"); empty or ``default`` → :data:`DEFAULT_METRICS`;
    ``all`` → every metric (robustness too)."""
    if not text or text.strip() == "default":
        return DEFAULT_METRICS
    if text.strip() == "all":
        return METRICS
    names = tuple(dict.fromkeys(name.strip() for name in text.split(",") if name.strip()))
    unknown = [name for name in names if name not in METRICS]
    if unknown:
        raise BenchError(None, f"--metrics {','.join(unknown)}: unknown; choose from {','.join(METRICS)} (or all)")
    return names


def suite_digest(items: list[SuiteItem]) -> str:
    """SHA-256 (16 hex digits) of the suite's prompts and ids: a resumed run must see the same suite."""
    digest = hashlib.sha256()
    for item in items:
        digest.update(f"{item.prompt_id}\t{item.prompt}\t{item.dimension}\n".encode())
    return digest.hexdigest()[:16]


def bench_config(options: BenchOptions, items: list[SuiteItem], backend, settings: Settings, provenance: Provenance | None) -> dict:
    """The run's identity (compared when resuming): suite content, model and weights, settings,
    metrics, reference, seed. Not in it: device, threads, workers and the batch size (they never change a
    clip), unless ``batched_forward`` makes clips depend on their batch."""
    settings_dict = asdict(settings)
    if not settings.batched_forward:
        del settings_dict["batch_size"]
    return {
        "job": "bench",
        "suite": options.suite,
        "suite_sha256": suite_digest(items),
        "prompts": len(items),
        "samples_per_prompt": options.samples_per_prompt,
        "items": len(items) * options.samples_per_prompt,
        "model": backend.name,
        "model_id": backend.model_id,
        "model_revision": backend.revision,
        "backend": type(backend).__name__,
        "settings": settings_dict,
        "metrics": list(options.metrics),
        "reference": options.resolved_reference() if "fvd" in options.metrics else None,
        "fvd_extractor": options.fvd_extractor if "fvd" in options.metrics else None,
        "clip_model": options.clip_model if {"clipsim", "temporal"} & set(options.metrics) else None,
        "clip_pretrained": options.clip_pretrained if {"clipsim", "temporal"} & set(options.metrics) else None,
        "attacks": list(options.attacks) if "robustness" in options.metrics and options.provenance else None,
        "provenance": None if provenance is None else {
            "key_dir": str(provenance.key_dir),
            "repository": str(provenance.repository_path or provenance.repository.path),
            "generator_id": generator_id(backend.model_id, backend.revision).hex(),
        },
        "seed": settings.base_seed,
    }


# ------------------------------------------------------------------------------------------ scoring


def slug(name: str) -> str:
    """A column-safe name: ``H.264 CRF 28`` → ``h_264_crf_28``, ``resize ×0.5 back`` → ``resize_0_5_back``."""
    return re.sub(r"[^a-z0-9]+", "_", name.lower()).strip("_")


def load_detector():
    """``(detector, note)``: ``detectors.load_default()`` when the detectors package provides it, else
    ``(None, why)``. Imported here, lazily: detectors is built in parallel (issue #7)."""
    try:
        import detectors
    except ImportError as exc:
        return None, f"the detectors package cannot be imported ({exc}); p_synthetic is null"
    loader = getattr(detectors, "load_default", None)
    if loader is None:
        return None, DETECTOR_MISSING
    try:
        return loader(), None
    except Exception as exc:  # a detector without weights must not stop the benchmark
        return None, f"detectors.load_default() failed ({' '.join(str(exc).split())[:200]}); p_synthetic is null"


class ItemScorer:
    """Per-clip measurements of one finished clip file (see the module docstring)."""

    def __init__(self, options: BenchOptions, provenance: Provenance | None, world_prompts: bool, world_model: bool = False):
        from eval.domain import embedded_metrics

        self.metrics = set(options.metrics)
        # Metrics computed with an encoder trained on the shapes world only; each item says whether it is a
        # shapes-world clip (see in_domain), and metrics.json says per metric whether its score means anything.
        self.embedded = embedded_metrics(self.metrics, clip_model=options.clip_model, fvd_extractor=options.fvd_extractor)
        self.world_prompts, self.world_model = world_prompts, world_model
        self.provenance = provenance
        self.notes: dict[str, str] = {}
        self.cpu_seconds: dict[str, float] = {}  # per scoring stage, summed over the items scored
        self.evaluation = None
        group = tuple(name for name in ("clipsim", "temporal") if name in self.metrics)
        if group:
            from eval.evaluate import EvalSettings, FolderEvaluation

            self.evaluation = FolderEvaluation(EvalSettings(
                metrics=group, clip_model=options.clip_model, clip_pretrained=options.clip_pretrained, keep_features=False,
            ))
        self.extractor = None
        if "fvd" in self.metrics:
            from eval.fvd import make_extractor

            self.extractor = make_extractor(options.fvd_extractor)
        self.analyzer = "analyzer" in self.metrics and world_prompts
        if "analyzer" in self.metrics and not world_prompts:
            self.notes["analyzer"] = "skipped: the suite has prompts outside the shapes world"
        self.detector = None
        if "detector" in self.metrics:
            self.detector, note = load_detector()
            if note:
                self.notes["detector"] = note
        self.attacks = []
        if "robustness" in self.metrics:
            if provenance is None:
                self.notes["robustness"] = "skipped: --no-provenance clips carry no watermark"
            else:
                from provenance.watermark.attacks import ATTACKS_BY_NAME

                unknown = [name for name in options.attacks if name not in ATTACKS_BY_NAME]
                if unknown:
                    raise BenchError(None, f"unknown watermark attack {unknown[0]!r}; choose from: {', '.join(ATTACKS_BY_NAME)}")
                self.attacks = [ATTACKS_BY_NAME[name] for name in options.attacks]
        self.trust_anchors = None
        if provenance is not None:
            from provenance.keys import load_trust_anchors

            self.trust_anchors = load_trust_anchors([provenance.trust_anchor])

    def score(self, path: Path, request: ClipRequest, row: dict) -> tuple[dict, bytes | None]:
        """Columns for ``row`` (with ``<stage>_seconds`` timings) and the FVD features (float32 bytes)."""
        import numpy as np

        from provenance.media import read_video

        timer = StageTimer()
        lap = timer.lap
        video = read_video(path)  # the file a user gets, not the frames in memory
        lap("decode")
        out: dict = {}
        in_domain = None
        if self.embedded:
            in_domain = out["in_domain"] = self.in_domain(video.frames)
        if self.evaluation is not None:
            scores = self.evaluation.score_clip(path, video.frames, request.item.prompt, path.parent, fps=video.fps,
                                                in_domain=in_domain)
            out.update({key: value for key, value in scores.items() if key not in ("clip", "frames", "size", "prompt")})
            lap("clip_metrics")
        features = None
        if self.extractor is not None:
            features = self.extractor(video.frames[None]).numpy().astype(np.float32)[0].tobytes()
            lap("fvd_features")
        if self.analyzer:
            from genkit.runfolder import analyzer_columns
            from genkit.world import parse_prompt

            spec = parse_prompt(request.item.prompt)
            expected = {"background": spec.background, "color": spec.color, "shape": spec.shape, "motion": spec.motion}
            out.update(analyzer_columns(video, expected))
            lap("analyzer")
        if self.provenance is not None:
            from provenance.verify import verify_file

            verdict = verify_file(path, trust_anchors_pem=self.trust_anchors, repository=self.provenance.repository,
                                  watermark_key=self.provenance.watermark_key)
            mark = verdict.watermark
            out.update(
                verdict=verdict.verdict.value,
                verify_codes=",".join(verdict.codes) or None,
                watermark_found=bool(mark and mark.found),
                watermark_payload_match=bool(mark and mark.found and mark.payload == row.get("payload")),
                watermark_p_value=mark.p_value if mark else None,
            )
            lap("verify")
            if self.attacks:
                from provenance import watermark
                from provenance.errors import WatermarkError

                rng = np.random.default_rng(request.seed)
                for attack in self.attacks:
                    attacked, _ = attack.apply(video.frames, video.fps, rng)
                    try:
                        found = watermark.detect(np.ascontiguousarray(attacked), self.provenance.watermark_key)
                    except WatermarkError:  # an attack that leaves frames too small to search
                        out[f"wm_{slug(attack.name)}"] = False
                        continue
                    out[f"wm_{slug(attack.name)}"] = bool(found.found and found.payload.hex() == row.get("payload"))
                lap("robustness")
        if self.detector is not None:
            out["p_synthetic"] = float(self.detector.score(video.frames, video.fps))
            lap("detector")
        elif "detector" in self.metrics:
            out["p_synthetic"] = None
        out.update({f"{stage}_seconds": round(value, 4) for stage, value in timer.wall.items()})
        for stage, value in timer.cpu.items():  # CPU time stays out of the row (ledger columns unchanged); benchmarks read totals
            self.cpu_seconds[stage] = self.cpu_seconds.get(stage, 0.0) + value
        return out, features

    def in_domain(self, frames) -> bool:
        """Whether an item is a shapes-world clip, the only domain of the embedded encoders: its prompt must be
        a world prompt, and its pixels must look like the world's (genkit.world.analyze.is_world_clip) unless
        the model only makes world clips (the renderer, synthvid-tiny: a failed clip is still their domain)."""
        if not self.world_prompts:
            return False
        if self.world_model:
            return True
        from genkit.world.analyze import is_world_clip

        return is_world_clip(frames)


def bench_domain_notes(config: dict, rows: list[dict], references: list[dict]) -> dict[str, str]:
    """metrics.json's ``domain``: per metric computed with an embedded encoder, whether the items (and, for
    FVD, the reference clips) are shapes-world clips (eval.domain)."""
    from eval.domain import domain_notes, embedded_metrics

    metrics = config.get("metrics") or []
    embedded = embedded_metrics(metrics, clip_model=config.get("clip_model"), fvd_extractor=config.get("fvd_extractor"))
    if not embedded:
        return {}
    judged = [row["in_domain"] for row in rows if row.get("status") == "ok" and row.get("in_domain") is not None]
    known = bool(judged) or not any(row.get("status") == "ok" for row in rows)
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


# ------------------------------------------------------------------------------------------ reference


def reference_clips(spec: str, settings: Settings, wanted: list[int], count_only: bool = False):
    """``(count, iterator of (index, source, frames))`` of the reference set ``spec`` (``world:SUITE`` or
    a folder of clips), yielding only the indices in ``wanted``."""
    from eval.errors import EvalError

    if spec.startswith("world:"):
        from genkit.suites import load_suite
        from genkit.world.reference import world_reference

        suite = spec.removeprefix("world:")
        try:
            count = len(load_suite(suite))
        except GenkitError as exc:
            raise BenchError(None, f"--reference {spec}: {exc}") from None

        def world():
            frames = world_reference(suite, frames=settings.frames or 16, size=(settings.height or 64, settings.width or 64),
                                     fps=settings.fps, seed=settings.base_seed, crf=settings.crf, only=set(wanted))
            for index, clip in zip(sorted(wanted), frames):
                yield index, f"{spec}#{index}", clip

        return count, world()
    from eval.evaluate import find_clips
    from provenance.media import read_video

    try:
        paths = find_clips(spec).paths
    except EvalError as exc:
        raise BenchError(None, f"--reference: {exc}") from None

    def folder():
        for index in sorted(wanted):
            yield index, str(paths[index]), read_video(paths[index]).frames

    return len(paths), folder()


def add_reference_features(ledger: Ledger, done: set[int], options: BenchOptions, settings: Settings, scorer: ItemScorer,
                           workers: Workers) -> int:
    """FVD features and detector scores of this worker's share of the reference set that no ledger
    holds yet; returns the set's size."""
    import numpy as np

    count, _ = reference_clips(options.resolved_reference(), settings, [])
    wanted = [index for index in workers.mine(count) if index not in done]
    if not wanted:
        return count
    _, clips = reference_clips(options.resolved_reference(), settings, wanted)
    entries = []
    for index, source, frames in clips:
        features = scorer.extractor(frames[None]).numpy().astype(np.float32)[0].tobytes() if scorer.extractor else None
        score = float(scorer.detector.score(frames)) if scorer.detector is not None else None  # negatives of the detector ROC
        entries.append((index, source, features, score))
        if len(entries) >= 32:
            ledger.add_references(entries)
            entries = []
    if entries:
        ledger.add_references(entries)
    return count


# ------------------------------------------------------------------------------------------ the run


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
    scoring_cpu_seconds: dict = field(default_factory=dict)  # CPU time of ItemScorer's stages, summed over items


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
    if provenance is not None:
        check_watermark_fits(settings.height, settings.width, provenance.watermark_key)
    if overwrite and workers.kind == "shard":
        raise BenchError(out, "--overwrite with --num-shards would delete the other shards' work; remove the folder first")
    requests = plan_clips(items, texts, options.samples_per_prompt, settings.base_seed)
    config = bench_config(options, items, backend, settings, provenance)
    run = open_run_folder(out, config, workers, overwrite)
    paths = {item_key(r.prompt_index, r.sample_index): run.clip_path(r.clip_name) for r in requests}  # plan order: stable names
    world_prompts = _all_world_prompts(items)
    main_provenance = provenance
    if provenance is not None and workers.kind != "single":  # one repository file per worker (see the module doc)
        from provenance.repository import ManifestRepository, part_repository_name

        provenance = replace(provenance, repository=ManifestRepository(
            run.root / part_repository_name(workers.kind, workers.rank, workers.world)))
    scorer = ItemScorer(options, provenance, world_prompts, world_model=isinstance(backend, (TinyBackend, WorldBackend)))
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
    result = BenchResult(run, workers, len(requests), done_before=done_before, seconds=timer.wall, cpu_seconds=timer.cpu,
                         scoring_cpu_seconds=scorer.cpu_seconds)
    if on_start:
        on_start(done_before + len(pending))
    lap = timer.lap
    with Ledger(run.root / workers.ledger_name) as ledger:
        ledger.set_meta("config", config)
        ledger.set_meta("notes", scorer.notes)
        lap("setup")
        if (scorer.extractor is not None or scorer.detector is not None) and options.resolved_reference() != NO_REFERENCE:
            add_reference_features(ledger, references_done, options, settings, scorer, workers)
        lap("reference")
        for _ in range(result.done_before):
            if on_item:
                on_item({})
        for batch in batches(pending, settings.batch_size):
            try:
                clips, generate_seconds = generate_batch(backend, batch, settings)
            except Exception as exc:  # a model failure fails its batch; the run goes on
                log.debug("batch failed", exc_info=True)
                clips, generate_seconds = [exc] * len(batch), [0.0] * len(batch)
            for request, frames, seconds in zip(batch, clips, generate_seconds):
                row = commit_item(ledger, run, backend, request, frames, settings, provenance, scorer,
                                  paths[item_key(request.prompt_index, request.sample_index)], seconds, workers)
                result.made += 1
                result.failed += row["status"] == "failed"
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


def commit_item(ledger: Ledger, run: RunFolder, backend, request: ClipRequest, frames, settings: Settings,
                provenance: Provenance | None, scorer: ItemScorer, path: Path, generate_seconds: float,
                workers: Workers) -> dict:
    """Finish, score and commit one item; any failure is committed as the item's error."""
    key = item_key(request.prompt_index, request.sample_index)
    features = None
    try:
        if isinstance(frames, BaseException):
            raise frames
        if provenance is not None:  # a killed run may have registered this item's clip before its commit
            from provenance.sign import forget_undelivered

            for payload in forget_undelivered(path, provenance.repository):
                log.info("%s: removed repository record %s of a clip an interrupted run never committed", key, payload)
        started = time.perf_counter()
        row = finish_clip(run, backend, request, frames, settings, provenance, path, generate_seconds)
        row["provenance_seconds"] = round(time.perf_counter() - started, 4)
        started = time.perf_counter()
        scores, features = scorer.score(path, request, row)
        row.update(scores)
        row["metrics_seconds"] = round(time.perf_counter() - started, 4)
        error = None
    except Exception as exc:
        log.debug("%s failed", key, exc_info=True)
        error = f"{type(exc).__name__}: {' '.join(str(exc).split())}"[:500]
        log.warning("item %s (%s) failed: %s", key, request.item.prompt_id, error)
        row = {
            "prompt_id": request.item.prompt_id, "prompt": request.item.prompt, "dimension": request.item.dimension,
            "prompt_index": request.prompt_index, "sample_index": request.sample_index, "seed": request.seed,
            "model": backend.name, "model_id": backend.model_id, "path": run.relative(path),
        }
    row["worker"] = workers.name
    started = time.perf_counter()
    ledger.record(request.prompt_index, request.sample_index, row, error=error, features=features, worker=workers.name)
    row["ledger_seconds"] = round(time.perf_counter() - started, 4)  # reported, not stored: the commit is done
    row["status"], row["error"] = ("failed", error) if error else ("ok", None)
    return row


def open_run_folder(out: str | Path, config: dict, workers: Workers, overwrite: bool) -> RunFolder:
    """The main worker creates or reopens the folder; torchrun's other ranks wait, then check the config."""
    if workers.distributed and not workers.is_main:
        workers.barrier()
        run = RunFolder.open(out)
        difference = first_difference(run.record.get("config"), json_plain(config))
        if difference:
            raise BenchError(out, f"rank {workers.rank} sees another config than rank 0 ({difference})")
        return run
    try:
        run = RunFolder.create(out, config, overwrite=overwrite, resume=True)
    finally:
        if workers.distributed:
            workers.barrier()
    return run


def json_plain(data):
    import json

    return json.loads(json.dumps(data, default=str))


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


def _all_world_prompts(items: list[SuiteItem]) -> bool:
    from genkit.world import PromptError, parse_prompt

    try:
        for item in items:
            parse_prompt(item.prompt)
    except PromptError:
        return False
    return True


# ------------------------------------------------------------------------------------------ finishing


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
    auc = detector_auc([row.get("p_synthetic") for row in rows if row["status"] == "ok"],
                       [reference["p_synthetic"] for reference in references])
    if auc is not None:
        metrics["detector_auc"] = auc
    if notes:
        metrics["notes"] = notes
    domain = bench_domain_notes(config, rows, references)
    if domain:
        metrics["domain"] = domain
    run.write_json_atomic(METRICS_FILE, metrics)
    if references:
        write_parquet_atomic(references, run.root / REFERENCE_FILE)
    run.rows = rows
    ok = sum(row["status"] == "ok" for row in rows)
    planned = int(config.get("items") or len(rows))
    status = "complete" if ok == planned else "incomplete"
    if status == "complete":
        remove_partial_clips(run)
    run.close(
        status,
        items=planned,
        items_ok=ok,
        items_failed=sum(row["status"] == "failed" for row in rows),
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


def write_parquet_atomic(rows: list[dict], path: Path) -> None:
    import pandas as pd

    with atomic_path(path) as tmp:
        pd.DataFrame(rows).to_parquet(tmp, index=False)


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
    entry = {"label": metric.label, "extractor": metric.extractor.name, "protocol": metric.protocol.name, "reference": config.get("reference"),
             "n_real": len(real), "n_fake": len(fake)}
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
    ok = table[table["status"] == "ok"] if len(table) else table
    out: dict = {
        "items": int(config.get("items") or len(table)),
        "items_ok": int(len(ok)),
        "items_failed": int((table["status"] == "failed").sum()) if len(table) else 0,
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
            breakdowns[column] = {str(key): {name: _clean(value) for name, value in values.items()}
                                  for key, values in grouped.to_dict(orient="index").items()}
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
    return {"value": value, "n_generated": len(positives),
            "n_reference": len(negatives), "note": "reference clips stand for real ones"}


def _mean(values) -> float | None:
    values = values.dropna()
    if not len(values):
        return None
    return _clean(float(values.astype(float).mean()))


def _clean(value):
    return None if value is None or (isinstance(value, float) and math.isnan(value)) else value


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
    result = BenchResult(run, Workers(), total, done_before=sum(row["status"] == "ok" for row in run.rows), finalized=True)
    result.metrics, result.rows = metrics, run.rows
    return result
