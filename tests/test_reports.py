"""reports/: the notebooks execute on a real benchmark run (nbclient, a real kernel), ``synthvid report``
writes a self-contained report.html, and headless Chromium shows its tables and plots."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from bench_helpers import bench, complete_run

from reports import data

pytestmark = pytest.mark.slow  # real benchmark runs, notebooks executed, Chromium screenshots

NOTEBOOKS = sorted((Path(__file__).parent.parent / "reports" / "notebooks").glob("*.ipynb"))
CHROMIUM = Path("/usr/bin/chromium")
# The report's plot colours (reports.plots) and its table header colour (reports.html STYLE), as RGB.
BAR_COLOURS = {"blue": (0x4C, 0x72, 0xB0), "green": (0x55, 0xA8, 0x68), "red": (0xC4, 0x4E, 0x52), "purple": (0x81, 0x72, 0xB2)}
TABLE_HEADER = (0xDD, 0xE4, 0xF0)


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    return complete_run(tmp_path_factory.getbasetemp(), "bench-full")


def test_tables_of_a_run(run):
    loaded = data.load_run(run)
    board = data.leaderboard([loaded, loaded])
    assert len(board) == 2 and board.loc[0, "trusted"] == 1.0 and board.loc[0, "items"] == 6
    colours = data.breakdown(loaded, "expected_color")
    assert list(colours["items"]) == [2, 2, 2] and set(colours.index) == {"red", "green", "yellow"}
    assert colours.loc["red", "clipsim"] == pytest.approx(loaded.ok[loaded.ok.expected_color == "red"].clipsim.mean())
    robustness = data.watermark_robustness(loaded)
    assert robustness.iloc[0]["condition"].startswith("as delivered") and len(robustness) == 4
    assert robustness.detected.between(0, 1).all()
    prompts = data.per_prompt(loaded)
    assert len(prompts) == 3 and prompts["prompt"].str.startswith("a ").all()


def test_roc_of_a_detector_that_separates_perfectly_reaches_the_corner(run):
    loaded = data.load_run(run)
    loaded.results = loaded.results.assign(p_synthetic=np.linspace(0.6, 0.9, len(loaded.results)))
    loaded.reference = pd.DataFrame({"p_synthetic": [0.1, 0.2, 0.5]})
    curve = data.roc_curve(loaded)
    assert ((curve.fpr == 0) & (curve.tpr == 1)).any()  # a threshold flags every generated clip and no reference
    loaded.reference = pd.DataFrame({"p_synthetic": [0.95, 0.97, 0.99]})  # every reference scores higher
    curve = data.roc_curve(loaded)
    assert ((curve.fpr == 1) & (curve.tpr == 0)).any() and not ((curve.fpr < 1) & (curve.tpr > 0)).any()
    assert data.detector_auc(loaded) == json.loads((run / "metrics.json").read_text())["detector_auc"]["value"]


@pytest.mark.slow
@pytest.mark.parametrize("notebook", NOTEBOOKS, ids=[p.stem for p in NOTEBOOKS])
def test_notebook_executes_on_a_run(notebook, run, tmp_path, monkeypatch):
    import nbformat
    from nbclient import NotebookClient

    book = nbformat.read(notebook, as_version=4)
    parameters = [i for i, cell in enumerate(book.cells) if "parameters" in cell.metadata.get("tags", [])]
    assert parameters == [1], "the second cell is the papermill parameters cell"
    # Papermill's way: a cell after the parameters cell overrides them (the env var is the other way).
    book.cells.insert(2, nbformat.v4.new_code_cell(f"run_dir = {str(run)!r}"))
    monkeypatch.setenv(data.RUNS_ENV, str(run))
    NotebookClient(book, timeout=300, kernel_name="python3", resources={"metadata": {"path": str(tmp_path)}}).execute()
    outputs = [output for cell in book.cells if cell.cell_type == "code" for output in cell.outputs]
    assert not [o for o in outputs if o.get("output_type") == "error"]
    assert any("6 of 6 items finished" in o.get("text", "") for o in outputs)  # it read our run, not the default
    if notebook.stem != "detector_roc":  # no detector scores on both sides in this run: the ROC is an empty frame
        assert any("image/png" in o.get("data", {}) for o in outputs), "no plot rendered"


def test_report_command_writes_one_self_contained_page(run, tmp_path):
    done = bench(tmp_path, "report", str(run), "--json")
    page = Path(json.loads(done.stdout)["report"])
    assert page == run / "report.html"
    text = page.read_text()
    for heading in (
        "Summary",
        "By color",
        "Per prompt",
        "Watermark robustness",
        "Detector ROC",
        "Metric distributions",
        "Contact sheet",
        "Seconds per item",
    ):
        assert f"<h2>{heading}" in text, heading
    assert text.count('<table class="dataframe data"') >= 6
    assert text.count("data:image/png;base64,") >= 5
    assert 'src="http' not in text and 'href="http' not in text  # nothing fetched from elsewhere


def test_report_of_a_folder_that_is_not_a_run_is_one_line_exit_2(tmp_path):
    (tmp_path / "empty").mkdir()
    done = bench(tmp_path, "report", "empty", check_exit=2)
    assert done.stderr.strip() == (
        "error: empty: has no results.parquet (not a finished run folder; a run still going writes it at the end: "
        "resume an interrupted one, or synthvid bench merge its shards)"
    )


def _screenshot(page: Path, out: Path, profile: Path) -> np.ndarray:
    """Chromium's headless screenshot of ``page`` (flags: ARCHITECTURE.md) as float RGB in [0, 1]."""
    from matplotlib.image import imread

    command = [
        str(CHROMIUM),
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        f"--user-data-dir={profile}",
        "--hide-scrollbars",
        "--window-size=1200,3000",
        f"--screenshot={out}",
        page.resolve().as_uri(),
    ]
    subprocess.run(command, capture_output=True, timeout=120, check=False)
    assert out.is_file(), f"chromium wrote no screenshot: {' '.join(command)}"
    return imread(out)[..., :3]


