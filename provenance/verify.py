"""One verdict per clip, from its C2PA manifest, its watermark and the manifest repository.

| verdict | meaning | exit |
|---|---|---|
| TRUSTED | manifest valid, signer chains to a trust anchor, hashes match, every ingredient too | 0 |
| UNTRUSTED_SIGNER | manifest intact, its signer not trusted (unknown CA, expired or revoked credential) | 1 |
| UNTRUSTED_INGREDIENT | the active manifest is intact and its signer trusted, but an ingredient's signer is not | 1 |
| TAMPERED | any integrity failure, named by its codes (e.g. ``assertion.bmffHash.mismatch``) | 1 |
| CONFLICT | the manifest and our watermark + repository disagree about what the clip is | 1 |
| WATERMARK_ONLY | no manifest, our watermark found; the manifest is recovered from the repository | 1 |
| NO_PROVENANCE | neither | 1 |

Our watermark is always read (given a key) and its payload always looked up in the repository (given
one), whatever the manifest declares. A CONFLICT names both sides: what the manifest claims (signer,
AI-generated or not) and what the watermark and the repository say (payload, registered manifest,
its signer and generator). ``synthvid.manifest.conflict``: the payload in the pixels (or in the
manifest's soft binding of ours) is registered with another manifest, which is neither this one nor
one of its ingredients — a laundering or look-alike re-sign. ``synthvid.watermark.undeclared``: our
watermark is in the pixels, but neither the manifest nor any ingredient declares a soft binding of
ours. When our watermark and repository say the clip is AI-generated, the verdict never reads
"AI-generated: no", whatever the manifest claims.

Only soft bindings whose ``alg`` is our watermark's are checked; others are reported as present and
not checked. Beyond c2pa-rs's own codes, ours that make a clip TAMPERED are
``synthvid.softBinding.mismatch`` (the watermark in the pixels carries another payload than the
manifest's soft binding, and the repository does not know it), ``synthvid.signedFile.mismatch`` (the
repository registered this very manifest with a file of other bytes: something changed in a region
the C2PA hard binding excludes) and ``synthvid.manifest.unreadable`` (the file carries a manifest box
c2pa-rs cannot parse at all).

"AI-generated" comes from every action's digitalSourceType and from AI-generated ingredients
(:func:`provenance.credentials.ai_assessment`); ``ai_basis`` says which. The ingredient chain is shown
with each ingredient's signer, validation and AI flag, so that an untrusted ingredient is blamed
rather than the active manifest's signer.

A detector score may be attached through ``detector=``; it is shown as a third, separate signal and
labelled a statistical estimate: it never changes the verdict.

Formats. The format is told from the file's bytes, never its name. C2PA is read wherever c2pa-rs
reads it: MP4/MOV/M4V, AVI, fragmented MP4 (the init segment with its media segments, in order:
``synthvid verify init.mp4 seg*.m4s``; c2pa-rs validates the init segment with each segment, and
the worst result counts), HEIC/AVIF, M4A, WAV, MP3, FLAC, JPEG, PNG, GIF, TIFF, WebP. A lone media
segment, a lone init segment and a DASH/HLS playlist are bad input (exit 2) that say what to give
instead: an init segment's manifest hashes media that are in other files, so alone it cannot be
judged — never TAMPERED.

Assets without video (:data:`NO_VIDEO_RULE`): an audio file or a still image gets the same verdicts
and exit codes as a video, from its C2PA manifest alone, with the note "no video stream (<format>):
watermark not checked"; without a manifest that is NO_PROVENANCE (exit 1) when c2pa-rs reads the
format. A file that is neither a video nor a format c2pa-rs reads C2PA from is bad input: one line,
exit 2, naming what it is.
"""

from __future__ import annotations

import enum
import logging
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Callable

from provenance.credentials import (
    IngredientReport,
    ManifestReport,
    ai_assessment,
    has_c2pa_box,
    read_manifest,
    read_manifest_store,
    sha256_file,
)
from provenance.errors import ManifestError, MediaError
from provenance.files import check_input_file
from provenance.media import sniff_container

if TYPE_CHECKING:
    from provenance.media import Video
    from provenance.watermark.core import Detection

log = logging.getLogger(__name__)

