"""Video I/O: the one module of synthvid that reads and writes video files (PyAV / FFmpeg).

A clip in memory is a :class:`Video`: ``frames`` uint8 ``[T, H, W, 3]`` RGB, ``fps`` and a ``meta``
dict. :func:`read_video` decodes anything FFmpeg reads; :func:`write_video` writes H.264 yuv420p MP4
(or lossless RGB H.264 for tests and intermediate files). Every failure a user can cause raises
:class:`~provenance.errors.MediaError` with a one-line message naming the file and the reason.
"""

from __future__ import annotations

import functools
import io
import logging
import os
import struct
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path

import numpy as np

from provenance.errors import MediaError
from provenance.files import atomic_path, check_input_file

log = logging.getLogger(__name__)

# Beyond 8K per side nothing we make or score is plausible; such headers are corrupt or hostile.
MAX_SIDE = 8192
# Decoded frames are held in memory; refuse clips that would need more than this many bytes.
DEFAULT_MAX_BYTES = 8 * 1024**3
MAX_FPS = 1000.0
# x264's AVX-512 kernels (the bundled libx264, core 165) make output that varies from call to call with
# the same frames and options: they read memory whose contents the caller does not control (measured:
# one 64×64×8 clip encoded from 16 copies of its frames gave 4-5 different bitstreams, 2498-2506 bytes;
# capped at AVX2, or with no assembly, every copy gave one bitstream). Every encode caps x264 at AVX2.
X264_DETERMINISTIC_ASM = "AVX2"


@dataclass
class Video:
    """A clip in memory: ``frames`` uint8 ``[T, H, W, 3]`` RGB, ``fps`` frames per second, ``meta``."""

    frames: np.ndarray
    fps: float
    meta: dict = field(default_factory=dict)

    def __post_init__(self) -> None:
        check_frames(self.frames)
        if not (0 < float(self.fps) <= MAX_FPS):
            raise MediaError(None, f"fps must be in (0, {MAX_FPS:g}], got {self.fps!r}")
        self.fps = float(self.fps)

    @property
    def num_frames(self) -> int:
        return int(self.frames.shape[0])

    @property
    def height(self) -> int:
        return int(self.frames.shape[1])

    @property
    def width(self) -> int:
        return int(self.frames.shape[2])

    @property
    def duration(self) -> float:
        return self.num_frames / self.fps


@functools.cache
def return_freed_buffers() -> None:
    """Make freed frame buffers go back to the operating system (glibc; elsewhere nothing to do); once
    per process, by :func:`iter_video`, through which every stream of frames starts.

    glibc raises its mmap threshold to the size of the largest block freed (up to 32 MB), so after the
    first chunk every frame buffer of a stream comes from the heap, where freed ones stay mapped between
    small live allocations: a 10-minute 720p sign grew to 2.4 GB. A fixed threshold (1 MB) keeps frames
    in their own mappings, returned when freed, so memory stays flat however long the stream."""
    import ctypes

    try:
        libc = ctypes.CDLL("libc.so.6")
    except OSError:
        return
    m_mmap_threshold = -3  # mallopt's M_MMAP_THRESHOLD; setting it also stops the dynamic adjustment
    libc.mallopt(m_mmap_threshold, 1 << 20)


def check_frames(frames: np.ndarray, path: str | Path | None = None) -> None:
    """Raise :class:`MediaError` unless ``frames`` is a uint8 ``[T, H, W, 3]`` array of sane size."""
    if not isinstance(frames, np.ndarray):
        raise MediaError(path, f"frames must be a numpy array, got {type(frames).__name__}")
    if frames.dtype != np.uint8:
        raise MediaError(path, f"frames must be uint8, got {frames.dtype}")
    if frames.ndim != 4 or frames.shape[-1] != 3:
        raise MediaError(path, f"frames must have shape [T, H, W, 3], got {list(frames.shape)}")
    t, h, w, _ = frames.shape
    if t < 1:
        raise MediaError(path, "clip has zero frames")
    if not (1 <= h <= MAX_SIDE and 1 <= w <= MAX_SIDE):
        raise MediaError(path, f"absurd frame size {w}x{h} (each side must be 1..{MAX_SIDE})")


def _first_line(exc: BaseException) -> str:
    # FFmpegError's str() repeats the errno and the path; its strerror is the readable part.
    text = (getattr(exc, "strerror", None) or str(exc)).strip().splitlines()
    return text[0] if text else type(exc).__name__


@dataclass(frozen=True)
class Box:
    type: str
    offset: int
    size: int
    header_size: int

    @property
    def end(self) -> int:
        return self.offset + self.size


BMFF_FIRST_BOXES = {"ftyp", "styp", "moov", "mdat", "free", "skip", "wide", "pnot", "uuid"}


