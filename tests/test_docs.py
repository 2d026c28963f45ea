"""The docs stay true to the code: the generated pages are current, every `bertkit` command they show still parses
with its options, every included example and every pointer from the code into the docs exists."""

from __future__ import annotations

import importlib.util
import json
import re
import shlex
import sys
import unicodedata
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
DOCS = REPO / "docs"
OPERATORS = {"|", "||", "&&", "&", ";", ">", ">>", "<", "2>", "(", ")"}


def _gen(name: str):
    """A docs/gen script, imported as a module (its folder on sys.path, as when it runs as a script)."""
    if str(DOCS / "gen") not in sys.path:
        sys.path.insert(0, str(DOCS / "gen"))
    spec = importlib.util.spec_from_file_location(f"docs_gen_{name}", DOCS / "gen" / f"{name}.py")
    mod = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = mod  # dataclasses look their module up while the class is built
    spec.loader.exec_module(mod)
    return mod


def test_cli_reference_is_current():
    gen = _gen("cli_reference")
    have = gen.OUTPUT.read_text() if gen.OUTPUT.is_file() else ""
    now = gen.render()
    if have != now:
        import difflib

        diff = "\n".join(list(difflib.unified_diff(have.splitlines(), now.splitlines(), "docs/cli.md", "--help now",
                                                   lineterm="", n=1))[:40])
        pytest.fail(f"docs/cli.md differs from what the CLI prints now; regenerate it with: {gen.REGENERATE}\n{diff}")


def test_benchmarks_page_is_current():
    gen = _gen("benchmarks")
    assert gen.OUTPUT.is_file() and gen.OUTPUT.read_text() == gen.render(), \
        f"docs/benchmarks.md is not what bench/results/ and its template give; regenerate it with: {gen.REGENERATE}"


def test_generated_figure_blocks_are_current():
    gen = _gen("benchmarks")
    for page in gen.BLOCKS:
        text = (REPO / page).read_text()
        assert gen.render_blocks(text, page) == text, f"{page}'s generated figures are stale: {gen.REGENERATE}"


def test_every_result_says_when_where_and_how():
    files = sorted((REPO / "bench" / "results").glob("*.json"))
    assert files
    for f in files:
        doc = json.loads(f.read_text())
        assert all(doc.get(k) for k in ("date", "machine", "command")), f"{f.name}: date, machine and command needed"
        assert "table" in doc or doc.get("records"), f"{f.name}: no table and no records"


def test_a_saved_bench_run_renders(tmp_path):
    sys.path.insert(0, str(REPO))
    from bench import common

    common._RECORDS.clear()
    common.emit({"kind": "run", "side": "a", "seconds": 1.0})
    common.emit({"kind": "summary", "side": "a", "samples_per_s": 12.5})
    path = common.save_results(tmp_path / "x.json", [str(REPO / "bench" / "qa.py"), "--repeats", "1"])
    common._RECORDS.clear()
    doc = json.loads(path.read_text())
    assert doc["command"] == "python bench/qa.py --repeats 1" and doc["date"] and doc["machine"]
    table = _gen("benchmarks").render_table({"name": "x", **doc})
    assert "| summary | a | 12.5 |" in table and "| run |" not in table  # single runs are left to the file


def _slug(heading: str) -> str:
    """The anchor mkdocs (Python-Markdown's toc) gives a heading."""
    text = re.sub(r"[`*_]", "", heading).strip()
    text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()
    return re.sub(r"[-\s]+", "-", re.sub(r"[^\w\s-]", "", text).strip().lower())


def _anchors(page: Path) -> set[str]:
    text, fence = [], False
    for line in page.read_text().splitlines():
        fence ^= line.startswith("```")
        if not fence and line.startswith("#"):
            text.append(_slug(line.lstrip("#")))
    return set(text)


def test_pointers_from_the_code_into_the_docs_exist():
    pointers = set()
    for f in (REPO / "bertkit").rglob("*.py"):
        pointers |= {(f.name, m) for m in re.findall(r"docs/[\w/.-]+\.md(?:#[\w-]+)?", f.read_text())}
    assert pointers, "no pointer into the docs found in the code"
    for where, p in sorted(pointers):
        page, _, anchor = p.partition("#")
        assert (REPO / page).is_file(), f"{where} points at {page}, which does not exist"
        assert not anchor or anchor in _anchors(REPO / page), f"{where} points at {p}: no such heading"


def _pages() -> list[Path]:
    return [REPO / "README.md", *sorted(p for p in DOCS.rglob("*.md") if p.name != "cli.md"),
            DOCS / "gen" / "benchmarks.md.in"]


