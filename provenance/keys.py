"""Signing keys for Content Credentials: a local CA, a signer certificate, a watermark key.

``init_keys(dir)`` makes, in a directory created with mode 0700:

| file | what | mode |
|---|---|---|
| ``ca.pem`` | the local CA certificate (EC P-256, 20 years): the trust anchor to give verifiers | 0644 |
| ``ca.key`` | the CA private key (keep it offline once the signer is issued) | 0600 |
| ``signer.pem`` | the signer leaf followed by the CA: the chain embedded in every manifest | 0644 |
| ``signer.key`` | the signer private key | 0600 |
| ``watermark.key`` | 32 random bytes, hex: the secret the watermark pattern derives from | 0600 |

The leaf has the profile c2pa-rs requires: not a CA, KeyUsage digitalSignature, SKI and AKI, and the
EKUs of :data:`SIGNER_EKUS`: the C2PA signing EKU, which c2pa-rs accepts only when it is listed in
``trust.trust_config`` (see :data:`ALLOWED_EKUS`, used on the signing and the reading side by
:mod:`provenance.credentials`), and emailProtection and documentSigning, so that readers with
c2pa-rs's default settings accept the credential too.

:class:`SignerConfig` is what signing needs: a PEM chain and either a private key (ours, or brought
by the user) or a callback that signs bytes (the hook for a KMS or an HSM), plus an optional RFC 3161
timestamp-authority URL. Private key files readable by group or others are refused, as ssh does.
"""

from __future__ import annotations

import datetime as dt
import logging
import os
import secrets
import stat
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from provenance.errors import KeyFileError
from provenance.files import atomic_path, check_input_file

log = logging.getLogger(__name__)

C2PA_SIGNING_EKU = "1.3.6.1.4.1.62558.2.1"
EMAIL_PROTECTION_EKU = "1.3.6.1.5.5.7.3.4"
DOCUMENT_SIGNING_EKU = "1.3.6.1.5.5.7.3.36"
# The EKUs of a signer leaf made here. c2pa-rs with default settings accepts only emailProtection,
# timeStamping and OCSPSigning, and reports a leaf with the C2PA EKU alone `signingCredential.invalid`;
# C2PA 2.2 §14.4.1 has signers list emailProtection or documentSigning beside the C2PA EKU.
SIGNER_EKUS = (C2PA_SIGNING_EKU, EMAIL_PROTECTION_EKU, DOCUMENT_SIGNING_EKU)
# trust.trust_config replaces c2pa-rs's default EKU list, so it repeats the defaults (emailProtection,
# timeStamping, OCSPSigning) beside the C2PA EKU and documentSigning, which commercial C2PA CAs issue.
# The signer check accepts any of them: leaves issued with the C2PA EKU alone (before SIGNER_EKUS) still load.
ALLOWED_EKUS = SIGNER_EKUS + (
    "1.3.6.1.5.5.7.3.8",  # timeStamping
    "1.3.6.1.5.5.7.3.9",  # OCSPSigning
)

CA_CERT, CA_KEY = "ca.pem", "ca.key"
SIGNER_CHAIN, SIGNER_KEY = "signer.pem", "signer.key"
WATERMARK_KEY = "watermark.key"
WATERMARK_KEY_BYTES = 32

CA_YEARS = 20
# Without a timestamp authority c2pa-rs checks the leaf against the time of reading, so a leaf that
# expires makes every clip it signed untrusted: the default leaf lives as long as we can defend.
SIGNER_YEARS = 10


@dataclass(frozen=True)
class KeyPaths:
    """Where :func:`init_keys` put each file."""

    directory: Path
    ca_cert: Path
    ca_key: Path
    signer_chain: Path
    signer_key: Path
    watermark_key: Path

    @classmethod
    def in_directory(cls, directory: str | Path) -> KeyPaths:
        d = Path(directory).expanduser()
        return cls(d, d / CA_CERT, d / CA_KEY, d / SIGNER_CHAIN, d / SIGNER_KEY, d / WATERMARK_KEY)


