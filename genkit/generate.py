"""The generation job: prompts → clips with provenance, one row each in a run folder.

For every clip::

    backend.generate ─► provenance.sign.credential_clip: watermark → H.264 → C2PA sign → register
                     ─► one row of results.parquet (genkit.runfolder)

With ``provenance=None`` (``synthvid generate --no-provenance``) clips are only encoded: no
watermark, no manifest, no record.

Seeds and batches. Clip ``k`` of prompt ``i`` uses :func:`item_seed` ``(base seed, i, k)`` and its
own ``torch.Generator`` (on the CPU, so the noise is the same on any device), and by default its own
model call: the same noise in a batch of 4 came out of synthvid-tiny with up to 9 pixels one level
apart, because a kernel's arithmetic depends on the batch it is given. A clip therefore depends only on
(weights, prompt, seed, settings), not on the batch size, the other prompts, the workers or the torch
thread count; the seed is in its row and its manifest, so one clip can be regenerated alone.
``Settings.batched_forward`` trades that for speed on accelerators (one call per batch) and is part
of a run's identity.

Watermark payload (8 bytes, :data:`provenance.repository.PAYLOAD_BYTES`)::

    bytes 0-1  generator id: SHA-256("<model id>@<revision>")[:2] (:func:`generator_id`), so a payload
               read from pixels tells which model and weights made the clip (to 1 in 65,536) even
               without the repository
    bytes 2-7  content id: 48 random bits, checked unused in the manifest repository

The repository maps the whole payload to the signed manifest.
"""

from __future__ import annotations

import hashlib
import json
import logging
import time
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from genkit.errors import GenkitError
from genkit.runfolder import RunFolder
from genkit.suites import SuiteItem
from provenance.runfolder import RUN_COMPLETE

if TYPE_CHECKING:
    from provenance.media import Video
    from provenance.watermark.core import Detection

log = logging.getLogger(__name__)

GENERATOR_ID_BYTES = 2
SEED_BITS = 63  # fits int64 columns and torch.Generator.manual_seed


def item_seed(base_seed: int, prompt_index: int, sample_index: int) -> int:
    """The seed of clip ``sample_index`` of prompt ``prompt_index``: NumPy's SeedSequence over the
    three numbers, so neighbouring items get unrelated streams (not ``base + i``)."""
    import numpy as np

    state = np.random.SeedSequence([base_seed, prompt_index, sample_index]).generate_state(1, dtype=np.uint64)[0]
    return int(state) & ((1 << SEED_BITS) - 1)


def generator_id(model_id: str, revision: str | None) -> bytes:
    """The 2-byte generator id at the head of every payload (see the module docstring)."""
    return hashlib.sha256(f"{model_id}@{revision or ''}".encode()).digest()[:GENERATOR_ID_BYTES]


@dataclass(frozen=True)
class ClipRequest:
    """One clip to make: which prompt, which sample, its seed and its file name in the run folder."""

    item: SuiteItem
    prompt_index: int
    sample_index: int
    model_prompt: str  # the text the model receives (synthvid-tiny: the canonical shapes-world wording)
    seed: int
    clip_name: str


def plan_clips(items: list[SuiteItem], model_prompts: list[str], samples_per_prompt: int, base_seed: int) -> list[ClipRequest]:
    """Every clip of the job in order (prompt, then sample); clip names are the prompt id, with
    ``-<sample>`` appended when a prompt has several samples."""
    return [
        ClipRequest(
            item=item,
            prompt_index=i,
            sample_index=k,
            model_prompt=model_prompt,
            seed=item_seed(base_seed, i, k),
            clip_name=item.prompt_id if samples_per_prompt == 1 else f"{item.prompt_id}-{k}",
        )
        for i, (item, model_prompt) in enumerate(zip(items, model_prompts))
        for k in range(samples_per_prompt)
    ]


@dataclass(frozen=True)
class Settings:
    """Generation settings after defaults were filled in from the backend (``None``: the pipeline decides)."""

    frames: int | None
    height: int | None
    width: int | None
    fps: float
    steps: int
    guidance: float
    negative_prompt: str | None = None
    batch_size: int = 1
    batched_forward: bool = False  # one model call per batch: faster on GPUs; clips then depend on their batch
    crf: int = 18
    hash_prompt: bool = False
    base_seed: int = 0


