"""Per-item scorers of a benchmark run, one class per concern, in a registry.

A scorer serves some ``--metrics`` names (:data:`genkit.bench.options.METRICS`), loads what it needs
once in :meth:`Scorer.prepare` and turns an :class:`~genkit.bench.record.ItemRecord` into columns of the
item's row in :meth:`Scorer.score`; the time it takes is the row's ``<stage>_seconds``. Scorers that
also measure the reference set (the FVD features and the detector's negatives) implement
:meth:`Scorer.score_reference`.

To add a metric: write a :class:`Scorer` subclass with its ``names`` and ``stage``, decorate it with
:func:`register`, add its name to ``METRICS`` and, if it gives a per-item score that should be averaged,
its column to ``genkit.bench.finalize.SCORE_COLUMNS``.
"""

from __future__ import annotations

import re
from abc import ABC, abstractmethod
from dataclasses import dataclass, field

from genkit.bench.options import BenchOptions
from genkit.bench.record import ItemRecord
from genkit.errors import BenchError
from genkit.generate import Provenance
from provenance.timing import StageTimer


@dataclass
class ScoringContext:
    """What every scorer may read: the options, the provenance the clips were made with, the suite's
    domain, and the notes (``metrics.json``'s ``notes``: why a metric was skipped)."""

    options: BenchOptions
    provenance: Provenance | None
    world_prompts: bool  # every prompt of the suite is a shapes-world prompt
    world_model: bool  # the model makes shapes-world clips only (the renderer, synthvid-tiny)
    notes: dict[str, str] = field(default_factory=dict)


class Scorer(ABC):
    """One per-item measurement. ``names``: the --metrics names that enable it (empty: see :meth:`wanted`)."""

    names: tuple[str, ...] = ()
    stage: str = ""

    def __init__(self, context: ScoringContext):
        self.context = context

    @classmethod
    def wanted(cls, context: ScoringContext) -> bool:
        return bool(set(cls.names) & set(context.options.metrics))

    def prepare(self) -> None:  # noqa: B027 - an optional hook: a scorer without models loads nothing
        """Load models and check options, once per run."""

    @abstractmethod
    def score(self, record: ItemRecord) -> dict:
        """The columns this scorer adds to the record's row."""

    def score_reference(self, frames) -> dict:
        """Columns of a reference clip (``features``, ``p_synthetic``); empty if it scores none."""
        return {}


SCORERS: list[type[Scorer]] = []


def register(cls: type[Scorer]) -> type[Scorer]:
    """Add a scorer to the registry; rows get its columns in registration order."""
    SCORERS.append(cls)
    return cls


def slug(name: str) -> str:
    """A column-safe name: ``H.264 CRF 28`` → ``h_264_crf_28``, ``resize ×0.5 back`` → ``resize_0_5_back``."""
    return re.sub(r"[^a-z0-9]+", "_", name.lower()).strip("_")


@register
class ClipMetrics(Scorer):
    """CLIPSIM and the temporal metrics (eval), on one CLIP encoding of the frames."""

    names = ("clipsim", "temporal")
    stage = "clip_metrics"

    def prepare(self) -> None:  # noqa: B027 - an optional hook: a scorer without models loads nothing
        from eval.evaluate import EvalSettings, FolderEvaluation

        options = self.context.options
        group = tuple(name for name in self.names if name in options.metrics)
        self.evaluation = FolderEvaluation(
            EvalSettings(metrics=group, clip_model=options.clip_model, clip_pretrained=options.clip_pretrained, keep_features=False)
        )

    def score(self, record: ItemRecord) -> dict:
        video = record.video
        # The bench takes its means from the ledger's rows: the metric states are not updated per item.
        scores = self.evaluation.score_clip(
            record.path, video.frames, record.request.item.prompt, record.path.parent, fps=video.fps, in_domain=record.in_domain, accumulate=False
        )
        return {key: value for key, value in scores.items() if key not in ("clip", "frames", "size", "prompt")}


@register
class FvdFeatures(Scorer):
    """The FVD extractor's features of the item (set-level FVD is computed from the ledger at the end)."""

    names = ("fvd",)
    stage = "fvd_features"

    def prepare(self) -> None:  # noqa: B027 - an optional hook: a scorer without models loads nothing
        from eval.fvd import make_extractor

        self.extractor = make_extractor(self.context.options.fvd_extractor)

    def features(self, frames) -> bytes:
        import numpy as np

        return self.extractor(frames[None]).numpy().astype(np.float32)[0].tobytes()

    def score(self, record: ItemRecord) -> dict:
        record.fvd_features = self.features(record.video.frames)
        return {}

    def score_reference(self, frames) -> dict:
        return {"features": self.features(frames)}


@register
class WorldAnalyzer(Scorer):
    """What the shapes-world analyzer reads in the clip against the parsed prompt."""

    names = ("analyzer",)
    stage = "analyzer"

    @classmethod
    def wanted(cls, context: ScoringContext) -> bool:
        if "analyzer" in context.options.metrics and not context.world_prompts:
            context.notes["analyzer"] = "skipped: the suite has prompts outside the shapes world"
            return False
        return super().wanted(context)

    def score(self, record: ItemRecord) -> dict:
        from genkit.runfolder import analyzer_columns

        spec = record.spec
        expected = {"background": spec.background, "color": spec.color, "shape": spec.shape, "motion": spec.motion}
        return analyzer_columns(record.video, expected)


