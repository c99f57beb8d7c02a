"""provenance.keys: the local CA and signer profile, file modes, and every key a signer must refuse."""

from __future__ import annotations

import datetime as dt
import os
import stat

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, ObjectIdentifier
from provenance_helpers import keys, other_keys  # noqa: F401 - session fixtures

from provenance.errors import KeyFileError
from provenance.keys import (
    C2PA_SIGNING_EKU,
    KeyPaths,
    cert_pem,
    init_keys,
    issue_signer_cert,
    load_signer,
    load_trust_anchors,
    load_watermark_key,
    make_ca,
    private_key_pem,
    write_secret,
)


def mode(path) -> int:
    return stat.S_IMODE(os.stat(path).st_mode)


def test_init_writes_private_keys_0600_in_a_0700_directory(keys):
    assert mode(keys.directory) == 0o700
    for secret in (keys.ca_key, keys.signer_key, keys.watermark_key):
        assert mode(secret) == 0o600, secret
    for public in (keys.ca_cert, keys.signer_chain):
        assert mode(public) == 0o644, public


def test_ca_is_a_long_lived_p256_ca_with_ski(keys):
    ca = x509.load_pem_x509_certificate(keys.ca_cert.read_bytes())
    assert ca.extensions.get_extension_for_class(x509.BasicConstraints).value.ca
    assert ca.extensions.get_extension_for_class(x509.KeyUsage).value.key_cert_sign
    assert ca.extensions.get_extension_for_class(x509.SubjectKeyIdentifier)
    assert isinstance(ca.public_key(), ec.EllipticCurvePublicKey) and ca.public_key().curve.name == "secp256r1"
    assert ca.not_valid_after_utc - ca.not_valid_before_utc > dt.timedelta(days=365 * 15)


def test_signer_leaf_has_the_profile_c2pa_requires(keys):
    leaf, ca = x509.load_pem_x509_certificates(keys.signer_chain.read_bytes())
    assert not leaf.extensions.get_extension_for_class(x509.BasicConstraints).value.ca
    usage = leaf.extensions.get_extension_for_class(x509.KeyUsage).value
    assert usage.digital_signature and not usage.key_cert_sign
    ekus = {e.dotted_string for e in leaf.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value}
    # emailProtection and documentSigning beside the C2PA EKU: what readers with default settings accept.
    assert ekus == {C2PA_SIGNING_EKU, "1.3.6.1.5.5.7.3.4", "1.3.6.1.5.5.7.3.36"}
    aki = leaf.extensions.get_extension_for_class(x509.AuthorityKeyIdentifier).value.key_identifier
    assert aki == ca.extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value.digest
    leaf.verify_directly_issued_by(ca)  # raises if the CA did not sign it
    assert leaf.not_valid_after_utc - dt.datetime.now(dt.timezone.utc) > dt.timedelta(days=365 * 9)


def test_watermark_key_is_32_random_bytes(keys, other_keys):
    key = load_watermark_key(keys.watermark_key)
    assert len(key) == 32
    assert key != load_watermark_key(other_keys.watermark_key)


def test_init_refuses_to_replace_keys_without_force(tmp_path):
    paths = init_keys(tmp_path / "k")
    before = paths.ca_cert.read_bytes()
    with pytest.raises(KeyFileError, match="already holds keys"):
        init_keys(tmp_path / "k")
    assert paths.ca_cert.read_bytes() == before
    init_keys(tmp_path / "k", force=True)
    assert paths.ca_cert.read_bytes() != before


def test_default_key_dir_follows_synthvid_home(tmp_path, monkeypatch):
    monkeypatch.setenv("SYNTHVID_HOME", str(tmp_path / "home"))
    paths = init_keys()
    assert paths.directory == tmp_path / "home" / "keys"
    assert load_signer().alg == "es256"
    assert load_trust_anchors() == paths.ca_cert.read_bytes()


def test_signer_repr_never_shows_key_material(keys):
    signer = load_signer(keys.directory)
    text = repr(signer) + str(signer)
    assert "PRIVATE KEY" not in text and "CERTIFICATE" not in text
    assert signer.private_key_pem.startswith(b"-----BEGIN PRIVATE KEY-----")


@pytest.mark.parametrize("too_open", [0o644, 0o640, 0o604, 0o660])
def test_signing_refuses_a_key_readable_by_group_or_others(tmp_path, keys, too_open):
    copy_dir = tmp_path / "keys"
    copy_dir.mkdir()
    for src in (keys.signer_chain, keys.signer_key):
        (copy_dir / src.name).write_bytes(src.read_bytes())
    os.chmod(copy_dir / "signer.key", too_open)
    with pytest.raises(KeyFileError, match=rf"signer.key: permissions {too_open:04o} are too open"):
        load_signer(copy_dir)


def test_watermark_key_with_open_mode_is_refused(tmp_path, keys):
    path = tmp_path / "wm.key"
    path.write_bytes(keys.watermark_key.read_bytes())
    os.chmod(path, 0o644)
    with pytest.raises(KeyFileError, match="too open"):
        load_watermark_key(path)


def _byo(tmp_path, leaf_cert, leaf_key, ca_cert):
    write_secret(tmp_path / "byo.key", private_key_pem(leaf_key))
    (tmp_path / "byo.pem").write_bytes(cert_pem(leaf_cert) + cert_pem(ca_cert))
    return tmp_path / "byo.pem", tmp_path / "byo.key"


