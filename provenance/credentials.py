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
import struct
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from provenance.errors import ManifestError, MediaError, SigningError
from provenance.files import atomic_path, check_input_file
from provenance.keys import ALLOWED_EKUS, SignerConfig
from provenance.media import Box, Container, riff_has_chunk, riff_problem, sniff_container, top_level_boxes

log = logging.getLogger(__name__)

MP4_MIME = "video/mp4"
C2PA_BOX_UUID = bytes.fromhex("d8fec3d61b0e483c92975828877ec481")
IPTC_SOURCE_TYPE = "http://cv.iptc.org/newscodes/digitalsourcetype/"
TRAINED_ALGORITHMIC_MEDIA = IPTC_SOURCE_TYPE + "trainedAlgorithmicMedia"
# IPTC digital source types that say "synthetic": made by a generative model or another algorithm, fully
# or composited with such elements. Any action's digitalSourceType counts (c2pa.created, c2pa.edited,
# c2pa.placed...), not only c2pa.created's.
AI_SOURCE_TYPES = frozenset(
    IPTC_SOURCE_TYPE + name for name in ("trainedAlgorithmicMedia", "compositeWithTrainedAlgorithmicMedia", "algorithmicMedia", "compositeSynthetic")
)
WATERMARK_ACTION = "c2pa.watermarked"
SOFT_BINDING_LABEL = "c2pa.soft-binding"
TRAINING_MINING_LABEL = "cawg.training-mining"
TRAINING_MINING_USES = ("cawg.ai_generative_training", "cawg.ai_inference", "cawg.ai_training", "cawg.data_mining")
TRAINING_MINING_VALUES = ("allowed", "notAllowed", "constrained")
GENERATION_LABEL = "org.synthvid.generation-parameters"
# The label that pairs the c2pa.opened action with its parentOf ingredient while a manifest is built
# (c2pa-rs replaces it by the ingredient assertion's URI), and the key of build_manifest's definition
# that names the parent's title for sign_file (removed before the definition reaches c2pa).
PARENT_INGREDIENT_ID = "synthvid.parent"
PARENT_KEY = "synthvid_parent"
# Our failure code for a manifest box c2pa-rs cannot parse at all (codes we add carry our prefix, so
# that they never pass for c2pa-rs's own).
MANIFEST_UNREADABLE = "synthvid.manifest.unreadable"
# Failure codes about the signer's credential rather than the integrity of content or claim.
CREDENTIAL_CODE_PREFIXES = ("signingCredential.", "timeStamp.")
# CAWG identity assertions: the identity credential's trust, not the integrity of the asset.
CAWG_CREDENTIAL_SUFFIXES = (".untrusted", ".expired", ".revoked")


