"""The docs stay true: every ``fitlake ...`` command they show parses with the real CLI parser, every ``make``
target exists, every figure on docs/performance.md is re-rendered from the JSON it names, the README's Python
examples run, relative links resolve, and every command's ``--help`` shows examples that parse. No Spark."""

from __future__ import annotations

import argparse
import ast
import re
import shlex
from pathlib import Path

import pytest

from benchmarks import report
from fitlake import cli

REPO = Path(__file__).resolve().parents[1]
DOCS = sorted((REPO / "docs").glob("*.md"))
PAGES = [REPO / "README.md", *DOCS, *sorted(p for p in REPO.glob("*/**/README.md")
                                           if not {".cache", ".venv", "node_modules"} & set(p.parts))]
FENCE = re.compile(r"^```(\w*)\n(.*?)^```", re.S | re.M)
INLINE = re.compile(r"(?<!`)`([^`\n]+)`(?!`)")
PLACEHOLDER = re.compile(r"<[^<>\s]+(?: [^<>]+)?>")


def _rel(page: Path) -> str:
    return str(page.relative_to(REPO))


def _without_fences(text: str) -> str:
    return FENCE.sub("", text)


def fitlake_commands(page: Path) -> list[str]:
    """Command lines starting with ``fitlake``: shell lines in code blocks (comments cut) and inline code spans."""
    text = page.read_text()
    found = []
    for lang, body in FENCE.findall(text):
        if lang not in ("", "bash", "sh", "shell", "console"):
            continue
        for line in body.splitlines():
            line = re.sub(r"^\s*(\$ )?(\.venv/bin/|\$\(BIN\)/)?", "", line)
            line = re.split(r"\s+#", line, maxsplit=1)[0].strip()
            if line.startswith("fitlake "):
                found.append(line)
    for span in INLINE.findall(_without_fences(text)):
        span = re.sub(r"^(\.venv/bin/)", "", span.strip())
        if span.startswith("fitlake ") and not span.split()[1].endswith(":"):  # "fitlake run: ..." is output
            found.append(span)
    return found


def _subparser(parser: argparse.ArgumentParser, action: str | None) -> argparse.ArgumentParser | None:
    for a in parser._actions:
        if isinstance(a, argparse._SubParsersAction):
            return a.choices.get(action) if action else None
    return None


def _option_strings(parser: argparse.ArgumentParser) -> dict[str, argparse.Action]:
    return {s: a for a in parser._actions for s in a.option_strings}


def check_command(line: str) -> str | None:
    """None when ``line`` is a valid ``fitlake`` command (or synopsis), else why not."""
    tokens = shlex.split(PLACEHOLDER.sub("x", line))
    if len(tokens) < 2 or tokens[1] not in cli.COMMANDS:
        return f"{line!r}: no subcommand {tokens[1:2]}"
    name, rest = tokens[1], tokens[2:]
    parser = cli.build_parser(name)
    sub = _subparser(parser, rest[0] if rest else None)
    if "[" in line or "..." in line:  # a synopsis: every option named exists, every choice listed is allowed
        known = {**_option_strings(parser), **(_option_strings(sub) if sub else {})}
        for opt, choices in re.findall(r"(--?[a-z][\w-]*)(?:[ =]([\w.-]+(?:\|[\w.-]+)+))?", line):
            if opt not in known:
                return f"{line!r}: fitlake {name} has no option {opt}"
            allowed = known[opt].choices
            if choices and allowed is not None and not set(choices.split("|")) <= set(allowed):
                return f"{line!r}: {opt} allows {sorted(allowed)}, not {choices}"
        return None
    if not rest or (sub is not None and len(rest) == 1):  # the bare command name in prose
        return None if sub is not None or not rest else f"{line!r}: no action {rest[0]}"
    try:
        parser.parse_args(rest)
    except SystemExit:
        return f"{line!r}: fitlake {name} rejects these arguments"
    return None


def test_every_page_is_scanned_and_the_readme_is_a_front_door():
    names = {p.name for p in DOCS}
    assert {"data.md", "pipeline.md", "streaming.md", "ml.md", "bundle.md", "dashboard.md", "performance.md",
            "reliability.md"} <= names
    assert len((REPO / "README.md").read_text().splitlines()) <= 200
    assert (REPO / "benchmarks" / "results" / "README.md") in PAGES


@pytest.mark.parametrize("page", PAGES, ids=_rel)
def test_documented_fitlake_commands_exist_with_these_options(page):
    problems = [p for p in map(check_command, fitlake_commands(page)) if p]
    assert not problems, "\n".join(problems)


def test_the_command_checker_catches_drift():
    assert check_command("fitlake run --stage gold") is None
    assert check_command("fitlake run [--stage ingest|silver|gold|all] [--root DIR]") is None
    assert "no subcommand" in check_command("fitlake ingest --root x")
    assert "rejects" in check_command("fitlake run --stages gold")
    assert "has no option" in check_command("fitlake run [--frobnicate]")
    assert "allows" in check_command("fitlake run [--stage ingest|train]")
    assert check_command("fitlake bundle run fitlake_batch --dry-run") is None
    assert "rejects" in check_command("fitlake bundle deploy")
    assert fitlake_commands(REPO / "README.md"), "the README shows no fitlake command at all"


