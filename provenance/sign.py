"""Give a clip its Content Credentials: watermark → H.264 → C2PA sign → register.

:func:`credential_clip` is the one function both ``synthvid sign`` (clips made elsewhere) and the
generation pipeline call for every clip. The watermark payload is 8 random bytes, unique in the
repository; the signed clip appears under its final name only after it was signed and registered,
so a failure leaves neither a half-written clip nor a record without its clip.
"""

from __future__ import annotations

import logging
import os
import secrets
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from provenance.credentials import GenerationParams, GeneratorInfo, build_manifest, sha256_file, sign_file
from provenance.errors import SigningError
from provenance.keys import SignerConfig
from provenance.media import Video, read_video, write_video
from provenance.repository import PAYLOAD_BYTES, ManifestRepository
from provenance.timing import StageTimer
from provenance.verify import MAX_DECODED_FRAMES, read_pixels, watermark_frames

if TYPE_CHECKING:
    from provenance.watermark.core import Detection

log = logging.getLogger(__name__)

# When the mark is not read back from the encoded clip, embed it again pre-compensated for the codec
# (watermark.embed's codec_crf), then encode this many CRF steps lower, down to CRF_FALLBACK_FLOOR: on
# small frames with large pure-black areas the quality floors leave the mark a small step that H.264 at
# CRF 18, and even the conversion to 4:2:0 alone, can take away. CRF 0 would be lossless, which x264
# writes in a profile (High 4:4:4) browsers do not play.
CRF_FALLBACK_STEP = 6
CRF_FALLBACK_FLOOR = 1
# The signed clip's watermark is checked on its first frames, as many as verify reads
# (provenance.verify.MAX_DECODED_FRAMES): what a verifier will find, at a cost independent of length.
CHECK_FRAMES = MAX_DECODED_FRAMES


@dataclass(frozen=True)
class CredentialedClip:
    path: Path
    payload: str  # hex watermark payload, the repository key
    manifest_label: str
    file_sha256: str
    watermark_verified: bool  # the payload was read back from the encoded clip
    crf: int | None = None  # the H.264 CRF of the clip (lower than asked when the mark needed it)
    seconds: dict[str, float] = field(default_factory=dict)  # wall time per stage: watermark, encode, watermark_check, sign, register
    parent: str | None = None  # the source file, when it carried a manifest (now the parentOf ingredient)
    dropped_streams: tuple[str, ...] = ()  # streams of the source file not copied (neither audio nor subtitles)
    # keep_decoded: the pixels of the delivered clip (decoded once, for the watermark check) and what the
    # check found in them. Signing adds a manifest box and moves no sample, so they are the clip's pixels.
    decoded: Video | None = None
    detection: Detection | None = None  # the watermark search over the frames verify reads (watermark_frames)


def _working_files(out: Path) -> tuple[Path, Path]:
    """The hidden unsigned and signed files :func:`credential_clip` writes beside ``out`` (the signed one
    is registered, then renamed to ``out``)."""
    return out.with_name(f".{out.stem}.unsigned.mp4"), out.with_name(f".{out.stem}.signed.mp4")


def forget_undelivered(out_path: str | Path, repository: ManifestRepository) -> list[str]:
    """Unregister what an interrupted :func:`credential_clip` left registered for ``out_path``: the
    clip at ``out_path`` or its signed working file, found by file hash. Returns the payloads removed.

    Only for callers that know the clip at ``out_path`` was never delivered — a benchmark item its ledger
    does not have, about to be made again. A clip someone already has keeps its record for verify.
    """
    out = Path(out_path)
    removed = []
    for candidate in (out, _working_files(out)[1]):
        if candidate.is_file():
            record = repository.lookup_file_sha256(sha256_file(candidate))
            if record is not None and repository.unregister(record.payload):
                removed.append(record.payload)
    return removed


