"""What ``synthvid bench`` was asked to do, and the run's identity a resumed run must repeat."""

from __future__ import annotations

import hashlib
from dataclasses import asdict, dataclass

from genkit.errors import BenchError
from genkit.generate import Provenance, Settings, generator_id
from genkit.suites import SuiteItem

# The --metrics names, in the order their columns appear (genkit.bench.scoring registers a scorer for each).
METRICS = ("clipsim", "temporal", "fvd", "analyzer", "detector", "robustness")
# Robustness re-detects the watermark after each attack, and a failed detection runs the full search
# (seconds a clip): measured at 2.3 s an item against 1.0 s for everything else, so it is opt-in.
DEFAULT_METRICS = ("clipsim", "temporal", "fvd", "analyzer", "detector")
DEFAULT_ATTACKS = ("H.264 CRF 28", "resize ×0.5 back", "brightness ×1.5")
NO_REFERENCE = "none"


@dataclass
class BenchOptions:
    """What ``synthvid bench`` was asked to do; :func:`bench_config` is what a resumed run must repeat."""

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
        "provenance": None
        if provenance is None
        else {
            "key_dir": str(provenance.key_dir),
            "repository": str(provenance.repository_path or provenance.repository.path),
            "generator_id": generator_id(backend.model_id, backend.revision).hex(),
        },
        "seed": settings.base_seed,
    }
