"""Evaluate folders of clips: the file-reading edge of eval, behind ``synthvid eval``.

Clips are read one at a time with :func:`provenance.media.read_video` and given to the metrics as
frames; only per-clip rows (a few numbers each) and the metrics' fixed-size states are kept, so memory
does not grow with the number of clips. FVD features are computed in small batches of clips of one
shape (``batch_size``).

A folder is either a folder of video files (sorted by name) or a run folder (``clips/`` next to
``results.parquet``, as ``synthvid generate``, ``synthvid world render`` and ``synthvid bench`` write
them; read through the run-folder contract, :mod:`provenance.runfolder`), whose table also gives each
clip's prompt. Prompts can come from a file instead (:func:`read_prompts`).
"""

from __future__ import annotations

import json
import logging
import math
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from eval.domain import DomainCheck
from eval.errors import EvalError, InputSetError
from provenance.runfolder import CLIPS_DIR, PATH_COLUMN, PROMPT_COLUMN, RESULTS_FILE, read_results

log = logging.getLogger(__name__)

VIDEO_SUFFIXES = (".mp4", ".m4v", ".mov", ".mkv", ".webm", ".avi")
METRIC_GROUPS = ("fvd", "clipsim", "temporal", "aesthetic", "imaging", "smoothness")
ENCODER_GROUPS = ("clipsim", "temporal", "aesthetic")  # the groups that embed frames with the CLIP encoder
STREAM_CHUNK = 16  # frames decoded at a time when a clip is streamed (no FVD)
TEMPORAL_ENCODED = ("clip_temp", "subject_consistency", "background_consistency")  # temporal scores from frame embeddings


@dataclass
class ClipSet:
    """Clips to score: ``paths`` in order, the folder they came from, and prompts if known."""

    root: Path
    paths: list[Path]
    prompts: dict[Path, str] = field(default_factory=dict)
    run_folder: Path | None = None


def find_clips(folder: str | Path) -> ClipSet:
    """The clips of a folder of videos or of a run folder (see the module docstring)."""
    folder = Path(folder)
    if not folder.exists():
        raise InputSetError(folder, "no such folder")
    if not folder.is_dir():
        raise InputSetError(folder, "is a file; give the folder that holds the clips")
    if (folder / CLIPS_DIR).is_dir() and (folder / RESULTS_FILE).exists():
        rows = read_results(folder, columns=(PATH_COLUMN,), error=InputSetError)
        paths = [(folder / p).resolve() for p in rows[PATH_COLUMN]]
        prompts = {}
        if PROMPT_COLUMN in rows.columns:
            prompts = {path: str(prompt) for path, prompt in zip(paths, rows[PROMPT_COLUMN]) if isinstance(prompt, str)}
        clip_set = ClipSet(folder, paths, prompts, run_folder=folder)
    else:
        paths = sorted(p.resolve() for p in folder.iterdir() if p.suffix.lower() in VIDEO_SUFFIXES and p.is_file())
        clip_set = ClipSet(folder, paths)
    if not clip_set.paths:
        raise InputSetError(folder, f"holds no video files ({', '.join(VIDEO_SUFFIXES)}) and is not a run folder")
    return clip_set