@register
class Verification(Scorer):
    """``synthvid verify``'s verdict of the delivered file, from the record's pixels, watermark and hash."""

    stage = "verify"

    @classmethod
    def wanted(cls, context: ScoringContext) -> bool:
        return context.provenance is not None

    def prepare(self) -> None:  # noqa: B027 - an optional hook: a scorer without models loads nothing
        from provenance.keys import load_trust_anchors

        self.trust_anchors = load_trust_anchors([self.context.provenance.trust_anchor])

    def score(self, record: ItemRecord) -> dict:
        from provenance.verify import verify_file

        provenance = self.context.provenance
        verdict = verify_file(
            record.path,
            trust_anchors_pem=self.trust_anchors,
            repository=provenance.repository,
            watermark_key=provenance.watermark_key,
            evidence=record.evidence(),
        )
        mark = verdict.watermark
        return {
            "verdict": verdict.verdict.value,
            "verify_codes": ",".join(verdict.codes) or None,
            "watermark_found": bool(mark and mark.found),
            "watermark_payload_match": bool(mark and mark.found and mark.payload == record.row.get("payload")),
            "watermark_p_value": mark.p_value if mark else None,
        }


@register
class Robustness(Scorer):
    """Whether the payload survives each of ``--attacks`` (a column ``wm_<attack>`` each)."""

    names = ("robustness",)
    stage = "robustness"

    @classmethod
    def wanted(cls, context: ScoringContext) -> bool:
        if "robustness" in context.options.metrics and context.provenance is None:
            context.notes["robustness"] = "skipped: --no-provenance clips carry no watermark"
            return False
        return super().wanted(context)

    def prepare(self) -> None:  # noqa: B027 - an optional hook: a scorer without models loads nothing
        from provenance.watermark.attacks import ATTACKS_BY_NAME

        unknown = [name for name in self.context.options.attacks if name not in ATTACKS_BY_NAME]
        if unknown:
            raise BenchError(None, f"unknown watermark attack {unknown[0]!r}; choose from: {', '.join(ATTACKS_BY_NAME)}")
        self.attacks = [ATTACKS_BY_NAME[name] for name in self.context.options.attacks]

    def score(self, record: ItemRecord) -> dict:
        import numpy as np

        from provenance import watermark
        from provenance.errors import WatermarkError

        video, out = record.video, {}
        rng = np.random.default_rng(record.request.seed)
        for attack in self.attacks:
            attacked, _ = attack.apply(video.frames, video.fps, rng)
            try:
                found = watermark.detect(np.ascontiguousarray(attacked), self.context.provenance.watermark_key)
            except WatermarkError:  # an attack that leaves frames too small to search
                out[f"wm_{slug(attack.name)}"] = False
                continue
            out[f"wm_{slug(attack.name)}"] = bool(found.found and found.payload.hex() == record.row.get("payload"))
        return out


@register
class DetectorScore(Scorer):
    """The detector's P(synthetic) of the item (and of each reference clip: the ROC's negatives)."""

    names = ("detector",)
    stage = "detector"

    def prepare(self) -> None:  # noqa: B027 - an optional hook: a scorer without models loads nothing
        import detectors

        try:
            self.detector = detectors.load_default()
        except Exception as exc:  # a detector without weights must not stop the benchmark
            self.detector = None
            self.context.notes["detector"] = f"detectors.load_default() failed ({' '.join(str(exc).split())[:200]}); p_synthetic is null"

    def score(self, record: ItemRecord) -> dict:
        if self.detector is None:
            return {"p_synthetic": None}
        return {"p_synthetic": float(self.detector.score(record.video.frames, record.video.fps))}

    def score_reference(self, frames) -> dict:
        return {} if self.detector is None else {"p_synthetic": float(self.detector.score(frames))}


class ItemScoring:
    """The scorers a run asked for, prepared once; :meth:`score` gives an item's columns and timings."""

    def __init__(self, context: ScoringContext):
        from eval.domain import embedded_metrics

        options = context.options
        self.context = context
        self.notes = context.notes
        # Metrics computed with an encoder trained on the shapes world only; each item says whether it is a
        # shapes-world clip (see in_domain), and metrics.json says per metric whether its score means anything.
        self.embedded = embedded_metrics(set(options.metrics), clip_model=options.clip_model, fvd_extractor=options.fvd_extractor)
        self.scorers = [cls(context) for cls in SCORERS if cls.wanted(context)]
        for scorer in self.scorers:
            scorer.prepare()
        self.cpu_seconds: dict[str, float] = {}  # per scoring stage, summed over the items scored

    @property
    def scores_references(self) -> bool:
        return any(type(scorer).score_reference is not Scorer.score_reference for scorer in self.scorers)

    def score(self, record: ItemRecord) -> dict:
        """Columns of the record's row, with ``<stage>_seconds`` timings."""
        timer = StageTimer()
        out: dict = {}
        if self.embedded:
            record.in_domain = out["in_domain"] = self.in_domain(record)
        for scorer in self.scorers:
            out.update(scorer.score(record))
            timer.lap(scorer.stage)
        out.update({f"{stage}_seconds": round(value, 4) for stage, value in timer.wall.items()})
        for stage, value in timer.cpu.items():  # CPU time stays out of the row (ledger columns unchanged); benchmarks read totals
            self.cpu_seconds[stage] = self.cpu_seconds.get(stage, 0.0) + value
        return out

    def score_reference(self, frames) -> dict:
        out: dict = {}
        for scorer in self.scorers:
            out.update(scorer.score_reference(frames))
        return out

    def in_domain(self, record: ItemRecord) -> bool:
        """Whether an item is a shapes-world clip, the only domain of the embedded encoders: its prompt must be
        a world prompt, and its pixels must look like the world's (genkit.world.analyze.is_world_clip) unless
        the model only makes world clips (the renderer, synthvid-tiny: a failed clip is still their domain)."""
        if record.spec is None or not self.context.world_prompts:
            return False
        if self.context.world_model:
            return True
        from genkit.world.analyze import is_world_clip

        return is_world_clip(record.video.frames)