@dataclass
class Provenance:
    """What credentialing each clip needs: signer, watermark key, manifest repository."""

    signer: object  # provenance.keys.SignerConfig
    watermark_key: bytes
    repository: object  # provenance.repository.ManifestRepository; None until a worker opens its own part
    key_dir: Path
    created_keys: bool
    repository_path: Path | None = None  # the main repository (--repo), whether or not this process opened it

    @property
    def trust_anchor(self) -> Path:
        """The CA certificate verifiers need (``synthvid verify --trust``)."""
        from provenance.keys import KeyPaths

        return KeyPaths.in_directory(self.key_dir).ca_cert

    def close(self) -> None:
        if self.repository is not None:
            self.repository.close()


def open_provenance(key_dir: str | Path | None = None, repository: str | Path | None = None, *, open_repository: bool = True) -> Provenance:
    """Load the signer and watermark key from ``key_dir`` (default: the user's key directory), making
    them first when the directory holds no keys at all; open (or create) the manifest repository —
    unless ``open_repository`` is False (a worker of a multi-node run, which writes its own part)."""
    from provenance.keys import KeyPaths, default_key_dir, init_keys, load_signer, load_watermark_key
    from provenance.repository import ManifestRepository, default_repository_path

    paths = KeyPaths.in_directory(key_dir or default_key_dir())
    created = False
    if not any(path.exists() for path in (paths.ca_key, paths.signer_key, paths.signer_chain, paths.watermark_key)):
        init_keys(paths.directory)
        created = True
    signer = load_signer(paths.directory)
    watermark_key = load_watermark_key(paths.watermark_key)
    path = Path(repository).expanduser() if repository else default_repository_path()
    return Provenance(signer, watermark_key, ManifestRepository(path) if open_repository else None, paths.directory, created, repository_path=path)


def check_watermark_fits(height: int | None, width: int | None, watermark_key: bytes) -> None:
    """Fail before any work when the watermark refuses clips of this size (it needs a minimum side)."""
    import numpy as np

    from provenance import watermark
    from provenance.errors import WatermarkError
    from provenance.repository import PAYLOAD_BYTES

    if height is None or width is None:
        return
    try:
        watermark.embed(np.zeros((1, height, width, 3), np.uint8), bytes(PAYLOAD_BYTES), watermark_key)
    except WatermarkError as exc:
        raise GenkitError(f"--height {height} --width {width}: {exc}; choose a larger size or pass --no-provenance") from None


def model_prompts(backend, items: list[SuiteItem], suite_path: Path | str | None = None) -> list[str]:
    """What the model receives for every item, checked before any work; a prompt the model cannot take
    raises its one-line error, naming the suite file and the prompt id when there is a suite."""
    from genkit.errors import SuiteError

    texts = []
    for item in items:
        try:
            texts.append(backend.model_prompt(item.prompt))
        except GenkitError as exc:
            if suite_path is None:
                raise
            raise SuiteError(suite_path, f"prompt {item.prompt_id}: {exc}") from exc
    return texts


def resolve_settings(backend, **given) -> Settings:
    """``given`` options (``None`` = not given) over the backend's defaults."""
    defaults = backend.defaults
    for name in ("frames", "height", "width", "fps", "steps", "guidance"):
        if given.get(name) is None:
            given[name] = getattr(defaults, name)
    if given.get("batch_size") is None:
        given["batch_size"] = backend.batch_size
    return Settings(**given)


