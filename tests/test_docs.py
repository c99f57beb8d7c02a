"""The README and docs/ against the code: every command they show is parsed with the real CLI (its
subcommand path, every option, the number of arguments, what is required), every benchmark script's
flags against its argparse, every make target against the Makefile, every relative link resolved;
the cheap commands are also run, as written, in a folder of their own.

A renamed option or command fails here naming the doc file and line, e.g.
``docs/provenance.md:14: synthvid verify has no option --trust-anchor``. Commands the docs show are
found in fenced shell blocks (backslash continuations joined, ``$`` prompts, comments, pipes and
redirections handled) and in inline code; placeholders (``[--json]``, ``...``, ``PART...``, ``DIR``)
are read as a user reads them. The ``Example:`` lines of every ``--help`` are checked the same way.
"""

from __future__ import annotations

import ast
import glob
import json
import os
import re
import shlex
import shutil
import subprocess
import sys
from dataclasses import dataclass
from functools import cache
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
DOCS = ("README.md", *sorted(f"docs/{page.name}" for page in (ROOT / "docs").glob("*.md")))
README_LIMIT = 15_000  # bytes: the front door stays short; details belong in docs/
PACKAGES = ("genkit", "provenance", "eval", "detectors", "reports")
SHELL_FENCES = ("", "bash", "sh", "shell", "console")
ENV_ASSIGNMENT = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*=")
PYTHON = re.compile(r"^(\S*/)?python3?(\.\d+)?$")  # python, python3, .venv/bin/python, /usr/bin/python3
PLACEHOLDER = re.compile(r"^([A-Z][A-Z0-9_]*|\$.*|<.*>|.*….*)$")  # DIR, N, RUN_DIR, $SLURM_ARRAY_TASK_ID, <file>
SEPARATORS = ("|", "||", "&&", ";", "&")


@dataclass(frozen=True)
class DocCommand:
    """One command shown in a doc: where, which tool, its words after the tool."""

    where: str  # "docs/provenance.md:12": the line the command starts on
    tool: str  # "synthvid" (also python -m genkit, torchrun ... -m genkit), "python -m provenance", "make", "script", ...
    argv: tuple[str, ...]
    partial: bool  # a mention in prose, or "..." stands for more: what it names must exist, not that it is complete
    comment: str  # the shell comment after it, if any
    text: str  # as written (continuation lines joined)

    def __str__(self) -> str:
        return f"{self.where}: {self.text}"


# -- reading the docs -------------------------------------------------------------------------------


def _numbered_lines(doc: str) -> list[tuple[int, str]]:
    return list(enumerate((ROOT / doc).read_text(encoding="utf-8").splitlines(), start=1))


def _blocks(doc: str):
    """``("fence", info, [(line, text)])`` for every fenced block and ``("prose", "", [(line, text)])`` for
    every paragraph outside them."""
    fence = None
    info = ""
    body: list[tuple[int, str]] = []
    paragraph: list[tuple[int, str]] = []
    for number, line in _numbered_lines(doc):
        marker = re.match(r"^\s*(`{3,}|~{3,})\s*([\w+-]*)", line)
        if fence is None and marker:
            if paragraph:
                yield "prose", "", paragraph
                paragraph = []
            fence, info, body = marker.group(1), marker.group(2).lower(), []
        elif fence is not None and line.strip().startswith(fence) and not line.strip().strip(fence[0]):
            yield "fence", info, body
            fence = None
        elif fence is not None:
            body.append((number, line))
        elif line.strip():
            paragraph.append((number, line))
        elif paragraph:
            yield "prose", "", paragraph
            paragraph = []
    if paragraph:
        yield "prose", "", paragraph


def _logical_lines(body: list[tuple[int, str]]):
    """Shell lines with their ``\\`` continuations joined: ``(first line number, text)``."""
    start, parts = None, []
    for number, line in body:
        start = number if start is None else start
        stripped = line.rstrip()
        if stripped.endswith("\\"):
            parts.append(stripped[:-1])
            continue
        parts.append(line)
        yield start, " ".join(part.strip() for part in parts)
        start, parts = None, []
    if parts:
        yield start, " ".join(part.strip() for part in parts)


def _split_comment(line: str) -> tuple[str, str]:
    """``(code, comment)``: a ``#`` that starts a word outside quotes starts a shell comment."""
    quote = None
    for index, char in enumerate(line):
        if quote:
            quote = None if char == quote else quote
        elif char in "'\"":
            quote = char
        elif char == "#" and (index == 0 or line[index - 1].isspace()):
            return line[:index].rstrip(), line[index + 1 :].strip()
    return line, ""


def _inline_spans(paragraph: list[tuple[int, str]]):
    """``(line, code)`` for every inline code span of a paragraph (a span may wrap onto the next line)."""
    text = "\n".join(line for _, line in paragraph)
    starts = [number for number, _ in paragraph]
    for match in re.finditer(r"(`+)(.+?)\1", text, flags=re.DOTALL):
        line = starts[text.count("\n", 0, match.start())]
        yield line, " ".join(match.group(2).split())


