"""See inside the model: attention weights as arrays, terminal bars, figures and an interactive page.

    from bertkit import attention
    a = attention.compute(None, "The animal didn't cross the street because it was too tired.")
    a.weights.shape            # (layers, heads, tokens, tokens); every row sums to 1
    a.top("it")                # per layer and head: the 5 tokens "it" attends to most
    fig = attention.figure(a, token="it")            # matplotlib Figure: layers x heads thumbnails
    fig = attention.figure(a.select([2], [5]))       # one head's token x token matrix
    attention.save(a, "attention.html")              # .png, .svg or a self-contained .html page
    b = attention.compute("runs/reviews", "...")   # a fine-tuned bertkit model: its encoder
    attention.difference(a, b)                       # (layers, heads): how much each head changed
"""

from __future__ import annotations

from bertkit.attention.weights import Attention, compute, difference, find_token, load, run

__all__ = ["Attention", "compute", "difference", "find_token", "load", "run", "figure", "save", "to_html"]


def figure(att: Attention, token=None, compare: Attention | None = None):
    """A matplotlib Figure: the layers x heads grid, or one head's matrix (one layer and one head selected)."""
    from bertkit.attention.render_image import figure as _figure

    return _figure(att, token=token, compare=compare)


def to_html(att: Attention, token=None, compare: Attention | None = None) -> str:
    from bertkit.attention.render_html import page

    return page(att, token=token, compare=compare)


def save(att: Attention, path: str, token=None, compare: Attention | None = None) -> str:
    """Write .png, .svg or .html (chosen by the suffix); returns the path."""
    from pathlib import Path

    from bertkit.errors import UsageError

    suffix = Path(path).suffix.lower()
    if suffix == ".html":
        Path(path).write_text(to_html(att, token=token, compare=compare), encoding="utf-8")
    elif suffix in (".png", ".svg"):
        from bertkit.attention.render_image import save_figure

        save_figure(figure(att, token=token, compare=compare), path)
    else:
        raise UsageError(f"{path}: the output must end in .png, .svg or .html")
    return str(path)
