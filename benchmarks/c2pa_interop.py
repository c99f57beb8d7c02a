"""Interoperability: every third-party C2PA fixture verified by synthvid, beside what c2pa-rs reports.

For each file in ``../shared/c2pa-fixtures/`` (video/, img/, other/) and each fragmented MP4 as its
init segment with its media segments, once without trust anchors and once with the test anchors of
the project that made it (``rs_*``/``pt_*``: c2pa-rs's ``rs_test_cert_root_bundle.pem``; ``py_*``:
c2pa-python's ``py_es256_certs.pem``; ``cli_*``: c2patool's ``cli_anchors.pem``):

- *c2pa-rs*: c2pa-python's ``Reader`` on the file (format from the file name, as c2patool does;
  ``with_fragment`` for each media segment), with the same trust settings synthvid uses: validation
  state and failure codes, or the error it raises;
- *synthvid*: :func:`provenance.verify.verify_file` (no watermark key, no repository: the C2PA part),
  verdict, exit code and codes, or the one-line error (exit 2);
- *agreement*: ``agrees`` (the same judgement and every c2pa-rs failure code), ``says more`` (the same
  judgement, or a refusal where c2pa-rs has nothing to judge, plus what synthvid adds — the reason),
  or ``DISAGREES``. synthvid never says less than c2pa-rs: a row that would is a ``DISAGREES``.

    nice -n 10 python benchmarks/c2pa_interop.py [--fixtures ../shared/c2pa-fixtures] [--out benchmarks/results/c2pa_interop.md]
"""

from __future__ import annotations

import argparse
import sys
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != Path(__file__).resolve().parent]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from provenance.credentials import _context, is_credential_code  # noqa: E402
from provenance.errors import ProvenanceError  # noqa: E402
from provenance.media import sniff_container  # noqa: E402
from provenance.verify import verify_file  # noqa: E402

DEFAULT_FIXTURES = ROOT.parent / "shared" / "c2pa-fixtures"
FOLDERS = ("video", "img", "other")
ANCHORS = {"rs_": "rs_test_cert_root_bundle.pem", "pt_": "rs_test_cert_root_bundle.pem", "py_": "py_es256_certs.pem", "cli_": "cli_anchors.pem"}
# Fragmented MP4s: (init segment, media segments), read together as well as one by one.
FRAGMENTED = (("rs_dashinit.mp4", ("rs_dash1.m4s",)), ("rs_bunny89_init.mp4", ("rs_bunny89_1.m4s",)))


@dataclass
class C2paResult:
    state: str | None  # Trusted / Valid / Invalid; None when c2pa-rs raised
    codes: list[str] = field(default_factory=list)
    error: str | None = None  # e.g. "ManifestNotFound: no JUMBF data found"

    @property
    def text(self) -> str:
        if self.error:
            return f"error: {self.error}"
        return self.state + (f" ({', '.join(self.codes)})" if self.codes else "")


@dataclass
class SynthvidResult:
    verdict: str | None
    exit_code: int
    codes: list[str] = field(default_factory=list)
    error: str | None = None
    notes: list[str] = field(default_factory=list)

    @property
    def text(self) -> str:
        if self.error:
            return f"exit 2: {self.error}"
        return f"{self.verdict}, exit {self.exit_code}" + (f" ({', '.join(self.codes)})" if self.codes else "")


@dataclass
class Row:
    file: str
    trust: str
    c2pa: C2paResult
    synthvid: SynthvidResult
    agreement: str
    reason: str = ""


def anchors_for(name: str, fixtures: Path) -> Path | None:
    prefix = next((p for p in ANCHORS if name.startswith(p)), None)
    return fixtures / "trust" / ANCHORS[prefix] if prefix else None


