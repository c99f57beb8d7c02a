"""Command line of the provenance package: ``keys init``, ``sign``, ``verify``, ``repo lookup``, ``repo merge``.

Mounted by the umbrella ``synthvid`` (genkit/cli.py) and runnable alone as ``python -m provenance``,
which imports neither genkit nor torch. Module level imports only typer and our errors; everything
heavy (numpy, PyAV, c2pa, cryptography) is imported inside the commands.

Exit codes: 0 success / TRUSTED, 1 any other verdict (or a lookup that finds nothing), 2 bad input.
"""

from __future__ import annotations

import json
import logging
import sys
import traceback
from pathlib import Path
from typing import List, Optional

import typer

from provenance.console import make_console, one_line, print_json
from provenance.errors import ProvenanceError

EXIT_OK, EXIT_NEGATIVE, EXIT_BAD_INPUT, EXIT_BUG = 0, 1, 2, 3
USER_ERRORS = (ProvenanceError,)

app = typer.Typer(add_completion=False, rich_markup_mode="rich", no_args_is_help=True)
keys_app = typer.Typer(help="Signing keys: a local CA, a signer certificate and a watermark key.", no_args_is_help=True)
repo_app = typer.Typer(help="The manifest repository (SQLite): find the manifest of a clip that lost it.", no_args_is_help=True)
app.add_typer(keys_app, name="keys")
app.add_typer(repo_app, name="repo")

VERDICT_STYLE = {
    "TRUSTED": "bold green",
    "UNTRUSTED_SIGNER": "bold yellow",
    "UNTRUSTED_INGREDIENT": "bold yellow",
    "TAMPERED": "bold red",
    "CONFLICT": "bold red",
    "WATERMARK_ONLY": "bold cyan",
    "NO_PROVENANCE": "bold",
}


def configure_logging(debug: bool) -> None:
    """What ``--debug`` (the umbrella's or a package's own) sets: DEBUG logs on stderr, and with them the
    tracebacks :func:`run_typer_app` prints; without it warnings only."""
    logging.basicConfig(level=logging.DEBUG if debug else logging.WARNING, format="%(levelname)s %(name)s: %(message)s", stream=sys.stderr)


def _debugging() -> bool:
    """``--debug`` was given (ours or the umbrella's: both go through :func:`configure_logging`)."""
    return logging.getLogger().isEnabledFor(logging.DEBUG)


def _existing(path: Path) -> Path | None:
    return path if path.exists() else None


# --------------------------------------------------------------------------------------------- keys


@keys_app.command("init")
def keys_init(
    directory: Optional[Path] = typer.Option(None, "--dir", help="Key directory (default: $SYNTHVID_HOME/keys or ~/.config/synthvid/keys)."),
    organization: str = typer.Option("synthvid", "--org", help="Organization named in the CA and signer certificates."),
    signer_name: str = typer.Option("synthvid signer", "--signer-name", help="Common name of the signer certificate."),
    force: bool = typer.Option(False, "--force", help="Replace existing keys (old clips stop verifying against the new CA)."),
    as_json: bool = typer.Option(False, "--json", help="Print the paths as JSON."),
) -> None:
    """Create a local CA, a C2PA signer certificate and a watermark key.

    Private keys are written with mode 0600 in a 0700 directory; ca.pem is the trust anchor to give
    to whoever verifies your clips (synthvid verify --trust ca.pem).

    Example: synthvid keys init --dir ~/.config/synthvid/keys
    """
    from provenance.keys import init_keys

    paths = init_keys(directory, organization=organization, signer_name=signer_name, force=force)
    rows = {
        "directory": paths.directory,
        "trust_anchor": paths.ca_cert,
        "ca_key": paths.ca_key,
        "signer_chain": paths.signer_chain,
        "signer_key": paths.signer_key,
        "watermark_key": paths.watermark_key,
    }
    if as_json:
        print_json({k: str(v) for k, v in rows.items()})
        return
    out = make_console()
    out.print(f"[bold]keys created in {paths.directory}[/]")
    for name, path in rows.items():
        out.print(f"  {name:14s} {path}")
    out.print("Give [bold]ca.pem[/] to verifiers; keep ca.key offline once you no longer issue signers.")


