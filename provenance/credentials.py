"""C2PA Content Credentials for MP4 clips, through c2pa-python: build, sign, read.

- :func:`build_manifest` makes the manifest definition every synthvid clip carries: ``c2pa.actions``
  (``c2pa.created`` with digitalSourceType trainedAlgorithmicMedia and the generator as
  softwareAgent; ``c2pa.watermarked``), ``c2pa.soft-binding`` (our watermark's algorithm id and
  payload), ``cawg.training-mining`` and :data:`GENERATION_LABEL` (model, seed, steps, guidance,
  prompt or its SHA-256).
- :func:`sign_file` embeds and signs it with ``Builder`` + ``Signer`` + ``Context(Settings)``; the hard
  binding c2pa-rs writes for MP4 is ``c2pa.hash.bmff.v3``.
- :func:`read_manifest` validates a file against explicit trust anchors and returns a
  :class:`ManifestReport` (validation state Trusted / Valid / Invalid, codes, and the fields a verdict
  shows); :func:`read_manifest_store` does the same for a manifest store kept apart from its clip.

Nothing here touches the network unless a TSA URL is given: reading never fetches remote manifests
or OCSP responses. The C2PA signing EKU is declared in ``trust.trust_config`` on both sides.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import io
import json
import logging
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from provenance.errors import ManifestError, MediaError, SigningError
from provenance.files import check_input_file
from provenance.keys import ALLOWED_EKUS, SignerConfig
from provenance.media import Box, top_level_boxes

log = logging.getLogger(__name__)

MP4_MIME = "video/mp4"
C2PA_BOX_UUID = bytes.fromhex("d8fec3d61b0e483c92975828877ec481")
TRAINED_ALGORITHMIC_MEDIA = "http://cv.iptc.org/newscodes/digitalsourcetype/trainedAlgorithmicMedia"
# IPTC digital source types that say "made by a generative model" (fully, or composited with one).
AI_SOURCE_TYPES = frozenset(
    {TRAINED_ALGORITHMIC_MEDIA, "http://cv.iptc.org/newscodes/digitalsourcetype/compositeWithTrainedAlgorithmicMedia"}
)
WATERMARK_ACTION = "c2pa.watermarked"
SOFT_BINDING_LABEL = "c2pa.soft-binding"
TRAINING_MINING_LABEL = "cawg.training-mining"
TRAINING_MINING_USES = ("cawg.ai_generative_training", "cawg.ai_inference", "cawg.ai_training", "cawg.data_mining")
TRAINING_MINING_VALUES = ("allowed", "notAllowed", "constrained")
GENERATION_LABEL = "org.synthvid.generation-parameters"
# Our failure code for a manifest box c2pa-rs cannot parse at all (codes we add carry our prefix, so
# that they never pass for c2pa-rs's own).
MANIFEST_UNREADABLE = "synthvid.manifest.unreadable"
# Failure codes about the signer's credential rather than the integrity of content or claim.
CREDENTIAL_CODE_PREFIXES = ("signingCredential.", "timeStamp.")


def _synthvid_version() -> str:
    from importlib import metadata

    try:
        return metadata.version("synthvid")
    except metadata.PackageNotFoundError:
        return "0+unknown"


def c2pa_settings(trust_anchors_pem: bytes | str | None = None) -> dict:
    """Settings for a c2pa ``Context``: our EKUs, no network on reading, no thumbnails.

    ``trust_anchors_pem`` replaces c2pa-rs's anchors: a signer is Trusted only if it chains to one of
    them. Without anchors nothing is Trusted (a valid signature reads as Valid + untrusted).
    """
    trust: dict[str, Any] = {"trust_config": "\n".join(ALLOWED_EKUS)}
    if trust_anchors_pem:
        trust["trust_anchors"] = trust_anchors_pem.decode() if isinstance(trust_anchors_pem, bytes) else trust_anchors_pem
    return {
        "trust": trust,
        "verify": {"verify_after_sign": True, "verify_trust": True, "remote_manifest_fetch": False, "ocsp_fetch": False},
        "builder": {
            "thumbnail": {"enabled": False},
            "claim_generator_info": {"name": "synthvid", "version": _synthvid_version()},
        },
    }


def _context(trust_anchors_pem: bytes | str | None = None):
    import c2pa

    return c2pa.Context(c2pa.Settings.from_dict(c2pa_settings(trust_anchors_pem)))


# ------------------------------------------------------------------------------------- manifest


@dataclass(frozen=True)
class GeneratorInfo:
    """The software that made the pixels (the ``softwareAgent`` of ``c2pa.created``)."""

    name: str
    version: str | None = None

    def agent(self) -> dict:
        return {"name": self.name, **({"version": self.version} if self.version else {})}


@dataclass(frozen=True)
class GenerationParams:
    """How the clip was generated; every field optional, ``extra`` for backend-specific values."""

    model_id: str | None = None
    model_revision: str | None = None
    seed: int | None = None
    steps: int | None = None
    guidance: float | None = None
    prompt: str | None = None
    negative_prompt: str | None = None
    extra: dict = field(default_factory=dict)

    def assertion_data(self, *, hash_prompt: bool) -> dict:
        """The assertion body; with ``hash_prompt`` prompts appear only as SHA-256 hex.

        A plain hash lets anyone confirm a guessed prompt (short prompts can be enumerated), but it
        does not reveal the prompt.
        """
        data: dict[str, Any] = {}
        for name in ("model_id", "model_revision", "seed", "steps", "guidance"):
            if getattr(self, name) is not None:
                data[name] = getattr(self, name)
        for name in ("prompt", "negative_prompt"):
            text = getattr(self, name)
            if text is None:
                continue
            if hash_prompt:
                data[f"{name}_sha256"] = hashlib.sha256(text.encode("utf-8")).hexdigest()
            else:
                data[name] = text
        data.update(self.extra)
        return data


def training_mining_entries(policy: str | dict[str, str] = "notAllowed") -> dict:
    """CAWG training-and-data-mining entries: one value for all four uses, or a value per use."""
    uses = dict.fromkeys(TRAINING_MINING_USES, policy) if isinstance(policy, str) else dict(policy)
    entries = {}
    for use, value in uses.items():
        if use not in TRAINING_MINING_USES:
            raise ManifestError(None, f"unknown training-mining use {use!r} (one of {', '.join(TRAINING_MINING_USES)})")
        if value not in TRAINING_MINING_VALUES:
            raise ManifestError(None, f"training-mining value must be one of {', '.join(TRAINING_MINING_VALUES)}, got {value!r}")
        entries[use] = {"use": value}
    return entries


def build_manifest(
    *,
    title: str,
    generator: GeneratorInfo,
    params: GenerationParams | None = None,
    watermark_payload: bytes | None = None,
    watermark_alg: str | None = None,
    duration_ms: int | None = None,
    training_mining: str | dict[str, str] | None = "notAllowed",
    hash_prompt: bool = False,
    created_at: dt.datetime | None = None,
) -> dict:
    """The manifest definition (c2pa-python JSON) for one generated clip.

    ``watermark_payload`` + ``watermark_alg`` add the ``c2pa.watermarked`` action and the
    ``c2pa.soft-binding`` assertion; ``training_mining=None`` leaves the CAWG assertion out.
    """
    when = (created_at or dt.datetime.now(dt.timezone.utc)).isoformat(timespec="seconds")
    synthvid = {"name": "synthvid", "version": _synthvid_version()}
    actions: list[dict] = [
        {
            "action": "c2pa.created",
            "when": when,
            "digitalSourceType": TRAINED_ALGORITHMIC_MEDIA,
            "softwareAgent": generator.agent(),
        }
    ]
    assertions: list[dict] = [{"label": "c2pa.actions", "data": {"actions": actions}}]
    if (watermark_payload is None) != (watermark_alg is None):
        raise ManifestError(None, "a soft binding needs both the watermark payload and its algorithm id")
    if watermark_payload is not None:
        actions.append(
            {
                "action": WATERMARK_ACTION,
                "when": when,
                "softwareAgent": synthvid,
                "parameters": {"description": "invisible keyed watermark carrying the soft-binding payload"},
            }
        )
        scope = {"timespan": {"start": 0, "end": int(duration_ms)}} if duration_ms is not None else {}
        assertions.append(
            {
                "label": SOFT_BINDING_LABEL,
                "data": {
                    "alg": watermark_alg,
                    "blocks": [{"scope": scope, "value": base64.b64encode(watermark_payload).decode("ascii")}],
                    "pad": [0],
                },
            }
        )
    if training_mining is not None:
        assertions.append({"label": TRAINING_MINING_LABEL, "data": {"entries": training_mining_entries(training_mining)}})
    if params is not None:
        assertions.append({"label": GENERATION_LABEL, "data": params.assertion_data(hash_prompt=hash_prompt)})
    return {"claim_generator_info": [synthvid], "title": title, "assertions": assertions}


# -------------------------------------------------------------------------------------- signing


@dataclass(frozen=True)
class SignResult:
    path: Path
    manifest_label: str
    manifest_store: bytes = field(repr=False)  # the exact signed JUMBF store embedded in the file
    manifest_json: str = field(repr=False)  # what a reader reports for the active manifest store
    file_sha256: str


def _c2pa_signer(config: SignerConfig):
    import c2pa

    if config.sign_callback is not None:
        callback = config.sign_callback

        def sign(data: bytes) -> bytes:
            # c2pa-python logs and swallows callback exceptions; keep a one-line reason for our error.
            try:
                return callback(data)
            except Exception as exc:
                sign.failure = f"{type(exc).__name__}: {exc}"
                raise

        sign.failure = None
        signer = c2pa.Signer.from_callback(sign, c2pa.C2paSigningAlg[config.alg.upper()], config.chain_pem.decode(), config.tsa_url)
        return signer, sign
    info = c2pa.C2paSignerInfo(
        config.alg.encode(), config.chain_pem, config.private_key_pem, config.tsa_url.encode() if config.tsa_url else None
    )
    return c2pa.Signer.from_info(info), None


def sha256_file(path: str | Path, chunk: int = 1 << 20) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(chunk):
            digest.update(block)
    return digest.hexdigest()


def sign_file(src: str | Path, dst: str | Path, manifest: dict, signer: SignerConfig) -> SignResult:
    """Embed ``manifest`` in a copy of MP4 ``src`` at ``dst``, signed by ``signer``.

    ``dst`` appears atomically, only once signing (and c2pa's verify-after-sign) succeeded.
    """
    import c2pa

    src, dst = Path(src), Path(dst)
    check_input_file(src)
    if not dst.parent.is_dir():
        raise SigningError(dst, f"directory {dst.parent} does not exist")
    tmp = dst.with_name(f".{dst.name}.signing{dst.suffix}")
    c2pa_signer, callback = _c2pa_signer(signer)
    try:
        with c2pa_signer, c2pa.Builder(manifest, context=_context()) as builder:
            with open(src, "rb") as source, open(tmp, "w+b") as dest:
                store = builder.sign(c2pa_signer, MP4_MIME, source, dest)
        os.replace(tmp, dst)
    except c2pa.C2paError as exc:
        tmp.unlink(missing_ok=True)
        reason = _first_line(exc)
        if callback is not None and callback.failure:
            reason = f"sign callback failed ({callback.failure})"
        elif signer.tsa_url and ("http" in reason or "timestamp" in reason.lower()):
            reason = f"timestamp authority {signer.tsa_url} failed ({reason})"
        raise SigningError(src, f"cannot sign: {reason}") from exc
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    report = read_manifest(dst)
    if report is None:  # c2pa just wrote it: not finding it means the library changed under us
        raise SigningError(dst, "signed file carries no readable manifest")
    return SignResult(dst, report.label, bytes(store), report.store_json, sha256_file(dst))


def _first_line(exc: BaseException) -> str:
    lines = str(exc).strip().splitlines()
    return lines[0] if lines else type(exc).__name__


# -------------------------------------------------------------------------------------- reading


@dataclass
class ManifestReport:
    """What c2pa-rs says about the active manifest, plus the fields a verdict shows."""

    state: str  # "Trusted", "Valid" or "Invalid" (c2pa-rs validation state)
    label: str | None
    manifest: dict = field(repr=False)
    store_json: str = field(repr=False)
    failures: list[dict] = field(default_factory=list)  # [{code, explanation, url}]
    informational: list[dict] = field(default_factory=list)
    successes: list[dict] = field(default_factory=list)

    @property
    def failure_codes(self) -> list[str]:
        return [f["code"] for f in self.failures]

    @property
    def integrity_failures(self) -> list[dict]:
        """Failures that are not about the signer's credential: content or claim do not match."""
        return [f for f in self.failures if not f["code"].startswith(CREDENTIAL_CODE_PREFIXES)]

    def assertion(self, label: str) -> Any:
        for item in self.manifest.get("assertions", []):
            if item.get("label") == label or item.get("label", "").startswith(label + ".v"):
                return item.get("data")
        return None

    @property
    def created_action(self) -> dict | None:
        actions = (self.assertion("c2pa.actions") or {}).get("actions", [])
        return next((a for a in actions if a.get("action") == "c2pa.created"), None)

    @property
    def digital_source_type(self) -> str | None:
        return (self.created_action or {}).get("digitalSourceType")

    @property
    def ai_generated(self) -> bool | None:
        source = self.digital_source_type
        return None if source is None else source in AI_SOURCE_TYPES

    @property
    def signer(self) -> str | None:
        info = self.manifest.get("signature_info") or {}
        name, issuer = info.get("common_name"), info.get("issuer")
        if name and issuer and issuer != name:
            return f"{name} ({issuer})"
        return name or issuer

    @property
    def signed_time(self) -> tuple[str | None, str | None]:
        """(time, source): a TSA's time when the signature carries one, else the claimed creation time."""
        info = self.manifest.get("signature_info") or {}
        if info.get("time"):
            return info["time"], "timestamp authority"
        when = (self.created_action or {}).get("when")
        return (when, "claimed by signer") if when else (None, None)

    @property
    def generator(self) -> str | None:
        agent = (self.created_action or {}).get("softwareAgent")
        if isinstance(agent, dict):
            text = " ".join(str(agent[k]) for k in ("name", "version") if agent.get(k))
        else:
            text = agent or ""
        model = (self.assertion(GENERATION_LABEL) or {}).get("model_id")
        if model:
            text = f"{text} (model {model})" if text else f"model {model}"
        return text or None

    @property
    def soft_bindings(self) -> list[tuple[str, bytes]]:
        """(algorithm id, payload) of every block of every soft-binding assertion."""
        out = []
        for item in self.manifest.get("assertions", []):
            if item.get("label", "").split("__")[0] != SOFT_BINDING_LABEL:
                continue
            data = item.get("data") or {}
            for block in data.get("blocks", []):
                try:
                    out.append((data.get("alg", ""), base64.b64decode(block.get("value", ""), validate=True)))
                except ValueError:
                    out.append((data.get("alg", ""), b""))
        return out


def _report(reader) -> ManifestReport:
    store = json.loads(reader.json())
    label = store.get("active_manifest")
    manifest = (store.get("manifests") or {}).get(label, {})
    results = (reader.get_validation_results() or {}).get("activeManifest") or {}
    return ManifestReport(
        state=reader.get_validation_state() or "Invalid",
        label=label,
        manifest=manifest,
        store_json=json.dumps(store, sort_keys=True),
        failures=list(results.get("failure", [])),
        informational=list(results.get("informational", [])),
        successes=list(results.get("success", [])),
    )


def read_manifest(path: str | Path, trust_anchors_pem: bytes | str | None = None) -> ManifestReport | None:
    """Validate the manifest embedded in MP4 ``path``; ``None`` when it carries none.

    A manifest box that c2pa cannot even parse yields state Invalid with code :data:`MANIFEST_UNREADABLE`
    (the file claims credentials that do not hold). A file c2pa cannot parse as MP4 at all raises
    :class:`MediaError`.
    """
    import c2pa

    path = Path(path)
    try:
        with open(path, "rb") as f, c2pa.Reader(MP4_MIME, f, context=_context(trust_anchors_pem)) as reader:
            return _report(reader)
    except c2pa.C2paError as exc:
        # A manifest box that c2pa cannot read is a manifest that no longer holds; without one, a
        # parse failure means the file is not a valid MP4 and "not found" means no credentials.
        carries_manifest = has_c2pa_box(path)
        if isinstance(exc, c2pa.C2paError.ManifestNotFound) and not carries_manifest:
            return None
        reason = _first_line(exc)
        if not carries_manifest:
            raise MediaError(path, f"not a valid MP4 file ({reason})") from exc
        return ManifestReport(
            state="Invalid", label=None, manifest={}, store_json="{}",
            failures=[{"code": MANIFEST_UNREADABLE, "explanation": reason}],
        )
    except OSError as exc:
        raise MediaError(path, f"cannot read ({exc.strerror or exc})") from exc


def read_manifest_store(
    store: bytes, asset: str | Path | None = None, trust_anchors_pem: bytes | str | None = None
) -> ManifestReport:
    """Validate a manifest store kept apart from its clip (a repository copy).

    With ``asset`` the hard binding is checked against that file; without, only the claim signature
    and the signer's trust are (c2pa then reports the hard binding as missing).
    """
    import c2pa

    try:
        if asset is None:
            with c2pa.Reader("application/c2pa", io.BytesIO(store), context=_context(trust_anchors_pem)) as reader:
                return _report(reader)
        with open(asset, "rb") as f, c2pa.Reader(MP4_MIME, f, store, context=_context(trust_anchors_pem)) as reader:
            return _report(reader)
    except c2pa.C2paError as exc:
        raise ManifestError(asset, f"stored manifest cannot be read ({_first_line(exc)})") from exc


# ------------------------------------------------------------------------------- MP4 box layout


def is_c2pa_box(path: str | Path, box: Box) -> bool:
    if box.type != "uuid":
        return False
    with open(path, "rb") as f:
        f.seek(box.offset + box.header_size)
        return f.read(16) == C2PA_BOX_UUID


def has_c2pa_box(path: str | Path) -> bool:
    """Whether ``path`` tiles into boxes of which one is a C2PA manifest box (even if ftyp is damaged)."""
    try:
        return any(is_c2pa_box(path, box) for box in top_level_boxes(path, known_first=False))
    except MediaError:
        return False