SOFT_BINDING_MISMATCH = "synthvid.softBinding.mismatch"
SIGNED_FILE_MISMATCH = "synthvid.signedFile.mismatch"
MANIFEST_CONFLICT = "synthvid.manifest.conflict"
WATERMARK_UNDECLARED = "synthvid.watermark.undeclared"
UNTRUSTED_CREDENTIAL = "signingCredential.untrusted"  # c2pa-rs: a valid signature by a signer no anchor vouches for
# A clip that decodes to nothing as a whole is read again in halves of at least this many frames: a
# splice of two marked clips carries two payloads, neither of which decodes over all frames.
MIN_SEGMENT_FRAMES = 16
NO_VIDEO_RULE = (
    "An asset without a video stream (audio, still image) is judged by its C2PA manifest alone, with the "
    "same verdicts and exit codes as a video and the note 'no video stream (<format>): watermark not "
    "checked'; without a manifest it is NO_PROVENANCE (exit 1) when c2pa-rs reads its format. A file that "
    "is neither a video nor a format c2pa-rs reads C2PA from is bad input: one line naming what it is, exit 2."
)
# Every frame carries the whole watermark payload, so a few seconds of frames decide as well as all
# of them; decoding a long 1080p clip whole would cost seconds and gigabytes.
MAX_DECODED_FRAMES = 64
# Above 1080p fewer frames carry as much evidence: the work frames box-average more pixels each, so the
# watermark reads its first frames up to this many pixels (64 frames at 1080p, 16 at 4K), never under 8.
WATERMARK_PIXELS = MAX_DECODED_FRAMES * 1920 * 1080
MIN_WATERMARK_FRAMES = 8
CHUNK_PIXELS = 8 * 1920 * 1080  # decoded at a time: 8 frames at 1080p (50 MB), 2 at 4K


@dataclass(frozen=True)
class ClipEvidence:
    """What the caller already measured of the very file it asks about — a pipeline that has just
    written, checked and hashed it — so :func:`verify_file` does not decode, search or hash it again. The
    C2PA manifest is always read from the file. Only for files the caller made in this process: evidence
    about another file, or made with another watermark key, gives a wrong verdict."""

    video: Video | None = None  # the decoded clip (at least its first MAX_DECODED_FRAMES frames)
    watermark: WatermarkResult | None = None  # read_watermark of those frames with verify's watermark_key
    file_sha256: str | None = None  # SHA-256 of the file's bytes


class VerdictKind(str, enum.Enum):
    TRUSTED = "TRUSTED"
    UNTRUSTED_SIGNER = "UNTRUSTED_SIGNER"
    UNTRUSTED_INGREDIENT = "UNTRUSTED_INGREDIENT"
    TAMPERED = "TAMPERED"
    CONFLICT = "CONFLICT"
    WATERMARK_ONLY = "WATERMARK_ONLY"
    NO_PROVENANCE = "NO_PROVENANCE"

    @property
    def exit_code(self) -> int:
        return 0 if self is VerdictKind.TRUSTED else 1


@dataclass
class WatermarkResult:
    """Our watermark in the decoded pixels; ``checked=False`` says why not in ``note``."""

    checked: bool
    found: bool = False
    payload: str | None = None  # hex
    p_value: float | None = None
    bit_errors_corrected: int | None = None
    frames_used: int | None = None
    note: str | None = None
    # Every payload found: one, or (a splice) one per segment of the clip, with its frames [start, end).
    segments: list[dict] = field(default_factory=list)

    @property
    def payloads(self) -> list[str]:
        found = [s["payload"] for s in self.segments] or ([self.payload] if self.payload else [])
        return list(dict.fromkeys(found))


@dataclass
class RecoveredManifest:
    """A manifest found in the repository through the watermark payload of a clip that lost its own."""

    manifest_label: str
    registered_at: str
    file_name: str | None
    signature: str  # "trusted", "valid, untrusted signer" or "invalid: <codes>"
    manifest: dict = field(repr=False)
    payload: str | None = None
    signer: str | None = None
    generator: str | None = None
    ai_generated: bool | None = None
    ai_basis: list[str] = field(default_factory=list)


