"""provenance.runfolder, the run-folder contract: the reader on a folder the producers wrote, one-line
errors naming the file for missing, damaged and foreign files, atomic writers that leave nothing partial,
``synthvid eval`` writing its own file, and no package spelling the contract's names on its own."""

from __future__ import annotations

import ast
import json
from pathlib import Path

import pandas as pd
import pytest

from eval.errors import InputSetError
from eval.evaluate import find_clips
from genkit.compare import compare_runs
from genkit.errors import RunFolderError
from genkit.runfolder import RunFolder
from provenance import runfolder as contract
from provenance.errors import LocatedError, RunFileError
from provenance.runfolder import (
    EVAL_FILE,
    ITEM_FAILED,
    ITEM_OK,
    METRICS_FILE,
    REFERENCE_FILE,
    RESULTS_FILE,
    RUN_COMPLETE,
    RUN_FILE,
    read_run,
    write_json_atomic,
    write_parquet_atomic,
)
from reports.data import Run, load_run
from reports.errors import ReportError

ROOT = Path(__file__).resolve().parent.parent
ROWS = [
    {
        "prompt_id": "a",
        "prompt": "a red circle",
        "path": "clips/a.mp4",
        "prompt_index": 0,
        "sample_index": 0,
        "status": ITEM_OK,
        "error": None,
        "clipsim": 0.25,
    },
    {
        "prompt_id": "b",
        "prompt": "a blue square",
        "path": "clips/b.mp4",
        "prompt_index": 1,
        "sample_index": 0,
        "status": ITEM_FAILED,
        "error": "RuntimeError: out of memory",
        "clipsim": None,
    },
]


def written_run(root: Path) -> Path:
    """A run folder as its producers write it: RunFolder (clips/, results.parquet, run.json), the bench's
    metrics.json and reference.parquet, eval's eval.json."""
    with RunFolder.create(root, {"job": "bench", "seed": 7}) as run:
        for row in ROWS:
            run.add(row)
        run.write_json_atomic(METRICS_FILE, {"fvd": {"value": 12.5}, "means": {"clipsim": 0.25}})
        write_parquet_atomic([{"idx": 0, "source": "world", "p_synthetic": 0.1}], run.root / REFERENCE_FILE)
        write_json_atomic({"clips": 2, "domain": {"clipsim": "in-domain"}}, run.root / EVAL_FILE)
    return root


def test_the_reader_gives_back_what_the_producers_wrote(tmp_path):
    root = written_run(tmp_path / "run")
    files = read_run(root, record=True, columns=contract.ITEM_KEY)
    assert files.root == root and list(files.results["prompt_id"]) == ["a", "b"]
    assert list(files.ok["prompt_id"]) == ["a"]  # status ok only
    assert files.record["status"] == RUN_COMPLETE and files.record["config"] == {"job": "bench", "seed": 7}
    assert files.metrics["fvd"]["value"] == 12.5 and files.evaluation["domain"] == {"clipsim": "in-domain"}
    assert files.reference.to_dict("records") == [{"idx": 0, "source": "world", "p_synthetic": 0.1}]
    # reports' Run is the contract's record with the report's views on top; its API is unchanged
    loaded = load_run(root)
    assert isinstance(loaded, Run) and loaded.name == "run" and list(loaded.ok["prompt_id"]) == ["a"]
    assert loaded.domain == {"clipsim": "in-domain"} and loaded.metrics == files.metrics
    # what is optional may be absent: a table alone is a run folder to read
    bare = tmp_path / "bare"
    bare.mkdir()
    write_parquet_atomic(pd.DataFrame({"prompt_id": ["x"]}), bare / RESULTS_FILE)
    files = read_run(bare)
    assert (files.metrics, files.record, files.evaluation, files.reference) == ({}, {}, {}, None)
    assert list(files.ok["prompt_id"]) == ["x"]  # no status column: every row finished


def _truncate(path: Path) -> None:
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])


