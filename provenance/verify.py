"""One verdict per clip, from its C2PA manifest, its watermark and the manifest repository.

| verdict | meaning |
|---|---|
| TRUSTED | manifest valid, signer chains to a trust anchor, hashes match |
| UNTRUSTED_SIGNER | manifest intact, signer not trusted (unknown CA, expired or revoked credential) |
| TAMPERED | any integrity failure, named by its codes (e.g. ``assertion.bmffHash.mismatch``) |
| WATERMARK_ONLY | no manifest, our watermark found; the manifest is recovered from the repository |
| NO_PROVENANCE | neither |

Beyond c2pa-rs's own codes, three of ours make a clip TAMPERED:
``synthvid.softBinding.mismatch`` (the watermark in the pixels carries another payload than the
manifest's soft binding), ``synthvid.signedFile.mismatch`` (the repository registered this very
manifest with a file of other bytes: something changed in a region the C2PA hard binding excludes)
and ``synthvid.manifest.unreadable`` (the file carries a manifest box c2pa-rs cannot parse at all).

A detector score may be attached through ``detector=``; it is shown as a third, separate signal and
labelled a statistical estimate: it never changes the verdict.
"""

from __future__ import annotations

import enum
import logging
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Callable

from provenance.credentials import (
    ManifestReport,
    has_c2pa_box,
    read_manifest,
    read_manifest_store,
    sha256_file,
)
from provenance.errors import ManifestError, MediaError
from provenance.files import check_input_file
from provenance.media import top_level_boxes

log = logging.getLogger(__name__)

SOFT_BINDING_MISMATCH = "synthvid.softBinding.mismatch"
SIGNED_FILE_MISMATCH = "synthvid.signedFile.mismatch"
# Every frame carries the whole watermark payload, so a few seconds of frames decide as well as all
# of them; decoding a long 1080p clip whole would cost seconds and gigabytes.
MAX_DECODED_FRAMES = 64


class VerdictKind(str, enum.Enum):
    TRUSTED = "TRUSTED"
    UNTRUSTED_SIGNER = "UNTRUSTED_SIGNER"
    TAMPERED = "TAMPERED"
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


@dataclass
class RecoveredManifest:
    """A manifest found in the repository through the watermark payload of a clip that lost its own."""

    manifest_label: str
    registered_at: str
    file_name: str | None
    signature: str  # "trusted", "valid, untrusted signer" or "invalid: <codes>"
    manifest: dict = field(repr=False)


@dataclass
class DetectorEstimate:
    """A detector's P(synthetic): a statistical estimate, never proof, shown beside the verdict."""

    name: str
    p_synthetic: float
    label: str = "statistical estimate, never proof"


Detector = Callable[["object"], DetectorEstimate]  # called with a provenance.media.Video


@dataclass
class Verdict:
    path: str
    verdict: VerdictKind
    ai_generated: bool | None = None  # from digitalSourceType; None when nothing says
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
    payload_agreement: bool | None = None  # watermark payload vs the manifest's soft binding
    recovered: RecoveredManifest | None = None
    detector: DetectorEstimate | None = None
    notes: list[str] = field(default_factory=list)

    @property
    def exit_code(self) -> int:
        return self.verdict.exit_code

    def to_dict(self) -> dict:
        data = asdict(self)
        data["verdict"] = self.verdict.value
        return data


def _watermark_result(frames, key: bytes) -> WatermarkResult:
    try:
        from provenance import watermark
    except ImportError as exc:
        return WatermarkResult(checked=False, note=f"watermark module unavailable ({exc})")
    found = watermark.detect(frames, key)
    return WatermarkResult(
        checked=True,
        found=bool(found.found),
        payload=found.payload.hex() if found.found and found.payload is not None else None,
        p_value=None if found.p_value is None else float(found.p_value),
        bit_errors_corrected=found.bit_errors_corrected,
        frames_used=found.frames_used,
    )


def _recover(repository, payload: str, trust_anchors_pem) -> RecoveredManifest | None:
    record = repository.lookup(payload)
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
    return RecoveredManifest(record.manifest_label, record.registered_at, record.file_name, signature, record.active_manifest)


def _describe(verdict: Verdict, report: ManifestReport) -> None:
    verdict.ai_generated = report.ai_generated
    verdict.signer = report.signer
    verdict.time, verdict.time_source = report.signed_time
    verdict.generator = report.generator