# --------------------------------------------------------------------------------------------- sign


@app.command("sign")
def sign(
    source: Path = typer.Argument(..., help="Clip to credential (any video PyAV reads)."),
    out: Path = typer.Option(..., "--out", "-o", help="Signed H.264 MP4 to write."),
    generator: str = typer.Option("unknown", "--generator", help="Software that made the clip, e.g. ComfyUI."),
    generator_version: Optional[str] = typer.Option(None, "--generator-version", help="Its version."),
    model_id: Optional[str] = typer.Option(None, "--model-id", help="Model id, e.g. a Hugging Face repo id."),
    model_revision: Optional[str] = typer.Option(None, "--model-revision", help="Model revision or commit."),
    prompt: Optional[str] = typer.Option(None, "--prompt", help="The prompt."),
    hash_prompt: bool = typer.Option(False, "--hash-prompt", help="Record the prompt's SHA-256 instead of its text."),
    seed: Optional[int] = typer.Option(None, "--seed", help="Generation seed."),
    steps: Optional[int] = typer.Option(None, "--steps", help="Sampling steps."),
    guidance: Optional[float] = typer.Option(None, "--guidance", help="Guidance scale."),
    training_mining: str = typer.Option(
        "notAllowed", "--training-mining", help="CAWG training-and-data-mining for all uses: allowed, notAllowed, constrained, or none to omit."
    ),
    key_dir: Optional[Path] = typer.Option(None, "--keys", help="Key directory from `keys init` (default: the user key directory)."),
    cert: Optional[Path] = typer.Option(None, "--cert", help="Bring your own: PEM chain, signer first."),
    key: Optional[Path] = typer.Option(None, "--key", help="Bring your own: the signer's PEM private key (mode 0600)."),
    tsa_url: Optional[str] = typer.Option(None, "--tsa", help="RFC 3161 timestamp authority URL (no network without it)."),
    repo: Optional[Path] = typer.Option(None, "--repo", help="Manifest repository (default: $SYNTHVID_HOME/manifests.sqlite)."),
    wm_key: Optional[Path] = typer.Option(None, "--wm-key", help="Watermark key file (default: the key directory's)."),
    crf: int = typer.Option(
        18, "--crf", min=0, max=51, help="H.264 quality of the signed clip (lowered in steps of 6 where the watermark does not survive it)."
    ),
    as_json: bool = typer.Option(False, "--json", help="Print the result as JSON."),
) -> None:
    """Watermark, encode (H.264), sign (C2PA) and register an existing clip.

    For clips made elsewhere (ComfyUI, a hosted API): the result carries the same Content
    Credentials as a clip synthvid generates, and its manifest is registered under its watermark.
    A clip that already carries Content Credentials is recorded as the parent ingredient (the new
    manifest opens it rather than claiming to have created it). Audio and subtitle streams are copied
    bit for bit; the clip is streamed, so its length does not matter for memory.

    Example: synthvid sign in.mp4 --out signed.mp4 --generator ComfyUI --model-id stabilityai/svd --prompt "a red kite"
    """
    from provenance.credentials import GenerationParams, GeneratorInfo
    from provenance.files import check_input_file
    from provenance.keys import KeyPaths, default_key_dir, load_signer, load_watermark_key
    from provenance.repository import ManifestRepository
    from provenance.sign import credential_clip

    check_input_file(source)  # before keys and repository are touched: bad input is said first
    signer = load_signer(key_dir, cert=cert, key=key, tsa_url=tsa_url)
    wm_path = wm_key or KeyPaths.in_directory(key_dir or default_key_dir()).watermark_key
    watermark_key = load_watermark_key(wm_path)
    params = GenerationParams(model_id=model_id, model_revision=model_revision, seed=seed, steps=steps, guidance=guidance, prompt=prompt)
    with ManifestRepository(repo) as repository:
        result = credential_clip(
            source,
            out,
            generator=GeneratorInfo(generator, generator_version),
            signer=signer,
            repository=repository,
            watermark_key=watermark_key,
            params=params,
            training_mining=None if training_mining == "none" else training_mining,
            hash_prompt=hash_prompt,
            crf=crf,
        )
        repo_path = repository.path
    summary = {
        "path": str(result.path),
        "payload": result.payload,
        "manifest_label": result.manifest_label,
        "file_sha256": result.file_sha256,
        "watermark_verified": result.watermark_verified,
        "crf": result.crf,
        "repository": str(repo_path),
        "parent": result.parent,
        "dropped_streams": list(result.dropped_streams),
    }
    if as_json:
        print_json(summary)
        return
    out_console = make_console()
    out_console.print(f"[bold green]signed[/] {result.path}  payload {result.payload}  manifest {result.manifest_label}")
    out_console.print(f"registered in {repo_path}")
    if result.parent:
        out_console.print(f"{result.parent} carried Content Credentials: recorded as the parent ingredient (c2pa.opened)")
    for line in result.dropped_streams:
        out_console.print(f"[bold yellow]warning:[/] not copied from {source}: {line}")
    if result.crf != crf:
        out_console.print(f"encoded at crf {result.crf} instead of {crf}: the watermark did not survive crf {crf}")
    if not result.watermark_verified:
        out_console.print(
            "[bold yellow]warning:[/] the watermark could not be read back after encoding, even at crf "
            f"{result.crf}; the clip is signed, but only its manifest identifies it"
        )