def run_generation(
    out: str | Path,
    backend,
    items: list[SuiteItem],
    settings: Settings,
    provenance: Provenance | None,
    *,
    samples_per_prompt: int = 1,
    config: dict | None = None,
    overwrite: bool = False,
    suite_path: Path | str | None = None,
    on_clip=None,
) -> RunFolder:
    """The whole job: check every prompt and the clip size, create the run folder, generate and
    credential every clip (``on_clip(row)`` after each), write results.parquet and run.json.

    A failure part-way keeps the clips and rows made so far (status ``failed`` in run.json)."""
    texts = model_prompts(backend, items, suite_path)
    if provenance is not None:
        check_watermark_fits(settings.height, settings.width, provenance.watermark_key)
    requests = plan_clips(items, texts, samples_per_prompt, settings.base_seed)
    record = {
        "job": "generate",
        **(config or {}),
        "model": backend.name,
        "model_id": backend.model_id,
        "model_revision": backend.revision,
        "backend": type(backend).__name__,
        "device": getattr(backend, "device", None),
        "settings": asdict(settings),
        "samples_per_prompt": samples_per_prompt,
        "provenance": None
        if provenance is None
        else {
            "key_dir": str(provenance.key_dir),
            "trust_anchor": str(provenance.trust_anchor),
            "repository": str(provenance.repository.path),
            "signer": provenance.signer.signer_name,
            "generator_id": generator_id(backend.model_id, backend.revision).hex(),
        },
        "seed": settings.base_seed,
    }
    with RunFolder.create(out, record, overwrite=overwrite) as run:
        for row in generate_clips(run, backend, requests, settings, provenance):
            if on_clip is not None:
                on_clip(row)
        run.close(
            RUN_COMPLETE,
            clips=len(run.rows),
            seconds_per_clip=round(sum(row["total_seconds"] for row in run.rows) / max(1, len(run.rows)), 4),
            watermark_unverified=sum(row["watermark_verified"] is False for row in run.rows),
        )
    return run


def generate_clips(
    run: RunFolder,
    backend,
    requests: list[ClipRequest],
    settings: Settings,
    provenance: Provenance | None,
) -> Iterator[dict]:
    """Generate every request into ``run`` in batches of ``settings.batch_size``; credential each clip
    unless ``provenance`` is None; add and yield one row per clip as soon as its file is final."""
    for batch in batches(requests, settings.batch_size):
        clips, generate_seconds = generate_batch(backend, batch, settings)
        for request, frames, seconds in zip(batch, clips, generate_seconds):
            row = finish_clip(run, backend, request, frames, settings, provenance, run.clip_path(request.clip_name), seconds).row
            run.add(row)
            yield row


def batches(requests: list[ClipRequest], size: int) -> Iterator[list[ClipRequest]]:
    for start in range(0, len(requests), size):
        yield requests[start : start + size]


def generate_batch(backend, batch: list[ClipRequest], settings: Settings) -> tuple[list, list[float]]:
    """The frames of every request of ``batch``, each clip with its own seeded generator, and each
    clip's model seconds. One model call per clip (batch-invariant, see the module docstring), or one
    for the whole batch with ``settings.batched_forward`` (its time shared evenly)."""
    import torch

    def call(requests: list[ClipRequest]) -> list:
        return backend.generate(
            [request.model_prompt for request in requests],
            [torch.Generator(device="cpu").manual_seed(request.seed) for request in requests],
            frames=settings.frames,
            height=settings.height,
            width=settings.width,
            steps=settings.steps,
            guidance=settings.guidance,
            negative_prompt=settings.negative_prompt,
        )

    if settings.batched_forward:
        started = time.perf_counter()
        clips = call(batch)
        return clips, [(time.perf_counter() - started) / len(batch)] * len(batch)
    clips, seconds = [], []
    for request in batch:
        started = time.perf_counter()
        clips.extend(call([request]))
        seconds.append(time.perf_counter() - started)
    return clips, seconds


@dataclass
class FinishedClip:
    """A clip written to its file: its row, and with ``keep_decoded`` the pixels of the file as the
    watermark check decoded them and what that check found (``None`` without provenance)."""

    row: dict
    video: Video | None = None
    detection: Detection | None = None