def read_prompts(path: str | Path, clips: ClipSet) -> dict[Path, str]:
    """Prompts per clip from ``path``: ``.txt`` (one a line, in the clips' order; blank and ``#`` lines
    skipped), ``.csv``/``.jsonl``/``.json`` (records with ``prompt`` and ``clip`` or ``path``: a file name,
    stem or path relative to the clip folder), or a ``.json`` object ``{clip: prompt}``."""
    path = Path(path)
    if not path.is_file():
        raise InputSetError(path, "no such prompt file")
    text = path.read_text(encoding="utf-8", errors="replace")
    suffix = path.suffix.lower()
    if suffix == ".txt":
        lines = [line.strip() for line in text.splitlines() if line.strip() and not line.lstrip().startswith("#")]
        if len(lines) != len(clips.paths):
            raise InputSetError(path, f"has {len(lines)} prompts for {len(clips.paths)} clips (a .txt file gives one per clip, in name order)")
        return dict(zip(clips.paths, lines))
    try:
        if suffix == ".csv":
            import csv
            import io

            records = list(csv.DictReader(io.StringIO(text)))
        elif suffix == ".jsonl":
            records = [json.loads(line) for line in text.splitlines() if line.strip()]
        elif suffix == ".json":
            data = json.loads(text)
            records = [{"clip": k, "prompt": v} for k, v in data.items()] if isinstance(data, dict) else data
        else:
            raise InputSetError(path, "unknown prompt file type; use .txt, .csv, .jsonl or .json")
    except (ValueError, AttributeError) as exc:
        raise InputSetError(path, f"cannot parse ({' '.join(str(exc).split())[:160]})") from exc
    by_name: dict[str, Path] = {}
    for clip in clips.paths:
        for key in (clip.name, clip.stem, str(clip), _relative(clip, clips.root)):
            by_name.setdefault(key, clip)
    prompts: dict[Path, str] = {}
    for number, record in enumerate(records, 1):
        if not isinstance(record, dict) or not isinstance(record.get("prompt"), str):
            raise InputSetError(path, f"record {number} has no 'prompt' text")
        key = str(record.get("clip") or record.get("path") or "")
        clip = by_name.get(key) or by_name.get(Path(key).name) or by_name.get(Path(key).stem)
        if clip is None:
            raise InputSetError(path, f"record {number} names clip {key!r}, which is not in {clips.root}")
        prompts[clip] = record["prompt"]
    return prompts


def _relative(path: Path, root: Path) -> str:
    try:
        return path.relative_to(root.resolve()).as_posix()
    except ValueError:
        return str(path)


# Frames of a named reference set eval cannot make itself (``--reference world:SUITE``), handed to the
# CLI by its caller (the umbrella gives genkit.world.reference.world_reference):
# (name, *, frames, size, fps, seed, crf) -> iterator of uint8 [T, H, W, 3] clips.
ReferenceProvider = Callable[..., Iterator[np.ndarray]]


@dataclass
class EvalSettings:
    metrics: tuple[str, ...] = METRIC_GROUPS
    fvd_extractor: str | None = None
    fvd_protocol: str | None = None  # eval.fvd.PROTOCOLS name; None: synthvid's default
    clip_model: str = "synthvid-tiny-clip"
    clip_pretrained: str | None = None
    quick_gelu: bool = False
    subject_encoder: str | None = None
    temporal_protocol: str | None = None  # eval.temporal.TEMPORAL_PROTOCOLS name (temporal and aesthetic); None: synthvid's default
    aesthetic_head: str | None = None  # LAION's aesthetic head (eval.quality), for the aesthetic group
    musiq: str | None = None  # pyiqa's MUSIQ checkpoint (eval.musiq), for the imaging group
    raft: str | None = None  # the original raft-things.pth (eval.raft): VBench's dynamic-degree flow
    amt: str | None = None  # AMT-S's amt-s.pth (eval.amt), for the smoothness group
    max_frames: int | None = None
    batch_size: int = 8
    keep_features: bool = True


def check_model_files(settings: EvalSettings) -> None:
    """:class:`EvalError` before any model loads when a metric group lacks the weights file it needs, or
    ``--raft`` is given where VBench's dynamic degree is not computed."""
    if settings.raft is not None and (settings.temporal_protocol != "vbench" or "temporal" not in settings.metrics):
        raise EvalError(settings.raft, "--raft is the flow of VBench's dynamic degree: give it with --metrics temporal and --protocol vbench")
    needs = {
        "aesthetic": (
            settings.aesthetic_head,
            "aesthetic quality",
            "--aesthetic-head",
            "LAION's sa_0_4_vit_l_14_linear.pth (github.com/LAION-AI/aesthetic-predictor)",
        ),
        "smoothness": (settings.amt, "motion smoothness", "--amt", "AMT-S's amt-s.pth (github.com/MCG-NKU/AMT)"),
        "imaging": (settings.musiq, "imaging quality", "--musiq", "pyiqa's musiq_spaq_ckpt-358bb6af.pth (github.com/chaofengc/IQA-PyTorch)"),
    }
    for group, (given, metric, option, file) in needs.items():
        if group in settings.metrics and given is None:
            raise EvalError(None, f"{metric} needs {option} FILE: {file}")