# ------------------------------------------------------------------------------------------- verify


def _verdict_table(verdict):
    from rich.table import Table

    style = VERDICT_STYLE[verdict.verdict.value]
    table = Table(title=f"{verdict.path}: [{style}]{verdict.verdict.value}[/]", show_header=False, title_justify="left", box=None)
    table.add_column(style="bold", no_wrap=True)
    table.add_column()
    ai = {True: "yes", False: "no", None: "unknown"}[verdict.ai_generated]
    table.add_row("AI-generated", ai + (f" ({'; '.join(verdict.ai_basis)})" if verdict.ai_basis else ""))
    if verdict.fragment_results:
        table.add_row(
            "Media segments",
            "\n".join(
                f"{Path(f['file']).name}: {f['state']}" + (f" ({', '.join(f['codes'])})" if f["codes"] else "") for f in verdict.fragment_results
            ),
        )
    table.add_row("Signer", verdict.signer or "—")
    table.add_row("Time", f"{verdict.time} ({verdict.time_source})" if verdict.time else "—")
    table.add_row("Generator", verdict.generator or "—")
    mark = verdict.watermark
    if mark is None or not mark.checked:
        table.add_row("Watermark", f"not checked ({mark.note})" if mark else "not checked")
    elif mark.found:
        text = f"found, payload {mark.payload} (p = {mark.p_value:.1e})" if mark.p_value is not None else f"found, payload {mark.payload}"
        if verdict.payload_agreement is True:
            text += " — agrees with the manifest's soft binding"
        elif verdict.payload_agreement is False:
            text += f" — [bold red]DISAGREES with the manifest's soft binding ({', '.join(verdict.soft_binding_payloads)})[/]"
        table.add_row("Watermark", text)
    else:
        table.add_row("Watermark", "not found")
    if verdict.recovered is not None:
        rec = verdict.recovered
        name = "Registered manifest" if verdict.verdict.value == "CONFLICT" or verdict.manifest_label else "Recovered manifest"
        table.add_row(
            name,
            f"{rec.manifest_label}, registered {rec.registered_at} as {rec.file_name}; signature {rec.signature}; "
            f"signer {rec.signer or '—'}; generator {rec.generator or '—'}",
        )
    for item in verdict.other_soft_bindings:
        table.add_row("Soft binding", f"{item['alg']}: {item['status']}")
    for ing in verdict.ingredients:
        state = ing.validation_state or "no manifest"
        codes = f", codes {', '.join(ing.codes)}" if ing.codes else ""
        ai = {True: "yes", False: "no", None: "unknown"}[ing.ai_generated]
        table.add_row(
            "Ingredient" if ing.depth == 1 else "  " * (ing.depth - 1) + "Ingredient",
            f"{ing.title or '—'} ({ing.relationship or '—'}): signer {ing.signer or '—'}, {state}{codes}, AI-generated {ai}",
        )
    if verdict.detector is not None:
        det = verdict.detector
        table.add_row(f"Detector ({det.label})", f"P(synthetic) = {det.p_synthetic:.3f} ({det.name})")
    if verdict.explanations:
        table.add_row("Codes", "\n".join(verdict.explanations))
    elif verdict.validation_state:
        table.add_row("Codes", f"none (c2pa state {verdict.validation_state})")
    for note in verdict.notes:
        table.add_row("Note", note)
    return table


