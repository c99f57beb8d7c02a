"""genkit.suites: every suite format, the bundled suites, and every way a suite file can be wrong."""

from __future__ import annotations

import json

import pytest
from conftest import assert_one_line_error

from genkit.errors import SuiteError
from genkit.suites import bundled_suites, full_suite_text, load_suite
from genkit.world import COLORS, MOTIONS, SHAPES, all_prompts, parse_prompt


def test_bundled_smoke_suite_covers_the_whole_vocabulary():
    items = load_suite("shapes-smoke")
    assert len(items) >= 16
    specs = [parse_prompt(item.prompt) for item in items]
    assert {s.color for s in specs} == set(COLORS)
    assert {s.background for s in specs} == set(COLORS)
    assert {s.shape for s in specs} == set(SHAPES)
    assert {s.motion for s in specs} == set(MOTIONS)
    assert {s.size for s in specs} >= {"small", "medium", "large"}
    assert any(s.textured for s in specs) and any(s.noise for s in specs) and any(s.pan for s in specs)
    assert [item.prompt_id for item in items] == [f"{i:04d}" for i in range(len(items))]


def test_bundled_full_suite_is_the_whole_core_grammar_and_up_to_date():
    path = bundled_suites()["shapes-full"]
    assert path.read_text() == full_suite_text(), "regenerate with `make suites`"
    assert [item.prompt for item in load_suite("shapes-full")] == [p.text for p in all_prompts()]


def test_txt_skips_blank_lines_and_comments(tmp_path):
    path = tmp_path / "mine.txt"
    path.write_text("# my suite\n\n  a red circle   moving left on a blue background  \n   # indented comment\nsecond prompt\n")
    items = load_suite(path)
    assert [(i.prompt, i.prompt_id, i.dimension, i.extra) for i in items] == [
        ("a red circle moving left on a blue background", "0000", None, {}),
        ("second prompt", "0001", None, {}),
    ]


def test_csv_keeps_ids_category_and_other_columns(tmp_path):
    path = tmp_path / "suite.csv"
    path.write_text('id,prompt,category,notes\nA1,"a cat, sleeping",animals,first\nB2,a dog,animals,\n')
    items = load_suite(path)
    assert [(i.prompt_id, i.prompt, i.dimension, i.extra) for i in items] == [
        ("A1", "a cat, sleeping", "animals", {"notes": "first"}),
        ("B2", "a dog", "animals", {"notes": ""}),
    ]


def test_jsonl_reads_one_object_a_line(tmp_path):
    path = tmp_path / "suite.jsonl"
    rows = [{"prompt": "a fox", "dimension": "animals", "weight": 2}, {"prompt": "a boat", "id": "boat-1"}]
    path.write_text("\n".join(json.dumps(row) for row in rows) + "\n\n")
    items = load_suite(path)
    assert [(i.prompt_id, i.prompt, i.dimension, i.extra) for i in items] == [
        ("0000", "a fox", "animals", {"weight": 2}),
        ("boat-1", "a boat", None, {}),
    ]


def test_vbench_json_joins_dimensions_and_keeps_auxiliary_info(tmp_path):
    path = tmp_path / "VBench_full_info.json"
    vbench = [
        {"prompt_en": "a person swimming in ocean", "dimension": ["subject_consistency", "dynamic_degree"]},
        {"prompt_en": "a red bicycle", "dimension": ["color"], "auxiliary_info": {"color": {"color": "red"}}},
    ]
    path.write_text(json.dumps(vbench, indent=4))
    items = load_suite(path)
    assert [(i.prompt_id, i.prompt, i.dimension, i.extra) for i in items] == [
        ("0000", "a person swimming in ocean", "subject_consistency,dynamic_degree", {}),
        ("0001", "a red bicycle", "color", {"auxiliary_info": {"color": {"color": "red"}}}),
    ]


def _write(tmp_path, name: str, content: str | bytes | None):
    path = tmp_path / name
    if content is None:
        return path
    if isinstance(content, bytes):
        path.write_bytes(content)
    else:
        path.write_text(content)
    return path


BAD_SUITES = [
    ("missing.txt", None, "no such file or bundled suite (bundled: shapes-full, shapes-smoke)"),
    ("suite.yaml", "prompts: [a]\n", "unknown suite format '.yaml'"),
    ("noext", "a prompt\n", "unknown suite format '(no suffix)'"),
    ("comments.txt", "# only a comment\n\n", "suite is empty"),
    ("zero.csv", "", "empty CSV"),
    ("header.csv", "id,prompt\n", "suite is empty"),
    ("columns.csv", "id,text\n1,a cat\n", "no prompt column (expected one of prompt, prompt_en; found id, text)"),
    ("blank.csv", "id,prompt\n1,a cat\n2,  \n", "row 3: empty prompt"),
    ("dupes.csv", "id,prompt\n1,a cat\n1,a dog\n", "row 3: duplicate prompt id '1' (first at row 2)"),
    ("broken.jsonl", '{"prompt": "a"}\n{"prompt": \n', "line 2: not JSON"),
    ("array.jsonl", '["a prompt"]\n', "line 1: expected a JSON object, got list"),
    ("nokey.jsonl", '{"text": "a"}\n', "no prompt key on line 1"),
    ("number.jsonl", '{"prompt": 42}\n', "line 1: prompt must be text, got int"),
    ("broken.json", '[{"prompt_en": "a"', "not JSON"),
    ("object.json", '{"prompt_en": "a"}', "expected a JSON list of objects"),
    ("empty.json", "[]", "suite is empty"),
    ("long.txt", "a" * 5000 + "\n", "line 1: prompt has 5000 characters (limit 2000)"),
    ("binary.txt", b"\x89PNG\r\n\x1a\n\x00\x00\xff\xfe", "not UTF-8 text"),
]


@pytest.mark.parametrize("name, content, reason", BAD_SUITES, ids=[name for name, _, _ in BAD_SUITES])
def test_bad_suite_raises_one_line_error_naming_the_file(tmp_path, name, content, reason):
    path = _write(tmp_path, name, content)
    with pytest.raises(SuiteError) as caught:
        load_suite(path)
    assert_one_line_error(caught.value, path, reason)


def test_a_directory_is_not_a_suite(tmp_path):
    with pytest.raises(SuiteError, match="is a directory"):
        load_suite(tmp_path)