def finish_clip(
    run: RunFolder,
    backend,
    request: ClipRequest,
    frames,
    settings: Settings,
    provenance: Provenance | None,
    path: Path,
    generate_seconds: float,
    *,
    keep_decoded: bool = False,
) -> FinishedClip:
    """Write one generated clip to ``path`` (watermarked, signed and registered unless ``provenance``
    is None) and return its row: what ``synthvid generate`` and ``synthvid bench`` do for every item.

    The watermark is read back from the encoded clip; where it did not survive, it is embedded again
    pre-compensated for the codec and, if need be, encoded at a lower CRF (``crf`` in the row is the
    CRF the clip has; see :func:`provenance.sign.credential_clip`). ``keep_decoded``: keep the pixels
    that check decoded (every frame of the delivered file), so the caller scores them without decoding
    the file again."""
    from provenance.credentials import GenerationParams, GeneratorInfo, sha256_file
    from provenance.media import Video, write_video
    from provenance.sign import credential_clip
    from provenance.timing import StageTimer

    video = Video(frames, settings.fps)
    row = _row(run, backend, request, settings, video, path)
    finished = FinishedClip(row)
    if provenance is None:
        timer = StageTimer()
        write_video(video, path, crf=settings.crf)
        row["file_sha256"] = sha256_file(path)
        timer.lap("encode")
        stage_seconds = timer.wall  # with provenance, credential_clip's stages (the same timer)
    else:
        prefix = generator_id(backend.model_id, backend.revision)
        params = GenerationParams(
            model_id=backend.model_id,
            model_revision=backend.revision,
            seed=request.seed,
            steps=settings.steps,
            guidance=settings.guidance,
            prompt=request.item.prompt,
            negative_prompt=settings.negative_prompt,
            extra={
                "frames": video.num_frames,
                "height": video.height,
                "width": video.width,
                "fps": video.fps,
                "base_seed": settings.base_seed,
                "prompt_index": request.prompt_index,
                "sample_index": request.sample_index,
            },
        )
        result = credential_clip(
            video,
            path,
            generator=GeneratorInfo(backend.model_id, backend.revision),
            signer=provenance.signer,
            repository=provenance.repository,
            watermark_key=provenance.watermark_key,
            params=params,
            hash_prompt=settings.hash_prompt,
            crf=settings.crf,
            payload_prefix=prefix,
            keep_decoded=keep_decoded,
        )
        finished.video, finished.detection = result.decoded, result.detection
        stage_seconds = result.seconds
        row.update(
            payload=result.payload,
            generator_id=prefix.hex(),
            manifest_id=result.manifest_label,
            file_sha256=result.file_sha256,
            watermark_verified=result.watermark_verified,
            crf=result.crf,
        )
    row["generate_seconds"] = round(generate_seconds, 4)
    for stage in ("watermark", "encode", "watermark_check", "sign", "register"):
        row[f"{stage}_seconds"] = round(stage_seconds[stage], 4) if stage in stage_seconds else None
    row["total_seconds"] = round(generate_seconds + sum(stage_seconds.values()), 4)
    row["file_bytes"] = path.stat().st_size
    return finished


def _row(run: RunFolder, backend, request: ClipRequest, settings: Settings, video, path: Path) -> dict:
    """The row of one clip before it is written: what was asked, and what identifies the result —
    ``content_sha256`` (the generated frames, before the watermark), ``weights_sha256``, ``seed``,
    ``software`` and ``device``/``cpu_capability`` (see docs of ``synthvid bench compare``)."""
    from genkit.runfolder import cpu_capability, software_identity
    from provenance.media import frames_sha256

    item = request.item
    return {
        "prompt_id": item.prompt_id,
        "prompt": item.prompt,
        "model_prompt": request.model_prompt,
        "dimension": item.dimension,
        "prompt_index": request.prompt_index,
        "sample_index": request.sample_index,
        "seed": request.seed,
        "model": backend.name,
        "model_id": backend.model_id,
        "model_revision": backend.revision,
        "weights_sha256": getattr(backend, "weights_sha256", None),
        "content_sha256": frames_sha256(video.frames),
        "software": software_identity(),
        "device": getattr(backend, "device", None),
        "cpu_capability": cpu_capability(),
        "path": run.relative(path),
        "frames": video.num_frames,
        "height": video.height,
        "width": video.width,
        "fps": video.fps,
        "steps": settings.steps,
        "guidance": settings.guidance,
        "crf": settings.crf,
        "payload": None,
        "generator_id": None,
        "manifest_id": None,
        "file_sha256": None,
        "watermark_verified": None,
        "extra": json.dumps(item.extra, sort_keys=True, default=str) if item.extra else None,
    }