DAMAGES = {
    "truncated parquet": (RESULTS_FILE, _truncate, "cannot read the results table ("),
    "foreign parquet": (RESULTS_FILE, lambda p: p.write_bytes(b"PAR1 not really a table"), "cannot read the results table ("),
    "empty parquet": (RESULTS_FILE, lambda p: p.write_bytes(b""), "file is empty"),
    "parquet is a folder": (RESULTS_FILE, lambda p: (p.unlink(), p.mkdir()), "is a directory, not a file"),
    "table without the key": (
        RESULTS_FILE,
        lambda p: pd.DataFrame({"prompt_id": ["a"]}).to_parquet(p),
        "has no prompt_index and sample_index columns; not a synthvid results table",
    ),
    "truncated reference": (REFERENCE_FILE, _truncate, "cannot read the reference table ("),
    "truncated json": (METRICS_FILE, _truncate, "cannot read the set-level metrics (not JSON: "),
    "json not an object": (RUN_FILE, lambda p: p.write_text("[1, 2]\n"), "cannot read the run record (a JSON list, not an object)"),
    "json not text": (EVAL_FILE, lambda p: p.write_bytes(b"\xff\xfe\x00{"), "cannot read the evaluation (not JSON: "),
    "empty json": (EVAL_FILE, lambda p: p.write_bytes(b""), "file is empty"),
}


@pytest.mark.parametrize("damage", DAMAGES, ids=list(DAMAGES))
@pytest.mark.parametrize("error", [RunFileError, ReportError])
def test_a_damaged_file_is_one_line_naming_it_and_the_reason(tmp_path, damage, error):
    name, spoil, reason = DAMAGES[damage]
    root = written_run(tmp_path / "run")
    spoil(root / name)
    with pytest.raises(error) as caught:
        read_run(root, record=True, columns=contract.ITEM_KEY, error=error)
    message = str(caught.value)
    assert isinstance(caught.value, LocatedError) and caught.value.path == str(root / name)
    assert message.startswith(f"{root / name}: {reason}") and "\n" not in message, message


def test_missing_files_and_folders_are_one_line(tmp_path):
    with pytest.raises(RunFileError, match=r"nowhere: no such run folder$"):
        read_run(tmp_path / "nowhere")
    root = written_run(tmp_path / "run")
    (root / RUN_FILE).unlink()
    with pytest.raises(RunFileError, match=r"run: is not a run folder \(no run\.json\)$"):
        read_run(root, record=True)
    assert read_run(root).record == {}  # optional unless asked for
    (root / RESULTS_FILE).unlink()
    with pytest.raises(RunFileError, match=r"run: has no results\.parquet \(not a finished run folder; "):
        read_run(root)
    with pytest.raises(RunFileError, match=r"metrics\.json: no such file \(the set-level metrics\)$"):
        contract.read_json(tmp_path / METRICS_FILE, required=True)


def test_every_reader_goes_through_the_contract_with_its_own_error_class(tmp_path):
    root = written_run(tmp_path / "run")
    (root / "clips").mkdir(exist_ok=True)
    _truncate(root / RESULTS_FILE)
    expected = f"{root / RESULTS_FILE}: cannot read the results table ("
    for read, error in [(load_run, ReportError), (find_clips, InputSetError), (lambda r: compare_runs(r, r), RunFolderError)]:
        with pytest.raises(error) as caught:
            read(root)
        assert str(caught.value).startswith(expected), (error, str(caught.value))


@pytest.mark.parametrize(
    "writer, name, data",
    [(write_json_atomic, METRICS_FILE, {"fvd": {"value": 1.0}}), (write_parquet_atomic, RESULTS_FILE, ROWS)],
    ids=["json", "parquet"],
)
def test_a_failed_write_leaves_the_old_file_and_nothing_partial(tmp_path, monkeypatch, writer, name, data):
    target = tmp_path / name
    target.write_bytes(b"the old file")

    def fail_half_way(path) -> None:  # the disk fills up after a few bytes of the new file
        Path(path).write_bytes(b"half")
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(Path, "write_text", lambda self, *args, **kwargs: fail_half_way(self))
    monkeypatch.setattr(pd.DataFrame, "to_parquet", lambda self, path, **kwargs: fail_half_way(path))
    with pytest.raises(RunFolderError) as caught:
        writer(data, target, error=RunFolderError)
    assert str(caught.value) == f"{target}: cannot write (No space left on device)"
    assert target.read_bytes() == b"the old file" and sorted(p.name for p in tmp_path.iterdir()) == [name]
    monkeypatch.undo()
    assert writer(data, target) == target  # and when the disk has room, the new file replaces the old one
    if name == RESULTS_FILE:
        assert read_run(tmp_path).results[["prompt_id", "status"]].to_dict("records") == [
            {"prompt_id": row["prompt_id"], "status": row["status"]} for row in data
        ]
    else:
        assert json.loads(target.read_text()) == data


