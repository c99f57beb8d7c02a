"""``synthvid sign`` on real files (issue 17, findings 11 and 12): audio and subtitles kept bit for
bit, a clip with Content Credentials recorded as the parent ingredient (``c2pa.opened``), and the
clip streamed through the watermark in memory that does not grow with its length — with the same
marked frames as the in-memory embedder."""

from __future__ import annotations

import json
import tracemalloc
from pathlib import Path

import av
import numpy as np
import pytest
from provenance_helpers import (
    keys,  # noqa: F401 - session fixture
    verify_json,
)
from provenance_helpers import verify_cli as cli

from genkit.world import render
from provenance import watermark
from provenance.media import Video, VideoWriter, iter_video, read_video, write_video

pytestmark = pytest.mark.slow  # long clips streamed through the watermark and x264

FIXTURES = Path(__file__).resolve().parents[2] / "shared" / "c2pa-fixtures"
KEY = b"k" * 32
PAYLOAD = bytes.fromhex("0123456789abcdef")


@pytest.fixture(autouse=True)
def empty_home(tmp_path, monkeypatch):
    monkeypatch.setenv("SYNTHVID_HOME", str(tmp_path / "home"))


def clip_with_audio(path: Path, *, audio_codec: str = "aac", seconds: float = 2.0, fps: int = 8, size: int = 64) -> Path:
    """A shapes-world clip with a 440 Hz sine (AAC or PCM) muxed beside it, written with PyAV."""
    frames = render("a red circle moving left on a blue background", frames=int(seconds * fps), size=size, fps=fps, seed=3).frames
    rate, block = 48000, 1024
    with av.open(str(path), "w") as container:
        video = container.add_stream("libx264", rate=fps, options={"crf": "12"})
        video.width = video.height = size
        video.pix_fmt = "yuv420p"
        audio = container.add_stream(audio_codec, rate=rate)
        audio.layout = "mono"
        fmt = "fltp" if audio_codec == "aac" else "s16"
        t = np.arange(int(rate * seconds)) / rate
        pcm = (0.3 * np.sin(2 * np.pi * 440 * t)).astype(np.float32)
        shown = 0
        for start in range(0, len(pcm), block):
            samples = pcm[start : start + block][None]
            if fmt == "s16":
                samples = (samples * 32767).astype(np.int16)
            frame = av.AudioFrame.from_ndarray(samples, format=fmt, layout="mono")
            frame.sample_rate, frame.pts = rate, start
            container.mux(audio.encode(frame))
            while shown < len(frames) and shown / fps <= (start + block) / rate:
                container.mux(video.encode(av.VideoFrame.from_ndarray(frames[shown], format="rgb24")))
                shown += 1
        container.mux(audio.encode(None))
        container.mux(video.encode(None))
    return path


def packets(path: Path, kind: str) -> list[tuple[bytes, int | None]]:
    """The bytes and timestamps (in seconds × 1000) of every packet of the first ``kind`` stream."""
    with av.open(str(path)) as container:
        stream = getattr(container.streams, kind)[0]
        return [(bytes(p), None if p.pts is None else round(float(p.pts * p.time_base) * 1000)) for p in container.demux(stream) if p.size]


def sign(capsys, source: Path, out: Path, keys, repo: Path, *extra) -> dict:
    code, text, err = cli(capsys, "sign", source, "--out", out, "--keys", keys.directory, "--repo", repo, *extra, "--json")
    assert code == 0, err
    return json.loads(text)


# ------------------------------------------------------------------ finding 11: streams are kept


@pytest.mark.parametrize("audio_codec, suffix", [("aac", ".mp4"), ("pcm_s16le", ".mov")])
def test_sign_keeps_the_audio_packet_for_packet(tmp_path, capsys, keys, audio_codec, suffix):
    source = clip_with_audio(tmp_path / f"with-audio{suffix}", audio_codec=audio_codec)
    out, repo = tmp_path / "signed.mp4", tmp_path / "manifests.sqlite"
    summary = sign(capsys, source, out, keys, repo)
    assert summary["dropped_streams"] == [] and summary["parent"] is None
    before, after = packets(source, "audio"), packets(out, "audio")
    assert len(after) == len(before) > 80
    assert [data for data, _ in after] == [data for data, _ in before]  # bit-exact
    assert [when for _, when in after] == [when for _, when in before]
    code, result, _ = verify_json(capsys, out, "--trust", keys.ca_cert, "--repo", repo, "--wm-key", keys.watermark_key)
    assert code == 0 and result["verdict"] == "TRUSTED" and result["payload_agreement"] is True


