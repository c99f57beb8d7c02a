"""Helpers and session fixtures for the provenance tests: keys made once, signed clips, byte flips, remux.

Imported by test_keys, test_c2pa, test_repository and test_verify_cli (``from provenance_helpers
import ...``), so that those files share one way of making signed clips and corrupt copies.
"""

from __future__ import annotations

import datetime as dt
import shutil
from pathlib import Path

import pytest

from genkit.world import render
from provenance.credentials import GenerationParams, GeneratorInfo, build_manifest, sign_file
from provenance.keys import KeyPaths, cert_pem, init_keys, issue_signer_cert, load_signer, private_key_pem, write_secret
from provenance.media import top_level_boxes, write_video
from provenance.watermark import ALGORITHM

PROMPT = "a red circle moving left on a blue background"
# Each test module that imports these fixtures gets its own session-scoped copy of them; the cache
# makes every copy return the same objects, so keys, clips and the expiring leaf are made once.
_MADE: dict[str, object] = {}


def _once(name: str, make):
    if name not in _MADE:
        _MADE[name] = make()
    return _MADE[name]


PAYLOAD = bytes.fromhex("0123456789abcdef")
TEST_ALG = ALGORITHM  # soft bindings of our watermark algorithm are the ones verify checks


@pytest.fixture(scope="session")
def keys(tmp_path_factory) -> KeyPaths:
    """``synthvid keys init`` output, made once per session."""
    return _once("keys", lambda: init_keys(tmp_path_factory.mktemp("keys") / "keys"))


@pytest.fixture(scope="session")
def other_keys(tmp_path_factory) -> KeyPaths:
    """A second, unrelated CA and signer with the same names: what a forger would make."""
    return _once("other_keys", lambda: init_keys(tmp_path_factory.mktemp("other-keys") / "keys"))


@pytest.fixture(scope="session")
def unsigned_mp4(tmp_path_factory) -> Path:
    """A 64x64x16 shapes-world clip as H.264 MP4, no manifest."""

    def make():
        return write_video(render(PROMPT, frames=16, size=64, fps=8, seed=3), tmp_path_factory.mktemp("clips") / "unsigned.mp4")

    return _once("unsigned", make)


def manifest_for(title: str = "clip.mp4", payload: bytes | None = PAYLOAD, **kwargs) -> dict:
    return build_manifest(
        title=title,
        generator=GeneratorInfo("shapes-world", "1.0"),
        params=GenerationParams(model_id="synthvid/tiny", model_revision="abc123", seed=3, steps=20, guidance=4.5, prompt=PROMPT),
        watermark_payload=payload,
        watermark_alg=TEST_ALG if payload is not None else None,
        duration_ms=2000,
        **kwargs,
    )


@pytest.fixture(scope="session")
def signed(tmp_path_factory, keys, unsigned_mp4):
    """``unsigned_mp4`` signed with ``keys``: the :class:`SignResult`."""

    def make():
        return sign_file(unsigned_mp4, tmp_path_factory.mktemp("signed") / "signed.mp4", manifest_for(), load_signer(keys.directory))

    return _once("signed", make)


@pytest.fixture(scope="session")
def expiring_chain(tmp_path_factory, keys):
    """A clip signed by a leaf of our CA that expires 2 s after signing: ``(path, not_after)``."""
    return _once("expiring", lambda: _sign_with_expiring_leaf(tmp_path_factory, keys))


def leaf_of_our_ca(keys: KeyPaths, folder: Path, **issue):
    """A new signer leaf issued by ``keys``' CA (``issue``: arguments of :func:`issue_signer_cert`),
    its chain and key written in ``folder``: ``(SignerConfig, leaf certificate)``."""
    from cryptography import x509
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ec

    ca_key = serialization.load_pem_private_key(keys.ca_key.read_bytes(), None)
    ca_cert = x509.load_pem_x509_certificate(keys.ca_cert.read_bytes())
    leaf_key = ec.generate_private_key(ec.SECP256R1())
    leaf = issue_signer_cert(ca_key, ca_cert, leaf_key.public_key(), **issue)
    (folder / "chain.pem").write_bytes(cert_pem(leaf) + cert_pem(ca_cert))
    write_secret(folder / "leaf.key", private_key_pem(leaf_key))
    return load_signer(cert=folder / "chain.pem", key=folder / "leaf.key"), leaf


def _sign_with_expiring_leaf(tmp_path_factory, keys):
    now = dt.datetime.now(dt.timezone.utc)
    folder = tmp_path_factory.mktemp("expiring")
    signer, leaf = leaf_of_our_ca(keys, folder, not_before=now - dt.timedelta(minutes=5), not_after=now + dt.timedelta(seconds=2))
    out = folder / "expiring.mp4"
    unsigned = write_video(render(PROMPT, frames=8, size=64, seed=4), folder / "unsigned.mp4")
    sign_file(unsigned, out, manifest_for(), signer)
    return out, leaf.not_valid_after_utc


def wait_until(moment: dt.datetime) -> None:
    import time

    remaining = (moment - dt.datetime.now(dt.timezone.utc)).total_seconds()
    if remaining > -1:
        time.sleep(remaining + 1.1)  # X.509 times have 1 s resolution


def copy(src: Path, dst: Path) -> Path:
    shutil.copyfile(src, dst)
    return dst


def flip_byte_in_box(src: Path, dst: Path, box_type: str, *, at: float = 0.5) -> Path:
    """Copy ``src`` to ``dst`` with one bit flipped in the payload of top-level box ``box_type``."""
    box = next(b for b in top_level_boxes(src) if b.type == box_type)
    data = bytearray(src.read_bytes())
    position = box.offset + box.header_size + int(at * (box.size - box.header_size - 1))
    data[position] ^= 0x01
    dst.write_bytes(bytes(data))
    return dst


def remux(src: Path, dst: Path) -> Path:
    """Stream-copy the video of ``src`` into a new MP4 (PyAV): same pixels, no C2PA box."""
    import av

    with av.open(str(src)) as source, av.open(str(dst), "w", format="mp4") as target:
        stream = source.streams.video[0]
        out = target.add_stream_from_template(stream)
        for packet in source.demux(stream):
            if packet.dts is None:  # the flush packet
                continue
            packet.stream = out
            target.mux(packet)
    return dst


def bad_inputs(folder: Path, signed_path: Path) -> dict[str, Path]:
    """A missing, an empty, a truncated (signed clip cut in half) and a non-video file."""
    folder.mkdir(parents=True, exist_ok=True)
    empty = folder / "empty.mp4"
    empty.write_bytes(b"")
    truncated = folder / "truncated.mp4"
    data = signed_path.read_bytes()
    truncated.write_bytes(data[: len(data) // 2])
    text = folder / "notes.mp4"
    text.write_text("these are meeting notes, not a video\n" * 20)
    return {"missing": folder / "missing.mp4", "empty": empty, "truncated": truncated, "non-video": text}


def verify_cli(capsys, *argv):
    """Run ``python -m provenance ARGV`` in-process: ``(exit code, stdout, stderr)``."""
    from provenance.cli import _standalone_app, run_typer_app

    code = run_typer_app(_standalone_app(), [str(a) for a in argv], prog_name="python -m provenance")
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def verify_json(capsys, *argv):
    """``verify ARGV --json`` for one file: ``(exit code, its result, stderr)``."""
    import json

    code, out, err = verify_cli(capsys, "verify", *argv, "--json")
    return code, json.loads(out)[0], err
