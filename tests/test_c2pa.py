"""provenance.credentials with real c2pa-python: manifest contents, signing, trust, tampering, stripping."""

from __future__ import annotations

import base64
import hashlib
import json

import c2pa
import pytest
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from provenance_helpers import (  # noqa: F401 - session fixtures
    PAYLOAD,
    PROMPT,
    TEST_ALG,
    expiring_chain,
    flip_byte_in_box,
    keys,
    leaf_of_our_ca,
    manifest_for,
    other_keys,
    remux,
    signed,
    unsigned_mp4,
    wait_until,
)

from provenance.credentials import (
    TRAINED_ALGORITHMIC_MEDIA,
    read_manifest,
    read_manifest_store,
    sign_file,
)
from provenance.errors import ManifestError, MediaError, SigningError
from provenance.keys import C2PA_SIGNING_EKU, callback_signer, load_signer
from provenance.media import top_level_boxes


@pytest.fixture(scope="module")
def anchors(keys) -> bytes:
    return keys.ca_cert.read_bytes()


def test_trusted_round_trip(signed, anchors):
    report = read_manifest(signed.path, anchors)
    assert report.state == "Trusted"
    assert report.failures == []
    assert report.label == signed.manifest_label
    assert "synthvid signer" in report.signer
    assert report.ai_generated is True


def test_manifest_carries_every_assertion_of_a_generated_clip(signed, anchors):
    report = read_manifest(signed.path, anchors)
    labels = [a["label"] for a in report.manifest["assertions"]]
    assert "c2pa.hash.bmff.v3" in labels  # the MP4 hard binding
    actions = report.assertion("c2pa.actions")["actions"]
    created = next(a for a in actions if a["action"] == "c2pa.created")
    assert created["digitalSourceType"] == TRAINED_ALGORITHMIC_MEDIA
    assert created["softwareAgent"] == {"name": "shapes-world", "version": "1.0"}
    assert any(a["action"] == "c2pa.watermarked" for a in actions)
    binding = report.assertion("c2pa.soft-binding")
    assert binding["alg"] == TEST_ALG
    assert base64.b64decode(binding["blocks"][0]["value"]) == PAYLOAD
    assert binding["blocks"][0]["scope"]["timespan"] == {"start": 0, "end": 2000}
    assert report.soft_bindings == [(TEST_ALG, PAYLOAD)]
    entries = report.assertion("cawg.training-mining")["entries"]
    assert set(entries) == {"cawg.ai_generative_training", "cawg.ai_inference", "cawg.ai_training", "cawg.data_mining"}
    assert {e["use"] for e in entries.values()} == {"notAllowed"}
    params = report.assertion("org.synthvid.generation-parameters")
    assert params == {"model_id": "synthvid/tiny", "model_revision": "abc123", "seed": 3, "steps": 20, "guidance": 4.5, "prompt": PROMPT}
    assert report.generator == "shapes-world 1.0 (model synthvid/tiny)"
    assert report.manifest["claim_generator_info"][0]["name"] == "synthvid"


def test_prompt_hash_option_and_configurable_training_mining(tmp_path, keys, unsigned_mp4, anchors):
    manifest = manifest_for(hash_prompt=True, training_mining={"cawg.ai_inference": "allowed", "cawg.data_mining": "constrained"})
    sign_file(unsigned_mp4, tmp_path / "hashed.mp4", manifest, load_signer(keys.directory))
    report = read_manifest(tmp_path / "hashed.mp4", anchors)
    params = report.assertion("org.synthvid.generation-parameters")
    assert "prompt" not in params
    assert params["prompt_sha256"] == hashlib.sha256(PROMPT.encode()).hexdigest()
    assert PROMPT not in report.store_json
    assert report.assertion("cawg.training-mining")["entries"] == {
        "cawg.ai_inference": {"use": "allowed"},
        "cawg.data_mining": {"use": "constrained"},
    }


def test_training_mining_can_be_left_out_and_is_validated(tmp_path, keys, unsigned_mp4, anchors):
    sign_file(unsigned_mp4, tmp_path / "no-tdm.mp4", manifest_for(training_mining=None), load_signer(keys.directory))
    assert read_manifest(tmp_path / "no-tdm.mp4", anchors).assertion("cawg.training-mining") is None
    with pytest.raises(ManifestError, match="must be one of"):
        manifest_for(training_mining="maybe")


def test_no_trust_anchor_means_valid_but_untrusted(signed):
    report = read_manifest(signed.path, None)
    assert report.state == "Valid"
    assert report.failure_codes == ["signingCredential.untrusted"]
    assert report.integrity_failures == []