def test_bring_your_own_p384_chain_gives_es384(tmp_path):
    ca_key, ca = make_ca("BYO CA", "byo")
    leaf_key = ec.generate_private_key(ec.SECP384R1())
    leaf = issue_signer_cert(ca_key, ca, leaf_key.public_key(), common_name="BYO signer")
    cert, key = _byo(tmp_path, leaf, leaf_key, ca)
    signer = load_signer(cert=cert, key=key, tsa_url="http://timestamp.example")
    assert (signer.alg, signer.tsa_url) == ("es384", "http://timestamp.example")
    assert "BYO signer" in signer.signer_name


def _leaf_builder(ca_key, ca, public_key, *, ca_flag=False, eku=C2PA_SIGNING_EKU, digital_signature=True, days=(-1, 30)):
    now = dt.datetime.now(dt.timezone.utc)
    builder = (
        x509.CertificateBuilder()
        .subject_name(x509.Name.from_rfc4514_string("CN=odd leaf"))
        .issuer_name(ca.subject)
        .public_key(public_key)
        .serial_number(x509.random_serial_number())
        .not_valid_before(now + dt.timedelta(days=days[0]))
        .not_valid_after(now + dt.timedelta(days=days[1]))
        .add_extension(x509.BasicConstraints(ca=ca_flag, path_length=None), critical=True)
        .add_extension(x509.KeyUsage(digital_signature, False, False, False, False, ca_flag, False, False, False), critical=True)
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), critical=False)
    )
    if eku:
        builder = builder.add_extension(x509.ExtendedKeyUsage([ObjectIdentifier(eku)]), critical=False)
    return builder.sign(ca_key, hashes.SHA256())


@pytest.mark.parametrize(
    "variant, message",
    [
        ({"ca_flag": True}, "the first certificate is a CA"),
        ({"eku": None}, "has no ExtendedKeyUsage"),
        ({"eku": ExtendedKeyUsageOID.SERVER_AUTH.dotted_string}, "EKUs are not accepted"),
        ({"digital_signature": False}, "lacks KeyUsage digitalSignature"),
        ({"days": (-60, -30)}, "signer certificate expired on"),
        ({"days": (5, 30)}, "is not valid before"),
    ],
)
def test_byo_leaf_without_the_c2pa_profile_is_refused(tmp_path, variant, message):
    ca_key, ca = make_ca("BYO CA", "byo")
    leaf_key = ec.generate_private_key(ec.SECP256R1())
    cert, key = _byo(tmp_path, _leaf_builder(ca_key, ca, leaf_key.public_key(), **variant), leaf_key, ca)
    with pytest.raises(KeyFileError, match=message) as info:
        load_signer(cert=cert, key=key)
    assert str(info.value).startswith(str(cert)) and "\n" not in str(info.value)


def test_key_that_does_not_belong_to_the_certificate_is_refused(tmp_path, keys, other_keys):
    with pytest.raises(KeyFileError, match="does not belong to the signer certificate"):
        load_signer(cert=keys.signer_chain, key=other_keys.signer_key)


def test_small_rsa_key_is_refused(tmp_path):
    ca_key, ca = make_ca("BYO CA", "byo")
    leaf_key = rsa.generate_private_key(public_exponent=65537, key_size=1024)
    cert, key = _byo(tmp_path, _leaf_builder(ca_key, ca, leaf_key.public_key()), leaf_key, ca)
    with pytest.raises(KeyFileError, match="1024 bits is too small"):
        load_signer(cert=cert, key=key)


def test_encrypted_and_garbage_keys_are_refused_without_showing_them(tmp_path, keys):
    leaf_key = serialization.load_pem_private_key(keys.signer_key.read_bytes(), None)
    encrypted = leaf_key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.BestAvailableEncryption(b"pw"))
    write_secret(tmp_path / "enc.key", encrypted)
    with pytest.raises(KeyFileError, match="encrypted"):
        load_signer(cert=keys.signer_chain, key=tmp_path / "enc.key")
    write_secret(tmp_path / "junk.key", b"not a key at all, secret-ish text")
    with pytest.raises(KeyFileError, match="not a PEM private key") as info:
        load_signer(cert=keys.signer_chain, key=tmp_path / "junk.key")
    assert "secret-ish" not in str(info.value)


@pytest.mark.parametrize("problem", ["missing", "empty", "not-pem"])
def test_bad_key_directory_files_give_one_line_errors(tmp_path, keys, problem):
    paths = KeyPaths.in_directory(tmp_path / "k")
    paths.directory.mkdir()
    paths.signer_chain.write_bytes(keys.signer_chain.read_bytes())
    if problem == "empty":
        write_secret(paths.signer_key, b"")
    elif problem == "not-pem":
        write_secret(paths.signer_key, keys.signer_key.read_bytes())
        paths.signer_chain.write_text("hello")
    with pytest.raises(KeyFileError) as info:
        load_signer(paths.directory)
    message = str(info.value)
    assert "\n" not in message and str(paths.directory) in message
    assert {"missing": "no such private key", "empty": "is empty", "not-pem": "not a PEM certificate"}[problem] in message


def test_trust_anchor_files_are_checked(tmp_path, keys, other_keys):
    bundle = load_trust_anchors([keys.ca_cert, other_keys.ca_cert])
    assert len(x509.load_pem_x509_certificates(bundle)) == 2
    (tmp_path / "junk.pem").write_text("no certificate here")
    with pytest.raises(KeyFileError, match="junk.pem: not a PEM certificate"):
        load_trust_anchors([tmp_path / "junk.pem"])
