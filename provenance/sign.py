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
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from provenance.credentials import GenerationParams, GeneratorInfo, build_manifest, sign_file
from provenance.errors import SigningError
from provenance.keys import SignerConfig
from provenance.media import Video, read_video, write_video
from provenance.repository import PAYLOAD_BYTES, ManifestRepository

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class CredentialedClip:
    path: Path
    payload: str  # hex watermark payload, the repository key
    manifest_label: str
    file_sha256: str
    watermark_verified: bool  # the payload was read back from the encoded clip


def new_payload(repository: ManifestRepository) -> bytes:
    """8 random bytes not yet registered (a collision is ~2^-64 per clip, but cheap to rule out)."""
    while True:
        payload = secrets.token_bytes(PAYLOAD_BYTES)
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
) -> CredentialedClip:
    """Watermark ``clip`` (a :class:`Video` or a video file), encode it as H.264 MP4 at ``out_path``,
    sign it with a manifest describing ``generator`` and ``params``, and register it in ``repository``.

    ``check_watermark`` decodes the encoded clip and looks for the payload, so a clip whose watermark
    did not survive the encode is reported (``watermark_verified=False``, and a warning) rather than
    registered silently under a payload no one can recover.
    """
    from provenance import watermark

    video = clip if isinstance(clip, Video) else read_video(clip)
    out = Path(out_path)
    if out.exists() and out.is_dir():
        raise SigningError(out, "is a directory")
    payload = new_payload(repository)
    kwargs = {} if watermark_strength is None else {"strength": watermark_strength}
    marked = watermark.embed(video.frames, payload, watermark_key, **kwargs)
    unsigned = out.with_name(f".{out.stem}.unsigned.mp4")
    signed = out.with_name(f".{out.stem}.signed.mp4")
    try:
        write_video(Video(np.ascontiguousarray(marked), video.fps, dict(video.meta)), unsigned, crf=crf)
        verified = True
        if check_watermark:
            detection = watermark.detect(read_video(unsigned).frames, watermark_key)
            verified = bool(detection.found and detection.payload == payload)
            if not verified:
                log.warning("%s: the watermark payload could not be read back after encoding (crf %d)", out, crf)
        manifest = build_manifest(
            title=out.name,
            generator=generator,
            params=params,
            watermark_payload=payload,
            watermark_alg=watermark.ALGORITHM_ID,
            duration_ms=int(round(1000 * video.duration)),
            training_mining=training_mining,
            hash_prompt=hash_prompt,
        )
        result = sign_file(unsigned, signed, manifest, signer)
        generator_text = " ".join(x for x in (generator.name, generator.version) if x)
        repository.register(
            payload,
            result.manifest_json,
            manifest_label=result.manifest_label,
            manifest_store=result.manifest_store,
            file_sha256=result.file_sha256,
            file_name=out.name,
            signer=signer.signer_name,
            generator=generator_text,
        )
        os.replace(signed, out)
    finally:
        unsigned.unlink(missing_ok=True)
        signed.unlink(missing_ok=True)
    return CredentialedClip(out, payload.hex(), result.manifest_label, result.file_sha256, verified)