def _pixels_near(image: np.ndarray, rgb: tuple[int, int, int], tolerance: float = 6 / 255) -> int:
    return int((np.abs(image - np.array(rgb) / 255).max(axis=-1) <= tolerance).sum())


@pytest.mark.slow
def test_report_renders_in_headless_chromium_with_its_tables_and_plots(run, tmp_path):
    if not CHROMIUM.is_file():
        pytest.fail(f"{CHROMIUM} is missing: `make test` installs Debian's chromium (apt-get install chromium)")
    bench(tmp_path, "report", str(run))
    empty = tmp_path / "empty.html"
    empty.write_text("<!DOCTYPE html><html><body></body></html>")
    blank = _screenshot(empty, tmp_path / "empty.png", tmp_path / "profile-a")
    shot = _screenshot(run / "report.html", tmp_path / "report.png", tmp_path / "profile-b")
    assert shot.shape == blank.shape
    background = blank.reshape(-1, 3)[0]
    assert (np.abs(blank - background).max(axis=-1) > 0.02).mean() < 0.001  # the empty page is blank
    differs = np.abs(shot - background).max(axis=-1) > 0.02
    assert differs.mean() > 0.05, f"only {differs.mean():.1%} of the page differs from an empty page"
    # Content in every band of the first screen: header and tables on top, plots further down.
    bands = differs[:1200].reshape(6, -1).mean(axis=1)
    assert (bands > 0.005).all(), f"share of drawn pixels per 200-px band: {bands.round(3)}"
    assert _pixels_near(shot, TABLE_HEADER) > 2000, "no table header cells rendered"
    drawn = {name: _pixels_near(shot, rgb) for name, rgb in BAR_COLOURS.items()}
    assert sum(count > 500 for count in drawn.values()) >= 2, f"plot colours in the screenshot: {drawn}"