def top_level_boxes(path: str | Path, *, known_first: bool = True, stray_tail_ok: bool = False, junk_tail_ok: bool = False) -> list[Box]:
    """The top-level ISO-BMFF boxes of ``path``, reading headers only.

    Raises :class:`MediaError` for a file that is not ISO BMFF (MP4/MOV) or whose boxes do not tile
    it (truncated, or a box size that runs past the end). ``known_first=False`` accepts any printable
    type for the first box: a damaged MP4 (its ftyp type altered) still tiles into boxes.
    ``stray_tail_ok`` ignores fewer than 8 bytes after the last box (players do); ``junk_tail_ok``
    also ignores what follows the boxes once a "box" type is not printable ASCII — data some encoders
    append after ``moov`` (seen: 34 kB of Windows Media tags after a complete camera clip), which
    players skip as well.
    """
    path = Path(path)
    size = path.stat().st_size
    boxes: list[Box] = []
    with open(path, "rb") as f:
        offset = 0
        while offset < size:
            f.seek(offset)
            header = f.read(16)
            if len(header) < 8:
                if stray_tail_ok:
                    break
                raise MediaError(path, f"truncated: {size - offset} stray bytes after the last box at offset {offset}")
            box_size, kind = struct.unpack(">I4s", header[:8])
            kind_text = kind.decode("latin-1")
            if not boxes and (kind_text not in BMFF_FIRST_BOXES if known_first else not kind_text.isprintable()):
                raise MediaError(path, "not an MP4/MOV (ISO BMFF) file")
            if boxes and junk_tail_ok and not (kind.isascii() and kind_text.isprintable()):
                break
            header_size = 8
            if box_size == 1:
                if len(header) < 16:
                    raise MediaError(path, f"truncated in the header of box '{kind_text}' at offset {offset}")
                box_size, header_size = struct.unpack(">Q", header[8:16])[0], 16
            elif box_size == 0:  # "extends to the end of the file"
                box_size = size - offset
            if box_size < header_size:
                raise MediaError(path, f"corrupt MP4: box '{kind_text}' at offset {offset} declares {box_size} bytes")
            if offset + box_size > size:
                raise MediaError(path, f"truncated: box '{kind_text}' at offset {offset} declares {box_size} bytes, {size - offset} remain")
            boxes.append(Box(kind_text, offset, box_size, header_size))
            offset += box_size
    return boxes


# ISO-BMFF brands of still images (HEIF/HEIC, AVIF) and of audio-only files (M4A/M4B).
IMAGE_BRANDS = {"heic", "heix", "heim", "heis", "hevc", "hevx", "mif1", "msf1", "avif", "avis", "avci"}
AUDIO_BRANDS = {"M4A ", "M4B ", "M4P "}
# A media segment of a fragmented MP4 (DASH .m4s, CMAF chunk) starts with one of these boxes.
SEGMENT_FIRST_BOXES = {"styp", "sidx", "moof", "emsg", "prft"}


@dataclass(frozen=True)
class Container:
    """What a file is, from its first bytes: ``name`` for messages, ``mime`` for c2pa-rs (``None``:
    c2pa-rs reads no C2PA from this format), ``kind`` ``video``, ``audio``, ``image``, ``segment``
    (a media segment of a fragmented MP4), ``init`` (an fMP4 init segment: its media are in other
    files), ``playlist`` or ``unknown``."""

    name: str
    mime: str | None
    kind: str


def _bmff_container(path: Path) -> Container:
    try:
        boxes = top_level_boxes(path, known_first=False, stray_tail_ok=True)
    except MediaError:
        boxes = []
    types = [b.type for b in boxes]
    if types and types[0] in SEGMENT_FIRST_BOXES and "ftyp" not in types and "moov" not in types:
        return Container("fragmented-MP4 media segment", None, "segment")
    with path.open("rb") as f:
        head = f.read(64)
    brands = set()
    if head[4:8] == b"ftyp" and len(head) >= 16:
        size = min(struct.unpack(">I", head[:4])[0], len(head))
        brands = {head[8:12].decode("latin-1")} | {head[i : i + 4].decode("latin-1") for i in range(16, size - 3, 4)}
        major = head[8:12].decode("latin-1")
        if major in IMAGE_BRANDS or ("moov" not in types and brands & IMAGE_BRANDS):
            name = "AVIF" if {"avif", "avis"} & brands else "HEIF/HEIC"
            return Container(f"{name} image", "image/avif" if name == "AVIF" else "image/heic", "image")
        if major in AUDIO_BRANDS:
            return Container("M4A audio", "audio/mp4", "audio")
        if major == "qt  ":
            return Container("QuickTime MOV", "video/quicktime", "video")
    if "moov" in types and "moof" not in types and "mdat" not in types and _moov_has_mvex(path, boxes):
        return Container("fragmented-MP4 init segment", "video/mp4", "init")
    return Container("MP4", "video/mp4", "video")