def synthvid_home() -> Path:
    """``$SYNTHVID_HOME``, else ``$XDG_CONFIG_HOME/synthvid``, else ``~/.config/synthvid``."""
    if os.environ.get("SYNTHVID_HOME"):
        return Path(os.environ["SYNTHVID_HOME"]).expanduser()
    config = os.environ.get("XDG_CONFIG_HOME") or Path.home() / ".config"
    return Path(config) / "synthvid"


def default_key_dir() -> Path:
    return synthvid_home() / "keys"


# ----------------------------------------------------------------------------------------- creation


def _utcnow() -> dt.datetime:
    return dt.datetime.now(dt.timezone.utc)


def _name(common_name: str, organization: str):
    from cryptography import x509
    from cryptography.x509.oid import NameOID

    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name), x509.NameAttribute(NameOID.ORGANIZATION_NAME, organization)])


def _key_usage(*, signer: bool):
    from cryptography import x509

    return x509.KeyUsage(
        digital_signature=signer,
        content_commitment=False,
        key_encipherment=False,
        data_encipherment=False,
        key_agreement=False,
        key_cert_sign=not signer,
        crl_sign=not signer,
        encipher_only=False,
        decipher_only=False,
    )


def make_ca(common_name: str = "synthvid local CA", organization: str = "synthvid", *, years: int = CA_YEARS):
    """A self-signed EC P-256 CA: ``(private_key, certificate)``. The CA may sign leaves only (pathlen 0)."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import ec

    key = ec.generate_private_key(ec.SECP256R1())
    name = _name(common_name, organization)
    now = _utcnow()
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(hours=1))  # tolerate a verifier whose clock is slightly behind
        .not_valid_after(now + dt.timedelta(days=365 * years))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(_key_usage(signer=False), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .sign(key, hashes.SHA256())
    )
    return key, cert


def issue_signer_cert(
    ca_key,
    ca_cert,
    signer_public_key,
    *,
    common_name: str = "synthvid signer",
    organization: str = "synthvid",
    not_before: dt.datetime | None = None,
    not_after: dt.datetime | None = None,
    ekus: tuple[str, ...] = SIGNER_EKUS,
):
    """Issue a C2PA signer leaf for ``signer_public_key`` under ``ca_cert`` (default: valid 10 years),
    listing ``ekus`` (dotted OIDs)."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes
    from cryptography.x509.oid import ObjectIdentifier

    not_before = not_before or _utcnow() - dt.timedelta(hours=1)
    not_after = not_after or not_before + dt.timedelta(days=365 * SIGNER_YEARS)
    return (
        x509.CertificateBuilder()
        .subject_name(_name(common_name, organization))
        .issuer_name(ca_cert.subject)
        .public_key(signer_public_key)
        .serial_number(x509.random_serial_number())
        .not_valid_before(not_before)
        .not_valid_after(not_after)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(_key_usage(signer=True), critical=True)
        .add_extension(x509.ExtendedKeyUsage([ObjectIdentifier(eku) for eku in ekus]), critical=False)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(signer_public_key), critical=False)
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), critical=False)
        .sign(ca_key, hashes.SHA256())
    )


def cert_pem(cert) -> bytes:
    from cryptography.hazmat.primitives import serialization

    return cert.public_bytes(serialization.Encoding.PEM)


def private_key_pem(key) -> bytes:
    from cryptography.hazmat.primitives import serialization

    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())


