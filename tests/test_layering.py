"""The layering of the five packages, checked by import-linter's contracts in pyproject.toml: every
import counts, a function-local one too (a lazy import that points up is still a dependency)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("genkit", "eval", "detectors", "provenance", "reports")
LINT_IMPORTS = Path(sys.executable).with_name("lint-imports")


def lint_imports(root: Path) -> subprocess.CompletedProcess:
    """import-linter over the packages in ``root`` with ``root``'s contracts (``root`` first on the path)."""
    env = {**os.environ, "PYTHONPATH": str(root)}
    return subprocess.run(
        [str(LINT_IMPORTS), "--config", str(root / "pyproject.toml"), "--no-cache"], cwd=root, env=env, capture_output=True, text=True, timeout=300
    )


def test_every_import_keeps_the_layering():
    done = lint_imports(ROOT)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-2000:]
    assert "2 kept, 0 broken" in done.stdout


@pytest.mark.parametrize(
    ("module", "injected", "reported"),
    [
        ("eval/temporal.py", "from genkit.world import render", "eval.temporal -> genkit.world"),
        ("provenance/verify.py", "import detectors.detector", "provenance.verify -> detectors.detector"),
        ("genkit/tiny/train.py", "from genkit.cli import run", "genkit.tiny.train -> genkit.cli"),
        ("genkit/generate.py", "from genkit.commands.common import prompt_items", "genkit.generate -> genkit.commands.common"),
    ],
)
def test_a_function_local_upward_import_breaks_a_contract(tmp_path, module, injected, reported):
    """On a throw-away copy of the packages, one import hidden inside a function that is never called."""
    for name in PACKAGES:
        shutil.copytree(ROOT / name, tmp_path / name, ignore=shutil.ignore_patterns("models", "synthvid-tiny", "__pycache__"))
    shutil.copy(ROOT / "pyproject.toml", tmp_path)
    assert lint_imports(tmp_path).returncode == 0  # the copy is as clean as the tree
    path = tmp_path / module
    path.write_text(path.read_text() + f"\n\ndef _never_called():\n    {injected}\n")
    done = lint_imports(tmp_path)
    assert done.returncode == 1 and "broken" in done.stdout
    assert reported in done.stdout, done.stdout[-3000:]


def test_every_package_s_file_errors_share_the_one_located_error_base():
    """One base for "<path>: <reason>" errors, in the bottom layer; each package keeps its own class."""
    from detectors.errors import DetectorError
    from eval.errors import EvalError
    from genkit.errors import LocatedError as GenkitLocatedError
    from provenance.errors import LocatedError, MediaError
    from reports.errors import ReportError

    for error_class in (DetectorError, EvalError, GenkitLocatedError, MediaError, ReportError):
        error = error_class("clip.mp4", "not a video")
        assert isinstance(error, LocatedError) and str(error) == "clip.mp4: not a video"
        assert (error.path, error.reason) == ("clip.mp4", "not a video")
        assert "__init__" not in vars(error_class)  # no copy of the constructor


def test_the_tree_passes_ruff_lint():
    """pyproject's [tool.ruff] rules (pyflakes, pycodestyle, isort, bugbear, pyupgrade) hold everywhere."""
    ruff = Path(sys.executable).with_name("ruff")
    done = subprocess.run([str(ruff), "check", "--output-format", "concise", str(ROOT)], cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-1000:]


def test_the_tree_is_ruff_formatted():
    """`ruff format` owns the layout (line length 150); a file edited without it fails here, naming the file."""
    ruff = Path(sys.executable).with_name("ruff")
    done = subprocess.run([str(ruff), "format", "--check", str(ROOT)], cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-1000:]