def _moov_has_mvex(path: Path, boxes: list[Box]) -> bool:
    """Whether the moov box declares movie fragments (an 'mvex' child): its samples are in moof boxes."""
    moov = next(b for b in boxes if b.type == "moov")
    with path.open("rb") as f:
        f.seek(moov.offset + moov.header_size)
        data = f.read(min(moov.size - moov.header_size, 1 << 20))
    offset = 0
    while offset + 8 <= len(data):
        size, kind = struct.unpack(">I4s", data[offset : offset + 8])
        if kind == b"mvex":
            return True
        if size < 8:
            break
        offset += size
    return False


# (magic bytes at offset 0, name, mime c2pa-rs reads it as, kind); RIFF and ISO BMFF are told apart below.
_MAGIC = (
    (b"\xff\xd8\xff", "JPEG image", "image/jpeg", "image"),
    (b"\x89PNG\r\n\x1a\n", "PNG image", "image/png", "image"),
    (b"GIF87a", "GIF image", "image/gif", "image"),
    (b"GIF89a", "GIF image", "image/gif", "image"),
    (b"II*\x00", "TIFF image", "image/tiff", "image"),
    (b"MM\x00*", "TIFF image", "image/tiff", "image"),
    (b"\xff\x0a", "JPEG XL image", "image/jxl", "image"),
    (b"\x00\x00\x00\x0cJXL ", "JPEG XL image", "image/jxl", "image"),
    (b"ID3", "MP3 audio", "audio/mpeg", "audio"),
    (b"fLaC", "FLAC audio", "audio/flac", "audio"),
    (b"%PDF", "PDF document", "application/pdf", "unknown"),
    (b"\x1a\x45\xdf\xa3", "Matroska/WebM", None, "video"),
    (b"OggS", "Ogg", None, "video"),
    (b"FLV", "FLV", None, "video"),
)
RIFF_FORMS = {b"AVI ": ("AVI", "video/avi", "video"), b"WAVE": ("WAV audio", "audio/wav", "audio"), b"WEBP": ("WebP image", "image/webp", "image")}


def sniff_container(path: str | Path) -> Container:
    """What ``path`` is, from its first bytes (never its name): see :class:`Container`."""
    path = Path(path)
    with path.open("rb") as f:
        head = f.read(64)
    if head[:4] == b"RIFF" and len(head) >= 12:
        name, mime, kind = RIFF_FORMS.get(head[8:12], (f"RIFF ({head[8:12].decode('latin-1')!r})", None, "unknown"))
        return Container(name, mime, kind)
    if len(head) >= 8 and head[4:8].decode("latin-1") in BMFF_FIRST_BOXES | SEGMENT_FIRST_BOXES:
        return _bmff_container(path)
    for magic, name, mime, kind in _MAGIC:
        if head.startswith(magic):
            return Container(name, mime, kind)
    if len(head) >= 2 and head[0] == 0xFF and head[1] & 0xE0 == 0xE0:
        return Container("MP3 audio", "audio/mpeg", "audio")
    text = head.lstrip(b"\xef\xbb\xbf \t\r\n")
    if text.startswith(b"<?xml") or text.startswith(b"<MPD") or text.startswith(b"#EXTM3U"):
        with path.open("rb") as f:
            start = f.read(4096)
        if b"<MPD" in start:
            return Container("MPEG-DASH manifest (MPD)", None, "playlist")
        if start.lstrip().startswith(b"#EXTM3U"):
            return Container("HLS playlist (M3U8)", None, "playlist")
        if b"<svg" in start:
            return Container("SVG image", "image/svg+xml", "image")
    return Container("unknown format", None, "unknown")


def riff_problem(path: str | Path) -> str | None:
    """Why a RIFF file (AVI, WAV) is malformed, from its header and chunk headers; ``None`` if it tiles."""
    path = Path(path)
    size = path.stat().st_size
    with path.open("rb") as f:
        head = f.read(12)
        if len(head) < 12 or head[:4] != b"RIFF":
            return None
        declared = struct.unpack("<I", head[4:8])[0] + 8
        if declared > size:
            return f"truncated: the RIFF header declares {declared} bytes, the file holds {size}"
        offset = 12
        while offset + 8 <= declared:
            f.seek(offset)
            chunk, length = struct.unpack("<4sI", f.read(8))
            end = offset + 8 + length + (length & 1)
            if offset + 8 + length > declared:
                return f"truncated: chunk {chunk.decode('latin-1')!r} at offset {offset} declares {length} bytes, {declared - offset - 8} remain"
            offset = end
    return None


def riff_has_chunk(path: str | Path, chunk_id: bytes) -> bool:
    """Whether the top level of RIFF file ``path`` holds a chunk ``chunk_id`` (e.g. ``b"C2PA"``)."""
    path = Path(path)
    size = path.stat().st_size
    with path.open("rb") as f:
        if f.read(4) != b"RIFF":
            return False
        offset = 12
        while offset + 8 <= size:
            f.seek(offset)
            header = f.read(8)
            if len(header) < 8:
                return False
            chunk, length = struct.unpack("<4sI", header)
            if chunk == chunk_id:
                return True
            offset += 8 + length + (length & 1)
    return False