def c2pa_reads(path: Path, segments: list[Path], anchors: bytes | None) -> C2paResult:
    """What c2pa-rs reports through c2pa-python's Reader, with synthvid's trust settings."""
    import contextlib

    import c2pa

    try:
        with contextlib.ExitStack() as stack:
            reader = stack.enter_context(c2pa.Reader(str(path), context=_context(anchors)))
            results = []
            if not segments:
                results.append(reader)
            for segment in segments:
                init, frag = stack.enter_context(open(path, "rb")), stack.enter_context(open(segment, "rb"))
                reader.with_fragment(sniff_container(path).mime or "video/mp4", init, frag)
                results.append(_state(reader))
            if not segments:
                return _state(reader)
            worst = min(results, key=lambda r: {"Invalid": 0, "Valid": 1, "Trusted": 2}[r.state])
            codes = list(dict.fromkeys(c for r in results for c in r.codes))
            return C2paResult(worst.state, codes)
    except c2pa.C2paError as exc:
        text = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        return C2paResult(None, error=text)


def _state(reader) -> C2paResult:
    results = (reader.get_validation_results() or {}).get("activeManifest") or {}
    codes = [f["code"] for f in results.get("failure", [])]
    for delta in (reader.get_validation_results() or {}).get("ingredientDeltas") or []:
        codes += [f"ingredient: {f['code']}" for f in (delta.get("validationDeltas") or {}).get("failure", [])]
    return C2paResult(reader.get_validation_state(), codes)


def synthvid_verifies(path: Path, segments: list[Path], anchors: bytes | None) -> SynthvidResult:
    try:
        verdict = verify_file(path, fragments=segments, trust_anchors_pem=anchors)
    except ProvenanceError as exc:
        return SynthvidResult(None, 2, error=getattr(exc, "reason", str(exc)))
    codes = list(verdict.codes) + [f"ingredient: {c}" for i in verdict.ingredients for c in i.codes]
    return SynthvidResult(verdict.verdict.value, verdict.exit_code, codes, notes=list(verdict.notes))


# The judgement c2pa-rs's result supports, in synthvid's words.
def _expected(c2pa: C2paResult) -> set[str]:
    if c2pa.error:
        return {"NO_PROVENANCE"} if c2pa.error.startswith("ManifestNotFound") else {"error"}
    if c2pa.state == "Trusted":
        return {"TRUSTED"}
    own = [c for c in c2pa.codes if not c.startswith("ingredient: ")]
    if any(not is_credential_code(c) for c in own):
        return {"TAMPERED"}
    if own:
        return {"UNTRUSTED_SIGNER"}
    ingredient = [c.removeprefix("ingredient: ") for c in c2pa.codes if c.startswith("ingredient: ")]
    if any(not is_credential_code(c) for c in ingredient):
        return {"TAMPERED"}
    return {"UNTRUSTED_INGREDIENT", "UNTRUSTED_SIGNER"}


def compare(path: Path, segments: list[Path], c2pa: C2paResult, ours: SynthvidResult) -> tuple[str, str]:
    """(agreement, reason): never less than c2pa-rs."""
    expected = _expected(c2pa)
    kind = sniff_container(path).kind
    if ours.error:
        if "error" in expected:
            return "agrees", "both refuse the file: " + ours.error
        if kind == "init" and not segments and "NO_PROVENANCE" in expected:
            return "says more", (
                "a lone fMP4 init segment without a manifest: synthvid asks for its media segments "
                "(with them it reads NO_PROVENANCE, as c2pa-rs does)"
            )
        if kind == "init" and not segments:
            return "says more", (
                "a lone fMP4 init segment: its manifest hashes media segments that are not there, so c2pa-rs's "
                f"'{c2pa.text}' is not evidence of tampering; synthvid asks for the segments (see the row with them)"
            )
        return "DISAGREES", f"synthvid refuses the file, c2pa-rs reports {c2pa.text}"
    if ours.verdict not in expected:
        return "DISAGREES", f"c2pa-rs's result supports {' or '.join(sorted(expected))}"
    # A code counts as reported wherever synthvid shows it: for the active manifest or an ingredient.
    said = {c.removeprefix("ingredient: ") for c in ours.codes}
    missing = [c for c in c2pa.codes if c.removeprefix("ingredient: ") not in said]
    if missing:
        return "DISAGREES", f"synthvid does not report {', '.join(missing)}"
    known = {c.removeprefix("ingredient: ") for c in c2pa.codes}
    extra = [c for c in ours.codes if c.removeprefix("ingredient: ") not in known]
    no_video = next((n.split(":")[0] + ": C2PA only" for n in ours.notes if n.startswith("no video stream")), "")
    if extra:
        return "says more", "; ".join([f"adds {', '.join(extra)}"] + ([no_video] if no_video else []))
    return "agrees", no_video