@app.command("verify")
def verify(
    ctx: typer.Context,
    files: List[Path] = typer.Argument(
        ..., help="Clips (or other assets) to verify; a fragmented MP4 as its init segment followed by its media segments: init.mp4 seg*.m4s."
    ),
    trust: Optional[List[Path]] = typer.Option(
        None,
        "--trust",
        help="Trust anchor PEM: a CA certificate or a bundle such as the C2PA trust list (repeatable). "
        "Default: the key directory's ca.pem if it exists.",
    ),
    allowed_list: Optional[List[Path]] = typer.Option(
        None,
        "--allowed-list",
        help="PEM file of end-entity signer certificates trusted as they are, without a chain to a trust anchor "
        "(repeatable; MP4-family files). The certificate is compared with the one in the signature, byte for byte.",
    ),
    repo: Optional[Path] = typer.Option(None, "--repo", help="Manifest repository. Default: the user's, if it exists."),
    wm_key: Optional[Path] = typer.Option(None, "--wm-key", help="Watermark key file. Default: the key directory's, if it exists."),
    detector: bool = typer.Option(
        True,
        "--detector/--no-detector",
        help="Add the real-vs-synthetic detector's P(synthetic) as a third signal "
        "(a statistical estimate, never proof; it never changes the verdict). Only where detectors is installed (synthvid verify).",
    ),
    as_json: bool = typer.Option(False, "--json", help="Print one JSON object per file, in a list."),
) -> None:
    """Verify clips: one verdict each from the C2PA manifest, the watermark and the repository.

    TRUSTED (exit 0): manifest valid, signer chains to a trust anchor, hashes match.
    UNTRUSTED_SIGNER, UNTRUSTED_INGREDIENT, TAMPERED, CONFLICT (manifest and watermark + repository
    disagree), WATERMARK_ONLY, NO_PROVENANCE: exit 1. Bad input: exit 2, and the other files are
    still verified.

    C2PA is read from every format c2pa-rs reads (MP4/MOV, AVI, fragmented MP4 with its segments,
    HEIC/AVIF, M4A, WAV, JPEG, PNG...). An asset without video gets its verdict from C2PA alone, with
    the note "no video stream: watermark not checked"; a file that is neither a video nor a format
    C2PA is read from is bad input.

    Example: synthvid verify clip.mp4 --trust ca.pem --repo manifests.sqlite --wm-key watermark.key
    Example: synthvid verify init.mp4 seg*.m4s --trust C2PA-TRUST-LIST.pem
    Example: synthvid verify clip.mp4 --trust C2PA-TRUST-LIST.pem --allowed-list newsroom-signers.pem
    """
    from provenance.keys import WATERMARK_KEY, default_key_dir, load_allowed_list, load_trust_anchors, load_watermark_key
    from provenance.repository import ManifestRepository, default_repository_path
    from provenance.verify import verify_file

    anchors = load_trust_anchors(trust)
    allowed = load_allowed_list(allowed_list)
    key_path = wm_key or _existing(default_key_dir() / WATERMARK_KEY)
    watermark_key = load_watermark_key(key_path) if key_path else None
    repo_path = repo or _existing(default_repository_path())
    repository = ManifestRepository(repo_path, create=False) if repo_path else None
    # The detector sits above provenance: the umbrella hands a factory in through the context object
    # (python -m provenance verify has none, and stays fast).
    factory = (ctx.find_root().obj or {}).get("verify_detector")
    estimate = factory() if detector and factory is not None else None
    out, err = make_console(), make_console(stderr=True)
    results, exit_code = [], EXIT_OK
    try:
        for path, segments in _asset_groups(files):
            try:
                verdict = verify_file(
                    path,
                    fragments=segments,
                    trust_anchors_pem=anchors,
                    repository=repository,
                    watermark_key=watermark_key,
                    detector=estimate,
                    allowed_certificates=allowed,
                )
            except USER_ERRORS as exc:
                if _debugging():
                    traceback.print_exc()
                err.print(f"error: {one_line(exc)}", markup=False, highlight=False)
                results.append({"path": str(path), "error": one_line(exc)})
                exit_code = EXIT_BAD_INPUT
                continue
            results.append(verdict.to_dict())
            if exit_code != EXIT_BAD_INPUT:
                exit_code = max(exit_code, verdict.exit_code)
            if not as_json:
                out.print(_verdict_table(verdict))
                out.print()
    finally:
        if repository is not None:
            repository.close()
    if as_json:
        print_json(results)
    elif any("verdict" in r for r in results):
        used = [
            f"trust anchors: {', '.join(map(str, trust)) if trust else ('key directory ca.pem' if anchors else 'none')}",
            f"repository: {repo_path or 'none'}",
            f"watermark key: {key_path or 'none'}",
        ]
        err.print("[dim]checked with " + "; ".join(used) + "[/]", highlight=False)
        if anchors is None and any(r.get("verdict") == "UNTRUSTED_SIGNER" for r in results):
            err.print("note: no trust anchor given (--trust) and no key directory ca.pem: nothing can be TRUSTED")
    raise typer.Exit(exit_code)