# ------------------------------------------------------------------ finding 11: the parent ingredient


def actions(manifest: dict) -> list[dict]:
    return [a for assertion in manifest["assertions"] if assertion["label"].startswith("c2pa.actions") for a in assertion["data"]["actions"]]


def test_signing_a_credentialed_clip_opens_it_as_the_parent_ingredient(tmp_path, capsys, keys):
    source = clip_with_audio(tmp_path / "made-elsewhere.mp4")
    first, second, repo = tmp_path / "first.mp4", tmp_path / "second.mp4", tmp_path / "manifests.sqlite"
    one = sign(capsys, source, first, keys, repo, "--generator", "ComfyUI")
    two = sign(capsys, first, second, keys, repo, "--generator", "ComfyUI")
    assert one["parent"] is None and two["parent"] == str(first)
    assert packets(second, "audio") == packets(source, "audio")  # no data loss through two signings
    from provenance.credentials import read_manifest

    report = read_manifest(second, keys.ca_cert.read_bytes())
    assert report.state == "Trusted"
    names = [a["action"] for a in actions(report.manifest)]
    assert names[0] == "c2pa.opened" and "c2pa.created" not in names and "c2pa.watermarked" in names
    opened = actions(report.manifest)[0]
    assert opened["parameters"]["ingredients"][0]["url"].endswith("c2pa.ingredient.v3")
    [ingredient] = report.manifest["ingredients"]
    assert ingredient["relationship"] == "parentOf" and ingredient["title"] == "first.mp4"
    assert ingredient["active_manifest"] == one["manifest_label"]
    # verify shows the chain and takes "AI-generated" from the parent's c2pa.created
    code, result, _ = verify_json(capsys, second, "--trust", keys.ca_cert, "--repo", repo, "--wm-key", keys.watermark_key)
    assert code == 0 and result["verdict"] == "TRUSTED", result
    assert result["ai_generated"] is True
    assert result["watermark"]["payload"] == two["payload"] and result["payload_agreement"] is True
    [shown] = result["ingredients"]
    assert shown["relationship"] == "parentOf" and shown["ai_generated"] is True
    code, text, _ = cli(capsys, "verify", second, "--trust", keys.ca_cert, "--repo", repo, "--wm-key", keys.watermark_key)
    assert "Ingredient" in text and "first.mp4 (parentOf)" in text


@pytest.mark.skipif(not (FIXTURES / "video" / "rs_video1.mp4").is_file(), reason="../shared/c2pa-fixtures is not here")
def test_signing_a_third_party_credentialed_clip_keeps_its_manifest_and_audio(tmp_path, capsys, keys):
    source = FIXTURES / "video" / "rs_video1.mp4"  # c2pa-rs's test video: H.264 720x1280 + AAC, with a manifest
    out, repo = tmp_path / "signed.mp4", tmp_path / "manifests.sqlite"
    summary = sign(capsys, source, out, keys, repo)
    assert summary["parent"] == str(source)
    assert packets(out, "audio") == packets(source, "audio")
    from provenance.credentials import read_manifest

    theirs = read_manifest(source)
    ours = read_manifest(out, keys.ca_cert.read_bytes())
    assert ours.manifest["ingredients"][0]["active_manifest"] == theirs.label
    assert ours.manifest["ingredients"][0]["relationship"] == "parentOf"
    assert [a["action"] for a in actions(ours.manifest)][0] == "c2pa.opened"
    anchors = tmp_path / "anchors.pem"
    anchors.write_bytes(keys.ca_cert.read_bytes() + (FIXTURES / "trust" / "rs_test_cert_root_bundle.pem").read_bytes())
    code, result, _ = verify_json(capsys, out, "--trust", anchors, "--repo", repo, "--wm-key", keys.watermark_key)
    assert result["ingredients"] and result["ingredients"][0]["relationship"] == "parentOf"
    assert result["watermark"]["found"] and result["payload_agreement"] is True