@dataclass
class DetectorEstimate:
    """A detector's P(synthetic): a statistical estimate, never proof, shown beside the verdict."""

    name: str
    p_synthetic: float
    label: str = "statistical estimate, never proof"


# Called with a provenance.media.Video of the clip's first frames. A detector that reads only some of them
# says which with an attribute ``frame_plan(fps, frames) -> (stride, count) | None``: verify then decodes
# the clip chunk by chunk and hands it just frames 0, stride, 2·stride, … (count of them), with
# ``video.meta["frame_plan"] = (stride, count)``, so a 4K clip is never held whole; an attribute
# ``reduce_frames(frames) -> frames`` (applied to each chunk's planned frames) shrinks them as far as the
# detector's own preprocessing would, without changing its score.
Detector = Callable[["object"], DetectorEstimate]


@dataclass
class Verdict:
    path: str
    verdict: VerdictKind
    ai_generated: bool | None = None  # None when nothing says, or the evidence disagrees
    ai_basis: list[str] = field(default_factory=list)  # what ai_generated rests on
    manifest_ai_generated: bool | None = None  # what the file's own manifest claims (CONFLICT shows both)
    signer: str | None = None
    time: str | None = None
    time_source: str | None = None  # "timestamp authority" or "claimed by signer"
    generator: str | None = None
    codes: list[str] = field(default_factory=list)  # failure codes, c2pa-rs's and ours
    explanations: list[str] = field(default_factory=list)
    validation_state: str | None = None  # c2pa-rs: Trusted / Valid / Invalid
    manifest_label: str | None = None
    soft_binding_payloads: list[str] = field(default_factory=list)
    watermark: WatermarkResult | None = None
    payload_agreement: bool | None = None  # watermark payload vs the soft bindings of ours in the chain
    other_soft_bindings: list[dict] = field(default_factory=list)  # other algorithms': present, not checked
    ingredients: list[IngredientReport] = field(default_factory=list)
    # The manifest the repository holds for the watermark payload: recovered (WATERMARK_ONLY) or the
    # registered one a CONFLICT sets against the file's manifest.
    recovered: RecoveredManifest | None = None
    detector: DetectorEstimate | None = None
    notes: list[str] = field(default_factory=list)
    media: str | None = None  # what the file is (MP4, AVI, WAV audio, JPEG image, ...), from its bytes
    fragments: list[str] = field(default_factory=list)  # media segments read with a fragmented-MP4 init segment
    fragment_results: list[dict] = field(default_factory=list)  # c2pa-rs's result with each: {file, state, codes}

    @property
    def exit_code(self) -> int:
        return self.verdict.exit_code

    def to_dict(self) -> dict:
        data = asdict(self)
        data["verdict"] = self.verdict.value
        return data