def new_payload(repository: ManifestRepository, prefix: bytes = b"") -> bytes:
    """``prefix`` + random bytes up to 8, not yet registered (a caller's prefix, e.g. a generator id,
    shortens the random part; a collision is still cheap to rule out)."""
    if len(prefix) >= PAYLOAD_BYTES:
        raise SigningError(None, f"payload prefix of {len(prefix)} bytes leaves no room for a random part ({PAYLOAD_BYTES} bytes in all)")
    while True:
        payload = prefix + secrets.token_bytes(PAYLOAD_BYTES - len(prefix))
        if not repository.contains(payload):
            return payload


def credential_clip(
    clip: Video | str | Path,
    out_path: str | Path,
    *,
    generator: GeneratorInfo,
    signer: SignerConfig,
    repository: ManifestRepository,
    watermark_key: bytes,
    params: GenerationParams | None = None,
    training_mining: str | dict[str, str] | None = "notAllowed",
    hash_prompt: bool = False,
    crf: int = 18,
    watermark_strength: float | None = None,
    check_watermark: bool = True,
    payload_prefix: bytes = b"",
    keep_decoded: bool = False,
) -> CredentialedClip:
    """Watermark ``clip`` (a :class:`Video` or a video file), encode it as H.264 MP4 at ``out_path``,
    sign it with a manifest describing ``generator`` and ``params``, and register it in ``repository``.

    A file is streamed: decoded, watermarked and encoded a few frames at a time (read more than once,
    see :func:`provenance.watermark.embed_stream`), so memory does not grow with its length; its audio
    and subtitle streams are copied into the signed clip packet for packet. A file that already carries
    Content Credentials becomes the parentOf ingredient of the new manifest, which opens it
    (``c2pa.opened``) instead of claiming to have created it.

    ``check_watermark`` reads the encoded clip as verify does (its first frames, streamed:
    :func:`provenance.verify.read_pixels`) and looks for the payload; where the mark did not survive, it is embedded again
    pre-compensated for the codec, and then encoded :data:`CRF_FALLBACK_STEP` CRF lower at a time (down
    to CRF 1); a clip whose mark is still lost is reported (``watermark_verified=False``, and a warning)
    rather than registered silently under a payload no one can recover. ``payload_prefix`` fixes the
    first bytes of the payload (the generation pipeline puts its generator id there); the rest is random.

    ``keep_decoded`` (with ``check_watermark``): the check decodes every frame, not only those the
    watermark is read from, and the result keeps them and the detection (``decoded``, ``detection``), so a
    caller that scores the clip need not decode it again (a file in memory, not streamed: a pipeline's).
    """
    from provenance import watermark
    from provenance.credentials import c2pa_format, carries_manifest
    from provenance.media import VideoWriter, iter_video, probe_video

    source = None if isinstance(clip, Video) else Path(clip)
    if source is not None:
        info = probe_video(source)
        fps, num_frames = info.fps, None
        fmt = c2pa_format(info.container)
        parent = source if fmt is not None and carries_manifest(source, fmt) else None
    else:
        fps, num_frames, fmt, parent = clip.fps, clip.num_frames, None, None
    out = Path(out_path)
    if out.exists() and out.is_dir():
        raise SigningError(out, "is a directory")
    if not out.parent.is_dir():  # say so before the work, and name the user's path, not a temporary one
        raise SigningError(out, f"directory {out.parent} does not exist")
    if source is not None and out.exists() and out.resolve() == source.resolve():
        raise SigningError(out, "is the clip being signed; write the signed clip to another file")
    payload = new_payload(repository, payload_prefix)
    kwargs = {} if watermark_strength is None else {"strength": watermark_strength}
    unsigned, signed = _working_files(out)

    dropped: list[str] = []

    class TimedWriter(VideoWriter):
        """The encoder as embed_stream's sink: its own time is the encode stage, the time up to each
        write (decoding and embedding the frames) the watermark stage."""

        def __enter__(self):
            dropped[:] = self.dropped
            return self

        def write(self, frames):
            timer.lap("watermark")
            VideoWriter.write(self, frames)
            timer.lap("encode")
            dropped[:] = self.dropped

        def __exit__(self, *exc):
            timer.lap("watermark")
            VideoWriter.__exit__(self, *exc)
            timer.lap("encode")

    def mark_and_encode(codec_crf: int | None, crf: int) -> None:
        """Watermark and encode to ``unsigned``: a Video in memory, a file streamed."""
        if source is None:
            marked = watermark.embed(clip.frames, payload, watermark_key, codec_crf=codec_crf, **kwargs)
            timer.lap("watermark")
            write_video(Video(np.ascontiguousarray(marked), clip.fps, dict(clip.meta)), unsigned, crf=crf)
            timer.lap("encode")
            return
        nonlocal num_frames
        report = watermark.embed_stream(
            lambda: iter_video(source, chunk=8, threaded=True),
            payload,
            watermark_key,
            lambda: TimedWriter(unsigned, fps, crf=crf, copy_streams_from=source),
            codec_crf=codec_crf,
            **kwargs,
        )
        num_frames = report.frames
        timer.lap("watermark")

    timer = StageTimer()  # each lap charges the time since the previous one to its stage
    try:
        # Where the mark does not survive the encode: embed again pre-compensated for this CRF, then
        # lower the CRF step by step (each time pre-compensated for the new one).
        verified, asked, codec_crf = True, crf, None
        decoded = detection = None
        while True:
            mark_and_encode(codec_crf, crf)
            if not check_watermark:
                break
            if keep_decoded:
                decoded = read_video(unsigned)
                detection = watermark.detect(decoded.frames[: watermark_frames(decoded.height, decoded.width)], watermark_key)
            else:  # streamed, as verify reads it: the watermark's work frames, never the frames themselves
                detection = watermark.detect_work(read_pixels(unsigned, [], CHECK_FRAMES, True, None).work, watermark_key)
            timer.lap("watermark_check")
            verified = bool(detection.found and detection.payload == payload)
            if verified or (codec_crf is not None and crf <= CRF_FALLBACK_FLOOR):
                break
            if codec_crf is not None:
                crf = max(CRF_FALLBACK_FLOOR, crf - CRF_FALLBACK_STEP)
            codec_crf = crf
        if verified and codec_crf is not None:  # a lower CRF is only ever tried after the re-embed
            log.info("%s: the watermark survives H.264 at crf %d (asked: %d) with codec-aware embedding", out, crf, asked)
        if not verified:
            log.warning("%s: the watermark payload could not be read back after encoding (crf %d to %d)", out, asked, crf)
        manifest = build_manifest(
            title=out.name,
            generator=generator,
            params=params,
            watermark_payload=payload,
            watermark_alg=watermark.ALGORITHM,
            duration_ms=int(round(1000 * num_frames / fps)),
            training_mining=training_mining,
            hash_prompt=hash_prompt,
            parent=None if parent is None else parent.name,
        )
        result = sign_file(unsigned, signed, manifest, signer, parent=parent, **({} if fmt is None else {"parent_format": fmt}))
        timer.lap("sign")  # the manifest and its signature
        repository.register(
            payload,
            result.manifest_json,
            manifest_label=result.manifest_label,
            manifest_store=result.manifest_store,
            file_sha256=result.file_sha256,
            file_name=out.name,
            signer=signer.signer_name,
            generator=" ".join(x for x in (generator.name, generator.version) if x),
        )
        os.replace(signed, out)
        timer.lap("register")
    finally:
        unsigned.unlink(missing_ok=True)
        signed.unlink(missing_ok=True)
    return CredentialedClip(
        out,
        payload.hex(),
        result.manifest_label,
        result.file_sha256,
        verified,
        crf,
        timer.wall,
        parent=None if parent is None else str(parent),
        dropped_streams=tuple(dropped),
        decoded=decoded if keep_decoded else None,
        detection=detection if keep_decoded else None,
    )