# ------------------------------------------------------------------ finding 12: streaming


class Counter:
    """A sink that keeps only a digest of what it is given (and how many frames)."""

    def __init__(self):
        import hashlib

        self.digest, self.frames = hashlib.sha256(), 0

    def __enter__(self):
        import hashlib

        self.digest, self.frames = hashlib.sha256(), 0
        return self

    def __exit__(self, *exc):
        pass

    def write(self, chunk):
        self.digest.update(np.ascontiguousarray(chunk).tobytes())
        self.frames += len(chunk)


@pytest.mark.parametrize("size, frames, codec_crf", [((192, 256), 100, None), ((64, 64), 70, 18)])
def test_streamed_embedding_gives_the_in_memory_frames(tmp_path, size, frames, codec_crf):
    # 192x256: the codec loop runs (sides >= 192), two windows of 50 frames; 64x64 with codec_crf: the
    # loop at a size where several frames share a render block. Decoded from a file in 8-frame chunks.
    clip = render("a yellow star moving right on a textured green background with noise", frames=frames, size=size[1], fps=8, seed=5)
    source = write_video(Video(np.ascontiguousarray(clip.frames[:, : size[0]]), 8.0), tmp_path / "source.mp4", lossless=True)
    decoded = read_video(source).frames
    expected = watermark.embed(decoded, PAYLOAD, KEY, codec_crf=codec_crf)
    marked_file = tmp_path / "marked.mp4"
    report = watermark.embed_stream(
        lambda: iter_video(source, chunk=5), PAYLOAD, KEY, lambda: VideoWriter(marked_file, 8.0, lossless=True), codec_crf=codec_crf
    )
    assert (report.frames, report.height, report.width) == (frames, *size)
    assert report.written_passes == 1
    streamed = read_video(marked_file).frames
    assert np.array_equal(streamed, expected)  # bit for bit
    found = watermark.detect(streamed, KEY)
    assert found.found and found.payload == PAYLOAD
    assert found == watermark.detect(expected, KEY)


def test_streamed_embedding_lowers_the_step_as_the_in_memory_one(tmp_path):
    # A dark, flat clip: the quality floors lower the step (the SSIM check of the middle frame decides
    # before anything is written), and both paths land on the same step and frames.
    frames = np.full((40, 64, 64, 3), 3, np.uint8)
    frames[:, 20:44, 20:44] = (0, 160, 0)
    expected = watermark.embed(frames, PAYLOAD, KEY)
    sink = Counter()
    report = watermark.embed_stream(lambda: (frames[i : i + 3] for i in range(0, 40, 3)), PAYLOAD, KEY, lambda: sink)
    assert report.step_scale < 1.0 and report.written_passes == 1
    import hashlib

    assert sink.frames == 40 and sink.digest.hexdigest() == hashlib.sha256(expected.tobytes()).hexdigest()


def test_streamed_embedding_memory_does_not_grow_with_the_clip(tmp_path):
    base = render("a red circle moving left on a blue background", frames=16, size=192, fps=8, seed=3).frames

    def source(count):
        def frames():
            for start in range(0, count, 16):
                yield base[: min(16, count - start)]  # new frames every pass, never all at once

        return frames

    peaks = {}
    for count in (64, 320):
        tracemalloc.start()
        report = watermark.embed_stream(source(count), PAYLOAD, KEY, Counter, codec_crf=None)
        peaks[count] = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
        assert report.frames == count
    clip_bytes = 320 * base[0].nbytes
    # Five times the frames: the peak grows by the per-frame statistics (1.6 KB a frame), not by frames.
    assert peaks[320] - peaks[64] < 2_000_000, peaks
    assert peaks[320] < clip_bytes / 2, (peaks, clip_bytes)