@pytest.mark.parametrize("page", PAGES, ids=_rel)
def test_documented_make_targets_exist(page):
    targets = set(re.findall(r"^([\w-]+):", (REPO / "Makefile").read_text(), re.M))
    text = page.read_text()
    lines = [line.strip() for lang, body in FENCE.findall(text) if lang in ("", "bash", "sh") for line in
             body.splitlines()] + [span.strip() for span in INLINE.findall(_without_fences(text))]
    shown = {line.split()[1] for line in lines if re.match(r"make [a-z][\w-]*", line)}
    assert shown <= targets, f"{_rel(page)}: no Makefile target {sorted(shown - targets)}"


@pytest.mark.parametrize("page", PAGES, ids=_rel)
def test_relative_links_and_anchors_resolve(page):
    def slugs(md: Path) -> set[str]:
        heads = re.findall(r"^#+ (.+)$", _without_fences(md.read_text()), re.M)
        return {re.sub(r"[^\w\- ]", "", h.replace("`", "").strip().lower()).replace(" ", "-") for h in heads}

    problems = []
    for target in re.findall(r"\]\(([^)\s]+)\)", _without_fences(page.read_text())):
        if re.match(r"\w+://", target):
            continue
        path, _, anchor = target.partition("#")
        dest = (page.parent / path).resolve() if path else page
        if not dest.exists():
            problems.append(f"{target}: {dest} does not exist")
        elif anchor and dest.suffix == ".md" and anchor not in slugs(dest):
            problems.append(f"{target}: no heading #{anchor} in {dest.name}")
    assert not problems, f"{_rel(page)}:\n" + "\n".join(problems)


def test_every_figure_on_the_performance_page_is_rendered_from_committed_json():
    page = REPO / "docs" / "performance.md"
    text = page.read_text()
    blocks = list(report.BLOCK.finditer(text))
    assert len(blocks) >= 2 and all(m["source"] for m in blocks)
    assert report.check(page) == []
    rendered = "".join(m["body"] for m in blocks)
    prose = _without_fences(report.BLOCK.sub("", text))
    unit = r"(?:s|ms|x|×|%|GB|MB|GiB|events/s|rows/s)"
    quoted = re.findall(rf"(?<![\w.,])(\d[\d,]*(?:\.\d+)?\s?{unit})(?![\w/])", prose)
    stray = [q for q in quoted if q not in rendered and q.replace(" ", "") not in rendered]
    assert not stray, f"figures typed outside the rendered blocks: {stray}"


def test_the_readme_performance_figures_are_rendered_from_committed_json():
    readme = REPO / "README.md"
    blocks = list(report.BLOCK.finditer(readme.read_text()))
    assert blocks and all(m["kind"] == "headline" and m["source"] for m in blocks)
    assert report.check(readme) == []


def test_performance_check_fails_when_a_figure_is_edited_by_hand(tmp_path):
    page = tmp_path / "performance.md"
    text = (REPO / "docs" / "performance.md").read_text()
    page.write_text(text.replace("| 6.87 |", "| 5.87 |", 1))
    assert page.read_text() != text and report.check(page, REPO)


def test_readme_python_examples_run():
    blocks = [body for lang, body in FENCE.findall((REPO / "README.md").read_text()) if lang == "python"]
    assert blocks
    for body in blocks:
        exec(compile(body, "README.md", "exec"), {"__name__": "readme_example"})


@pytest.mark.parametrize("name", sorted(cli.COMMANDS))
def test_every_command_help_shows_examples_that_parse(name):
    text = cli.build_parser(name).format_help()
    assert "\nexamples:\n" in text, f"fitlake {name} --help shows no example"
    examples = [line.strip() for line in text.split("\nexamples:\n", 1)[1].splitlines() if line.strip()]
    assert examples and all(e.startswith(f"fitlake {name}") for e in examples)
    problems = [p for p in map(check_command, examples) if p]
    assert not problems, "\n".join(problems)


def test_computed_in_references_name_real_functions_and_cover_every_gold_table():
    """Every gold table is one hop from its name: a row of docs/pipeline.md says "computed in `path:function`", that
    function exists there, a gold-job builder is named for its table, and any other function holds the table's name
    (grepping the name finds it)."""
    from fitlake.config import TABLES
    from fitlake.gold.job import BUILDERS

    text = (REPO / "docs" / "pipeline.md").read_text()
    rows = re.findall(r"^\| `(\w+)` \|.*`([\w/]+\.py):(\w+)` \|$", text, re.M)
    refs = {table: (path, function) for table, path, function in rows if table in TABLES["gold"]}
    assert set(refs) == set(TABLES["gold"]), f"no 'computed in' row for {set(TABLES['gold']) - set(refs)}"
    builders = {b.table for b in BUILDERS}
    for table, (path, function) in refs.items():
        source = (REPO / "src" / "fitlake" / path).read_text()
        node = next((n for n in ast.walk(ast.parse(source))
                     if isinstance(n, (ast.FunctionDef, ast.ClassDef)) and n.name == function), None)
        assert node is not None, f"{table}: no {function} in {path}"
        if table in builders:
            assert function in (table, f"build_{table}"), f"{table} is computed by {function}, not named for it"
        else:
            assert table in ast.get_source_segment(source, node), f"grepping {table} does not find {path}:{function}"