class FolderEvaluation:
    """Streams fake (and real) clips through the selected metrics; :meth:`run` yields per-clip rows."""

    def __init__(self, settings: EvalSettings, in_domain: DomainCheck | None = None):
        """``in_domain(frames) -> bool`` tells shapes-world clips from others (:mod:`eval.domain`): the
        metrics computed with an embedded encoder say whether their scores mean anything; without it
        they say the domain is unknown."""
        from eval.domain import DomainTracker, embedded_metrics

        check_model_files(settings)
        self.settings = settings
        self.domain = DomainTracker(
            embedded_metrics(
                settings.metrics, clip_model=settings.clip_model, fvd_extractor=settings.fvd_extractor, subject_encoder=settings.subject_encoder
            ),
            in_domain,
        )
        self.fvd = self.clipsim = self.temporal = self.aesthetic = self.imaging = self.smoothness = None
        self.encoder = self.subject_encoder = self.raft = None
        self.failed: list[dict] = []
        self.dynamic_count = 0
        if "fvd" in settings.metrics:
            from eval.fvd import FrechetVideoDistance

            self.fvd = FrechetVideoDistance(settings.fvd_extractor, protocol=settings.fvd_protocol, keep_features=settings.keep_features)
        if set(ENCODER_GROUPS) & set(settings.metrics):
            from eval.encoders import load_clip
            from eval.temporal import check_protocol

            self.encoder = load_clip(settings.clip_model, settings.clip_pretrained, quick_gelu=settings.quick_gelu)
            # One encoder object serves CLIPSIM, CLIP-Temp, background consistency and aesthetic quality: under
            # vbench all of them see VBench's CLIP transform.
            self.temporal_protocol = check_protocol(settings.temporal_protocol)
            self.encoder.set_protocol(self.temporal_protocol)
        if "clipsim" in settings.metrics:
            from eval.clipsim import CLIPSIM

            self.clipsim = CLIPSIM(self.encoder)
        if "temporal" in settings.metrics:
            from eval.encoders import load_image_encoder
            from eval.temporal import (
                BackgroundConsistency,
                CLIPTemp,
                MotionMagnitude,
                SubjectConsistency,
                TemporalFlickering,
                WarpingError,
            )

            if settings.raft is not None:
                from eval.raft import load_raft

                self.raft = load_raft(settings.raft)
            self.subject_encoder = load_image_encoder(settings.subject_encoder, clip=self.encoder)
            self.subject_encoder.set_protocol(self.temporal_protocol)  # under vbench: VBench's DINO transform
            self.temporal = {
                "clip_temp": CLIPTemp(self.encoder),
                "subject_consistency": SubjectConsistency(self.subject_encoder),
                "background_consistency": BackgroundConsistency(self.encoder),
                "temporal_flickering": TemporalFlickering(),
                "warping_error": WarpingError(),
                "motion_magnitude": MotionMagnitude(protocol=self.temporal_protocol),
            }
        if "aesthetic" in settings.metrics:
            from eval.quality import AestheticQuality, load_aesthetic_head

            self.aesthetic = AestheticQuality(self.encoder, load_aesthetic_head(settings.aesthetic_head, self.encoder.embedding_width()))
        if "imaging" in settings.metrics:
            from eval.musiq import load_musiq
            from eval.quality import ImagingQuality

            self.imaging = ImagingQuality(load_musiq(settings.musiq))
        if "smoothness" in settings.metrics:
            from eval.amt import MotionSmoothness, load_amt

            self.smoothness = MotionSmoothness(load_amt(settings.amt))

    def add_real(self, clips: Iterable[np.ndarray], on_clip: Callable[[], None] | None = None, in_domain: bool | None = None) -> int:
        """Feed reference clips (frames) to FVD; returns how many were used. ``in_domain``: what the clips
        are when the caller knows (world renders: True); else each clip is checked (:mod:`eval.domain`)."""
        count = 0
        for batch in _same_shape_batches(self._count_fvd_domain(clips, in_domain), self.settings.batch_size):
            self.fvd.update(batch, real=True)
            count += len(batch)
            if on_clip:
                for _ in batch:
                    on_clip()
        return count

    def _count_fvd_domain(self, clips: Iterable[np.ndarray], in_domain: bool | None) -> Iterator[np.ndarray]:
        for frames in clips:
            self.domain.count(("fvd",), in_domain if in_domain is not None else self.domain.judge(frames))
            yield frames

    def read(self, path: Path):
        """A clip (:class:`provenance.media.Video`), or ``None`` after recording why it cannot be read."""
        from provenance.errors import MediaError
        from provenance.media import read_video

        try:
            return read_video(path, max_frames=self.settings.max_frames)
        except MediaError as exc:
            self.failed.append({"path": str(path), "error": " ".join(str(exc).split())})
            return None

    def run(self, clips: ClipSet, on_clip: Callable[[], None] | None = None) -> Iterator[dict]:
        """Score every fake clip; yields one row per readable clip (FVD features are batched).

        Without FVD a clip is decoded :data:`STREAM_CHUNK` frames at a time and never held whole (memory
        does not grow with its length); FVD's extractors read whole clips (the embedded one spreads its
        frames over the clip, the reference protocols may take every frame), so with FVD each clip is
        read whole and kept until its batch is scored."""
        from provenance.errors import MediaError
        from provenance.media import iter_video, probe_video

        pending: list[tuple[np.ndarray, dict]] = []
        for path in clips.paths:
            row = frames = None
            try:
                if self.fvd is not None:
                    video = self.read(path)
                    if video is not None:
                        frames = video.frames
                        row = self.score_clip(path, frames, clips.prompts.get(path), clips.root, fps=video.fps)
                else:
                    fps = probe_video(path).fps
                    chunks = iter_video(path, chunk=STREAM_CHUNK, max_frames=self.settings.max_frames, threaded=True)
                    row = self.score_stream(path, chunks, clips.prompts.get(path), clips.root, fps=fps)
            except (EvalError, MediaError) as exc:
                self.failed.append({"path": str(path), "error": " ".join(str(exc).split())})
                row = None
            if row is not None:
                self.domain.count(("fvd",) if self.fvd is not None else (), row.get("in_domain"))
                pending.append((frames, row))
            if on_clip:
                on_clip()
            if self.fvd is None or (pending and (len(pending) >= self.settings.batch_size or pending[0][0].shape != pending[-1][0].shape)):
                yield from self._flush(pending)
                pending = []
        yield from self._flush(pending)

    def _flush(self, pending: list[tuple[np.ndarray, dict]]) -> Iterator[dict]:
        if not pending:
            return
        if self.fvd is not None:
            for batch in _same_shape_batches((frames for frames, _ in pending), len(pending)):
                self.fvd.update(batch, real=False)
        for _, row in pending:
            yield row

    def score_clip(self, path: Path, frames: np.ndarray, prompt: str | None, root: Path, **options) -> dict:
        """One clip's row from its frames in memory: :meth:`score_stream` of one chunk (same options)."""
        return self.score_stream(path, [frames], prompt, root, **options)

    def score_stream(
        self,
        path: Path,
        chunks: Iterable[np.ndarray],
        prompt: str | None,
        root: Path,
        *,
        fps: float = 8.0,
        in_domain: bool | None = None,
        accumulate: bool = True,
    ) -> dict:
        """One clip's row from its frames in consecutive uint8 ``[n, H, W, 3]`` chunks; only frame
        embeddings and per-frame-pair terms are kept. ``in_domain``: whether it is a shapes-world clip,
        when the caller knows; else the evaluation's check decides on the first chunk (``in_domain`` in
        the row when known). ``accumulate=False``: the row only, the set-level metric states untouched (a
        caller that aggregates rows itself, as the bench does from its ledger). Set-level states change
        only after the last chunk, so a clip that fails midway leaves them as they were."""
        row: dict = {"clip": _relative(path, root), "frames": 0, "size": None}
        if self.clipsim is not None and prompt is None:
            raise EvalError(path, "no prompt for this clip (CLIPSIM needs one: give --prompts FILE or a run folder)")
        temporal = None
        if self.temporal is not None:
            from eval.temporal import TemporalStream

            temporal = TemporalStream(
                clip_encoder=self.encoder, subject_encoder=self.subject_encoder, fps=fps, protocol=self.temporal_protocol, raft=self.raft
            )
        smoothness = None
        if self.smoothness is not None:
            from eval.amt import SmoothnessStream

            smoothness = SmoothnessStream(self.smoothness.model)
        embeddings: list = []  # CLIPSIM, the temporal metrics and aesthetic quality share the CLIP frame embeddings
        imaging: list = []
        for chunk in chunks:
            if not len(chunk):
                continue
            if row["size"] is None:
                row["size"] = f"{chunk.shape[2]}x{chunk.shape[1]}"
                if in_domain is None:
                    in_domain = self.domain.judge(chunk)
            row["frames"] += int(chunk.shape[0])
            chunk_embeddings = self.encoder.encode_frames(chunk) if self.encoder is not None else None
            embeddings.append(chunk_embeddings)
            if temporal is not None:
                temporal.add(chunk, clip_embeddings=chunk_embeddings)
            if smoothness is not None:
                smoothness.add(chunk)
            if self.imaging is not None:
                from eval.quality import imaging_frame_scores

                imaging.append(imaging_frame_scores(chunk, self.imaging.model))
        if row["size"] is None:
            raise EvalError(path, "no frames to score")
        if in_domain is not None:
            row["in_domain"] = bool(in_domain)
        import torch

        frame_embeddings = torch.cat(embeddings) if self.encoder is not None else None
        if self.clipsim is not None:
            from eval.clipsim import embedding_clipsim

            row["prompt"] = prompt
            row["clipsim"] = embedding_clipsim(self.encoder, frame_embeddings, prompt)
        if temporal is not None:
            scores = temporal.result()
            row.update({name: scores[name] for name in self.temporal})
            row["dynamic"] = bool(scores["dynamic"])
        if self.aesthetic is not None:
            from eval.quality import aesthetic_score

            row["aesthetic_quality"] = aesthetic_score(frame_embeddings, self.aesthetic.head)
        if self.imaging is not None:
            from eval.quality import imaging_of_frame_scores

            row["imaging_quality"] = imaging_of_frame_scores(torch.cat(imaging))
        if smoothness is not None:
            row["motion_smoothness"] = smoothness.result()
        if accumulate:
            if self.clipsim is not None:
                self.clipsim.update(scores=[row["clipsim"]])
            if temporal is not None:
                for name, metric in self.temporal.items():
                    weight = scores["consistency_pairs"] if name in ("subject_consistency", "background_consistency") else 1.0
                    metric.update(scores=[scores[name]], weights=[weight])
                self.temporal["motion_magnitude"].add_dynamic(scores["dynamic"])
            if self.aesthetic is not None:
                self.aesthetic.update(scores=[row["aesthetic_quality"]])
            if self.imaging is not None:
                self.imaging.update(scores=[row["imaging_quality"]])
            if smoothness is not None:
                self.smoothness.update(scores=[row["motion_smoothness"]])
            scored = (("clipsim",) if self.clipsim is not None else ()) + (TEMPORAL_ENCODED if self.temporal is not None else ())
            scored += ("aesthetic_quality",) if self.aesthetic is not None else ()
            self.domain.count(scored, in_domain)
        return row

    def summary(self) -> dict:
        """Set-level results (JSON-ready)."""
        import warnings

        out: dict = {}
        if self.fvd is not None:
            n_real, n_fake = int(self.fvd.real_count), int(self.fvd.fake_count)
            protocol = self.fvd.protocol
            entry = {
                "label": self.fvd.label,
                "extractor": self.fvd.extractor.name,
                "protocol": protocol.name,
                "protocol_description": protocol.description,
                "n_real": n_real,
                "n_fake": n_fake,
            }
            skipped = {side: int(getattr(self.fvd, f"{side}_skipped")) for side in ("real", "fake")}
            if any(skipped.values()):
                entry["skipped_short"] = skipped  # clips shorter than the protocol's span, discarded as it says
            if min(n_real, n_fake) >= 2:
                with warnings.catch_warnings(record=True) as caught:
                    warnings.simplefilter("always")
                    result = self.fvd.compute()
                entry["value"] = float(result["fvd"])
                if "fvd_inf" in result:
                    entry["fvd_inf"] = float(result["fvd_inf"])
                if caught:
                    entry["warning"] = " ".join(str(caught[0].message).split())
            else:
                entry["value"] = None
                entry["warning"] = f"FVD needs at least 2 real and 2 fake clips, got {n_real} real and {n_fake} fake"
            out["fvd"] = entry
        if self.clipsim is not None:
            count = int(self.clipsim.clip_count)
            value = float(self.clipsim.compute()) if count else None
            out["clipsim"] = {
                "value": value,
                "percent": None if value is None else 100 * value,
                "model": self.encoder.name,
                "clips": count,
                "scale": "raw cosine (percent = ×100)",
            }
        if self.temporal is not None:
            entry = {}
            for name, metric in self.temporal.items():
                entry[name] = float(metric.compute()) if float(metric.weight_sum) else None
            entry["dynamic_degree"] = self.temporal["motion_magnitude"].dynamic_share()
            entry["encoder"] = self.encoder.name
            entry["subject_encoder"] = self.subject_encoder.name
            entry.update(temporal_protocol_entry(self.temporal_protocol, self.encoder, self.subject_encoder, raft=self.raft is not None))
            out["temporal"] = {k: (None if isinstance(v, float) and math.isnan(v) else v) for k, v in entry.items()}
        if self.aesthetic is not None:
            out["aesthetic"] = {
                **_clip_mean_entry(self.aesthetic),
                "model": self.encoder.name,
                "head": str(self.settings.aesthetic_head),
                **aesthetic_protocol_entry(self.temporal_protocol, self.encoder),
            }
        if self.imaging is not None:
            from eval.musiq import MUSIQ_FILE

            out["imaging"] = {
                **_clip_mean_entry(self.imaging),
                "model": f"MUSIQ ({self.settings.musiq})",
                "protocol": "vbench",
                "protocol_description": "VBench 0.1.5's imaging quality: longer side to 512 when above it (bilinear, no "
                f"antialias), MUSIQ per frame, mean ÷ 100; VBench's number with pyiqa's {MUSIQ_FILE}",
            }
        if self.smoothness is not None:
            out["smoothness"] = {
                **_clip_mean_entry(self.smoothness),
                "model": f"AMT-S ({self.settings.amt})",
                "protocol": "vbench",
                "protocol_description": "VBench 0.1.5's motion smoothness: odd frames dropped, each even pair interpolated at "
                "1/2 by AMT-S (frames padded to multiples of 16), (255 - mean |frame - prediction|) / 255 on uint8",
            }
        if self.domain.active:
            out["domain"] = self.domain.notes()
        return out