def is_credential_code(code: str) -> bool:
    """Whether a failure code is about a credential's trust (the signer's, a timestamp's, a CAWG
    identity's) rather than the integrity of the content or the claim."""
    return code.startswith(CREDENTIAL_CODE_PREFIXES) or (code.startswith("cawg.") and code.endswith(CAWG_CREDENTIAL_SUFFIXES))


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
    parent: str | None = None,
) -> dict:
    """The manifest definition (c2pa-python JSON) for one generated clip.

    ``watermark_payload`` + ``watermark_alg`` add the ``c2pa.watermarked`` action and the
    ``c2pa.soft-binding`` assertion; ``training_mining=None`` leaves the CAWG assertion out.

    ``parent`` (the source file's name) is for a clip that already carried Content Credentials: the
    manifest then opens that clip (``c2pa.opened`` naming the parentOf ingredient that
    :func:`sign_file` adds from the source, C2PA 2.2 §18.15.4.1) and transcodes it, instead of claiming
    to have created it; whether it is AI-made is then the parent's claim, read from the ingredient.
    """
    when = (created_at or dt.datetime.now(dt.timezone.utc)).isoformat(timespec="seconds")
    synthvid = {"name": "synthvid", "version": _synthvid_version()}
    if parent is None:
        actions: list[dict] = [
            {
                "action": "c2pa.created",
                "when": when,
                "digitalSourceType": TRAINED_ALGORITHMIC_MEDIA,
                "softwareAgent": generator.agent(),
            }
        ]
    else:
        actions = [
            {
                "action": "c2pa.opened",
                "when": when,
                "softwareAgent": synthvid,
                "parameters": {"ingredientIds": [PARENT_INGREDIENT_ID], "description": f"opened {parent}"},
            },
            {
                "action": "c2pa.transcoded",
                "when": when,
                "softwareAgent": synthvid,
                "parameters": {"description": "video re-encoded as H.264; other streams copied packet for packet"},
            },
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
        # C2PA 2.2 §18.10 types blocks[].value and pad as CBOR byte strings. c2pa-python 0.38 takes
        # assertions only as a JSON manifest definition (its Builder has no CBOR/binary assertion
        # call), and JSON has no byte string: the store gets value as text and pad as the array [0]
        # (measured in the signed JUMBF, tests/test_c2pa.py). c2pa-rs's own SoftBinding types value as
        # text and pad as bytes that also accept [0], so this is what it reads; our readers take the
        # value as base64 text or as bytes (see soft_binding_value), for when writers move to bytes.
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
    manifest = {"claim_generator_info": [synthvid], "title": title, "assertions": assertions}
    if parent is not None:
        manifest[PARENT_KEY] = parent
    return manifest


# -------------------------------------------------------------------------------------- signing


@dataclass(frozen=True)
class SignResult:
    path: Path
    manifest_label: str
    manifest_store: bytes = field(repr=False)  # the exact signed JUMBF store embedded in the file
    manifest_json: str = field(repr=False)  # the store's manifests as a reader reports them (no file verdict: verify gives that)
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
    info = c2pa.C2paSignerInfo(config.alg.encode(), config.chain_pem, config.private_key_pem, config.tsa_url.encode() if config.tsa_url else None)
    return c2pa.Signer.from_info(info), None


def sha256_file(path: str | Path, chunk: int = 1 << 20) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(chunk):
            digest.update(block)
    return digest.hexdigest()


# c2pa-rs's format names of the containers PyAV reports (provenance.media.VideoInfo.container) that
# can carry a manifest.
C2PA_FORMATS = {"mov,mp4,m4a,3gp,3g2,mj2": "video/mp4", "avi": "video/avi"}


def c2pa_format(container: str) -> str | None:
    """The c2pa format of a container PyAV names ``container``; None where c2pa-rs reads no manifest."""
    return C2PA_FORMATS.get(container)


def carries_manifest(path: str | Path, fmt: str) -> bool:
    """Whether ``path`` (c2pa format ``fmt``) carries a C2PA manifest store, valid or not."""
    import c2pa

    try:
        with open(path, "rb") as f, c2pa.Reader(fmt, f, context=_context()):
            return True
    except c2pa.C2paError.ManifestNotFound:
        return False
    except c2pa.C2paError:
        return fmt != "video/mp4" or has_c2pa_box(path)  # a manifest c2pa cannot parse is still a manifest


def sign_file(
    src: str | Path,
    dst: str | Path,
    manifest: dict,
    signer: SignerConfig,
    *,
    mime: str | None = None,
    parent: str | Path | None = None,
    parent_format: str = MP4_MIME,
) -> SignResult:
    """Embed ``manifest`` in a copy of ``src`` (MP4, or any format c2pa-rs writes: ``mime``, by default
    what ``src``'s first bytes say) at ``dst``, signed by ``signer``.

    ``parent`` is the file ``src`` was made from when that file carries Content Credentials: it becomes
    the parentOf ingredient (with its whole manifest store) that the manifest's ``c2pa.opened`` names
    (:func:`build_manifest` with ``parent``). ``dst`` appears atomically, only once signing (and c2pa's
    verify-after-sign) succeeded.
    """
    import c2pa

    src, dst = Path(src), Path(dst)
    check_input_file(src)
    mime = mime or sniff_container(src).mime or MP4_MIME
    if not dst.parent.is_dir():
        raise SigningError(dst, f"directory {dst.parent} does not exist")
    manifest = dict(manifest)
    title = manifest.pop(PARENT_KEY, None)
    if (parent is None) != (title is None):
        raise SigningError(src, "a parent ingredient needs both the manifest's opened action (build_manifest(parent=...)) and its file")
    c2pa_signer, callback = _c2pa_signer(signer)
    try:
        with atomic_path(dst) as tmp, c2pa_signer, c2pa.Builder(manifest, context=_context()) as builder:
            if parent is not None:
                try:
                    with open(parent, "rb") as stream:
                        builder.add_ingredient({"title": title, "relationship": "parentOf", "label": PARENT_INGREDIENT_ID}, parent_format, stream)
                except c2pa.C2paError as exc:
                    raise SigningError(parent, f"cannot record its manifest as the parent ingredient ({_first_line(exc)})") from exc
            with open(src, "rb") as source, open(tmp, "w+b") as dest:
                store = builder.sign(c2pa_signer, mime, source, dest)
    except c2pa.C2paError as exc:
        reason = _first_line(exc)
        if callback is not None and callback.failure:
            reason = f"sign callback failed ({callback.failure})"
        elif signer.tsa_url and ("http" in reason or "timestamp" in reason.lower()):
            reason = f"timestamp authority {signer.tsa_url} failed ({reason})"
        raise SigningError(src, f"cannot sign: {reason}") from exc
    # c2pa-rs has validated the signed file already (verify_after_sign in _context): read the label and the
    # reader's JSON from the store it returned, without hashing the whole file a second time.
    try:
        report = read_manifest_store(bytes(store))
    except ManifestError as exc:  # c2pa just wrote it: not reading it means the library changed under us
        raise SigningError(dst, f"signed file carries no readable manifest ({exc.reason})") from exc
    # The store read alone cannot check the file's hard binding: keep the manifests, not that read's verdict.
    manifests = {key: value for key, value in json.loads(report.store_json).items() if not key.startswith("validation_")}
    return SignResult(dst, report.label, bytes(store), json.dumps(manifests), sha256_file(dst))


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
    ingredient_deltas: list[dict] = field(default_factory=list)  # c2pa-rs's validation of each ingredient
    # Fragmented MP4 read with its media segments: c2pa-rs's result for each, [{file, state, codes}].
    fragments: list[dict] = field(default_factory=list)

    @property
    def failure_codes(self) -> list[str]:
        return [f["code"] for f in self.failures]

    @property
    def integrity_failures(self) -> list[dict]:
        """Failures that are not about the signer's credential: content or claim do not match."""
        return [f for f in self.failures if not is_credential_code(f["code"])]

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
    def store(self) -> dict:
        return json.loads(self.store_json) if self.store_json else {}

    @property
    def ai_assessment(self) -> tuple[bool | None, list[str]]:
        """(AI-generated?, why): from every action's digitalSourceType and every ingredient; see :func:`ai_assessment`."""
        if self.label is None:
            return None, []
        manifests = dict(self.store.get("manifests") or {})
        manifests.setdefault(self.label, self.manifest)
        return ai_assessment(manifests, self.label)

    @property
    def ai_generated(self) -> bool | None:
        return self.ai_assessment[0]

    def ingredient_chain(self) -> list[IngredientReport]:
        """Every ingredient of the active manifest, depth first, with what the reader says about each."""
        return ingredient_chain(self.store, self.label, self.ingredient_deltas) if self.label else []

    @property
    def chain_labels(self) -> set[str]:
        """The active manifest's label and those of every manifest in its ingredient chain."""
        return {self.label} | {i.manifest_label for i in self.ingredient_chain() if i.manifest_label} if self.label else set()

    @property
    def signer(self) -> str | None:
        return _signer_of(self.manifest)

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
        return soft_bindings(self.manifest)

    def chain_soft_bindings(self) -> list[tuple[str, bytes]]:
        """:attr:`soft_bindings` of the active manifest, then of every manifest in its ingredient chain."""
        manifests = self.store.get("manifests") or {}
        out = list(self.soft_bindings)
        for ingredient in self.ingredient_chain():
            out += soft_bindings(manifests.get(ingredient.manifest_label) or {})
        return out


def soft_binding_value(value: Any) -> bytes | None:
    """A soft-binding block's ``value`` as bytes, whichever way a reader reports it: base64 text (what
    c2pa-rs's JSON shows, for text and for CBOR byte strings alike), or a list of byte values (a CBOR
    byte string turned into JSON generically). ``None`` when it is neither."""
    if isinstance(value, str):
        try:
            return base64.b64decode(value, validate=True)
        except ValueError:
            return None
    if isinstance(value, list) and all(isinstance(b, int) and 0 <= b < 256 for b in value):
        return bytes(value)
    if isinstance(value, (bytes, bytearray)):
        return bytes(value)
    return None


def soft_bindings(manifest: dict) -> list[tuple[str, bytes]]:
    """(algorithm id, payload) of every block of every soft-binding assertion of ``manifest``
    (a payload that cannot be decoded reads as ``b""``)."""
    out = []
    for item in manifest.get("assertions", []) or []:
        if item.get("label", "").split("__")[0].split(".v")[0] != SOFT_BINDING_LABEL:
            continue
        data = item.get("data") or {}
        for block in data.get("blocks", []) or []:
            value = soft_binding_value(block.get("value"))
            out.append((data.get("alg", ""), b"" if value is None else value))
    return out


def _source_type_name(source: str) -> str:
    return source.removeprefix(IPTC_SOURCE_TYPE)


def ai_assessment(manifests: dict, label: str, _seen: frozenset = frozenset()) -> tuple[bool | None, list[str]]:
    """Whether the manifest ``label`` of a store (``manifests``: label -> manifest, c2pa JSON) says its
    asset is AI-generated, and why.

    True when any action declares a synthetic digitalSourceType (:data:`AI_SOURCE_TYPES`) or any
    ingredient's manifest says so (recursively); False when actions declare source types, none
    synthetic, and every ingredient is known not to be AI-generated; None (unknown) otherwise — an
    ingredient without a manifest could be anything.
    """
    manifest = manifests.get(label) or {}
    ai, declared = [], []
    for item in manifest.get("assertions", []) or []:
        if item.get("label", "").split("__")[0].split(".v")[0] != "c2pa.actions":
            continue
        for action in (item.get("data") or {}).get("actions", []) or []:
            source = action.get("digitalSourceType")
            if not source:
                continue
            text = f"{action.get('action', '?')}: {_source_type_name(source)}"
            (ai if source in AI_SOURCE_TYPES else declared).append(text)
    unknown = False
    for ingredient in manifest.get("ingredients") or []:
        child = ingredient.get("active_manifest")
        flag, why = (None, []) if not child or child in _seen or child not in manifests else ai_assessment(manifests, child, _seen | {label})
        if flag:
            ai.append(f"ingredient {ingredient.get('title') or child!r}: {why[0]}")
        elif flag is None:
            unknown = True
    if ai:
        return True, ai
    if declared and not unknown:
        return False, declared
    return None, []


@dataclass
class IngredientReport:
    """One ingredient in a manifest's chain and what the reader says about its manifest."""

    title: str | None
    relationship: str | None
    manifest_label: str | None  # None: the ingredient carries no manifest
    signer: str | None
    validation_state: str | None  # Trusted / Valid / Invalid (of its manifest); None without one
    codes: list[str] = field(default_factory=list)  # failure codes of its manifest
    explanations: list[str] = field(default_factory=list)
    validation_source: str | None = None  # "reader" (this reading) or "recorded" (when it was added)
    ai_generated: bool | None = None
    ai_basis: list[str] = field(default_factory=list)
    parent: str | None = None  # label of the manifest that lists this ingredient
    depth: int = 1

    @property
    def integrity_failures(self) -> list[str]:
        return [c for c in self.codes if not is_credential_code(c)]


def _manifest_of_url(url: str) -> str | None:
    """The manifest label in a JUMBF URL ``self#jumbf=/c2pa/<label>/...``."""
    rest = (url or "").split("self#jumbf=/c2pa/", 1)
    return rest[1].split("/", 1)[0] if len(rest) == 2 and rest[1] else None


def _signer_of(manifest: dict) -> str | None:
    info = manifest.get("signature_info") or {}
    name, issuer = info.get("common_name"), info.get("issuer")
    if name and issuer and issuer != name:
        return f"{name} ({issuer})"
    return name or issuer


def ingredient_chain(store: dict, label: str, deltas: list[dict], *, _depth: int = 1, _seen: frozenset = frozenset()) -> list[IngredientReport]:
    """The ingredients of manifest ``label`` in ``store`` (c2pa JSON), depth first.

    Each ingredient manifest's validation comes from the reader's ``ingredientDeltas`` (grouped by the
    manifest their URLs name); where the reader reported none, from the results recorded in the
    ingredient when it was added.
    """
    manifests = store.get("manifests") or {}
    by_label: dict[str, dict[str, list]] = {}
    for delta in deltas or []:
        for kind, entries in (delta.get("validationDeltas") or {}).items():
            for entry in entries or []:
                owner = _manifest_of_url(entry.get("url", ""))
                if owner:
                    by_label.setdefault(owner, {}).setdefault(kind, []).append(entry)
    out = []
    for ingredient in (manifests.get(label) or {}).get("ingredients") or []:
        child = ingredient.get("active_manifest")
        manifest = manifests.get(child) or {}
        report = IngredientReport(
            ingredient.get("title"), ingredient.get("relationship"), child, _signer_of(manifest) if child else None, None, parent=label, depth=_depth
        )
        if child:
            results, report.validation_source = by_label.get(child), "reader"
            if results is None:
                recorded = (ingredient.get("validation_results") or {}).get("activeManifest")
                if recorded is None and ingredient.get("validation_status") is not None:
                    recorded = {"failure": list(ingredient["validation_status"])}  # older readers listed failures only
                results, report.validation_source = recorded or {}, "recorded"
            failures = results.get("failure") or []
            report.codes = [f.get("code", "") for f in failures]
            report.explanations = [f"{f.get('code', '')}: {f.get('explanation', '')}" for f in failures]
            successes = {s.get("code") for s in results.get("success") or []}
            if report.integrity_failures:
                report.validation_state = "Invalid"
            elif not failures and "signingCredential.trusted" in successes:
                report.validation_state = "Trusted"
            else:
                report.validation_state = "Valid"
            report.ai_generated, report.ai_basis = ai_assessment(manifests, child)
        out.append(report)
        if child and child not in _seen and child != label:
            out += ingredient_chain(store, child, deltas, _depth=_depth + 1, _seen=_seen | {label})
    return out


def _report(reader) -> ManifestReport:
    store = json.loads(reader.json())
    label = store.get("active_manifest")
    manifest = (store.get("manifests") or {}).get(label, {})
    validation = reader.get_validation_results() or {}
    results = validation.get("activeManifest") or {}
    return ManifestReport(
        state=reader.get_validation_state() or "Invalid",
        label=label,
        manifest=manifest,
        store_json=json.dumps(store, sort_keys=True),
        failures=list(results.get("failure", [])),
        informational=list(results.get("informational", [])),
        successes=list(results.get("success", [])),
        ingredient_deltas=list(validation.get("ingredientDeltas") or []),
    )


STATE_ORDER = {"Invalid": 0, "Valid": 1, "Trusted": 2}


def read_manifest(
    path: str | Path,
    trust_anchors_pem: bytes | str | None = None,
    *,
    container: Container | None = None,
    fragments: list[str | Path] | tuple = (),
) -> ManifestReport | None:
    """Validate the manifest embedded in ``path`` (any format c2pa-rs reads C2PA from: MP4/MOV,
    HEIC/AVIF, M4A, AVI/WAV, JPEG, PNG, ...); ``None`` when it carries none.

    ``fragments``: ``path`` is a fragmented-MP4 init segment and these its media segments; c2pa-rs
    validates the init segment with each, and the report holds the worst state, every failure (naming
    the segment where only some fail) and each segment's result in :attr:`ManifestReport.fragments`.

    A manifest box or chunk that c2pa cannot even parse yields state Invalid with code
    :data:`MANIFEST_UNREADABLE` (the file claims credentials that do not hold). A file c2pa cannot
    parse at all raises :class:`MediaError` with the true reason: a malformed file, or a manifest of
    a pre-release C2PA format that c2pa-rs no longer validates.
    """
    import contextlib

    import c2pa

    path = Path(path)
    container = container or sniff_container(path)
    mime = container.mime or MP4_MIME
    try:
        with contextlib.ExitStack() as stack:
            f = stack.enter_context(open(path, "rb"))
            reader = stack.enter_context(c2pa.Reader(mime, f, context=_context(trust_anchors_pem)))
            if not fragments:
                return _report(reader)
            per_fragment = []
            for fragment in map(Path, fragments):
                segment = stack.enter_context(open(fragment, "rb"))  # c2pa keeps reading it until the next one
                f.seek(0)
                try:
                    reader.with_fragment(mime, f, segment)
                except c2pa.C2paError as exc:
                    raise MediaError(fragment, f"c2pa-rs cannot read this media segment of {path.name} ({_first_line(exc)})") from exc
                per_fragment.append((fragment, _report(reader)))
            return _combine_fragments(per_fragment)
    except c2pa.C2paError as exc:
        # A manifest box that c2pa cannot read is a manifest that no longer holds; without one, a
        # parse failure means the file is not a valid file of its format and "not found" means no
        # credentials.
        carries_manifest = carries_c2pa_manifest(path, container)
        if isinstance(exc, c2pa.C2paError.ManifestNotFound) and not carries_manifest:
            return None
        reason = _first_line(exc)
        if "prerelease" in reason:
            raise MediaError(path, f"carries a pre-release C2PA manifest, which c2pa-rs no longer validates ({reason})") from exc
        if carries_manifest and _manifest_box_before_ftyp(path):
            raise MediaError(
                path,
                f"carries its C2PA manifest box before 'ftyp', the layout of pre-release c2pa-rs versions, which c2pa-rs no longer reads ({reason})",
            ) from exc
        if not carries_manifest:
            problem = riff_problem(path) if container.mime in RIFF_MIMES else None
            raise MediaError(path, f"not a valid {container.name} file ({problem or reason})") from exc
        return ManifestReport(
            state="Invalid",
            label=None,
            manifest={},
            store_json="{}",
            failures=[{"code": MANIFEST_UNREADABLE, "explanation": reason}],
        )
    except OSError as exc:
        raise MediaError(path, f"cannot read ({exc.strerror or exc})") from exc


RIFF_MIMES = {"video/avi", "audio/wav", "image/webp"}


def _combine_fragments(per_fragment: list[tuple[Path, ManifestReport]]) -> ManifestReport:
    """One report for an init segment read with each of its media segments."""
    last = per_fragment[-1][1]
    combined = ManifestReport(
        state=min((r.state for _, r in per_fragment), key=lambda st: STATE_ORDER.get(st, 0)),
        label=last.label,
        manifest=last.manifest,
        store_json=last.store_json,
        informational=last.informational,
        successes=last.successes,
        ingredient_deltas=last.ingredient_deltas,
    )
    seen = set()
    for fragment, report in per_fragment:
        combined.fragments.append({"file": str(fragment), "state": report.state, "codes": report.failure_codes})
        for failure in report.failures:
            if is_credential_code(failure["code"]):  # about the signer: the same with every segment
                if failure["code"] not in seen:
                    seen.add(failure["code"])
                    combined.failures.append(failure)
            else:
                combined.failures.append({**failure, "explanation": f"media segment {fragment.name}: {failure.get('explanation', '')}"})
    return combined


def carries_c2pa_manifest(path: str | Path, container: Container | None = None) -> bool:
    """Whether ``path`` visibly holds a C2PA manifest store where its format keeps one: an ISO-BMFF
    C2PA ``uuid`` box (even if ftyp is damaged) or a RIFF ``C2PA`` chunk."""
    container = container or sniff_container(path)
    if container.mime in RIFF_MIMES:
        return riff_has_chunk(path, b"C2PA")
    return has_c2pa_box(path)


def _manifest_box_before_ftyp(path: Path) -> bool:
    try:
        boxes = top_level_boxes(path, known_first=False)
    except MediaError:
        return False
    return len(boxes) > 1 and is_c2pa_box(path, boxes[0]) and boxes[1].type == "ftyp"


def read_manifest_store(store: bytes, asset: str | Path | None = None, trust_anchors_pem: bytes | str | None = None) -> ManifestReport:
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


def embedded_store(path: str | Path) -> bytes | None:
    """The C2PA manifest store (JUMBF) embedded in an MP4-family file — the body of its C2PA ``uuid`` box
    after the purpose ``manifest`` and the 8-byte offset — or None where it carries none."""
    for box in top_level_boxes(path):
        if not is_c2pa_box(path, box):
            continue
        with open(path, "rb") as f:
            f.seek(box.offset + box.header_size + 16 + 4)  # extended type, then version and flags
            body = f.read(box.size - box.header_size - 20)
        purpose, _, rest = body.partition(b"\0")
        if purpose == b"manifest" and len(rest) > 8:
            return rest[8:]
    return None


def _jumbf_boxes(data: bytes, start: int, end: int):
    """``(type, payload start, payload end)`` of the boxes in ``data[start:end]``."""
    at = start
    while at + 8 <= end:
        size, kind = struct.unpack(">I4s", data[at : at + 8])
        header = 8
        if size == 1:
            size, header = struct.unpack(">Q", data[at + 8 : at + 16])[0], 16
        elif size == 0:
            size = end - at
        if size < header or at + size > end:
            raise ManifestError(None, f"malformed JUMBF box at byte {at}")
        yield kind, at + header, at + size
        at += size


def _jumbf_child(data: bytes, start: int, end: int, label: str) -> tuple[int, int] | None:
    """The payload span of the JUMBF superbox labelled ``label`` among the boxes of ``data[start:end]``."""
    for kind, s, e in _jumbf_boxes(data, start, end):
        if kind != b"jumb":
            continue
        first = next(_jumbf_boxes(data, s, e), None)  # the description box: uuid, toggles, label
        if first is None or first[0] != b"jumd" or not data[first[1] + 16] & 0x02:
            continue
        name_end = data.find(b"\0", first[1] + 17, first[2])
        if name_end > 0 and data[first[1] + 17 : name_end].decode("utf-8", "replace") == label:
            return s, e
    return None


def signer_certificate(store: bytes, label: str) -> bytes | None:
    """The end-entity certificate (DER) that signed manifest ``label`` of a manifest store: the first of the
    COSE_Sign1 signature's ``x5chain`` (header 33). None where the store has no such signature."""
    import cbor2

    top = _jumbf_child(store, 0, len(store), "c2pa")
    manifest = top and _jumbf_child(store, *top, label)
    signature = manifest and _jumbf_child(store, *manifest, "c2pa.signature")
    if not signature:
        return None
    body = next((span for kind, *span in _jumbf_boxes(store, *signature) if kind == b"cbor"), None)
    if body is None:
        return None
    try:
        cose = cbor2.loads(store[body[0] : body[1]])
        cose = cose.value if isinstance(cose, cbor2.CBORTag) else cose
        protected = cbor2.loads(cose[0]) if cose[0] else {}
        chain = protected.get(33) or cose[1].get(33) or cose[1].get("x5chain")
    except (cbor2.CBORDecodeError, IndexError, TypeError, AttributeError, ValueError):
        return None
    if isinstance(chain, list):
        chain = chain[0] if chain else None
    return bytes(chain) if isinstance(chain, (bytes, bytearray)) else None


def has_c2pa_box(path: str | Path) -> bool:
    """Whether ``path`` tiles into boxes of which one is a C2PA manifest box (even if ftyp is damaged)."""
    try:
        return any(is_c2pa_box(path, box) for box in top_level_boxes(path, known_first=False))
    except MediaError:
        return False