def _command(where: str, words: list[str], *, partial: bool, comment: str, text: str) -> DocCommand | None:
    """The command a run of shell words starts, if it is one of ours; ``None`` otherwise."""
    while words and ENV_ASSIGNMENT.match(words[0]):  # SYNTHVID_RUN=runs/bench jupyter ...
        words = words[1:]
    while words and words[0] in ("nice", "srun", "time", "/usr/bin/time", "exec", "sudo"):
        words = words[3:] if words[0] == "nice" and words[1:2] == ["-n"] else words[1:]
    if not words:
        return None
    head, rest = words[0], words[1:]

    def made(tool: str, argv: list[str]) -> DocCommand:
        return DocCommand(where, tool, tuple(argv), partial, comment, text)

    if head == "synthvid":
        return made("synthvid", rest)
    if head == "torchrun" and "-m" in rest:  # torchrun [its options] -m genkit ARGS
        module_at = rest.index("-m") + 1
        if rest[module_at : module_at + 1] == ["genkit"]:
            return made("synthvid", rest[module_at + 1 :])
    if PYTHON.match(head) and rest[:1] == ["-m"] and rest[1:2] and rest[1] in PACKAGES:
        return made("synthvid" if rest[1] == "genkit" else f"python -m {rest[1]}", rest[2:])
    if PYTHON.match(head) and rest[:1] and rest[0].startswith("benchmarks/"):
        return made("script", rest)
    if head.startswith("benchmarks/") and head.endswith(".py"):
        return made("script", words)
    if head == "make":
        return made("make", rest)
    if head == "pip" and rest[:1] == ["install"]:
        return made("pip", rest[1:])
    if head in ("jupyter", "papermill"):
        return made(head, rest)
    return None


def _commands_in(where: str, code: str, *, partial: bool) -> list[DocCommand]:
    """Every command of ours in one shell line (split at pipes, ``&&`` and ``;``; redirections dropped)."""
    code = re.sub(r"^\s*\$\s+", "", code)  # a "$ " prompt
    code, comment = _split_comment(code)
    try:
        words = shlex.split(code)
    except ValueError:  # unbalanced quotes: a diagram or prose, not a command
        return []
    commands, segment = [], []
    skip_next = False
    for word in [*words, ";"]:
        if skip_next:
            skip_next = False
        elif word in SEPARATORS:
            found = _command(where, segment, partial=partial, comment=comment, text=code.strip())
            commands += [found] if found else []
            segment = []
        elif re.match(r"^\d?(>>?|<)(&\d)?$", word):  # "> file", "2>&1"
            skip_next = not word.endswith(("&1", "&2"))
        elif re.match(r"^\d?(>>?|<)\S", word):  # ">file"
            continue
        else:
            segment.append(word)
    return commands


@cache
def doc_commands() -> tuple[DocCommand, ...]:
    """Every command of ours in the README and docs/, fenced or inline."""
    found: list[DocCommand] = []
    for doc in DOCS:
        for kind, info, lines in _blocks(doc):
            if kind == "fence" and info in SHELL_FENCES:
                for number, line in _logical_lines(lines):
                    found += _commands_in(f"{doc}:{number}", line, partial=False)
            elif kind == "prose":
                for number, span in _inline_spans(lines):
                    found += _commands_in(f"{doc}:{number}", span, partial=True)
    return tuple(found)


def commands_of(tool: str) -> list[DocCommand]:
    return [command for command in doc_commands() if command.tool == tool]


def _ids(commands: list[DocCommand]) -> list[str]:
    return [command.where for command in commands]


# -- checking a command line against a click command tree -------------------------------------------


ELIDED = "..."


def _cleaned(argv: tuple[str, ...]) -> list[str]:
    """Placeholders out of the way: ``[--json]`` → ``--json``, ``PART...`` → ``PART``; a lone ``...``
    (more words go here) stays, for the command's positional arguments; ``DIR|NAME`` stays one word."""
    words = []
    for word in argv:
        if word in (ELIDED, "…"):
            words.append(ELIDED)
            continue
        if word.startswith("["):
            word = word[1:]
        if word.endswith("]") and "[" not in word:
            word = word[:-1]
        if word.endswith(("...", "…")) and word.strip(".…"):
            word = word.rstrip(".…")
        if word:
            words.append(word)
    return words


def _help_names(command) -> tuple[str, ...]:
    return tuple(command.context_settings.get("help_option_names", ("--help",)))