def read_watermark(frames, key: bytes, whole: Detection | None = None) -> WatermarkResult:
    """What verify reports of the watermark in ``frames`` (the first :data:`MAX_DECODED_FRAMES` of a clip,
    uint8 ``[T, H, W, 3]`` or their :class:`provenance.watermark.WorkFrames`) under ``key``: the search over
    the whole clip (``whole`` when the caller already ran it on these very frames, as
    :func:`provenance.sign.credential_clip` does), and where it finds nothing, over each half (a splice of
    two marked clips)."""
    from provenance import watermark

    # The work frames are made only if a search runs: a caller's ``whole`` that found the mark needs none.
    work = frames if isinstance(frames, watermark.WorkFrames) else None
    if whole is None:
        work = work or watermark.work_frames(frames)
        whole = watermark.detect_work(work, key)
    found = whole
    result = WatermarkResult(
        checked=True,
        found=bool(found.found),
        payload=found.payload.hex() if found.found and found.payload is not None else None,
        p_value=None if found.p_value is None else float(found.p_value),
        bit_errors_corrected=found.bit_errors_corrected,
        frames_used=found.frames_used,
    )
    total = work.frames if work is not None else len(frames)
    if result.found or total < 2 * MIN_SEGMENT_FRAMES:
        return result
    work = work or watermark.work_frames(frames)
    # Nothing over the whole clip: a splice of two marked clips reads as noise there, each half as one.
    for start, end in ((0, total // 2), (total // 2, total)):
        part = watermark.detect_work(work[start:end], key)
        if part.found and part.payload is not None:
            result.segments.append({"frames": [start, end], "payload": part.payload.hex(), "p_value": float(part.p_value)})
    if result.segments:
        first = result.segments[0]
        result.found, result.payload, result.p_value = True, first["payload"], first["p_value"]
        result.frames_used = first["frames"][1] - first["frames"][0]
        result.note = "found in part of the clip only: " + "; ".join(
            f"frames {s['frames'][0]}-{s['frames'][1] - 1}: payload {s['payload']}" for s in result.segments
        )
    return result


def _recover(repository, payload: str, trust_anchors_pem, record=None) -> RecoveredManifest | None:
    record = record or repository.lookup(payload)
    if record is None:
        return None
    try:
        stored = read_manifest_store(record.manifest_store, None, trust_anchors_pem)
        successes = {c.get("code") for c in stored.successes}
        if "claimSignature.validated" not in successes:
            signature = "invalid: " + ", ".join(stored.failure_codes)
        elif "signingCredential.trusted" in successes:
            signature = "trusted"
        else:
            signature = "valid, untrusted signer"
    except ManifestError as exc:
        signature = f"invalid: {exc.reason}"
    stored = record.manifest_store_dict
    ai, basis = ai_assessment(stored.get("manifests") or {}, stored.get("active_manifest") or record.manifest_label)
    active = ManifestReport(state="", label=record.manifest_label, manifest=record.active_manifest, store_json="")
    return RecoveredManifest(
        record.manifest_label,
        record.registered_at,
        record.file_name,
        signature,
        record.active_manifest,
        payload=record.payload,
        signer=active.signer or record.signer,
        generator=active.generator or record.generator,
        ai_generated=ai,
        ai_basis=basis,
    )


def _describe(verdict: Verdict, report: ManifestReport) -> None:
    verdict.ai_generated, verdict.ai_basis = report.ai_assessment
    verdict.signer = report.signer
    verdict.time, verdict.time_source = report.signed_time
    verdict.generator = report.generator


def verify_file(
    path: str | Path,
    *,
    fragments: list[str | Path] | tuple = (),
    trust_anchors_pem: bytes | str | None = None,
    repository=None,
    watermark_key: bytes | None = None,
    detector: Detector | None = None,
    max_frames: int | None = MAX_DECODED_FRAMES,
    evidence: ClipEvidence | None = None,
    allowed_certificates: list[bytes] | tuple = (),
) -> Verdict:
    """The verdict for one asset. Raises :class:`MediaError` for bad input (missing, empty, truncated,
    neither a video nor a format C2PA is read from): a file that cannot be judged gets no verdict.

    ``fragments``: ``path`` is a fragmented-MP4 init segment and these are its media segments (in
    order); the manifest is validated with each and the pixels are read across them. ``repository``
    is a :class:`provenance.repository.ManifestRepository` (or ``None``); ``watermark_key`` enables the
    watermark check; ``detector`` adds a statistical estimate. Both see the first ``max_frames``
    frames (``None``: all). ``evidence``: see :class:`ClipEvidence`. ``allowed_certificates``: end-entity
    certificates (DER, :func:`provenance.keys.load_allowed_list`) whose valid signatures are trusted
    without a chain to an anchor (MP4-family files).

    Assets without video (audio, still images): see :data:`NO_VIDEO_RULE`.
    """
    path = Path(path)
    check_input_file(path)
    fragments = [Path(f) for f in fragments]
    for fragment in fragments:
        check_input_file(fragment)
    container = sniff_container(path)
    _refuse_unjudgeable(path, container, fragments)
    # c2pa-rs reads C2PA from this format; or an MP4 whose damaged first box hides the format but that
    # still carries a C2PA manifest box.
    readable = container.mime is not None or has_c2pa_box(path)
    report = read_manifest(path, trust_anchors_pem, container=container, fragments=fragments) if readable else None
    if container.kind == "init" and not fragments:
        said = (
            "c2pa-rs finds no C2PA manifest in it"
            if report is None
            else f"c2pa-rs reports {report.state}" + (f" ({', '.join(report.failure_codes)})" if report.failure_codes else "")
        )
        raise MediaError(
            path,
            f"a fragmented-MP4 init segment: its media are in separate segment files, give them after it "
            f"(synthvid verify {path.name} seg*.m4s); alone, {said}",
        )

    evidence = evidence or ClipEvidence()
    pixels = decode_note = no_video = None
    if container.kind in ("audio", "image"):
        no_video = container.name
    elif evidence.video is not None:
        pixels = Pixels.of(evidence.video, max_frames, watermark_key is not None and evidence.watermark is None)
    elif watermark_key is not None or detector is not None or report is None:
        try:
            pixels = read_pixels(path, fragments, max_frames, watermark_key is not None, detector)
        except MediaError as exc:
            if exc.reason == "contains no video stream" and container.mime is not None:
                no_video = f"{container.name} without a video stream"
            elif report is None:
                raise
            else:
                decode_note = f"pixels not decodable ({exc.reason})"

    verdict = Verdict(str(path), VerdictKind.NO_PROVENANCE)
    verdict.media = container.name
    verdict.fragments = [str(f) for f in fragments]
    if decode_note:
        verdict.notes.append(decode_note)
    if no_video:
        checked = " and detector" if detector is not None else ""
        verdict.notes.append(f"no video stream ({no_video}): watermark{checked} not checked; the verdict rests on C2PA alone")
        verdict.watermark = WatermarkResult(checked=False, note=f"no video stream ({no_video})")
    elif evidence.watermark is not None and watermark_key is not None:
        verdict.watermark = evidence.watermark
    elif pixels is not None and pixels.work is not None:
        verdict.watermark = read_watermark(pixels.work, watermark_key)
    elif watermark_key is None:
        verdict.watermark = WatermarkResult(checked=False, note="no watermark key given")
    if pixels is not None and pixels.video is not None and detector is not None:
        verdict.detector = detector(pixels.video)
    mark = verdict.watermark
    mark_found = mark is not None and mark.found

    if report is not None:
        _judge_manifest(verdict, report, repository, path, trust_anchors_pem, evidence.file_sha256, allowed_certificates)
        verdict.fragment_results = list(report.fragments)
    elif mark_found:
        verdict.verdict = VerdictKind.WATERMARK_ONLY
        if repository is None:
            verdict.notes.append("no manifest repository given: the stripped manifest cannot be recovered")
        else:
            verdict.recovered = _recover(repository, mark.payload, trust_anchors_pem)
            if verdict.recovered is None:
                verdict.notes.append(f"payload {mark.payload} is not in the repository {repository.path}")
            else:
                recovered = ManifestReport(state="", label=verdict.recovered.manifest_label, manifest=verdict.recovered.manifest, store_json="")
                _describe(verdict, recovered)
                verdict.ai_generated, verdict.ai_basis = verdict.recovered.ai_generated, list(verdict.recovered.ai_basis)
                verdict.notes.append("signer, time and generator come from the manifest recovered from the repository")
    return verdict


def watermark_frames(height: int, width: int, max_frames: int | None = MAX_DECODED_FRAMES) -> int | None:
    """How many of a clip's first frames the watermark is read from (see :data:`WATERMARK_PIXELS`): the
    same for verify and for the read-back check when signing, so a signer sees what a verifier will."""
    if max_frames is None:
        return None
    return min(max_frames, max(MIN_WATERMARK_FRAMES, WATERMARK_PIXELS // max(1, height * width)))


@dataclass
class Pixels:
    """What verify keeps of a clip's pixels: the watermark's work frames of its first frames, and the
    frames the detector reads (``None`` where not wanted)."""

    work: object | None = None  # provenance.watermark.WorkFrames
    video: Video | None = None

    @classmethod
    def of(cls, video: Video, max_frames: int | None, watermark: bool) -> Pixels:
        if max_frames is not None and video.num_frames > max_frames:
            video = type(video)(video.frames[:max_frames], video.fps, video.meta)
        if not watermark:
            return cls(None, video)
        from provenance.watermark import work_frames

        return cls(work_frames(video.frames[: watermark_frames(video.height, video.width, max_frames)]), video)


def read_pixels(path: Path, fragments: list[Path], max_frames: int | None, watermark: bool, detector) -> Pixels:
    """Decode the clip chunk by chunk, keeping only what is judged — the watermark's work frames of its
    first :func:`watermark_frames` frames (kilobytes a frame) and the frames the detector reads (its ``frame_plan``)
    — so memory does not grow with the frame size times the frames read. With neither, one frame is
    decoded, to know the file is a video. A detector without a plan gets the first ``max_frames`` frames."""
    from provenance.media import Video, iter_video, probe_video, read_video

    if detector is not None and getattr(detector, "frame_plan", None) is None:
        return Pixels.of(read_video(path, max_frames=max_frames, segments=fragments), max_frames, watermark)
    import numpy as np

    from provenance.watermark import WorkFrames, work_frames

    info = probe_video(path, segments=fragments)
    plan = detector.frame_plan(info.fps, info.promised_frames or None) if detector is not None else None
    reduce = getattr(detector, "reduce_frames", None) or (lambda frames: frames)
    marked = watermark_frames(info.height, info.width, max_frames)
    limits = [marked if watermark else 0]
    if detector is not None:
        limits.append(max_frames if plan is None else plan[0] * (plan[1] - 1) + 1)
    limit = None if None in limits else max(max(limits), 1)
    works, kept, index = [], [], 0
    chunk_frames = max(1, CHUNK_PIXELS // max(1, info.height * info.width))
    for chunk in iter_video(path, chunk=chunk_frames, max_frames=limit, segments=fragments):
        if watermark and (marked is None or index < marked):
            works.append(work_frames(chunk if marked is None else chunk[: marked - index]))
        if detector is not None:
            if plan is None:
                kept.append(chunk if max_frames is None else chunk[: max_frames - index])
            else:
                stride, count = plan
                wanted = [i - index for i in range(index, index + len(chunk)) if i % stride == 0 and i // stride < count]
                if wanted:
                    kept.append(reduce(chunk[wanted]))  # a copy: the chunk itself is let go
        index += len(chunk)
    work = WorkFrames.concat(works) if works else None
    video = None
    if kept:
        meta = {} if plan is None else {"frame_plan": tuple(plan)}
        video = Video(np.concatenate(kept), info.fps, meta)
    return Pixels(work, video)


def _refuse_unjudgeable(path: Path, container, fragments: list[Path]) -> None:
    """Bad input, said plainly: a lone media segment, a playlist, segments after a non-init file."""
    if container.kind == "segment":
        raise MediaError(
            path, "a media segment of a fragmented MP4 (no 'ftyp' or 'moov'): give it after its init segment (synthvid verify init.mp4 seg*.m4s)"
        )
    if container.kind == "playlist":
        raise MediaError(
            path,
            f"an {container.name}, a list of media files, not media: verify the init segment with "
            "its media segments (synthvid verify init.mp4 seg*.m4s)",
        )
    if fragments and container.kind != "init":
        raise MediaError(fragments[0], f"given as a media segment of {path.name}, which is not a fragmented-MP4 init segment ({container.name})")
    for fragment in fragments:
        kind = sniff_container(fragment).kind
        if kind != "segment":
            raise MediaError(fragment, f"given as a media segment of {path.name}, but it is not one (no 'moof' first)")


def _c2pa_verdict(report: ManifestReport, ingredients: list[IngredientReport]) -> VerdictKind:
    """The verdict c2pa-rs's validation alone supports, blaming the manifest that failed."""
    if report.state == "Trusted":
        return VerdictKind.TRUSTED
    if report.integrity_failures:
        return VerdictKind.TAMPERED
    if report.failures:
        return VerdictKind.UNTRUSTED_SIGNER
    # The active manifest is clean, yet c2pa-rs withheld "Trusted": an ingredient's manifest failed.
    if any(i.integrity_failures for i in ingredients):
        return VerdictKind.TAMPERED
    if any(i.codes for i in ingredients):
        return VerdictKind.UNTRUSTED_INGREDIENT
    return VerdictKind.UNTRUSTED_SIGNER


def _claims(verdict: Verdict, report: ManifestReport) -> str:
    ai = {True: "AI-generated", False: "not AI-generated", None: "nothing about AI generation"}[verdict.manifest_ai_generated]
    basis = f" ({'; '.join(verdict.ai_basis)})" if verdict.ai_basis else ""
    return f"this file's manifest {report.label} (signer {report.signer or 'unknown'}) claims {ai}{basis}"


def _judge_manifest(verdict: Verdict, report: ManifestReport, repository, path: Path, trust_anchors_pem, file_sha256: str | None, allowed=()) -> None:
    from provenance.watermark import ALGORITHM  # the soft-binding algorithm we can check

    verdict.validation_state = report.state
    verdict.manifest_label = report.label
    verdict.codes = report.failure_codes
    verdict.explanations = [f"{f['code']}: {f.get('explanation', '')}" for f in report.failures]
    _describe(verdict, report)
    verdict.manifest_ai_generated = verdict.ai_generated
    verdict.ingredients = report.ingredient_chain()
    for ingredient in verdict.ingredients:
        where = f"ingredient {ingredient.title or ingredient.manifest_label!r} (signer {ingredient.signer or 'unknown'})"
        verdict.explanations += [f"{where}: {text}" for text in ingredient.explanations]
    verdict.verdict = _c2pa_verdict(report, verdict.ingredients)
    if allowed and verdict.verdict is VerdictKind.UNTRUSTED_SIGNER and set(report.failure_codes) == {UNTRUSTED_CREDENTIAL}:
        _apply_allowed_list(verdict, report, path, allowed)
    c2pa_integrity_failure = verdict.verdict is VerdictKind.TAMPERED

    verdict.soft_binding_payloads = [p.hex() for alg, p in report.soft_bindings if alg == ALGORITHM]
    verdict.other_soft_bindings = [
        {"alg": alg, "value": p.hex(), "status": "present, not checked (not our algorithm)"} for alg, p in report.soft_bindings if alg != ALGORITHM
    ]
    chain_payloads = list(dict.fromkeys(p.hex() for alg, p in report.chain_soft_bindings() if alg == ALGORITHM))
    chain_labels = report.chain_labels
    mark = verdict.watermark
    marks = mark.payloads if mark is not None and mark.found else []

    conflicts: list[tuple[str, str]] = []  # (code, explanation)
    registered = []  # records the conflicts name
    handled: set[str] = set()
    # 1. Every payload in the pixels is looked up, whatever the manifest declares.
    for payload in marks:
        record = repository.lookup(payload) if repository is not None else None
        if record is not None:
            handled.add(payload)
            if record.manifest_label == report.label:
                if not c2pa_integrity_failure:
                    _check_registered_file(verdict, record, path, file_sha256)
                continue
            if record.manifest_label in chain_labels:
                verdict.notes.append(
                    f"watermark payload {payload} is registered with manifest {record.manifest_label}, "
                    "an ingredient of this one (an edit of a registered clip)"
                )
                continue
            registered.append(record)
            conflicts.append(
                (
                    MANIFEST_CONFLICT,
                    f"{MANIFEST_CONFLICT}: the pixels carry synthvid watermark payload {payload}, "
                    f"registered with manifest {record.manifest_label}; this file's manifest is not that one "
                    "and does not name it as an ingredient",
                )
            )
        elif payload not in chain_payloads and not chain_payloads:
            where = "no manifest repository given" if repository is None else f"payload not in the repository {repository.path}"
            conflicts.append(
                (
                    WATERMARK_UNDECLARED,
                    f"{WATERMARK_UNDECLARED}: the pixels carry synthvid watermark payload {payload}, "
                    f"but the manifest declares no synthvid soft binding ({where})",
                )
            )
    if marks and chain_payloads:
        verdict.payload_agreement = all(p in chain_payloads for p in marks)
        undeclared = [p for p in marks if p not in chain_payloads and p not in handled]
        if undeclared:
            verdict.verdict = VerdictKind.TAMPERED
            verdict.codes.append(SOFT_BINDING_MISMATCH)
            verdict.explanations.append(
                f"{SOFT_BINDING_MISMATCH}: the pixels carry watermark payload {', '.join(undeclared)}, "
                f"the manifest's soft binding says {', '.join(chain_payloads)}"
            )
    elif mark is not None and mark.checked and not mark.found and chain_payloads:
        verdict.notes.append("the manifest declares a watermark, but it was not found with this key")
    for item in verdict.other_soft_bindings:
        verdict.notes.append(f"soft binding of algorithm {item['alg']}: {item['status']}")

    # 2. A soft binding of ours the watermark did not confirm: is the manifest the registered one?
    if repository is not None:
        for payload in chain_payloads:
            if payload in handled:
                continue
            record = repository.lookup(payload)
            if record is None:
                continue
            handled.add(payload)
            if record.manifest_label == report.label:
                if not c2pa_integrity_failure:
                    _check_registered_file(verdict, record, path, file_sha256)
            elif record.manifest_label not in chain_labels:
                registered.append(record)
                conflicts.append(
                    (
                        MANIFEST_CONFLICT,
                        f"{MANIFEST_CONFLICT}: the manifest's soft binding names payload {payload}, "
                        f"registered with another manifest, {record.manifest_label}: this manifest is not the registered one",
                    )
                )
        if not handled and report.label is not None:
            verdict.notes.append("manifest not registered in the given repository")

    if not conflicts:
        return
    for code, text in conflicts:
        verdict.codes.append(code)
        verdict.explanations.append(text)
    if not c2pa_integrity_failure:
        verdict.verdict = VerdictKind.CONFLICT
    verdict.notes.insert(0, _claims(verdict, report))
    recovered = [_recover(repository, r.payload, trust_anchors_pem, r) for r in registered]
    if recovered:
        verdict.recovered = recovered[0]
        for rec in recovered:
            verdict.notes.insert(
                1,
                f"the repository says: payload {rec.payload} is manifest {rec.manifest_label}, signed by "
                f"{rec.signer or 'unknown'} (signature {rec.signature}), generator {rec.generator or 'unknown'}, "
                f"registered {rec.registered_at}, AI-generated: {_yes_no(rec.ai_generated)}",
            )
    ai_records = [rec for rec in recovered if rec.ai_generated]
    if ai_records:
        verdict.ai_generated = True
        verdict.ai_basis = [
            f"watermark payload {rec.payload} + repository manifest {rec.manifest_label}: {'; '.join(rec.ai_basis)}" for rec in ai_records
        ]
    elif verdict.ai_generated is False:
        # Our watermark is in the pixels, and synthvid marks only what it credentials as generated.
        verdict.ai_generated = None
        verdict.ai_basis = ["disputed: the manifest says not AI-generated, but the pixels carry synthvid's watermark"]


def _apply_allowed_list(verdict: Verdict, report: ManifestReport, path: Path, allowed) -> None:
    """TRUSTED when the only fault c2pa-rs found is an untrusted signer whose end-entity certificate —
    read from the signature itself, not from names — is on the allowed list."""
    import hashlib

    from provenance.credentials import embedded_store, signer_certificate

    store = embedded_store(path) if report.label else None
    certificate = signer_certificate(store, report.label) if store else None
    if certificate is None:
        verdict.notes.append("allowed list not checked: the signer's certificate could not be read from this file")
        return
    if certificate not in allowed:
        return
    verdict.verdict = VerdictKind.TRUSTED
    verdict.codes = [code for code in verdict.codes if code != UNTRUSTED_CREDENTIAL]
    verdict.notes.append(
        f"trusted by the allowed list: the signer's certificate (SHA-256 {hashlib.sha256(certificate).hexdigest()[:16]}…) "
        "is on it; c2pa-rs, which checks chains to the trust anchors only, reports signingCredential.untrusted"
    )


def _yes_no(flag: bool | None) -> str:
    return {True: "yes", False: "no", None: "unknown"}[flag]


def _check_registered_file(verdict: Verdict, record, path: Path, file_sha256: str | None) -> None:
    """TAMPERED if the repository holds this manifest for a file with other bytes."""
    if record.file_sha256 != (file_sha256 or sha256_file(path)):
        verdict.verdict = VerdictKind.TAMPERED
        verdict.codes.append(SIGNED_FILE_MISMATCH)
        verdict.explanations.append(
            f"{SIGNED_FILE_MISMATCH}: the repository registered this manifest with a file of SHA-256 "
            f"{record.file_sha256[:16]}…; bytes outside the C2PA hard binding were changed"
        )
    else:
        verdict.notes.append("byte-identical to the file registered at signing")
