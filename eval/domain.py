"""Domain honesty of the embedded encoders: say when their scores mean nothing.

synthvid-tiny-clip (CLIPSIM, CLIP-Temp, background consistency, subject consistency with the default
subject encoder) and synthvid-tiny-video (FVD-tiny) are trained on shapes-world clips only. On other
footage their scores look plausible (CLIP-Temp 0.999 on camera clips) and measure nothing, so every
output of a metric computed with one of them carries a note per metric (``domain`` in the JSON):

- ``in-domain: ...`` when every clip it scored is a shapes-world clip;
- ``out-of-domain: ...`` when some are not, naming the flags and weight files to use instead;
- ``domain unknown: ...`` when nobody told eval what the clips are.

Whether a clip is a shapes-world clip is known above eval (genkit's shapes-world analyzer), so it is
handed in: a :data:`DomainCheck` ``in_domain(frames) -> bool`` (the umbrella CLI puts
``genkit.world.analyze.is_world_clip`` in ``ctx.obj["domain_checker"]`` for ``synthvid eval``; the
bench passes each item's answer), or nothing (``python -m eval``: domain unknown).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

# frames (uint8 [T, H, W, 3]) -> is this a clip of the domain the embedded encoders were trained on?
DomainCheck = Callable[[np.ndarray], bool]

TINY_CLIP = "synthvid-tiny-clip"
TINY_VIDEO = "synthvid-tiny-video"
OPENAI_CLIP = (
    "--clip-model ViT-B-32-quickgelu --clip-pretrained ViT-B-32.pt (OpenAI's CLIP ViT-B/32 TorchScript "
    "file, as VBench keeps it in clip_model/ViT-B-32.pt)"
)
DINO = "--subject-encoder timm:vit_base_patch16_224.dino:dino_vitbase16_pretrain.pth (DINO ViT-B/16, VBench's subject encoder)"
I3D = (
    "--fvd-extractor i3d:i3d_pretrained_400.pt --protocol cd-fvd (VideoGPT's I3D weights, the published FVD; "
    "or --fvd-extractor videomae:FILE.pth --protocol cd-fvd)"
)
# metric -> what to use instead of its embedded encoder
ALTERNATIVES = {
    "fvd": I3D,
    "clipsim": OPENAI_CLIP,
    "clip_temp": OPENAI_CLIP,
    "background_consistency": OPENAI_CLIP,
    "subject_consistency": f"{DINO}, or {OPENAI_CLIP}",
    "aesthetic_quality": "--clip-model ViT-L-14-quickgelu --clip-pretrained ViT-L-14.pt with LAION's head",
}
UNKNOWN = "domain unknown: embedded encoders are trained on the shapes world only"


def embedded_metrics(metrics, *, clip_model: str | None, fvd_extractor: str | None, subject_encoder: str | None = None) -> dict[str, str]:
    """``{metric: embedded encoder}`` for the metrics of ``metrics`` (groups fvd, clipsim, temporal, aesthetic)
    that this configuration computes with an encoder trained on the shapes world only."""
    out: dict[str, str] = {}
    metrics = set(metrics)
    if "fvd" in metrics and (fvd_extractor in (None, TINY_VIDEO) or str(fvd_extractor).startswith(f"{TINY_VIDEO}:")):
        out["fvd"] = TINY_VIDEO
    if (clip_model or TINY_CLIP) == TINY_CLIP:
        if "clipsim" in metrics:
            out["clipsim"] = TINY_CLIP
        if "temporal" in metrics:
            out["clip_temp"] = out["background_consistency"] = TINY_CLIP
            if subject_encoder in (None, "clip"):
                out["subject_consistency"] = TINY_CLIP
        if "aesthetic" in metrics:  # only a head as wide as the tiny CLIP's embedding gets this far
            out["aesthetic_quality"] = TINY_CLIP
    return out


def domain_note(metric: str, encoder: str, scored: int, outside: int, known: bool) -> str:
    """The note of one metric: ``scored`` clips seen by ``encoder``, ``outside`` of them not shapes-world
    clips; ``known`` is False when no check was handed in."""
    instead = ALTERNATIVES.get(metric, OPENAI_CLIP)
    if not known:
        return f"{UNKNOWN} ({encoder}); on other footage this score is not meaningful: use {instead}"
    if outside:
        return (
            f"out-of-domain: {outside} of {scored} clips are not shapes-world clips, and {encoder} is trained on the "
            f"shapes world only: this score is not meaningful there; use {instead}"
        )
    return f"in-domain: all {scored} clips are shapes-world clips ({encoder} is trained on them)"


def domain_notes(embedded: dict[str, str], scored: dict[str, int], outside: dict[str, int], known: bool) -> dict[str, str]:
    """Notes of every metric of ``embedded`` (:func:`embedded_metrics`)."""
    return {metric: domain_note(metric, encoder, scored.get(metric, 0), outside.get(metric, 0), known) for metric, encoder in embedded.items()}


def is_out_of_domain(note: str | None) -> bool:
    return bool(note) and not note.startswith("in-domain")


@dataclass
class DomainTracker:
    """Counts, per metric computed with an embedded encoder, the clips scored and those outside the shapes world."""

    embedded: dict[str, str]
    check: DomainCheck | None = None
    scored: dict[str, int] = field(default_factory=dict)
    outside: dict[str, int] = field(default_factory=dict)

    @property
    def active(self) -> bool:
        return bool(self.embedded)

    def judge(self, frames: np.ndarray) -> bool | None:
        """The check's answer for ``frames`` (``None`` without a check or without embedded metrics)."""
        if self.check is None or not self.embedded:
            return None
        return bool(self.check(frames))

    def count(self, metrics, in_domain: bool | None) -> None:
        """Record one clip scored by ``metrics`` (those of them that are embedded)."""
        for metric in metrics:
            if metric in self.embedded:
                self.scored[metric] = self.scored.get(metric, 0) + 1
                if in_domain is False:
                    self.outside[metric] = self.outside.get(metric, 0) + 1

    def notes(self) -> dict[str, str]:
        return domain_notes(self.embedded, self.scored, self.outside, known=self.check is not None)