def _check_leaf(command, ctx, path: str, words: list[str], *, partial: bool) -> list[str]:
    """Options, their values and the positional arguments of one command (no type conversion of paths:
    the files a doc names need not exist here)."""
    problems: list[str] = []
    options = {name: param for param in command.params if param.param_type_name == "option" for name in (*param.opts, *param.secondary_opts)}
    arguments = [param for param in command.params if param.param_type_name == "argument"]
    given: dict[str, list[str]] = {}
    positionals: list[str] = []
    index = 0
    while index < len(words):
        word = words[index]
        index += 1
        if word == ELIDED:  # "synthvid eval ... --save-reference F": arguments and options left out
            partial = True
            continue
        if word == "--":
            positionals += words[index:]
            break
        if not word.startswith("-") or word == "-" or re.match(r"^-\d", word):
            positionals.append(word)
            continue
        name, has_value, inline_value = word.partition("=")
        if name in _help_names(command):
            return problems
        param = options.get(name)
        if param is None:
            problems.append(f"{path} has no option {name}")
            continue
        if param.is_flag or getattr(param, "count", False):
            if has_value:
                problems.append(f"{path} {name} is a flag: it takes no value")
            continue
        if has_value:
            values = [inline_value]
        else:
            values = words[index : index + param.nargs]
            index += param.nargs
        if len(values) < param.nargs or any(v.startswith("--") for v in values):
            problems.append(f"{path} {name} needs {param.nargs} value(s)")
            continue
        given.setdefault(param.name, []).extend(values)
        for value in values:
            if PLACEHOLDER.match(value):
                continue
            try:
                param.process_value(ctx, (value,) if param.multiple else value)
            except Exception as exc:  # noqa: BLE001 - any refusal of the value is the finding
                if "exist" not in str(exc) and "not a file" not in str(exc).lower():  # files a doc names need not exist here
                    problems.append(f"{path} {name} refuses {value!r}: {exc}")
    capacity = sum(param.nargs for param in arguments) if all(param.nargs > 0 for param in arguments) else None
    if capacity is not None and len(positionals) > capacity:
        extra = " ".join(positionals[capacity:])
        problems.append(f"{path} takes {capacity} argument(s); extra: {extra}")
    if not partial:
        needed = sum(max(param.nargs, 1) for param in arguments if param.required)
        if len(positionals) < needed:
            names = ", ".join(param.name.upper() for param in arguments if param.required)
            problems.append(f"{path} needs its argument(s) {names}")
        for param in command.params:
            if param.param_type_name == "option" and param.required and param.name not in given:
                problems.append(f"{path} needs {param.opts[0]}")
    return problems


def check_cli(root, prog: str, argv: tuple[str, ...], *, partial: bool) -> list[str]:
    """Problems of ``prog ARGV`` for the click command ``root`` (empty: the command line is valid)."""
    words = _cleaned(argv)
    command, ctx, path = root, None, prog
    while hasattr(command, "commands"):  # a group: its own parse_args (default subcommands), then the subcommand
        if not words or words[0] in _help_names(command):
            return []
        try:
            ctx = command.make_context(path.rsplit(" ", 1)[-1], list(words), parent=ctx)
        except Exception as exc:  # noqa: BLE001 - a usage error of the group itself
            return [f"{path}: {exc}"]
        rest = [*getattr(ctx, "_protected_args", getattr(ctx, "protected_args", [])), *ctx.args]
        if not rest:
            return []
        try:
            name, command, words = command.resolve_command(ctx, rest)
        except Exception as exc:  # noqa: BLE001 - "No such command"
            return [f"{path}: {exc}"]
        path = f"{path} {name}"
    ctx = command.make_context(path.rsplit(" ", 1)[-1], [], parent=ctx, resilient_parsing=True)
    return _check_leaf(command, ctx, path, words, partial=partial)


@cache
def click_root(tool: str):
    """The click command behind ``synthvid`` or ``python -m PACKAGE``, as those entry points build it."""
    import importlib

    from typer.main import get_command

    if tool == "synthvid":
        from genkit.cli import app
    else:
        module = importlib.import_module(f"{tool.removeprefix('python -m ')}.cli")
        app = module._standalone_app() if hasattr(module, "_standalone_app") else module.app
    return get_command(app)


# -- the tests: every command parses ----------------------------------------------------------------


def test_the_docs_show_commands_of_every_kind():
    """The extraction itself: a change that stopped it finding commands would pass every test below."""
    tools = {command.tool for command in doc_commands()}
    assert {"synthvid", "make", "script", "python -m provenance", "python -m detectors"} <= tools, tools
    assert len(commands_of("synthvid")) >= 40
    texts = [command.text for command in doc_commands()]
    assert any("\\" not in text and "--reference real_clips/" in text for text in texts)  # continuation joined


@pytest.mark.parametrize("command", commands_of("synthvid"), ids=_ids(commands_of("synthvid")))
def test_synthvid_command_matches_the_cli(command):
    problems = check_cli(click_root("synthvid"), "synthvid", command.argv, partial=command.partial)
    assert not problems, f"{command.where}: {'; '.join(problems)}\n  documented: {command.text}"


MODULE_COMMANDS = [command for command in doc_commands() if command.tool.startswith("python -m ")]


@pytest.mark.parametrize("command", MODULE_COMMANDS, ids=_ids(MODULE_COMMANDS))
def test_package_entry_point_command_matches_its_cli(command):
    problems = check_cli(click_root(command.tool), command.tool, command.argv, partial=command.partial)
    assert not problems, f"{command.where}: {'; '.join(problems)}\n  documented: {command.text}"


