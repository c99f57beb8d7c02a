"""One record per delivered clip: the file measured once, handed to verify and to every scorer.

The pipeline that writes a clip already decodes it (to check that its watermark survived the codec),
knows the file's SHA-256 (it registered it) and has the watermark's reading; the prompt is parsed
once when the suite is planned. :class:`ItemRecord` carries all of that, so no scorer opens the file
again: the pixels are the delivered file's (decoded from the encoded bytes, not the frames in memory
before the codec), and signing only adds a manifest box, so they are also the signed file's.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from genkit.generate import ClipRequest, FinishedClip
from genkit.suites import SuiteItem

if TYPE_CHECKING:
    from genkit.world import WorldPrompt
    from provenance.media import Video
    from provenance.verify import ClipEvidence, WatermarkResult


@dataclass
class ItemRecord:
    """A delivered clip and what is known of it; scorers read it and add columns, never re-read the file."""

    request: ClipRequest
    path: Path  # the delivered file
    row: dict  # finish_clip's row: what was asked, payload, file_sha256, timings
    video: Video  # the delivered file's pixels, decoded once
    spec: WorldPrompt | None  # the prompt parsed once; None outside the shapes world
    watermark: WatermarkResult | None = None  # read once from ``video``; None without provenance
    in_domain: bool | None = None  # a shapes-world clip? judged once, when an embedded-encoder metric needs it
    fvd_features: bytes | None = None  # float32 features the FVD scorer adds; the ledger keeps them beside the row

    def evidence(self) -> ClipEvidence:
        """What verify needs not measure again (:class:`provenance.verify.ClipEvidence`)."""
        from provenance.verify import ClipEvidence

        return ClipEvidence(video=self.video, watermark=self.watermark, file_sha256=self.row.get("file_sha256"))


def make_record(finished: FinishedClip, request: ClipRequest, path: Path, spec: WorldPrompt | None, watermark_key: bytes | None) -> ItemRecord:
    """The record of a clip :func:`genkit.generate.finish_clip` wrote with ``keep_decoded``: its pixels
    and watermark reading as the write's check left them (a clip written without provenance is decoded
    here, once)."""
    video = finished.video
    if video is None:
        from provenance.media import read_video

        video = read_video(path)
    watermark = None
    if watermark_key is not None:
        from provenance.verify import read_watermark, watermark_frames

        marked = video.frames[: watermark_frames(video.height, video.width)]
        watermark = read_watermark(marked, watermark_key, whole=finished.detection)
    return ItemRecord(request, path, finished.row, video, spec, watermark)


def parse_specs(items: list[SuiteItem]) -> list[WorldPrompt | None]:
    """Every item's prompt parsed once as a shapes-world prompt (``None`` where it is not one)."""
    from genkit.world import PromptError, parse_prompt

    specs: list[WorldPrompt | None] = []
    for item in items:
        try:
            specs.append(parse_prompt(item.prompt))
        except PromptError:
            specs.append(None)
    return specs