def test_manifest_forged_with_another_ca_is_untrusted(tmp_path, other_keys, unsigned_mp4, anchors):
    # Same names, same manifest, another CA: c2pa finds the signature valid but the signer untrusted.
    forged = sign_file(unsigned_mp4, tmp_path / "forged.mp4", manifest_for(), load_signer(other_keys.directory))
    report = read_manifest(forged.path, anchors)
    assert report.state == "Valid"
    assert report.failure_codes == ["signingCredential.untrusted"]
    assert read_manifest(forged.path, other_keys.ca_cert.read_bytes()).state == "Trusted"


def _failure_codes(reader) -> list[str]:
    return [f["code"] for f in ((reader.get_validation_results() or {}).get("activeManifest") or {}).get("failure", [])]


def test_fresh_keys_sign_clips_that_readers_with_default_settings_accept(signed):
    # A reader that knows nothing of synthvid (c2pa-python's defaults) must not call our signer's
    # credential invalid; it cannot trust our CA, so "untrusted" is all it may say.
    for context in (None, c2pa.Context(c2pa.Settings())):
        with open(signed.path, "rb") as f, c2pa.Reader("video/mp4", f, context=context) as reader:
            assert _failure_codes(reader) == ["signingCredential.untrusted"]
            assert reader.get_validation_state() == "Valid"


def test_a_leaf_with_the_c2pa_eku_alone_still_signs_trusted_clips(tmp_path, keys, unsigned_mp4, anchors):
    # Leaves made before SIGNER_EKUS carry only the C2PA EKU: they still load and sign, and our
    # reader, which declares that EKU in trust_config, trusts them; a reader that does not declare it
    # (the premise of ALLOWED_EKUS) calls the credential invalid.
    signer, _ = leaf_of_our_ca(keys, tmp_path, ekus=(C2PA_SIGNING_EKU,))
    old = sign_file(unsigned_mp4, tmp_path / "old.mp4", manifest_for(), signer)
    assert read_manifest(old.path, anchors).state == "Trusted"
    context = c2pa.Context(c2pa.Settings.from_dict({"trust": {"trust_anchors": anchors.decode()}, "verify": {"remote_manifest_fetch": False}}))
    with open(old.path, "rb") as f, c2pa.Reader("video/mp4", f, context=context) as reader:
        assert "signingCredential.invalid" in _failure_codes(reader)
        assert reader.get_validation_state() != "Trusted"


@pytest.mark.parametrize("box", ["mdat", "moov"])
def test_byte_flip_in_mdat_or_moov_breaks_the_hard_binding(tmp_path, signed, anchors, box):
    flipped = flip_byte_in_box(signed.path, tmp_path / f"{box}.mp4", box)
    report = read_manifest(flipped, anchors)
    assert report.state == "Invalid"
    assert "assertion.bmffHash.mismatch" in report.failure_codes


def test_remux_strips_the_manifest(tmp_path, signed):
    stripped = remux(signed.path, tmp_path / "remux.mp4")
    assert read_manifest(stripped) is None
    assert [b.type for b in top_level_boxes(stripped)].count("uuid") == 0


def test_stored_manifest_store_still_validates_its_signature(signed, anchors):
    # What the repository keeps: the exact store, whose claim signature and signer verify on their own.
    report = read_manifest_store(signed.manifest_store, None, anchors)
    successes = {s["code"] for s in report.successes}
    assert {"claimSignature.validated", "signingCredential.trusted"} <= successes
    assert report.label == signed.manifest_label
    with pytest.raises(ManifestError, match="stored manifest cannot be read"):
        read_manifest_store(b"\x00" * 64, None, anchors)


@pytest.mark.slow  # waits for a leaf certificate to expire
def test_expired_leaf_is_reported_expired(expiring_chain, anchors):
    path, not_after = expiring_chain
    wait_until(not_after)
    report = read_manifest(path, anchors)
    assert "signingCredential.expired" in report.failure_codes
    assert report.integrity_failures == []  # the content is intact; the credential is not
    assert report.state != "Trusted"


def _p256_callback(key_path):
    key = serialization.load_pem_private_key(key_path.read_bytes(), None)
    calls = []

    def sign(data: bytes) -> bytes:
        calls.append(len(data))
        return key.sign(data, ec.ECDSA(hashes.SHA256()))

    return sign, calls


def test_callback_signer_signs_a_trusted_manifest(tmp_path, keys, unsigned_mp4, anchors):
    sign, calls = _p256_callback(keys.signer_key)
    signer = callback_signer(keys.signer_chain.read_bytes(), sign, source="test-kms")
    assert signer.alg == "es256" and signer.private_key_pem is None
    result = sign_file(unsigned_mp4, tmp_path / "kms.mp4", manifest_for(), signer)
    assert calls, "the callback was never asked to sign"
    assert read_manifest(result.path, anchors).state == "Trusted"