def test_the_check_catches_a_renamed_option_or_command():
    root = click_root("synthvid")
    assert check_cli(root, "synthvid", ("verify", "clip.mp4", "--trust", "ca.pem"), partial=False) == []
    assert check_cli(root, "synthvid", ("verify", "clip.mp4", "--trust-anchor", "ca.pem"), partial=False) == [
        "synthvid verify has no option --trust-anchor"
    ]
    assert any("No such command" in p for p in check_cli(root, "synthvid", ("verfiy", "clip.mp4"), partial=False))
    assert any("No such command" in p for p in check_cli(root, "synthvid", ("keys", "create"), partial=False))
    assert check_cli(root, "synthvid", ("bench", "shapes-smoke", "--out", "runs/x"), partial=False) == []  # bench SUITE = bench run SUITE
    assert check_cli(root, "synthvid", ("detect", "clip.mp4", "--json"), partial=False) == []  # detect FILE = detect score FILE
    assert check_cli(root, "synthvid", ("eval", "runs/smoke"), partial=True) == ["synthvid eval takes 0 argument(s); extra: runs/smoke"]
    assert check_cli(root, "synthvid", ("world", "render", "a red circle"), partial=False) == ["synthvid world render needs --out"]
    assert any("refuses 'lots'" in p for p in check_cli(root, "synthvid", ("bench", "s", "--out", "o", "-n", "lots"), partial=False))
    assert any("needs 1 value" in p for p in check_cli(root, "synthvid", ("bench", "s", "--out"), partial=False))


def _cli_commands(command, path: str):
    """``(path, click command)`` of every command and group under ``command``."""
    yield path, command
    for name, sub in (getattr(command, "commands", None) or {}).items():
        yield from _cli_commands(sub, f"{path} {name}")


def _help_examples() -> list[DocCommand]:
    """The ``Example:`` lines of every command's --help: documentation too, shown where users look first."""
    found = []
    for path, command in _cli_commands(click_root("synthvid"), "synthvid"):
        for line in (command.help or "").splitlines():
            if "Example:" in line:
                found += _commands_in(f"`{path} --help`", line.split("Example:", 1)[1], partial=False)
    return found


def test_every_command_has_an_example_and_json_as_the_readme_says():
    """README: "each has --help with an example, and --json"."""
    assert "each has --help with an example, and --json" in (ROOT / "README.md").read_text()
    for path, command in _cli_commands(click_root("synthvid"), "synthvid"):
        if not hasattr(command, "commands"):
            assert "Example:" in (command.help or ""), f"{path} --help shows no example"
            assert any("--json" in param.opts for param in command.params), f"{path} has no --json"


@pytest.mark.parametrize("command", _help_examples(), ids=lambda command: command.where + " " + " ".join(command.argv[:2]))
def test_help_example_matches_the_cli(command):
    problems = check_cli(click_root("synthvid"), "synthvid", command.argv, partial=False)
    assert not problems, f"{command.where}: {'; '.join(problems)}\n  example: {command.text}"


# -- benchmark scripts, make targets, extras, notebooks ---------------------------------------------


