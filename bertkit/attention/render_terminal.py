"""Terminal view: for one token, a ranked bar chart per head of where it attends (top k), with rich."""

from __future__ import annotations

from typing import TextIO

import numpy as np

from bertkit.attention.weights import Attention

BAR_WIDTH = 10
_EIGHTHS = " ▏▎▍▌▋▊▉"


def bar(weight: float, width: int = BAR_WIDTH) -> str:
    """A horizontal bar of `weight` (0..1) in eighths of a character."""
    units = int(round(max(0.0, min(1.0, weight)) * width * 8))
    full, rest = divmod(units, 8)
    return ("█" * full + (_EIGHTHS[rest] if rest else "")).ljust(width)


def _label(tok: str, width: int = 8) -> str:
    return tok if len(tok) <= width else tok[: width - 1] + "…"


def _head_table(att: Attention, li: int, hi: int, ranked, title: str, diff: float | None = None):
    from rich.table import Table
    from rich.text import Text

    t = Table(title=title, title_justify="left", box=None, show_header=False, pad_edge=False, padding=(0, 1),
              collapse_padding=True)
    t.add_column(justify="right", no_wrap=True, width=8)
    t.add_column(no_wrap=True, width=BAR_WIDTH)
    t.add_column(justify="right", no_wrap=True)
    for j, w in ranked:
        t.add_row(Text(_label(att.tokens[j])), Text(bar(w), style="cyan"), f"{w:.2f}")
    if diff is not None:
        t.add_row("", Text("Δ vs other", style="dim"), f"{diff:.2f}")
    return t


def _side_by_side(tables):
    from rich.table import Table

    grid = Table.grid(padding=(0, 2))
    grid.add_row(*tables)
    return grid


def render(att: Attention, token: str | int, k: int = 5, out: TextIO | None = None, width: int | None = None,
           compare: Attention | None = None) -> None:
    """Per selected layer, one block per head: the k tokens `token` attends to most, as bars."""
    import sys

    from rich.columns import Columns
    from rich.console import Console
    from rich.text import Text

    i = att.token_index(token)
    console = Console(file=out or sys.stdout, width=width, highlight=False)
    models = [att] if compare is None else [att, compare]
    tops = [m.top(i, k) for m in models]
    row_diff = None
    if compare is not None:
        row_diff = 0.5 * np.abs(att.weights[:, :, i, :] - compare.weights[:, :, i, :]).sum(-1)
    console.print(Text(f"attention from {att.tokens[i]!r} (token {i} of {len(att.tokens)}): "
                       f"top {k} per head, {att.model}" + (f" | {compare.model}" if compare else ""), style="bold"))
    for a, layer in enumerate(att.layers):
        if a:
            console.print()
        blocks = []
        for b, head in enumerate(att.heads):
            pair = []
            for m, (model, top) in enumerate(zip(models, tops)):
                name = f"L{layer} H{head}" + ("" if compare is None else f" {'AB'[m]}")
                d = float(row_diff[a, b]) if row_diff is not None and m == 1 else None
                pair.append(_head_table(model, a, b, top[a][b], name, d))
            blocks.append(pair[0] if compare is None else _side_by_side(pair))
        console.print(Columns(blocks, padding=(1, 2), equal=True))
    if compare is not None:
        console.print(Text(f"A = {att.model}, B = {compare.model}; Δ = total-variation distance of the "
                           f"{att.tokens[i]!r} rows (0 same, 1 disjoint)", style="dim"))
