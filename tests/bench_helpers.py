"""Small benchmark runs for test_bench and test_reports: the real ``python -m genkit bench`` in a
subprocess, with the shapes-world renderer as the model (real code, milliseconds a clip) and keys and
manifest repository in the test's own folder."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

PROMPTS = [
    "a red circle moving left on a blue background",
    "a green square moving right on a black background",
    "a yellow star standing still on a white background",
]
# 64×64, 8 frames: the smallest clips the watermark and the metrics take comfortably.
SMALL = ("--model", "shapes-world", "--frames", "8", "--height", "64", "--width", "64")


def load_script(name: str):
    """``benchmarks/<name>.py`` as a module (registered in ``sys.modules``, where dataclasses look their
    module up), so a test can call its functions."""
    import importlib.util

    path = Path(__file__).resolve().parents[1] / "benchmarks" / f"{name}.py"
    spec = importlib.util.spec_from_file_location(f"benchmark_{name}", path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


def write_suite(folder: Path, prompts: list[str] = PROMPTS) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    suite = folder / "suite.txt"
    suite.write_text("\n".join(prompts) + "\n")
    return suite


def bench_env() -> dict:
    return {**os.environ, "COLUMNS": "200", "PYTHONWARNINGS": "ignore", "OMP_WAIT_POLICY": "PASSIVE", "OMP_NUM_THREADS": "1"}


def bench(
    folder: Path, *args, check_exit: int | None = 0, timeout: float = 300, prefix: tuple = (), env: dict | None = None
) -> subprocess.CompletedProcess:
    """``python -m genkit ARGS`` (or ``PREFIX -m genkit ARGS``, e.g. torchrun) in ``folder``, with ``env``
    over :func:`bench_env`; keys and repository live in ``folder/home``."""
    keys = ("--keys", str(folder / "home" / "keys"), "--repo", str(folder / "home" / "manifests.sqlite"))
    command = [*(prefix or (sys.executable,)), "-m", "genkit", *map(str, args)]
    if args and args[0] == "bench" and (len(args) < 2 or args[1] not in ("merge", "compare")) and "--no-provenance" not in args:
        command += keys
    done = subprocess.run(command, capture_output=True, text=True, cwd=folder, env={**bench_env(), **(env or {})}, timeout=timeout)
    if check_exit is not None:
        assert done.returncode == check_exit, f"exit {done.returncode}\nstdout:\n{done.stdout}\nstderr:\n{done.stderr}"
    return done


# The full run: 2 samples per prompt and every metric, robustness too.
FULL = ("-n", "2", "--metrics", "all")


def complete_run(base: Path, name: str) -> Path:
    """A finished benchmark run of the test suite with every metric, made once per session."""
    run = base / name
    if not (run / "results.parquet").is_file():
        write_suite(base)
        bench(base, "bench", "suite.txt", "--out", name, *FULL, *SMALL)
    return run