def verify_file(
    path: str | Path,
    *,
    trust_anchors_pem: bytes | str | None = None,
    repository=None,
    watermark_key: bytes | None = None,
    detector: Detector | None = None,
    max_frames: int | None = MAX_DECODED_FRAMES,
) -> Verdict:
    """The verdict for one clip. Raises :class:`MediaError` for bad input (missing, empty, truncated,
    not a video): a file that cannot be judged gets no verdict.

    ``repository`` is a :class:`provenance.repository.ManifestRepository` (or ``None``);
    ``watermark_key`` enables the watermark check; ``detector`` adds a statistical estimate. Both see
    the first ``max_frames`` frames (``None``: all).
    """
    path = Path(path)
    check_input_file(path)
    try:
        top_level_boxes(path)
        bmff = True
    except MediaError as exc:
        if not exc.reason.startswith("not an MP4"):
            raise
        # Other containers carry no C2PA manifest here (the watermark may still be there), unless
        # this is an MP4 with a damaged first box that still carries its manifest box.
        bmff = has_c2pa_box(path)
    report = read_manifest(path, trust_anchors_pem) if bmff else None

    from provenance.media import read_video  # numpy + PyAV: only now that pixels may be needed

    video = decode_note = None
    if watermark_key is not None or detector is not None:
        try:
            video = read_video(path, max_frames=max_frames)
        except MediaError as exc:
            if report is None:
                raise
            decode_note = f"pixels not decodable ({exc.reason})"
    elif report is None:
        read_video(path, max_frames=1)  # is it a video at all? bad input otherwise

    verdict = Verdict(str(path), VerdictKind.NO_PROVENANCE)
    if decode_note:
        verdict.notes.append(decode_note)
    if video is not None and watermark_key is not None:
        verdict.watermark = _watermark_result(video.frames, watermark_key)
    elif watermark_key is None:
        verdict.watermark = WatermarkResult(checked=False, note="no watermark key given")
    if video is not None and detector is not None:
        verdict.detector = detector(video)
    mark = verdict.watermark
    mark_found = mark is not None and mark.found

    if report is not None:
        verdict.validation_state = report.state
        verdict.manifest_label = report.label
        verdict.codes = report.failure_codes
        verdict.explanations = [f"{f['code']}: {f.get('explanation', '')}" for f in report.failures]
        _describe(verdict, report)
        if report.state == "Trusted":
            verdict.verdict = VerdictKind.TRUSTED
        elif report.integrity_failures:
            verdict.verdict = VerdictKind.TAMPERED
        else:
            verdict.verdict = VerdictKind.UNTRUSTED_SIGNER
        payloads = [payload.hex() for _, payload in report.soft_bindings]
        verdict.soft_binding_payloads = payloads
        if mark_found and payloads:
            verdict.payload_agreement = mark.payload in payloads
            if not verdict.payload_agreement:
                verdict.verdict = VerdictKind.TAMPERED
                verdict.codes.append(SOFT_BINDING_MISMATCH)
                verdict.explanations.append(
                    f"{SOFT_BINDING_MISMATCH}: the pixels carry watermark payload {mark.payload}, "
                    f"the manifest's soft binding says {', '.join(payloads)}"
                )
        elif mark is not None and mark.checked and payloads:
            verdict.notes.append("the manifest declares a watermark, but it was not found with this key")
        if repository is not None and verdict.verdict is not VerdictKind.TAMPERED:
            _check_registered_file(verdict, repository, path, payloads)
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
                verdict.notes.append("signer, time and generator come from the manifest recovered from the repository")
    return verdict


def _check_registered_file(verdict: Verdict, repository, path: Path, payloads: list[str]) -> None:
    """TAMPERED if the repository holds this manifest for a file with other bytes."""
    for payload in payloads:
        record = repository.lookup(payload)
        if record is None or record.manifest_label != verdict.manifest_label:
            continue
        if record.file_sha256 != sha256_file(path):
            verdict.verdict = VerdictKind.TAMPERED
            verdict.codes.append(SIGNED_FILE_MISMATCH)
            verdict.explanations.append(
                f"{SIGNED_FILE_MISMATCH}: the repository registered this manifest with a file of SHA-256 "
                f"{record.file_sha256[:16]}…; bytes outside the C2PA hard binding were changed"
            )
        else:
            verdict.notes.append("byte-identical to the file registered at signing")
        return
    verdict.notes.append("manifest not registered in the given repository")