def _argparse_flags(script: Path) -> set[str]:
    """Every option string the script's argparse parsers declare (read from its source, nothing run)."""
    flags = {"-h", "--help"}
    for node in ast.walk(ast.parse(script.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Call) and getattr(node.func, "attr", None) == "add_argument":
            names = [arg.value for arg in node.args if isinstance(arg, ast.Constant) and isinstance(arg.value, str)]
            flags.update(name for name in names if name.startswith("-"))
            negatable = any(isinstance(kw.value, ast.Attribute) and kw.value.attr == "BooleanOptionalAction" for kw in node.keywords)
            flags.update(f"--no-{name[2:]}" for name in names if negatable and name.startswith("--"))
    return flags


SCRIPT_COMMANDS = commands_of("script")


@pytest.mark.parametrize("command", SCRIPT_COMMANDS, ids=_ids(SCRIPT_COMMANDS))
def test_benchmark_script_exists_with_its_flags(command):
    script = ROOT / command.argv[0]
    assert script.is_file(), f"{command.where}: no {command.argv[0]}\n  documented: {command.text}"
    flags = _argparse_flags(script)
    used = {word.split("=")[0] for word in _cleaned(command.argv[1:]) if word.startswith("--")}
    assert used <= flags, f"{command.where}: {command.argv[0]} has no {sorted(used - flags)}\n  documented: {command.text}"


@pytest.mark.slow
def test_benchmark_scripts_answer_help():
    """Each documented script starts and its --help lists the flags the docs use (imports run: seconds each)."""
    failures = []
    for script in sorted({command.argv[0] for command in SCRIPT_COMMANDS}):
        done = subprocess.run(
            [sys.executable, script, "--help"], cwd=ROOT, capture_output=True, text=True, timeout=300, env={**os.environ, "PYTHONWARNINGS": "ignore"}
        )
        used = {word.split("=")[0] for command in SCRIPT_COMMANDS if command.argv[0] == script for word in command.argv[1:] if word.startswith("--")}
        missing = [flag for flag in used if flag not in done.stdout]
        if done.returncode != 0 or missing:
            failures.append(f"{script} --help: exit {done.returncode}, missing {missing}\n{done.stderr[-1500:]}")
    assert not failures, "\n".join(failures)


def _make_targets() -> set[str]:
    targets = set()
    for line in (ROOT / "Makefile").read_text().splitlines():
        match = re.match(r"^([A-Za-z0-9_.-]+(?:\s+[A-Za-z0-9_.-]+)*)\s*:(?!=)", line)
        if match and not line.startswith((".PHONY", "\t")):
            targets.update(match.group(1).split())
    return targets


MAKE_COMMANDS = commands_of("make")


@pytest.mark.parametrize("command", MAKE_COMMANDS, ids=_ids(MAKE_COMMANDS))
def test_make_target_exists(command):
    targets = [word for word in command.argv if not word.startswith("-") and "=" not in word]
    assert targets, f"{command.where}: a bare make"
    missing = set(targets) - _make_targets()
    assert not missing, f"{command.where}: the Makefile has no target {sorted(missing)}\n  documented: {command.text}"


def test_make_run_is_the_command_the_readme_names():
    makefile = (ROOT / "Makefile").read_text()
    variables = dict(re.findall(r"^(\w+)\s*[?:]?=\s*(.*?)\s*$", makefile, flags=re.M))
    recipe = makefile.split("\nrun:", 1)[1].split("\n\n", 1)[0]
    line = next(line for line in recipe.splitlines() if "synthvid bench" in line)
    command = re.search(r"\$\(BIN\)/(synthvid bench [^;]*)", line).group(1)
    command = re.sub(r"\$\((\w+)\)", lambda match: variables[match.group(1)], command).strip()
    assert f"`make run` is `{command}`" in " ".join((ROOT / "README.md").read_text().split()), command


def _pyproject() -> dict:
    tomllib = pytest.importorskip("tomllib")  # Python 3.11+
    return tomllib.loads((ROOT / "pyproject.toml").read_text())


def _extras() -> set[str]:
    return set(_pyproject()["project"]["optional-dependencies"])


@pytest.mark.parametrize("command", commands_of("pip"), ids=_ids(commands_of("pip")))
def test_pip_extra_exists(command):
    for word in command.argv:
        match = re.match(r"^\.\[(.+)\]$", word)
        if match:
            missing = set(match.group(1).split(",")) - _extras()
            assert not missing, f"{command.where}: pyproject.toml has no extra {sorted(missing)}\n  documented: {command.text}"


NOTEBOOK_COMMANDS = commands_of("jupyter") + commands_of("papermill")


@pytest.mark.parametrize("command", NOTEBOOK_COMMANDS, ids=_ids(NOTEBOOK_COMMANDS))
def test_notebook_command_names_a_notebook_and_its_parameters(command):
    notebooks = [word for word in command.argv if word.startswith("reports/")]
    assert notebooks, command
    notebook = json.loads((ROOT / notebooks[0]).read_text())
    cells = ["".join(cell["source"]) for cell in notebook["cells"] if cell["cell_type"] == "code"]
    parameters = ["".join(cell["source"]) for cell in notebook["cells"] if "parameters" in cell.get("metadata", {}).get("tags", [])]
    for index, word in enumerate(command.argv):
        if word == "-p":  # papermill -p NAME VALUE: the tagged parameters cell must set NAME
            name = command.argv[index + 1]
            assert parameters and re.search(rf"^{name}\s*=", parameters[0], flags=re.M), f"{command.where}: no parameter {name}"
    for variable in re.findall(r"\b(SYNTHVID_\w+)=", command.text):
        assert any(variable in cell for cell in cells), f"{command.where}: {notebooks[0]} does not read {variable}"


# -- links and the README ----------------------------------------------------------------------------


def _anchors(doc: Path) -> set[str]:
    """GitHub's heading anchors of a markdown file."""
    anchors = set()
    for line in doc.read_text(encoding="utf-8").splitlines():
        if line.startswith("#"):
            title = line.lstrip("#").strip().lower()
            anchors.add(re.sub(r"[^\w\- ]", "", title).replace(" ", "-"))
    return anchors


def _links(doc: str):
    for kind, _, lines in _blocks(doc):
        if kind != "prose":
            continue
        for number, line in lines:
            for target in re.findall(r"\]\(([^)\s]+)\)", re.sub(r"`[^`]*`", "", line)):
                yield number, target


@pytest.mark.parametrize("doc", DOCS)
def test_every_relative_link_resolves(doc):
    broken = []
    for number, target in _links(doc):
        if re.match(r"^[a-z]+:", target):  # https:, mailto:
            continue
        path, _, anchor = target.partition("#")
        resolved = (ROOT / doc).parent / path if path else ROOT / doc
        if not resolved.exists():
            broken.append(f"{doc}:{number}: {target} (no {resolved.relative_to(ROOT) if resolved.is_relative_to(ROOT) else resolved})")
        elif anchor and resolved.suffix == ".md" and anchor not in _anchors(resolved):
            broken.append(f"{doc}:{number}: {target} (no heading #{anchor})")
    assert not broken, "\n".join(broken)


REPOSITORY_PATH = re.compile(r"^(?:\.ci|benchmarks|detectors|docs|eval|genkit|provenance|reports|tests)/\S*$")


def test_every_repository_path_named_in_the_docs_exists():
    """``benchmarks/c2pa.py``, ``benchmarks/results/*.md``, ``tests/test_generate.py::test_name`` in inline code."""
    missing = []
    for doc in DOCS:
        for kind, _, lines in _blocks(doc):
            for number, span in _inline_spans(lines) if kind == "prose" else ():
                for word in span.split():
                    path, _, test = word.rstrip(",.;:)").partition("::")
                    if not REPOSITORY_PATH.match(path):
                        continue
                    if not glob.glob(path, root_dir=ROOT):
                        missing.append(f"{doc}:{number}: {path}")
                    elif test and not re.search(rf"^def {re.escape(test)}\(", (ROOT / path).read_text(), flags=re.M):
                        missing.append(f"{doc}:{number}: {path} has no {test}")
    assert not missing, "\n".join(missing)


def test_readme_links_every_docs_page_and_stays_short():
    linked = {target.partition("#")[0] for _, target in _links("README.md")}
    pages = {doc for doc in DOCS if doc.startswith("docs/")}
    assert pages <= linked, f"README.md does not link {sorted(pages - linked)}"
    size = len((ROOT / "README.md").read_bytes())
    assert size <= README_LIMIT, f"README.md is {size} bytes (at most {README_LIMIT}): move details into docs/"


def _contract_layers() -> list[set[str]]:
    """import-linter's package layers, top first (``a | b``: side by side, neither imports the other)."""
    contracts = _pyproject()["tool"]["importlinter"]["contracts"]
    layers = next(contract["layers"] for contract in contracts if "containers" not in contract)
    return [set(re.split(r"\s*[|:]\s*", layer)) for layer in layers]


def test_the_layering_the_docs_describe_is_the_contract():
    """README's chain (`a` ← `b`: b sits above a) and architecture.md's diagram against the contract."""
    layers = _contract_layers()
    level = {name: index for index, layer in enumerate(layers) for name in layer}
    readme = " ".join((ROOT / "README.md").read_text().split())
    sentence = readme[readme.index("Imports point downwards only") :].split(" — ")[1]
    chain_text, _, beside_text = sentence.partition(", with ")
    chain = re.findall(r"`(\w+)`", chain_text)
    assert all(level[upper] < level[lower] for lower, upper in zip(chain, chain[1:])), f"README.md: {chain_text!r} vs {layers}"
    beside = re.findall(r"`(\w+)` beside `(\w+)`", beside_text)
    assert beside and all(level[a] == level[b] for a, b in beside), f"README.md: {beside_text!r} vs {layers}"
    assert set(chain) | {name for pair in beside for name in pair} == set(PACKAGES)

    diagram = (ROOT / "docs" / "architecture.md").read_text().split("```")[1]
    package = re.compile(rf"\b(?:{'|'.join(PACKAGES)})\b")
    rows = [set(package.findall(line[:24])) for line in diagram.splitlines() if line[:1] == " " and line[1:2].isalpha()]
    assert rows == layers, f"docs/architecture.md's diagram shows {rows}, the contract {layers}"


# -- names of the Python API the docs show -----------------------------------------------------------

DOTTED = re.compile(r"\b(?:genkit|provenance|eval|detectors|reports)(?:\.[A-Za-z_]\w*)+")


def _resolve(dotted: str):
    """The object a dotted name names: the longest importable module, then attributes."""
    import importlib

    parts = dotted.split(".")
    for cut in range(len(parts), 0, -1):
        try:
            found = importlib.import_module(".".join(parts[:cut]))
        except ModuleNotFoundError:
            continue
        for attribute in parts[cut:]:
            found = getattr(found, attribute)
        return found
    raise ModuleNotFoundError(dotted)


def _doc_python():
    """``(where, source)`` of every ```python block."""
    for doc in DOCS:
        for kind, info, lines in _blocks(doc):
            if kind == "fence" and info == "python":
                yield f"{doc}:{lines[0][0]}", "\n".join(line for _, line in lines)


def _named_in_prose():
    """``(where, dotted name)`` of every package name in inline code and in diagrams (unlabelled blocks)."""
    for doc in DOCS:
        for kind, info, lines in _blocks(doc):
            spans = _inline_spans(lines) if kind == "prose" else (lines if info == "" else [])
            for number, text in spans:
                for name in DOTTED.findall(text):
                    if not name.endswith((".md", ".py", ".json", ".csv", ".parquet", ".sqlite", ".mp4", ".pt")):
                        yield f"{doc}:{number}", name


def _call_problems(where: str, source: str) -> list[str]:
    """Imports of a Python block, the attributes it takes of them, the keywords it passes to them."""
    import inspect

    problems, bound = [], {}
    tree = ast.parse(source)
    for node in ast.walk(tree):
        try:
            if isinstance(node, ast.ImportFrom) and node.module.split(".")[0] in PACKAGES:
                for alias in node.names:
                    bound[alias.asname or alias.name] = _resolve(f"{node.module}.{alias.name}")
            elif isinstance(node, ast.Import):
                for alias in node.names:
                    if alias.name.split(".")[0] in PACKAGES:
                        bound[alias.asname or alias.name] = _resolve(alias.name)
        except (ImportError, AttributeError) as exc:
            problems.append(f"{where}: {ast.unparse(node)}: {exc}")

    def value(expr):
        if isinstance(expr, ast.Name):
            return bound.get(expr.id)
        if isinstance(expr, ast.Attribute):
            owner = value(expr.value)
            if owner is not None:
                if not hasattr(owner, expr.attr):
                    problems.append(f"{where}: {ast.unparse(expr)}: {owner!r} has no {expr.attr}")
                    return None
                return getattr(owner, expr.attr)
        return None

    for node in ast.walk(tree):
        if isinstance(node, ast.Attribute):
            value(node)
        if isinstance(node, ast.Call) and callable(target := value(node.func)):
            try:
                signature = inspect.signature(target)
            except (TypeError, ValueError):
                continue
            takes_any = any(p.kind is p.VAR_KEYWORD for p in signature.parameters.values())
            for keyword in node.keywords:
                if keyword.arg and not takes_any and keyword.arg not in signature.parameters:
                    problems.append(f"{where}: {ast.unparse(node.func)}() takes no keyword {keyword.arg}")
    return sorted(set(problems))


@pytest.mark.slow
def test_the_python_the_docs_show_names_real_api():
    """Imports, attributes and keyword arguments of every ```python block, and every dotted name such as
    ``genkit.bench.ItemScorer.score`` in inline code or a diagram (imports torch: seconds)."""
    problems = [problem for where, source in _doc_python() for problem in _call_problems(where, source)]
    for where, name in _named_in_prose():
        try:
            _resolve(name)
        except (ImportError, AttributeError) as exc:
            problems.append(f"{where}: {name}: {exc!r}")
    assert not problems, "\n".join(problems)


# -- the cheap commands, run as written --------------------------------------------------------------

# Documented commands that are not run here, and why; each is still checked against the CLI above.
NOT_RUN = {
    "wan2.1-1.3b": "needs Wan 2.1 weights",
    "i3d:": "needs an I3D checkpoint",
    "--model synthvid-tiny": "the synthvid-tiny benchmark is `make run` (45 s); tests/test_bench.py runs synthvid-tiny",
    "torchrun": "several processes: tests/test_bench_resume.py runs two gloo ranks",
    "/shared/": "a cluster's shared filesystem",
    "detect train": "trains a detector: tests/test_detectors.py",
}
# The commands a run test below runs, by their first word; a documented command outside these needs a
# run test or a NOT_RUN reason.
FAST_AREAS = ("--help", "world", "keys", "sign", "verify", "repo", "detect")
SLOW_AREAS = ("bench", "report", "eval")
ENTRY_POINTS = {"synthvid": "genkit"} | {f"python -m {package}": package for package in PACKAGES}


def runnable(areas: tuple[str, ...]) -> list[DocCommand]:
    """Fenced commands of ``areas`` without a NOT_RUN reason, in doc order; a command shown with and
    without ``--json`` is run once, with it."""
    chosen: dict[tuple[str, ...], DocCommand] = {}
    for command in doc_commands():
        if command.partial or command.tool not in ENTRY_POINTS or any(key in command.text for key in NOT_RUN):
            continue
        words = _cleaned(command.argv)
        if words[:1] and words[0] in areas:
            key = (command.tool, *(word for word in words if word != "--json"))
            if key not in chosen or "--json" in words:
                chosen[key] = command
    return list(chosen.values())


def test_every_documented_command_is_run_or_says_why_not():
    for command in doc_commands():
        if command.partial or command.tool not in ENTRY_POINTS or any(key in command.text for key in NOT_RUN):
            continue
        first = _cleaned(command.argv)[:1]
        assert first and first[0] in FAST_AREAS + SLOW_AREAS, f"{command}: run it in a test below (FAST_AREAS / SLOW_AREAS) or give NOT_RUN a reason"


def run_documented(command: DocCommand, cwd: Path, substitutes: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    """The command as a user runs it (a subprocess in ``cwd``, keys and repository in ``cwd``): placeholders
    resolved, wildcards expanded as the shell would; exit 0 expected."""
    words = []
    for word in _cleaned(command.argv):
        word = (substitutes or {}).get(word, word)
        matches = sorted(glob.glob(word, root_dir=cwd)) if any(char in word for char in "*?") else []
        words += matches or [word]
    env = {**os.environ, "SYNTHVID_HOME": str(cwd), "COLUMNS": "200", "PYTHONWARNINGS": "ignore", "OMP_NUM_THREADS": "1"}
    done = subprocess.run([sys.executable, "-m", ENTRY_POINTS[command.tool], *words], cwd=cwd, env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, (
        f"{command}\n  ran: {shlex.join(words)} in {cwd}\n  exit {done.returncode}\nstdout:\n{done.stdout[-3000:]}\nstderr:\n{done.stderr[-3000:]}"
    )
    return done


def test_world_and_help_commands_run_as_documented(tmp_path):
    commands = runnable(("--help", "world"))
    assert {_cleaned(c.argv)[1] for c in commands if c.argv[0] == "world"} >= {"vocab", "render", "analyze"}, commands
    outputs = {command.where: run_documented(command, tmp_path).stdout for command in commands}
    assert any("Recovered attributes" in out and "circle" in out for out in outputs.values()), outputs  # analyze found the clip


def _allowed_list_files(folder: Path) -> None:
    """The files the --allowed-list example names: a trust list of another CA (so the chain alone is not
    trusted) and the signer's own certificate as the allowed list (so the clip is TRUSTED by it)."""
    from cryptography import x509
    from cryptography.hazmat.primitives.serialization import Encoding

    from provenance.keys import init_keys

    shutil.copy(init_keys(folder / "other-ca").ca_cert, folder / "C2PA-TRUST-LIST.pem")
    leaf = x509.load_pem_x509_certificates((folder / "keys" / "signer.pem").read_bytes())[0]
    (folder / "newsroom-signers.pem").write_bytes(leaf.public_bytes(Encoding.PEM))


@pytest.mark.slow
def test_sign_verify_and_detect_commands_run_as_documented(tmp_path, mp4):
    """keys init → sign in.mp4 → verify and detect the signed clip (as clip.mp4, signed.mp4 and other.mp4),
    with the keys' files beside it as ca.pem and watermark.key; the repository is manifests.sqlite."""
    commands = runnable(FAST_AREAS[2:])
    stage = {"keys": 0, "sign": 1}
    commands.sort(key=lambda command: stage.get(_cleaned(command.argv)[0], 2))
    assert [_cleaned(c.argv)[0] for c in commands[:2]] == ["keys", "sign"], commands
    shutil.copy(mp4, tmp_path / "in.mp4")
    payload = None
    for command in commands:
        done = run_documented(command, tmp_path, {"3f9a0c12d4e5b678": payload or "", "DIR|NAME": "synthvid-detector"})
        if command.argv[0] == "keys":
            for name in ("ca.pem", "watermark.key"):
                shutil.copy(tmp_path / "keys" / name, tmp_path / name)
            _allowed_list_files(tmp_path)
        if command.argv[0] == "sign":
            payload = re.search(r"payload ([0-9a-f]{16})", done.stdout).group(1)
            for name in ("clip.mp4", "other.mp4"):
                shutil.copy(tmp_path / "signed.mp4", tmp_path / name)
        if command.argv[0] == "verify":
            assert "TRUSTED" in done.stdout and "NO_PROVENANCE" not in done.stdout, done.stdout
    assert {_cleaned(c.argv)[0] for c in commands} >= {"keys", "sign", "verify", "repo", "detect"}


@pytest.mark.slow
def test_bench_report_and_eval_commands_run_as_documented(tmp_path):
    """The documented benchmark (the shapes-world renderer as the model, on the smoke suite), then every
    report, compare, merge and eval command and the Python blocks that read run folders, on it: the run
    folders they name are that run."""
    commands = runnable(SLOW_AREAS)
    first = [c for c in commands if c.argv[0] == "bench" and c.argv[1] not in ("compare", "merge")]
    assert first, commands
    for command in first:
        run_documented(command, tmp_path)
    run = tmp_path / _cleaned(first[0].argv)[_cleaned(first[0].argv).index("--out") + 1]
    for command in commands:
        if command in first:
            continue
        for word in _cleaned(command.argv):
            if re.match(r"^(runs/[\w.-]+|[A-Z])$", word) and not (tmp_path / word).exists():
                (tmp_path / word).parent.mkdir(parents=True, exist_ok=True)
                (tmp_path / word).symlink_to(run, target_is_directory=True)
        if "--tolerances" in command.argv:  # the file's documented content is the comment beside it
            name = command.argv[command.argv.index("--tolerances") + 1]
            (tmp_path / name).write_text(json.dumps(json.loads(command.comment)))
        done = run_documented(command, tmp_path)
        if "--json" in command.argv:
            json.loads(done.stdout)
        if command.argv[:2] == ("bench", "compare"):  # the run against itself
            assert "reproduced" in done.stdout, f"{command}\n{done.stdout[-2000:]}"
    assert (run / "report.html").is_file() and (run / "eval.json").is_file()
    snippets = [(where, source) for where, source in _doc_python() if '"runs/' in source]  # pandas and reports.data on run folders
    assert snippets
    for where, source in snippets:
        done = subprocess.run(
            [sys.executable, "-c", source],
            cwd=tmp_path,
            capture_output=True,
            text=True,
            timeout=300,
            env={**os.environ, "MPLBACKEND": "Agg", "PYTHONWARNINGS": "ignore"},
        )
        assert done.returncode == 0, f"{where}: the ```python block fails on a run folder\n{done.stderr[-3000:]}"
