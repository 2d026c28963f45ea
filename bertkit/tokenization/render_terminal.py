"""Tables and coloured token spans for people, with rich.

Colours only on a terminal. Written elsewhere (a pipe, a file, CliRunner) the same layout is plain text:
tokens separated by spaces, whitespace inside tokens shown as ␣ ⇥ ⏎, best values marked with `*`.
"""

from __future__ import annotations

import io
import sys
from typing import TextIO

from rich import box
from rich.cells import cell_len
from rich.console import Console
from rich.table import Table
from rich.text import Text

from .schema import BY_KEY, fmt
from .sentence import Encoded, group_segmentations, split_marker, visible

BACKGROUNDS = ("on #1f3b57", "on #4a2f57")  # alternate so adjacent tokens stay apart
TABLE_COLUMNS = ["family", "vocab_size", "tokens", "delta_vs_baseline", "chars_per_token", "bytes_per_token",
                 "fertility", "split_words", "unk_rate", "roundtrip", "why", "truncated", "lengths", "tokens_per_s"]
SENTENCE_COLUMNS = ["family", "vocab_size", "tokens", "chars_per_token", "fertility", "split_words", "unk_rate",
                    "roundtrip", "why"]


def console_for(out: TextIO | None = None) -> Console:
    """A terminal console with colours, or a plain recording console (see `flush`)."""
    out = out or sys.stdout
    if hasattr(out, "isatty") and out.isatty():
        return Console(file=out, highlight=False)
    return Console(file=io.StringIO(), highlight=False, color_system=None, force_terminal=False, width=220,
                   soft_wrap=False)


def flush(con: Console, out: TextIO | None = None) -> None:
    """Plain text: write what was rendered, without the padding rich adds to fill the width."""
    if isinstance(con.file, io.StringIO):
        out = out or sys.stdout
        out.write("\n".join(line.rstrip() for line in con.file.getvalue().splitlines()) + "\n")


def _token_text(tok, i: int, color: bool) -> Text:
    marker, rest = split_marker(tok.text)
    bg = BACKGROUNDS[i % 2] if color else ""
    if tok.unk:
        return Text(visible(tok.text), style=f"bold red {bg}".strip())
    if tok.special:
        return Text(visible(tok.text), style=f"dim {bg}".strip())
    t = Text()
    if marker:
        t.append(marker, style=f"yellow {bg}".strip())
    t.append(visible(rest), style=bg or None)
    return t


def _wrap_cells(cells: list[tuple[Text, str]], width: int, indent: int) -> list[tuple[Text, Text]]:
    """Pack (token, id) cells into lines of at most `width` cells, ids aligned under their tokens."""
    lines: list[tuple[Text, Text]] = []
    top, bottom, used = Text(" " * indent), Text(" " * indent), indent
    for tok, ident in cells:
        w = max(cell_len(tok.plain), len(ident))
        if used + w + 1 > width and used > indent:
            lines.append((top, bottom))
            top, bottom, used = Text(" " * indent), Text(" " * indent), indent
        top.append_text(tok)
        top.append(" " * (w - cell_len(tok.plain) + 1))
        bottom.append(ident.ljust(w) + " ", style="dim")
        used += w + 1
    if used > indent:
        lines.append((top, bottom))
    return lines


def _why(row: dict) -> str:
    fails = row.get("roundtrip_failures") or {}
    if not fails:
        return ""
    total = sum(fails.values())
    return ", ".join(f"{k} {v / total:.0%}" if len(fails) > 1 else k for k, v in list(fails.items())[:2])


def _cell(row: dict, key: str, best: dict, color: bool, baseline: str | None = None) -> Text:
    if key == "family":
        return Text("BPE (byte)" if row["byte_level"] else row["family"])
    if key == "why":
        return Text(_why(row), style="dim" if color else None)
    if key == "lengths":
        return Text(f"{row['len_p50']}/{row['len_p95']}/{row['len_max']}")
    s = fmt(key, row.get(key))
    if key == "delta_vs_baseline" and row["name"] == baseline:
        s = "base"
    if row["name"] in best.get(key, ()):
        return Text(s, style="bold green") if color else Text(s + "*")
    return Text(s)


def _label(key: str, max_length: int | None = None) -> str:
    if key == "why":
        return "why not"
    if key == "lengths":
        return "p50/p95/max"
    if key == "truncated" and max_length:
        return f">{max_length}"
    if key == "family":
        return "family"
    return BY_KEY[key].label