class _ChainedFile(io.RawIOBase):
    """Several files read as one (an fMP4 init segment followed by its media segments), for PyAV."""

    def __init__(self, paths: list[Path]):
        self._files = [open(p, "rb") for p in paths]
        self._sizes = [p.stat().st_size for p in paths]
        self._total, self._pos = sum(self._sizes), 0

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        base = {io.SEEK_SET: 0, io.SEEK_CUR: self._pos, io.SEEK_END: self._total}[whence]
        self._pos = max(0, base + offset)
        return self._pos

    def tell(self) -> int:
        return self._pos

    def readinto(self, buffer) -> int:
        start, done = 0, 0
        view = memoryview(buffer)
        for f, size in zip(self._files, self._sizes):
            if done < len(view) and start <= self._pos < start + size:
                f.seek(self._pos - start)
                n = f.readinto(view[done : done + min(len(view) - done, start + size - self._pos)])
                done += n
                self._pos += n
            start += size
        return done

    def close(self) -> None:
        for f in self._files:
            f.close()
        super().close()


def _mp4_truncation(path: Path) -> str | None:
    """Why an MP4/MOV file is cut short, from its top-level boxes; ``None`` if it is whole or not MP4.

    FFmpeg only says "Invalid data" for a file cut before its index, so walk the box headers (a few
    reads, no decoding) to name the real problem.
    """
    with path.open("rb") as f:
        if f.read(8)[4:8] != b"ftyp":
            return None  # not an ISO-BMFF file
    try:
        boxes = top_level_boxes(path, stray_tail_ok=True, junk_tail_ok=True)
    except MediaError as exc:
        return exc.reason
    if "moov" not in {box.type for box in boxes}:
        return "truncated: MP4 has no 'moov' index (the file was cut short before it was written)"
    return None


@dataclass(frozen=True)
class VideoInfo:
    """What a video file's container says of its first video stream, before any frame is decoded."""

    path: Path
    width: int
    height: int
    fps: float
    promised_frames: int  # 0 when the container does not say
    codec: str
    pix_fmt: str | None
    container: str
    bit_rate: int

    @property
    def meta(self) -> dict:
        return {"path": str(self.path), "codec": self.codec, "pix_fmt": self.pix_fmt, "container": self.container, "bit_rate": self.bit_rate}


def _open_video(path: Path, segments=()):
    """Open ``path`` (with its fMP4 ``segments``) for decoding after the checks every reader makes:
    (container, stream, info, the chained segment file to close or None)."""
    import av

    check_input_file(path)
    for segment in segments:
        check_input_file(segment)
    truncation = None if segments else _mp4_truncation(path)
    if truncation:
        raise MediaError(path, truncation)
    source = _ChainedFile([path, *map(Path, segments)]) if segments else None
    try:
        container = av.open(str(path) if source is None else source, mode="r")
    except (av.FFmpegError, UnicodeDecodeError, ValueError) as exc:
        if source is not None:
            source.close()
        raise MediaError(path, f"not a readable video ({_first_line(exc)})") from exc
    try:
        if not container.streams.video:
            raise MediaError(path, "contains no video stream")
        if container.format.name == "image2" or container.format.name.endswith("_pipe"):
            raise MediaError(path, f"is a still image ({container.format.name}), not a video")
        stream = container.streams.video[0]
        if stream.codec_context is None:  # FFmpeg has no decoder for it, e.g. a corrupt codec tag in stsd
            raise MediaError(path, "video stream has an unknown or corrupt codec (no decoder)")
        width, height = stream.codec_context.width, stream.codec_context.height
        if not (1 <= width <= MAX_SIDE and 1 <= height <= MAX_SIDE):
            raise MediaError(path, f"absurd frame size {width}x{height} (each side must be 1..{MAX_SIDE})")
        rate = stream.average_rate or stream.guessed_rate or stream.base_rate
        fps = float(rate) if rate else 0.0
        if not (0 < fps <= MAX_FPS):
            log.warning("%s: no usable frame rate in the stream (%r); assuming 25 fps", path, fps)
            fps = 25.0
        info = VideoInfo(
            path,
            width,
            height,
            fps,
            int(stream.frames or 0),
            stream.codec_context.name,
            stream.codec_context.pix_fmt,
            container.format.name,
            int(container.bit_rate or 0),
        )
    except BaseException:
        container.close()
        if source is not None:
            source.close()
        raise
    return container, stream, info, source


def probe_video(path: str | Path, *, segments: list[str | Path] | tuple = ()) -> VideoInfo:
    """The :class:`VideoInfo` of ``path`` (size, rate, promised frame count), without decoding frames."""
    container, _, info, source = _open_video(Path(path), segments)
    container.close()
    if source is not None:
        source.close()
    return info


def _rgb24_reader():
    """A frame → uint8 RGB ``[H, W, 3]`` converter for one stream: one swscale context for all its frames
    (``VideoFrame.to_ndarray`` makes one per frame: 5× slower at 256², the same pixels)."""
    from av.video.reformatter import VideoReformatter

    reformatter = VideoReformatter()
    return lambda frame: reformatter.reformat(frame, format="rgb24").to_ndarray()