def test_every_included_example_exists():
    for page in _pages():
        for inc in re.findall(r'^--8<-- "([^"]+)"', page.read_text(), flags=re.M):
            assert (REPO / inc).is_file(), f"{page.relative_to(REPO)} includes {inc}, which does not exist"
    gen = _gen("examples")
    for ex in gen.EXAMPLES:
        f = gen.OUT / f"{ex.name}.md"
        assert f.is_file(), f"no {f.relative_to(REPO)}; write it with: python docs/gen/examples.py {ex.name}"
        shown = [ln[2:] for ln in f.read_text().splitlines() if ln.startswith("$ ")]
        assert shown == ex.commands, \
            f"{f.name} was written for other commands; rerun: python docs/gen/examples.py {ex.name}"


def _code_lines(text: str) -> list[str]:
    """Shell lines of the fenced bash/console blocks (continuations joined; console: only `$ ` lines)."""
    out, lang, buf = [], None, ""
    for line in text.splitlines():
        if line.startswith("```"):
            lang = None if lang is not None else (line[3:].strip() or "text")
            continue
        if lang not in ("bash", "console", "sh"):
            continue
        if lang == "console":
            if buf or line.startswith("$ "):
                line = line[2:] if line.startswith("$ ") else line
            else:
                continue
        buf += line.rstrip("\\").strip() + " "
        if not line.endswith("\\"):
            out.append(buf.strip())
            buf = ""
    return out


def _commands(line: str) -> list[list[str]]:
    """Each `bertkit ...` (or `-m bertkit ...`) of a shell line as its arguments; placeholders are skipped."""
    try:
        line = re.sub(r"\s\d>&\d", " ;", line)  # `2>&1`: a redirection, not an argument
        lex = shlex.shlex(line, posix=True, punctuation_chars=True)
        lex.whitespace_split, lex.commenters = True, "#"
        tokens = list(lex)
    except ValueError:
        return []
    out = []
    for i, t in enumerate(tokens):
        if t != "bertkit" or (i and tokens[i - 1] not in OPERATORS and tokens[i - 1] != "-m"):
            continue
        args = []
        for a in tokens[i + 1:]:
            if a in OPERATORS:
                break
            args.append(a)
        if not any("…" in a or a in ("...", "options") or a.startswith("[") or "|" in a for a in args):
            out.append(args)
    return out


def _parse(args: list[str]) -> None:
    """Parse as the CLI would, without running anything (unknown options, bad values and missing ones raise)."""
    import typer

    from bertkit.cli.main import app

    cmd = typer.main.get_command(app)
    ctx = cmd.make_context("bertkit", list(args))
    while hasattr(cmd, "resolve_command"):
        rest = [*ctx._protected_args, *ctx.args]
        if not rest:
            return
        name, cmd, rest = cmd.resolve_command(ctx, rest)
        ctx = cmd.make_context(name, rest, parent=ctx)


def test_documented_commands_parse():
    gen = _gen("examples")
    seen, failures = 0, []
    sources = [(p.relative_to(REPO), _code_lines(p.read_text())) for p in _pages()]
    sources.append((Path("docs/gen/examples.py"), [c for e in gen.EXAMPLES for c in e.commands]))
    for where, lines in sources:
        for line in lines:
            for args in _commands(line):
                seen += 1
                try:
                    _parse(args)
                except Exception as e:  # a usage error of any kind is what this test is for
                    failures.append(f"{where}: bertkit {' '.join(args)}\n    {type(e).__name__}: {e}")
    assert seen >= 40, f"only {seen} documented commands found: the extraction is broken"
    assert not failures, "documented commands that no longer parse:\n" + "\n".join(failures)


def test_readme_is_short_and_its_links_resolve():
    text = (REPO / "README.md").read_text()
    assert len(text.splitlines()) <= 250, "the README is for the first minutes; the rest belongs in docs/"
    for target in re.findall(r"\]\(([^)#\s]+)(?:#[^)]*)?\)", text):
        if not target.startswith(("http://", "https://")):
            assert (REPO / target).exists(), f"README links to {target}, which does not exist"


def test_ci_runs_the_readme_install_and_test_command():
    readme = (REPO / "README.md").read_text()
    blocks = re.findall(r"```bash\n(.*?)\n```", readme, flags=re.S)
    test_cmd = next(b for b in blocks if "pytest" in b and "pip install" in b)
    ci = (REPO / ".ci" / "run").read_text()
    assert test_cmd in ci.splitlines(), "CI must run the README's install and test command exactly as written"
    assert "mkdocs build --strict" in ci