def _clip_mean_entry(metric) -> dict:
    """``value`` (``None`` before any clip) and ``clips`` of a per-clip mean metric (``ClipMeanMetric``)."""
    clips = int(metric.weight_sum)
    return {"value": float(metric.compute()) if clips else None, "clips": clips}


def temporal_protocol_entry(protocol: str, encoder, subject_encoder, raft: bool = False) -> dict:
    """``protocol``, its description and, under vbench, ``notes`` on what still differs from VBench's setup."""
    from eval.temporal import TEMPORAL_PROTOCOLS

    entry: dict = {"protocol": protocol, "protocol_description": TEMPORAL_PROTOCOLS[protocol]}
    if protocol == "vbench":
        notes = (
            []
            if raft
            else ["dynamic_degree uses OpenCV DIS flow, not VBench's RAFT (--raft raft-things.pth): its decisions can differ from VBench's"]
        )
        if subject_encoder is encoder or not str(subject_encoder.name).startswith("timm:"):
            notes.append(
                "subject_consistency is VBench's only with DINO ViT-B/16: --subject-encoder "
                "timm:vit_base_patch16_224.dino:dino_vitbase16_pretrain.pth"
            )
        if "ViT-B-32" not in str(encoder.name):
            notes.append(
                "background_consistency is VBench's only with OpenAI CLIP ViT-B/32: --clip-model ViT-B-32-quickgelu --clip-pretrained ViT-B-32.pt"
            )
        entry["notes"] = notes
    return entry


def aesthetic_protocol_entry(protocol: str, encoder) -> dict:
    """The aesthetic score's preprocessing ``protocol`` and, under vbench, ``notes`` on what still differs
    from VBench's setup."""
    from eval.quality import AESTHETIC_CLIP

    entry: dict = {
        "protocol": protocol,
        "protocol_description": "VBench 0.1.5's clip_transform(224)" if protocol == "vbench" else "the CLIP model's own eval transform",
    }
    if protocol == "vbench" and "ViT-L-14" not in str(encoder.name):
        entry["notes"] = [f"aesthetic_quality is VBench's only with {AESTHETIC_CLIP} and LAION's head"]
    return entry


def _same_shape_batches(clips: Iterable[np.ndarray], size: int) -> Iterator[np.ndarray]:
    """Consecutive clips stacked into batches of at most ``size`` clips of one shape."""
    batch: list[np.ndarray] = []
    for frames in clips:
        if batch and (len(batch) >= size or frames.shape != batch[0].shape):
            yield np.stack(batch)
            batch = []
        batch.append(frames)
    if batch:
        yield np.stack(batch)