def iter_video(path: str | Path, *, chunk: int = 1, max_frames: int | None = None, threaded: bool = False, segments: list[str | Path] | tuple = ()):
    """Decode the first video stream of ``path`` lazily: uint8 RGB arrays ``[n, H, W, 3]`` of ``chunk``
    frames (the last may be shorter), holding at most one chunk in memory, so a clip of any length
    streams in bounded memory. Errors as :func:`read_video`: a file that promises more frames than it
    holds is reported as truncated after its last frame. ``threaded`` decodes with FFmpeg's frame
    threads (the same pictures, faster on long clips). ``segments``: ``path`` is a fragmented-MP4 init
    segment and these are its media segments, read as one stream after it."""
    import av

    if chunk < 1:
        raise MediaError(path, f"chunk must be >= 1, got {chunk}")
    return_freed_buffers()
    path = Path(path)
    container, stream, info, source = _open_video(path, segments)
    if threaded:
        stream.thread_type = "AUTO"
    count, pending, rgb24 = 0, [], _rgb24_reader()
    try:
        with container:
            try:
                for frame in container.decode(stream):
                    pending.append(rgb24(frame))
                    count += 1
                    if len(pending) == chunk:
                        yield np.stack(pending)
                        pending = []
                    if max_frames is not None and count >= max_frames:
                        break
            except av.FFmpegError as exc:
                raise MediaError(path, f"corrupt video data ({_first_line(exc)})") from exc
    finally:
        if source is not None:
            source.close()
    if pending:
        yield np.stack(pending)
    if not count:
        raise MediaError(path, "contains zero decodable frames")
    if max_frames is None and info.promised_frames and count < info.promised_frames:
        raise MediaError(path, f"truncated: decoded {count} of {info.promised_frames} frames")


def read_video(
    path: str | Path,
    *,
    max_frames: int | None = None,
    max_bytes: int = DEFAULT_MAX_BYTES,
    segments: list[str | Path] | tuple = (),
) -> Video:
    """Decode the first video stream of ``path`` into a :class:`Video` (RGB uint8).

    ``max_frames`` stops decoding early; ``max_bytes`` refuses clips whose decoded frames would not
    fit in that much memory (:func:`iter_video` streams clips of any length). A file whose container
    promises more frames than can be decoded is reported as truncated. ``segments``: ``path`` is a
    fragmented-MP4 init segment and these are its media segments, read as one stream after it.
    """
    path = Path(path)
    info = probe_video(path, segments=segments)
    promised, width, height = info.promised_frames, info.width, info.height
    wanted = promised if max_frames is None else min(promised or max_frames, max_frames)
    if wanted and wanted * width * height * 3 > max_bytes:
        raise MediaError(
            path,
            f"{wanted} frames of {width}x{height} need {wanted * width * height * 3 / 1e9:.1f} GB (limit {max_bytes / 1e9:.1f} GB); pass max_frames",
        )
    frames: list[np.ndarray] = []
    for part in iter_video(path, max_frames=max_frames, segments=segments):
        frames.append(part[0])
        if len(frames) * width * height * 3 > max_bytes:
            raise MediaError(path, f"decoded frames exceed {max_bytes / 1e9:.1f} GB; pass max_frames")
    return Video(np.stack(frames), info.fps, info.meta)


def write_video(
    video: Video,
    path: str | Path,
    *,
    crf: int = 18,
    preset: str = "medium",
    codec: str = "libx264",
    lossless: bool = False,
) -> Path:
    """Write ``video`` to ``path`` (container from the suffix; MP4 by default).

    Lossy mode writes ``codec`` (H.264 by default) in yuv420p, the format every player reads; odd
    widths and heights are padded by one replicated edge pixel because 4:2:0 chroma needs even sides.
    ``lossless=True`` writes RGB H.264 at QP 0 (``libx264rgb``): bit-exact frames, for tests and
    intermediate files. Returns the path written.
    """
    import av
    from av.codec.codec import UnknownCodecError

    path = Path(path)
    check_frames(video.frames, path)
    _check_crf(path, codec, crf)
    if path.parent and not path.parent.exists():
        raise MediaError(path, f"directory {path.parent} does not exist")
    try:
        with atomic_path(path) as tmp:  # a crash never leaves a half-written clip under the real name
            _encode(video, str(tmp), _container_format(path), crf=crf, preset=preset, codec=codec, lossless=lossless)
    except av.FFmpegError as exc:
        raise MediaError(path, f"cannot encode with {codec} ({_first_line(exc)})") from exc
    except UnknownCodecError as exc:
        raise MediaError(path, f"unknown codec {codec!r} (this FFmpeg build lacks it)") from exc
    return path


def _container_format(path: Path) -> str:
    suffix = path.suffix.lower()
    return {".mp4": "mp4", ".m4v": "mp4", ".mov": "mov", ".mkv": "matroska", ".webm": "webm"}.get(suffix, "mp4")