def metrics_table(result: dict, columns: list[str], color: bool, title: str | None = None) -> Table:
    t = Table(title=title, title_justify="left", header_style="bold" if color else None, box=box.SIMPLE_HEAD)
    t.add_column("tokenizer", no_wrap=True)
    max_length = result["tokenizers"][0]["max_length"] if result["tokenizers"] else None
    for key in columns:
        t.add_column(_label(key, max_length), justify="left" if key in ("family", "why") else "right", no_wrap=True)
    for row in result["tokenizers"]:
        t.add_row(row["name"], *[_cell(row, k, result["best"], color, result.get("baseline")) for k in columns])
    return t


def legend(columns: list[str], with_special: bool, color: bool, max_length: int | None = None) -> Text:
    t = Text("\n")
    mark = "bold green" if color else "*"
    t.append(f"Best value in each column: {mark}. ", style="dim")
    t.append("Counts " + ("include" if with_special else "exclude") + " special tokens added by post-processing"
             + ("" if with_special else " (--with-special includes them)") + "; lengths always include them.\n",
             style="dim")
    for key in columns:
        if key in BY_KEY and key != "vocab_size":
            t.append(f"  {_label(key, max_length)}", style="bold" if color else None)
            t.append(f": {BY_KEY[key].legend}\n", style="dim")
    if "why" in columns:
        t.append("  why not", style="bold" if color else None)
        t.append(": the reasons decode(encode(x)) != x, with their share of the failing rows\n", style="dim")
    if "lengths" in columns:
        t.append("  p50/p95/max", style="bold" if color else None)
        t.append(": row lengths in tokens, special tokens included\n", style="dim")
    return t


def print_corpus(result: dict, out: TextIO | None = None) -> None:
    con = console_for(out)
    color = con.is_terminal
    c = result["corpus"]
    title = (f"{result['source']}: {c['rows']:,} rows, {c['words']:,} words, {c['chars']:,} chars · "
             f"baseline {result['baseline']}")
    con.print(metrics_table(result, TABLE_COLUMNS, color, title))
    con.print(legend(TABLE_COLUMNS, result["with_special"], color, result["max_length"]))
    flush(con, out)


def print_sentence(doc: dict, encoded: list[Encoded], show_ids: bool, out: TextIO | None = None) -> None:
    con = console_for(out)
    color = con.is_terminal
    width = con.width if color else 120
    con.print(Text(doc["text"], style="bold" if color else None))
    con.print()
    for enc in encoded:
        be = enc.backend
        n_special = sum(t.special for t in enc.tokens)
        head = Text(be.name, style="bold cyan" if color else None)
        extra = f" (+{n_special} special)" if n_special and not doc["with_special"] else ""
        head.append(f"  {be.family_label} · vocab {be.vocab_size:,} · {enc.count} tokens{extra}",
                    style="dim" if color else None)
        con.print(head)
        cells = [(_token_text(t, i, color), str(t.id) if show_ids else "") for i, t in enumerate(enc.tokens)]
        for top, bottom in _wrap_cells(cells, width, 2):
            top.rstrip()
            bottom.rstrip()
            con.print(top, overflow="ignore", crop=False)
            if show_ids:
                con.print(bottom, overflow="ignore", crop=False)
    con.print()
    diffs = doc["differences"]
    if not diffs:
        con.print("All tokenizers cut every word the same way.")
    else:
        con.print(Text("Where the cuts differ (word: pieces ← tokenizers)", style="bold" if color else None))
        name_w = max(cell_len(d["word"]) for d in diffs)
        for d in diffs:
            groups = group_segmentations(d["segmentations"])
            line = Text(f"  {d['word']}" + " " * (name_w - cell_len(d["word"])) + "  ")
            for k, (cut, names) in enumerate(groups):
                if k:
                    line.append("   ")
                line.append(cut, style="bold" if color else None)
                line.append(" ← " + ", ".join(names), style="dim" if color else None)
            con.print(line, overflow="ignore", crop=False)
    con.print()
    con.print(metrics_table(doc, SENTENCE_COLUMNS, color))
    note = ("Special tokens are shown" + (" dimmed" if color else "") + " and " +
            ("counted (--with-special)." if doc["with_special"] else "not counted (--with-special counts them).") +
            " ## Ġ ▁ are the tokenizers' own word markers; ␣ ⇥ ⏎ show whitespace inside a token.")
    con.print(Text(note, style="dim" if color else None))
    flush(con, out)