def test_a_write_into_a_missing_folder_is_one_line(tmp_path):
    with pytest.raises(RunFileError, match=r"cannot write \(No such file or directory\)$"):
        write_json_atomic({}, tmp_path / "gone" / EVAL_FILE)
    assert not (tmp_path / "gone").exists()


def test_overwriting_a_run_removes_every_file_made_from_its_clips(tmp_path):
    root = written_run(tmp_path / "run")
    (root / contract.VERIFY_FILE).write_text("[]\n")
    (root / contract.REPORT_FILE).write_text("<html></html>\n")
    RunFolder.create(root, {"seed": 1}, overwrite=True).close()
    assert sorted(p.name for p in root.iterdir()) == ["clips", RESULTS_FILE, RUN_FILE]


def test_synthvid_eval_of_a_run_writes_eval_json_and_leaves_metrics_json_byte_identical(tmp_path, capsys):
    from eval_helpers import rendered_world_run, save_tiny_clip

    from genkit.cli import run

    folder, _ = rendered_world_run(
        tmp_path, ["a red circle moving left on a blue background", "a green square moving right on a black background"], 32
    )
    bench_bytes = b'{"fvd": {"value": 3.0},   "written_by": "synthvid bench", "note": "\xc3\xa9"}'  # no newline, odd spacing
    (folder / METRICS_FILE).write_bytes(bench_bytes)
    clip = save_tiny_clip(tmp_path / "clip", seed=1)
    capsys.readouterr()
    assert run(["eval", "--fake", str(folder), "--metrics", "temporal", "--clip-model", f"local-dir:{clip}", "--json"]) == 0
    printed = json.loads(capsys.readouterr().out)
    assert (folder / METRICS_FILE).read_bytes() == bench_bytes
    files = read_run(folder, record=True)
    assert files.metrics == json.loads(bench_bytes) and files.evaluation == printed
    assert files.evaluation["clips"] == 2 and "temporal" in files.evaluation


# Modules that still spell a contract name or status on their own, waiting for their split to land
# (another engineer is splitting genkit/bench.py and genkit/cli.py into packages): path prefix → values.
NOT_YET_SWITCHED: dict[str, set] = {}  # path prefix → names a module may still spell (none left)


def test_no_module_spells_a_run_file_name_or_compares_a_status_on_its_own():
    """Names of run files (as whole string constants) and status values (compared with ==, !=, in) are
    the contract's: anywhere else they are a second definition that can drift."""
    names = {*contract.RUN_FILES, contract.LEDGER_FILE}
    statuses = {*contract.ITEM_STATUSES, *contract.RUN_STATUSES}
    found = []
    for package in ("genkit", "eval", "reports", "provenance", "detectors", "benchmarks"):
        for path in sorted((ROOT / package).rglob("*.py")):
            relative = path.relative_to(ROOT).as_posix()
            if relative == "provenance/runfolder.py":
                continue
            allowed = next((values for prefix, values in NOT_YET_SWITCHED.items() if relative.startswith(prefix)), set())
            for node in ast.walk(ast.parse(path.read_text())):
                if isinstance(node, ast.Constant) and node.value in names - allowed:
                    found.append(f"{relative}:{node.lineno}: {node.value!r}")
                if isinstance(node, ast.Compare):
                    for operand in (node.left, *node.comparators):
                        if isinstance(operand, ast.Constant) and operand.value in statuses - allowed:
                            found.append(f"{relative}:{node.lineno}: status {operand.value!r}")
    assert not found, "use provenance.runfolder's names:\n" + "\n".join(found)