def _asset_groups(files: list[Path]) -> list[tuple[Path, list[Path]]]:
    """The files as assets: a fragmented-MP4 init segment takes the media segments that follow it."""
    from provenance.media import sniff_container

    groups: list[tuple[Path, list[Path]]] = []
    head_is_init = False
    for path in files:
        try:
            kind = sniff_container(path).kind if path.is_file() else None
        except OSError:
            kind = None
        if kind == "segment" and head_is_init:
            groups[-1][1].append(path)
            continue
        groups.append((path, []))
        head_is_init = kind == "init"
    return groups


# --------------------------------------------------------------------------------------------- repo


@repo_app.command("lookup")
def repo_lookup(
    target: str = typer.Argument(..., help="A watermark payload (16 hex digits) or a clip file."),
    repo: Optional[Path] = typer.Option(None, "--repo", help="Manifest repository (default: the user's)."),
    wm_key: Optional[Path] = typer.Option(None, "--wm-key", help="Watermark key file, to read a clip's payload (default: the key directory's)."),
    as_json: bool = typer.Option(False, "--json", help="Print the record as JSON."),
) -> None:
    """Find a signed manifest by watermark payload, or by a clip (its bytes, else its watermark).

    Exit 0 when found, 1 when not, 2 for bad input.

    Example: synthvid repo lookup 3f9a0c12d4e5b678 --repo manifests.sqlite
    """
    from provenance.files import check_input_file
    from provenance.keys import WATERMARK_KEY, default_key_dir, load_watermark_key
    from provenance.repository import ManifestRepository, default_repository_path

    path = Path(target)
    with ManifestRepository(repo or default_repository_path(), create=False) as repository:
        if path.exists():
            check_input_file(path)  # a FIFO would make hashing it wait forever
            record, how = _lookup_clip(repository, path, wm_key or default_key_dir() / WATERMARK_KEY, load_watermark_key)
        else:
            record, how = repository.lookup(target), "payload"
    if record is None:
        if as_json:
            print_json({"found": False, "target": target})
        else:
            make_console().print(f"not found: {target} ({how})")
        raise typer.Exit(EXIT_NEGATIVE)
    if as_json:
        print_json({"found": True, "matched_by": how, **record.to_dict()})
        return
    out = make_console()
    out.print(f"[bold green]found[/] by {how}: payload {record.payload}")
    for name in ("manifest_label", "file_name", "file_sha256", "signer", "generator", "registered_at"):
        out.print(f"  {name:15s} {getattr(record, name)}")
    out.print_json(json.dumps(record.active_manifest))


