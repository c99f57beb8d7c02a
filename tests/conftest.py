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


# Inputs that are not regular files with a known size, and the one reason a user must read for each.
NOT_REGULAR_FILES = ("character device", "fifo", "procfs", "symlink loop", "broken symlink")


def not_regular_file(folder: Path, kind: str) -> tuple[Path, str]:
    """One of :data:`NOT_REGULAR_FILES`, made in ``folder`` (or a system file): ``(path, reason)``."""
    if kind == "character device":
        return Path("/dev/zero"), "not a regular file (character device)"
    if kind == "procfs":  # reports 0 bytes, holds hundreds
        return Path("/proc/self/status"), "not a regular file with a known size (procfs reports 0 bytes for it)"
    if kind == "fifo":  # no writer: opening it for reading would wait forever
        os.mkfifo(folder / "pipe.mp4")
        return folder / "pipe.mp4", "a FIFO/named pipe, not a regular file"
    if kind == "symlink loop":
        os.symlink(folder / "b.mp4", folder / "a.mp4")
        os.symlink(folder / "a.mp4", folder / "b.mp4")
        return folder / "a.mp4", "symbolic link loop (too many levels of symbolic links)"
    if kind == "broken symlink":
        os.symlink(folder / "gone.mp4", folder / "link.mp4")
        return folder / "link.mp4", f"broken symbolic link (its target {folder / 'gone.mp4'} does not exist)"
    raise ValueError(kind)


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
