"""Shared fixtures: rendered clips, encoded files and a runner for the real ``synthvid`` CLI."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from genkit.world import render
from provenance.media import Video, write_video

PROMPT = "a red circle moving left on a blue background"


def assert_one_line_error(error: BaseException, path: Path, reason: str) -> None:
    """The house rule for bad input: one line, starting with the file, stating ``reason``."""
    message = str(error)
    assert message.startswith(f"{path}: "), message
    assert reason in message, message
    assert "\n" not in message, message


@pytest.fixture
def clip() -> Video:
    """A small shapes-world clip: 16 frames of 64x64 at 8 fps."""
    return render(PROMPT, frames=16, size=64, fps=8, seed=3)


@pytest.fixture
def mp4(tmp_path: Path, clip: Video) -> Path:
    """``clip`` written as a normal H.264 MP4 (moov index at the end, as write_video makes it)."""
    return write_video(clip, tmp_path / "clip.mp4")


@pytest.fixture
def synthvid(tmp_path: Path):
    """Run ``python -m genkit ARGS`` in a subprocess (the real CLI, as a user runs it), in ``tmp_path``."""

    def run(*args: str, check_exit: int | None = None) -> subprocess.CompletedProcess:
        env = {**os.environ, "COLUMNS": "200", "PYTHONWARNINGS": "ignore"}
        done = subprocess.run(
            [sys.executable, "-m", "genkit", *map(str, args)],
            capture_output=True,
            text=True,
            cwd=tmp_path,
            env=env,
            timeout=120,
        )
        if check_exit is not None:
            assert done.returncode == check_exit, f"exit {done.returncode}\nstdout:\n{done.stdout}\nstderr:\n{done.stderr}"
        return done

    return run