@repo_app.command("merge")
def repo_merge(
    main: Path = typer.Argument(..., help="The repository to merge into (created if it does not exist)."),
    parts: List[Path] = typer.Argument(..., help="Repositories to merge into it: one per worker of a multi-node run."),
    remove: bool = typer.Option(False, "--remove", help="Delete each part (and its WAL files) once merged."),
    as_json: bool = typer.Option(False, "--json", help="Print the counts as JSON."),
) -> None:
    """Merge worker repositories into the main one, once, by one process.

    SQLite's locking is not safe on a network filesystem: workers on several nodes each register into
    their own file (synthvid bench does: manifests.rank{r}-of-{W}.sqlite in the run folder), merged here.
    Merging again is harmless; a payload that two files map to different manifests is refused (exit 2)
    and nothing is merged.

    Example: synthvid repo merge /shared/manifests.sqlite run/manifests.rank0-of-2.sqlite run/manifests.rank1-of-2.sqlite
    """
    from provenance.repository import ManifestRepository, remove_repository

    with ManifestRepository(main) as repository:
        added = repository.merge(parts)
        total = len(repository)
    if remove:
        for part in parts:
            remove_repository(part)
    if as_json:
        print_json({"repository": str(main), "parts": [str(p) for p in parts], "added": added, "records": total, "removed": remove})
        return
    make_console().print(
        f"merged {len(parts)} part(s) into {main}: {added} record(s) added, {total} in all" + ("; parts removed" if remove else ""), highlight=False
    )


def _lookup_clip(repository, path: Path, wm_key_path: Path, load_watermark_key):
    """By the exact bytes first (cheap, certain), else by the watermark payload in the pixels."""
    from provenance.credentials import sha256_file
    from provenance.verify import MAX_DECODED_FRAMES, read_pixels, read_watermark

    record = repository.lookup_file_sha256(sha256_file(path))
    if record is not None:
        return record, "file SHA-256"
    if not wm_key_path.exists():
        return None, "file SHA-256; no watermark key to read its payload"
    mark = read_watermark(read_pixels(path, [], MAX_DECODED_FRAMES, True, None).work, load_watermark_key(wm_key_path))
    if not mark.found:
        return None, f"file SHA-256 and watermark ({mark.note or 'no watermark found'})"
    return repository.lookup(mark.payload), f"watermark payload {mark.payload}"


# ---------------------------------------------------------------------------------- python -m provenance


def standalone_app(package_app: typer.Typer, *, name: str, help: str) -> typer.Typer:
    """A package's ``app`` under a root with ``--debug``, for ``python -m <package>`` (the umbrella has its
    own root, with ``--debug`` and ``--version``); run it with :func:`run_typer_app`."""
    root = typer.Typer(name=name, help=help, add_completion=False, no_args_is_help=True, rich_markup_mode="rich")

    @root.callback()
    def _root(debug: bool = typer.Option(False, "--debug", help="Show tracebacks and debug logs.")) -> None:
        configure_logging(debug)

    root.add_typer(package_app)
    return root


def _standalone_app() -> typer.Typer:
    return standalone_app(app, name="provenance", help="synthvid provenance: C2PA Content Credentials, watermark, manifest repository, verify.")


def run_typer_app(app_: typer.Typer, argv: list[str], *, prog_name: str, user_errors: tuple = USER_ERRORS) -> int:
    """Run a typer app the synthvid way; return the exit code instead of exiting.

    User errors print one line (``error: <message>``) and give 2, with the traceback only under
    ``--debug``; anything else is a bug: traceback, exit 3. The umbrella CLI can use this too.
    """
    from typer.main import get_command

    try:
        get_command(app_).main(args=argv, prog_name=prog_name, standalone_mode=True)
    except SystemExit as exc:  # click exits on its own after success, --help and usage errors (code 2)
        return exc.code if isinstance(exc.code, int) else (EXIT_OK if exc.code is None else EXIT_BAD_INPUT)
    except user_errors as exc:
        if _debugging():
            traceback.print_exc()
        print(f"error: {one_line(exc)}", file=sys.stderr)
        return EXIT_BAD_INPUT
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except Exception:  # noqa: BLE001 - a bug, not a user mistake: show everything so it can be reported
        traceback.print_exc()
        print("error: internal error in synthvid (a bug); please report the traceback above", file=sys.stderr)
        return EXIT_BUG
    return EXIT_OK


def main() -> None:
    """``python -m provenance``."""
    sys.exit(run_typer_app(_standalone_app(), sys.argv[1:], prog_name="python -m provenance"))