def assets(fixtures: Path) -> list[tuple[Path, list[Path]]]:
    files = [p for folder in FOLDERS for p in sorted((fixtures / folder).iterdir()) if p.is_file()]
    out = [(p, []) for p in files]
    for init, segments in FRAGMENTED:
        folder = fixtures / "video"
        if (folder / init).is_file() and all((folder / s).is_file() for s in segments):
            out.append((folder / init, [folder / s for s in segments]))
    return out


def run(fixtures: Path, only: list[str] | None = None) -> list[Row]:
    rows = []
    for path, segments in assets(fixtures):
        if only and path.name not in only:
            continue
        anchor = anchors_for(path.name, fixtures)
        for trust in [None] + ([anchor] if anchor else []):
            pem = trust.read_bytes() if trust else None
            c2pa, ours = c2pa_reads(path, segments, pem), synthvid_verifies(path, segments, pem)
            agreement, reason = compare(path, segments, c2pa, ours)
            name = f"{path.parent.name}/{path.name}" + "".join(f" + {s.name}" for s in segments)
            rows.append(Row(name, trust.name if trust else "none", c2pa, ours, agreement, reason))
    return rows


def markdown(rows: list[Row], fixtures: Path) -> str:
    from importlib import metadata

    import c2pa

    counts = {k: sum(r.agreement == k for r in rows) for k in ("agrees", "says more", "DISAGREES")}
    lines = [
        "# C2PA interoperability: synthvid verify beside c2pa-rs",
        "",
        f"Generated by `nice -n 10 python benchmarks/c2pa_interop.py` on {datetime.now(timezone.utc):%Y-%m-%d} with "
        f"c2pa-python {metadata.version('c2pa-python')} (c2pa-rs {c2pa.sdk_version()}), fixtures `{fixtures.name}/` "
        "(`../shared/c2pa-fixtures`: c2pa-rs, c2pa-python, c2patool and C2PA public test files; see its README).",
        "",
        "Each file once without trust anchors and once with its project's test anchors (`rs_*`, `pt_*`: "
        "`rs_test_cert_root_bundle.pem`; `py_*`: `py_es256_certs.pem`; the public test files publish no anchor of their "
        "own, so they get c2pa-rs's). c2pa-rs: c2pa-python's Reader with synthvid's trust settings (the anchors and "
        "synthvid's EKU list), format from the file name as c2patool does, `with_fragment` per media segment. synthvid: "
        "`verify_file` without watermark key or repository (the C2PA part of `synthvid verify`). "
        "Ingredient failures are listed as `ingredient: <code>`.",
        "",
        f"**{len(rows)} rows: {counts['agrees']} agree, {counts['says more']} say more, {counts['DISAGREES']} disagree.**",
        "",
        "| file | trust | c2pa-rs | synthvid | agreement | why |",
        "|---|---|---|---|---|---|",
    ]
    for r in rows:
        cells = [r.file, r.trust, r.c2pa.text, r.synthvid.text, r.agreement, r.reason]
        lines.append("| " + " | ".join(c.replace("|", "\\|").replace("\n", " ") for c in cells) + " |")
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--fixtures", type=Path, default=DEFAULT_FIXTURES)
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results" / "c2pa_interop.md")
    args = parser.parse_args(argv)
    if not (args.fixtures / "video").is_dir():
        print(f"error: {args.fixtures}: no C2PA fixtures there (expected video/, img/, other/, trust/)", file=sys.stderr)
        return 2
    rows = run(args.fixtures)
    args.out.write_text(markdown(rows, args.fixtures))
    counts = {k: sum(r.agreement == k for r in rows) for k in ("agrees", "says more", "DISAGREES")}
    print(f"{len(rows)} rows: {counts} -> {args.out}")
    return 1 if counts["DISAGREES"] else 0


if __name__ == "__main__":
    sys.exit(main())