def _encoder_settings(height: int, width: int, *, crf: int, preset: str, codec: str, lossless: bool) -> tuple[str, str, dict, int, int]:
    """(codec, pix_fmt, options, pad_h, pad_w) of an encode as :func:`write_video` describes."""
    if lossless:
        codec, pix_fmt, options, pad_h, pad_w = "libx264rgb", "rgb24", {"qp": "0", "preset": preset}, 0, 0
    else:
        pix_fmt, options = "yuv420p", {"crf": str(crf), "preset": preset}
        pad_h, pad_w = height % 2, width % 2
    if codec.startswith("libx264") and cpu_has_avx512():
        options["x264-params"] = f"asm={X264_DETERMINISTIC_ASM}"
    if not lossless and codec in _OTHER_ENCODERS:
        options = _OTHER_ENCODERS[codec](crf, preset)
    if codec == "libsvtav1":
        os.environ.setdefault("SVT_LOG", "1")  # SVT-AV1 prints its whole configuration to stderr otherwise
    return codec, pix_fmt, options, pad_h, pad_w


# x264's preset names on the encoders that do not take them: libvpx's cpu-used and SVT-AV1's preset
# (higher = faster), so that a round trip at "veryfast" is about as hasty on every codec.
_SPEED = {"ultrafast": 8, "superfast": 8, "veryfast": 7, "faster": 6, "fast": 5, "medium": 4, "slow": 3, "slower": 2, "veryslow": 1}
_OTHER_ENCODERS = {
    "libx265": lambda crf, preset: {"crf": str(crf), "preset": preset, "x265-params": "log-level=error"},
    # Constant quality needs a zero target bit rate on libvpx; crf 0..63.
    "libvpx-vp9": lambda crf, preset: {"crf": str(crf), "b": "0", "deadline": "good", "cpu-used": str(min(_SPEED.get(preset, 4), 5)), "row-mt": "1"},
    "libsvtav1": lambda crf, preset: {"crf": str(crf), "preset": str(_SPEED.get(preset, 4) + 2), "svtav1-params": "lp=1"},
}


def _check_crf(path, codec: str, crf: int) -> None:
    top = 63 if codec in ("libvpx-vp9", "libsvtav1") else 51
    if not (0 <= crf <= top):
        raise MediaError(path, f"crf must be in 0..{top} for {codec}, got {crf}")


# What reads each encoder's packets back (the codec name FFmpeg decodes them with).
DECODER_OF = {"libx264": "h264", "libx265": "hevc", "libvpx-vp9": "libvpx-vp9", "libsvtav1": "libdav1d"}


def _pad(frames: np.ndarray, pad_h: int, pad_w: int) -> np.ndarray:
    return np.pad(frames, ((0, 0), (0, pad_h), (0, pad_w), (0, 0)), mode="edge") if pad_h or pad_w else frames


def _encode(video: Video, target, container_format: str, *, crf: int, preset: str, codec: str, lossless: bool) -> None:
    """Encode ``video`` into ``target`` (a path or a binary file object) as :func:`write_video` describes."""
    import av

    rate = Fraction(video.fps).limit_denominator(1001)
    codec, pix_fmt, options, pad_h, pad_w = _encoder_settings(video.height, video.width, crf=crf, preset=preset, codec=codec, lossless=lossless)
    frames = _pad(video.frames, pad_h, pad_w)
    with av.open(target, mode="w", format=container_format) as container:
        stream = container.add_stream(codec, rate=rate, options=options)
        stream.width, stream.height = frames.shape[2], frames.shape[1]
        stream.pix_fmt = pix_fmt
        for array in frames:
            frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(array), format="rgb24")
            container.mux(stream.encode(frame))
        container.mux(stream.encode(None))


# Stream types a signed clip keeps from its source, packet for packet (the first video stream is the one
# re-encoded); other streams (a second video track, timecode or data tracks) are left out with a warning.
COPIED_STREAM_TYPES = ("audio", "subtitle")


