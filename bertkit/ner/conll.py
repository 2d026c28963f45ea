"""Reading token-tagged sentences: CoNLL-style columns and JSON / JSON Lines with `tokens` + `tags`.

CoNLL: one token a line, columns split by tabs (or runs of spaces when a line has no tab), the tag in the last
column unless `tag_col` says another; a line that is empty or holds only white space (WNUT-17 separates sentences
with lone tabs) ends a sentence; `-DOCSTART-` lines are skipped. Every error names the file and line.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterator, Sequence

from bertkit.errors import BertkitError

CONLL_SUFFIXES = {".conll", ".conllu", ".iob", ".iob2", ".bio", ".bioes", ".txt", ".tsv"}
DOCSTART = "-DOCSTART-"


@dataclass
class Sentences:
    """Sentences of one file: tokens, tags (None where the file has none) and the line each sentence starts on."""

    tokens: list[list[str]] = field(default_factory=list)
    tags: list[list[str]] | None = field(default_factory=list)
    lines: list[int] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.tokens)


def _check_text(path: Path, head: bytes) -> None:
    if b"\0" in head:
        raise BertkitError(f"{path}: a binary file, not text; give a CoNLL (token<TAB>tag lines) or JSON Lines file")


def _columns(line: str) -> list[str]:
    return line.split("\t") if "\t" in line else line.split()


def _conll_lines(path: Path) -> Iterator[tuple[int, list[str] | None]]:
    """(line number, columns) per token line, (line number, None) at each sentence end and at the file's end."""
    n = 0
    with path.open(encoding="utf-8", newline="") as f:
        for n, raw in enumerate(f, 1):
            line = raw.rstrip("\r\n")
            if not line.strip():
                yield n, None
                continue
            cols = _columns(line)
            if cols[0] == DOCSTART:
                yield n, None
                continue
            yield n, cols
    yield n + 1, None


def read_conll(path: str | Path, tag_col: int | None = None, tags: bool = True) -> Sentences:
    """The sentences of a CoNLL file. `tags=False` reads tokens only (the first column; tag columns, if any, are
    kept as gold tags). `tag_col`: the tag's column (0-based; default the last)."""
    path = Path(path)
    out, toks, tgs, start, width = Sentences(), [], [], None, None
    for n, cols in _conll_lines(path):
        if cols is None:
            if toks:
                out.tokens.append(toks)
                out.tags.append(tgs)
                out.lines.append(start)
            toks, tgs, start = [], [], None
            continue
        if width is None:
            width = len(cols)
        if tags and len(cols) < 2:
            raise BertkitError(f"{path}:{n}: one column ({cols[0]!r}) where a token and its tag were expected; "
                               "give token<TAB>tag lines, or predict from plain text")
        if len(cols) != width:
            raise BertkitError(f"{path}:{n}: {len(cols)} columns where earlier lines have {width}; every token line "
                               "needs the same columns (token ... tag)")
        col = (len(cols) - 1) if tag_col is None else tag_col
        if col >= len(cols):
            raise BertkitError(f"{path}:{n}: --tag-col {tag_col} but the line has {len(cols)} columns (0-based)")
        if tags and not cols[col].strip():
            raise BertkitError(f"{path}:{n}: token {cols[0]!r} has an empty tag; give every token a tag (O outside "
                               "entities)")
        start = n if start is None else start
        toks.append(cols[0])
        tgs.append(cols[col] if len(cols) > 1 else "")
    if not out.tokens:
        raise BertkitError(f"{path}: no sentences (the file is empty or holds only blank lines)")
    if width == 1:
        out.tags = None
    return out


def read_json_tagged(path: str | Path, label_names: Sequence[str] | None = None) -> Sentences:
    """JSON Lines (or a JSON list) of {"tokens": [...], "tags": [...]} (also "ner_tags"); integer tags are names'
    positions in `label_names`."""
    path = Path(path)
    text = path.read_text(encoding="utf-8")
    expect = "an object with a list \"tokens\" and a list \"tags\""
    if text.lstrip().startswith("["):
        from bertkit.data.io import read_json_file

        rows = read_json_file(path)
        items = enumerate(rows if isinstance(rows, list) else [rows], 1)
    else:
        from bertkit.data.io import iter_jsonl

        items = iter_jsonl(text.splitlines(), str(path), expect)
    out = Sentences()
    for n, row in items:
        toks = row.get("tokens") if isinstance(row, dict) else None
        tags = (row.get("tags", row.get("ner_tags")) if isinstance(row, dict) else None)
        if not isinstance(toks, list) or (tags is not None and not isinstance(tags, list)):
            raise BertkitError(f"{path}:{n}: expected {expect}")
        if tags is not None and len(tags) != len(toks):
            raise BertkitError(f"{path}:{n}: {len(toks)} tokens but {len(tags)} tags; give one tag per token")
        out.tokens.append([str(t) for t in toks])
        out.tags.append(_tag_names(path, n, tags, label_names) if tags is not None else None)
        out.lines.append(n)
    if not out.tokens:
        raise BertkitError(f"{path}: no sentences")
    if all(t is None for t in out.tags):
        out.tags = None
    elif any(t is None for t in out.tags):
        raise BertkitError(f"{path}: some rows have tags and some none; give tags on every row or on none")
    return out


def _tag_names(path: Path, n: int, tags: list, label_names: Sequence[str] | None) -> list[str]:
    if all(isinstance(t, str) for t in tags):
        return list(tags)
    if not label_names:
        raise BertkitError(f"{path}:{n}: integer tags need their names: pass --label-names O,B-PER,I-PER,...")
    try:
        return [label_names[int(t)] for t in tags]
    except (IndexError, ValueError, TypeError) as e:
        raise BertkitError(f"{path}:{n}: tag ids {tags} outside --label-names ({len(label_names)} names)") from e


def read_tagged(spec: str | Path, tag_col: int | None = None, label_names: Sequence[str] | None = None,
                tags: bool = True) -> Sentences:
    """A tagged file by its suffix: .json/.jsonl as JSON, every other suffix as CoNLL columns."""
    path = Path(spec)
    if not path.is_file():
        raise BertkitError(f"{spec}: file not found")
    with path.open("rb") as f:
        _check_text(path, f.read(8192))
    if path.suffix.lower() in (".json", ".jsonl", ".ndjson"):
        return read_json_tagged(path, label_names)
    try:
        return read_conll(path, tag_col, tags)
    except UnicodeDecodeError as e:
        raise BertkitError(f"{path}: not UTF-8 text (byte {e.start}); save it as UTF-8") from e