def write_secret(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` with mode 0600 from the first byte on (never briefly world-readable)."""
    with atomic_path(path) as tmp:
        tmp.unlink(missing_ok=True)
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "wb") as f:
            f.write(data)


def _write_public(path: Path, data: bytes) -> None:
    with atomic_path(path) as tmp:
        tmp.write_bytes(data)
        os.chmod(tmp, 0o644)


def init_keys(
    directory: str | Path | None = None,
    *,
    organization: str = "synthvid",
    signer_name: str = "synthvid signer",
    force: bool = False,
) -> KeyPaths:
    """Create a local CA, a signer leaf and a watermark key in ``directory`` (default :func:`default_key_dir`).

    Refuses to replace existing keys unless ``force``: clips signed with the old keys would no longer
    verify against the new CA, and their watermarks would no longer be found with the new key.
    """
    from cryptography.hazmat.primitives.asymmetric import ec

    paths = KeyPaths.in_directory(directory or default_key_dir())
    existing = [p.name for p in (paths.ca_key, paths.signer_key, paths.watermark_key) if p.exists()]
    if existing and not force:
        raise KeyFileError(
            paths.directory,
            f"already holds keys ({', '.join(existing)}); pass --force to replace them "
            "(clips signed with the old keys will no longer verify against the new CA)",
        )
    if paths.directory.exists() and not paths.directory.is_dir():
        raise KeyFileError(paths.directory, "exists and is not a directory")
    paths.directory.mkdir(parents=True, exist_ok=True, mode=0o700)
    os.chmod(paths.directory, 0o700)

    ca_key, ca_cert = make_ca(f"{organization} local CA", organization)
    signer_key = ec.generate_private_key(ec.SECP256R1())
    leaf = issue_signer_cert(ca_key, ca_cert, signer_key.public_key(), common_name=signer_name, organization=organization)
    write_secret(paths.ca_key, private_key_pem(ca_key))
    write_secret(paths.signer_key, private_key_pem(signer_key))
    write_secret(paths.watermark_key, secrets.token_bytes(WATERMARK_KEY_BYTES).hex().encode() + b"\n")
    _write_public(paths.ca_cert, cert_pem(ca_cert))
    _write_public(paths.signer_chain, cert_pem(leaf) + cert_pem(ca_cert))
    log.info("created CA, signer and watermark key in %s", paths.directory)
    return paths


# ------------------------------------------------------------------------------------------ loading


def check_private_file_mode(path: str | Path) -> None:
    """Refuse a secret file that group or others may read or write (mode & 0o077), as ssh does."""
    path = Path(path)
    if os.name != "posix":
        return
    mode = stat.S_IMODE(path.stat().st_mode)
    if mode & 0o077:
        raise KeyFileError(path, f"permissions {mode:04o} are too open: a private key must be readable by its owner only (chmod 600 {path})")


def _read_secret(path: str | Path, what: str) -> bytes:
    path = Path(path).expanduser()
    missing = f"no such {what} file (run `synthvid keys init` to make one)"
    check_input_file(path, what=f"{what} file", missing=missing, error=KeyFileError)
    check_private_file_mode(path)
    data = path.read_bytes()
    if not data.strip():
        raise KeyFileError(path, f"{what} file is empty")
    return data


def _read_public(path: str | Path, what: str) -> bytes:
    path = Path(path).expanduser()
    check_input_file(path, what=f"{what} file", missing=f"no such {what} file", error=KeyFileError)
    data = path.read_bytes()
    if not data.strip():
        raise KeyFileError(path, f"{what} file is empty")
    return data


def load_watermark_key(path: str | Path | None = None) -> bytes:
    """The watermark secret in ``path`` (hex text; default: the key directory's ``watermark.key``)."""
    path = Path(path).expanduser() if path else default_key_dir() / WATERMARK_KEY
    text = _read_secret(path, "watermark key").decode("ascii", "replace").strip()
    try:
        key = bytes.fromhex(text)
    except ValueError:
        raise KeyFileError(path, "watermark key must be hex text (as `synthvid keys init` writes it)") from None
    if len(key) < 16:
        raise KeyFileError(path, f"watermark key has {len(key)} bytes; at least 16 are needed")
    return key


def load_certificates(pem: bytes, path: str | Path | None = None) -> list:
    """Parse every certificate of a PEM bundle; a one-line :class:`KeyFileError` if there is none."""
    from cryptography import x509

    try:
        certs = x509.load_pem_x509_certificates(pem)
    except ValueError as exc:
        raise KeyFileError(path, f"not a PEM certificate chain ({exc})") from None
    return certs


def signing_alg(public_key, path: str | Path | None = None) -> str:
    """The C2PA signing algorithm for a key: es256/es384/es512 by EC curve, ps256 for RSA, ed25519."""
    from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa

    if isinstance(public_key, ec.EllipticCurvePublicKey):
        algs = {"secp256r1": "es256", "secp384r1": "es384", "secp521r1": "es512"}
        if public_key.curve.name not in algs:
            raise KeyFileError(path, f"EC curve {public_key.curve.name} is not allowed by C2PA (use P-256, P-384 or P-521)")
        return algs[public_key.curve.name]
    if isinstance(public_key, rsa.RSAPublicKey):
        if public_key.key_size < 2048:
            raise KeyFileError(path, f"RSA key of {public_key.key_size} bits is too small for C2PA (≥ 2048)")
        return "ps256"
    if isinstance(public_key, ed25519.Ed25519PublicKey):
        return "ed25519"
    raise KeyFileError(path, f"{type(public_key).__name__} keys cannot sign C2PA manifests")


def check_signer_certificate(leaf, path: str | Path | None = None, *, now: dt.datetime | None = None) -> None:
    """Raise :class:`KeyFileError` unless ``leaf`` has the profile c2pa-rs accepts for a signer, now."""
    from cryptography import x509

    def extension(kind):
        try:
            return leaf.extensions.get_extension_for_class(kind).value
        except x509.ExtensionNotFound:
            return None

    now = now or _utcnow()
    if now < leaf.not_valid_before_utc:
        raise KeyFileError(path, f"signer certificate is not valid before {leaf.not_valid_before_utc:%Y-%m-%d %H:%M:%S} UTC")
    if now > leaf.not_valid_after_utc:
        raise KeyFileError(path, f"signer certificate expired on {leaf.not_valid_after_utc:%Y-%m-%d %H:%M:%S} UTC")
    basic = extension(x509.BasicConstraints)
    if basic is not None and basic.ca:
        raise KeyFileError(path, "the first certificate is a CA; the chain must start with the signer (leaf) certificate")
    usage = extension(x509.KeyUsage)
    if usage is None or not usage.digital_signature:
        raise KeyFileError(path, "signer certificate lacks KeyUsage digitalSignature")
    ekus = extension(x509.ExtendedKeyUsage)
    if ekus is None:
        raise KeyFileError(path, f"signer certificate has no ExtendedKeyUsage (C2PA needs one, e.g. {C2PA_SIGNING_EKU})")
    if not {eku.dotted_string for eku in ekus} & set(ALLOWED_EKUS):
        raise KeyFileError(path, f"signer certificate's EKUs are not accepted for C2PA signing (use {C2PA_SIGNING_EKU})")
    if extension(x509.AuthorityKeyIdentifier) is None:
        raise KeyFileError(path, "signer certificate lacks an AuthorityKeyIdentifier")


@dataclass(frozen=True)
class SignerConfig:
    """Everything signing needs. Build it with :func:`load_signer` or :func:`callback_signer`.

    ``chain_pem`` is the signer certificate first, then its intermediates (the root may follow).
    Exactly one of ``private_key_pem`` and ``sign_callback`` is set; neither is ever shown by ``repr``.
    ``sign_callback(data) -> signature`` signs the bytes c2pa hands it with the key of the leaf (for
    ECDSA, DER or raw r‖s). ``tsa_url``: an RFC 3161 timestamp authority; signing contacts the network
    only when it is set, and fails when it cannot be reached.
    """

    chain_pem: bytes = field(repr=False)
    alg: str
    private_key_pem: bytes | None = field(default=None, repr=False)
    sign_callback: Callable[[bytes], bytes] | None = field(default=None, repr=False)
    tsa_url: str | None = None
    source: str = ""
    signer_name: str = ""

    def __post_init__(self) -> None:
        if (self.private_key_pem is None) == (self.sign_callback is None):
            raise KeyFileError(self.source or None, "a signer needs exactly one of a private key and a sign callback")
        if self.tsa_url and not self.tsa_url.startswith(("http://", "https://")):
            raise KeyFileError(None, f"TSA URL must start with http:// or https://, got {self.tsa_url!r}")


def load_signer(
    key_dir: str | Path | None = None,
    *,
    cert: str | Path | None = None,
    key: str | Path | None = None,
    tsa_url: str | None = None,
) -> SignerConfig:
    """A :class:`SignerConfig` from a PEM chain and key: ``cert``/``key`` if given (bring your own),
    else ``signer.pem``/``signer.key`` of ``key_dir`` (default :func:`default_key_dir`).

    Checks, with a one-line :class:`KeyFileError` each: the key file's mode (0600), that the chain
    parses, the leaf's C2PA profile and validity now, and that the key belongs to the leaf.
    """
    from cryptography.hazmat.primitives import serialization

    if (cert is None) != (key is None):
        raise KeyFileError(cert or key, "pass both a certificate chain and its private key, or neither")
    if cert is None:
        paths = KeyPaths.in_directory(key_dir or default_key_dir())
        if not paths.directory.is_dir():
            raise KeyFileError(paths.directory, "no key directory (run `synthvid keys init` first)")
        cert, key = paths.signer_chain, paths.signer_key
    key_pem = _read_secret(key, "private key")
    chain_pem = _read_public(cert, "certificate chain")
    certs = load_certificates(chain_pem, cert)
    check_signer_certificate(certs[0], cert)
    try:
        private_key = serialization.load_pem_private_key(key_pem, password=None)
    except (ValueError, TypeError) as exc:
        # The reason, never the content: the file is a secret.
        reason = "it is encrypted (give an unencrypted PKCS#8 PEM key)" if "encrypted" in str(exc).lower() else "not a PEM private key"
        raise KeyFileError(key, reason) from None
    if private_key.public_key().public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo) != certs[
        0
    ].public_key().public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo):
        raise KeyFileError(key, f"this private key does not belong to the signer certificate in {cert}")
    return SignerConfig(
        chain_pem=chain_pem,
        alg=signing_alg(certs[0].public_key(), cert),
        private_key_pem=key_pem,
        tsa_url=tsa_url,
        source=str(cert),
        signer_name=certs[0].subject.rfc4514_string(),
    )


def callback_signer(
    chain_pem: bytes, sign_callback: Callable[[bytes], bytes], *, tsa_url: str | None = None, source: str = "callback"
) -> SignerConfig:
    """A :class:`SignerConfig` whose signatures come from ``sign_callback`` (a KMS, an HSM, a remote service)."""
    certs = load_certificates(chain_pem, source)
    check_signer_certificate(certs[0], source)
    return SignerConfig(
        chain_pem=chain_pem,
        alg=signing_alg(certs[0].public_key(), source),
        sign_callback=sign_callback,
        tsa_url=tsa_url,
        source=source,
        signer_name=certs[0].subject.rfc4514_string(),
    )


def load_trust_anchors(paths: list[str | Path] | None = None) -> bytes | None:
    """The PEM bundle of the given CA files, each a certificate or a bundle of them such as the C2PA
    trust list (default: the key directory's ``ca.pem`` if it exists)."""
    if not paths:
        default = default_key_dir() / CA_CERT
        return default.read_bytes() if default.is_file() else None
    return load_pem_bundle(paths, "trust anchor")


def load_allowed_list(paths: list[str | Path] | None) -> list[bytes]:
    """The end-entity certificates (DER) of allowed-list PEM files: signers trusted by their exact
    certificate, whatever chain they carry (C2PA trust model, §14.4.3; c2pa-rs 0.91 ignores its
    ``trust.allowed_list`` setting, so synthvid checks it). Refuses a CA certificate: an allowed list
    names signers, not authorities."""
    from cryptography import x509
    from cryptography.hazmat.primitives.serialization import Encoding

    allowed = []
    for path in paths or []:
        for cert in load_certificates(_read_public(path, "allowed-list certificate"), path):
            try:
                is_ca = cert.extensions.get_extension_for_class(x509.BasicConstraints).value.ca
            except x509.ExtensionNotFound:
                is_ca = False
            if is_ca:
                raise KeyFileError(path, f"holds a CA certificate ({cert.subject.rfc4514_string()}); an allowed list names end-entity signers")
            allowed.append(cert.public_bytes(Encoding.DER))
    return allowed


def load_pem_bundle(paths: list[str | Path], what: str) -> bytes:
    """The given PEM certificate files joined into one bundle; each must hold at least one certificate."""
    bundle = b""
    for path in paths:
        pem = _read_public(path, what)
        load_certificates(pem, path)
        bundle += pem if pem.endswith(b"\n") else pem + b"\n"
    return bundle