class VideoWriter:
    """Encode frames as they come, in bounded memory: :func:`write_video` for clips of any length.

    ``with VideoWriter(path, fps) as out: out.write(chunk)`` for uint8 ``[n, H, W, 3]`` chunks; the file
    appears under ``path`` (atomically) only when the block ends without an exception.
    ``copy_streams_from`` remuxes the audio and subtitle streams of that file packet for packet
    (bit-exact, interleaved with the video by time); :attr:`dropped` names the streams left out.
    """

    def __init__(
        self,
        path: str | Path,
        fps: float,
        *,
        crf: int = 18,
        preset: str = "medium",
        codec: str = "libx264",
        lossless: bool = False,
        copy_streams_from: str | Path | None = None,
    ):
        self.path = Path(path)
        _check_crf(self.path, codec, crf)
        if not (0 < float(fps) <= MAX_FPS):
            raise MediaError(self.path, f"fps must be in (0, {MAX_FPS:g}], got {fps!r}")
        if self.path.parent and not self.path.parent.exists():
            raise MediaError(self.path, f"directory {self.path.parent} does not exist")
        self.fps, self.crf, self.preset, self.codec, self.lossless = float(fps), crf, preset, codec, lossless
        self.copy_from = None if copy_streams_from is None else Path(copy_streams_from)
        self._atomic = atomic_path(self.path)  # a crash never leaves a half-written clip under the real name
        self.tmp = self._atomic.__enter__()
        self.frames_written = 0
        self.dropped: list[str] = []
        self._container = self._stream = self._source = None
        self._copies: dict = {}  # source stream index -> output stream
        self._packets = None  # iterator over the source's packets of copied streams
        self._next = None  # the next packet to copy, held until the video reaches its time

    def __enter__(self) -> VideoWriter:
        return self

    def _open(self, height: int, width: int) -> None:
        import av

        codec, pix_fmt, options, self._pad_h, self._pad_w = _encoder_settings(
            height, width, crf=self.crf, preset=self.preset, codec=self.codec, lossless=self.lossless
        )
        self._shape = (height, width)
        self._container = av.open(str(self.tmp), mode="w", format=_container_format(self.path))
        stream = self._container.add_stream(codec, rate=Fraction(self.fps).limit_denominator(1001), options=options)
        stream.width, stream.height = width + self._pad_w, height + self._pad_h
        stream.pix_fmt = pix_fmt
        self._stream = stream
        if self.copy_from is not None:
            self._open_copies()

    def _open_copies(self) -> None:
        import av

        try:
            self._source = av.open(str(self.copy_from), mode="r")
        except (av.FFmpegError, UnicodeDecodeError, ValueError) as exc:
            raise MediaError(self.copy_from, f"not a readable video ({_first_line(exc)})") from exc
        video = self._source.streams.video[0] if self._source.streams.video else None
        for stream in self._source.streams:
            if stream is video:
                continue
            if stream.type in COPIED_STREAM_TYPES:
                try:
                    self._copies[stream.index] = self._container.add_stream_from_template(stream)
                    continue
                except (av.FFmpegError, ValueError) as exc:
                    reason = _first_line(exc)
            else:
                reason = "not an audio or subtitle stream"
            self.dropped.append(f"stream {stream.index} ({stream.type} {stream.codec_context.name if stream.codec_context else '?'}): {reason}")
        for line in self.dropped:
            log.warning("%s: %s left out of %s", self.copy_from, line, self.path)
        if self._copies:
            self._packets = (p for p in self._source.demux([self._source.streams[i] for i in self._copies]) if p.size)
            self._next = next(self._packets, None)
        else:
            self._source.close()
            self._source = None

    def _copy_until(self, seconds: float | None) -> None:
        """Mux the copied packets that start before ``seconds`` (all of them for ``None``)."""
        while self._next is not None:
            packet = self._next
            when = packet.dts if packet.dts is not None else packet.pts
            if seconds is not None and when is not None and float(when * packet.time_base) > seconds:
                return
            packet.stream = self._copies[packet.stream.index]
            self._container.mux(packet)
            self._next = next(self._packets, None)

    def write(self, frames: np.ndarray) -> None:
        import av

        check_frames(frames, self.path)
        if self._container is None:
            self._open(frames.shape[1], frames.shape[2])
        elif frames.shape[1:3] != self._shape:
            raise MediaError(self.path, f"frame size changed from {self._shape[1]}x{self._shape[0]} to {frames.shape[2]}x{frames.shape[1]}")
        for array in _pad(frames, self._pad_h, self._pad_w):
            if self._packets is not None:
                self._copy_until(self.frames_written / self.fps)
            frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(array), format="rgb24")
            self._container.mux(self._stream.encode(frame))
            self.frames_written += 1

    def _finish(self) -> None:
        if self._container is None:
            raise MediaError(self.path, "no frames were written")
        self._container.mux(self._stream.encode(None))
        if self._packets is not None:
            self._copy_until(None)
        self._container.close()
        self._container = None

    def _close_source(self) -> None:
        if self._source is not None:
            self._source.close()
            self._source = None

    def __exit__(self, kind, value, tb) -> None:
        import av
        from av.codec.codec import UnknownCodecError

        failure = value
        try:
            if kind is None:
                try:
                    self._finish()
                except av.FFmpegError as exc:
                    raise MediaError(self.path, f"cannot encode with {self.codec} ({_first_line(exc)})") from exc
                except UnknownCodecError as exc:
                    raise MediaError(self.path, f"unknown codec {self.codec!r} (this FFmpeg build lacks it)") from exc
        except BaseException as exc:
            failure = exc
            raise
        finally:
            self._close_source()
            if self._container is not None:
                try:
                    self._container.close()
                except Exception:  # noqa: BLE001 - already failing; the partial file goes
                    pass
                self._container = None
            # atomic_path: the clip appears under its name on success; on failure the partial file goes.
            self._atomic.__exit__(None if failure is None else type(failure), failure, None if failure is None else failure.__traceback__)