def test_failing_callback_gives_one_signing_error_and_no_file(tmp_path, keys, unsigned_mp4):
    def broken(data: bytes) -> bytes:
        raise RuntimeError("HSM offline")

    signer = callback_signer(keys.signer_chain.read_bytes(), broken)
    with pytest.raises(SigningError, match="sign callback failed.*HSM offline"):
        sign_file(unsigned_mp4, tmp_path / "never.mp4", manifest_for(), signer)
    assert list(tmp_path.iterdir()) == []


def test_unreachable_tsa_fails_signing_and_leaves_no_file(tmp_path, keys, unsigned_mp4):
    signer = load_signer(keys.directory, tsa_url="http://127.0.0.1:9/tsa")  # port 9: connection refused
    with pytest.raises(SigningError, match="timestamp authority http://127.0.0.1:9/tsa failed"):
        sign_file(unsigned_mp4, tmp_path / "tsa.mp4", manifest_for(), signer)
    assert list(tmp_path.iterdir()) == []


def test_reading_a_non_mp4_is_a_media_error(tmp_path):
    text = tmp_path / "notes.mp4"
    text.write_text("not a video " * 50)
    with pytest.raises(MediaError, match="not an MP4"):
        top_level_boxes(text)


def test_manifest_json_is_what_the_file_reports(signed, anchors):
    """Read from the signed store alone (c2pa-rs validated the file when it signed): the file's manifests,
    without a verdict that read could not give (it has no file to check the hard binding against)."""
    store = json.loads(signed.manifest_json)
    assert store["active_manifest"] == signed.manifest_label
    assert store["manifests"] == json.loads(read_manifest(signed.path, anchors).store_json)["manifests"]
    assert not [key for key in store if key.startswith("validation")]
    assert signed.manifest_store in signed.path.read_bytes()  # the exact signed JUMBF is embedded


def _cbor(data: bytes, at: int = 0):
    """Decode one definite-length CBOR item at ``at`` (the subset C2PA assertions use): ``(value, end)``;
    byte strings come back as ``bytes``, text as ``str``."""
    head, at = data[at], at + 1
    major, info = head >> 5, head & 31
    if info < 24:
        n = info
    else:
        width = {24: 1, 25: 2, 26: 4, 27: 8}[info]
        n, at = int.from_bytes(data[at : at + width], "big"), at + width
    if major == 0:
        return n, at
    if major in (2, 3):
        raw = data[at : at + n]
        return (bytes(raw) if major == 2 else raw.decode()), at + n
    if major == 4:
        items = []
        for _ in range(n):
            item, at = _cbor(data, at)
            items.append(item)
        return items, at
    if major == 5:
        mapping = {}
        for _ in range(n):
            key, at = _cbor(data, at)
            mapping[key], at = _cbor(data, at)
        return mapping, at
    raise ValueError(f"CBOR major type {major} not expected in a soft-binding assertion")


def test_soft_binding_as_stored_in_the_signed_manifest(signed):
    # Issue 17 finding 10, measured: C2PA 2.2 §18.10 wants blocks[].value and pad as byte strings;
    # through c2pa-python 0.38's JSON manifest definition they are stored as text and [0] (no byte
    # strings in JSON, no CBOR assertion call in its Builder). When this fails, the library changed:
    # write bytes then, and keep reading the old form.
    store = signed.manifest_store
    label = store.index(b"c2pa.soft-binding")
    content = store.index(b"cbor", label) + 4  # the assertion's CBOR content box follows its description
    assertion, _ = _cbor(store, content)
    assert assertion["alg"] == TEST_ALG
    assert assertion["blocks"][0]["value"] == base64.b64encode(PAYLOAD).decode()  # text, not bytes
    assert assertion["pad"] == [0]  # an array, not a byte string


@pytest.mark.parametrize(
    "value",
    [
        base64.b64encode(PAYLOAD).decode(),  # how synthvid has written it (text), and how c2pa-rs reports bytes in JSON
        list(PAYLOAD),  # a CBOR byte string turned into JSON generically
        PAYLOAD,  # bytes as such
    ],
)
def test_soft_binding_payload_is_read_in_every_form(value):
    from provenance.credentials import soft_bindings

    manifest = {"assertions": [{"label": "c2pa.soft-binding", "data": {"alg": TEST_ALG, "blocks": [{"scope": {}, "value": value}], "pad": b"\0"}}]}
    assert soft_bindings(manifest) == [(TEST_ALG, PAYLOAD)]