class CodecRoundTrip:
    """:func:`encode_decode` frame by frame: frames go into an H.264 encoder whose packets are decoded at
    once, so a clip of any length round-trips in bounded memory. ``push(frames)`` returns the decoded
    frames that are ready (the encoder holds a few back), ``flush()`` the rest; in order, unpadded.
    Same encoder settings as :func:`encode_decode`, so the same pictures."""

    def __init__(self, fps: float = 25.0, *, crf: int = 23, preset: str = "veryfast", codec: str = "libx264", threads: int | None = None):
        _check_crf(None, codec, crf)
        self.fps, self.crf, self.preset, self.codec, self.threads = float(fps), crf, preset, codec, threads
        self._encoder = self._decoder = None

    def _open(self, height: int, width: int) -> None:
        import av

        codec, pix_fmt, options, self._pad_h, self._pad_w = _encoder_settings(
            height, width, crf=self.crf, preset=self.preset, codec=self.codec, lossless=False
        )
        self._shape = (height, width)
        rate = Fraction(self.fps).limit_denominator(1001)
        encoder = av.CodecContext.create(codec, "w")
        encoder.width, encoder.height, encoder.pix_fmt = width + self._pad_w, height + self._pad_h, pix_fmt
        encoder.time_base, encoder.framerate = 1 / rate, rate
        if self.threads is not None:  # x264's default follows the core count, and so do its bits
            options = {**options, "threads": str(self.threads)}
        encoder.options = options
        self._encoder, self._decoder = encoder, av.CodecContext.create(DECODER_OF.get(self.codec, "h264"), "r")
        self._rgb24 = _rgb24_reader()

    def _pictures(self, decoded) -> list[np.ndarray]:
        return [self._rgb24(frame)[: self._shape[0], : self._shape[1]] for frame in decoded]

    def _decode(self, packets) -> list[np.ndarray]:
        return [picture for packet in packets for picture in self._pictures(self._decoder.decode(packet))]

    def push(self, frames: np.ndarray) -> list[np.ndarray]:
        import av
        from av.codec.codec import UnknownCodecError

        out = []
        try:
            if self._encoder is None:
                self._open(frames.shape[1], frames.shape[2])
            for array in _pad(frames, self._pad_h, self._pad_w):
                frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(array), format="rgb24")
                out += self._decode(self._encoder.encode(frame))
        except av.FFmpegError as exc:
            raise MediaError(None, f"cannot round-trip through {self.codec} ({_first_line(exc)})") from exc
        except UnknownCodecError as exc:
            raise MediaError(None, f"unknown codec {self.codec!r} (this FFmpeg build lacks it)") from exc
        return out

    def flush(self) -> list[np.ndarray]:
        import av

        if self._encoder is None:
            return []
        try:
            return self._decode(self._encoder.encode(None)) + self._pictures(self._decoder.decode(None))
        except av.FFmpegError as exc:
            raise MediaError(None, f"cannot round-trip through {self.codec} ({_first_line(exc)})") from exc


def frames_sha256(frames: np.ndarray) -> str:
    """SHA-256 of a clip's pixels and shape: what identifies its content whatever file it is stored in
    (two clips are the same content exactly when their frames are)."""
    import hashlib

    frames = np.ascontiguousarray(frames)
    digest = hashlib.sha256(f"{'x'.join(map(str, frames.shape))}:{frames.dtype.str}:".encode())
    digest.update(memoryview(frames).cast("B"))
    return digest.hexdigest()


@functools.cache
def cpu_has_avx512() -> bool:
    """Whether this CPU advertises AVX-512 (Linux: /proc/cpuinfo; elsewhere False, and x264 keeps its own
    choice). Only CPUs with AVX-512 need x264 capped, and every one of them has AVX2, so the cap never
    asks x264 for instructions the CPU lacks."""
    try:
        with open("/proc/cpuinfo", encoding="ascii", errors="replace") as info:
            for line in info:
                if line.startswith("flags"):
                    return "avx512f" in line.split()
    except OSError:
        pass
    return False


def encode_decode(video: Video, *, crf: int = 23, preset: str = "veryfast", codec: str = "libx264", threads: int | None = None) -> Video:
    """Round-trip ``video`` through a lossy encode in memory; the H.264 attack of benchmarks and tests.

    No container and no temporary file (the embedder runs this for every clip): a
    :class:`CodecRoundTrip`, whose frames are the same as :func:`write_video` then :func:`read_video`
    give (tested). ``threads``: the encoder's threads (None: its default, which follows the machine's
    core count, as :func:`write_video`; 1: the same pictures on every machine, and the least overhead
    for a short clip).
    """
    roundtrip = CodecRoundTrip(video.fps, crf=crf, preset=preset, codec=codec, threads=threads)
    frames = roundtrip.push(video.frames) + roundtrip.flush()
    return Video(np.ascontiguousarray(np.stack(frames)), video.fps, dict(video.meta))
