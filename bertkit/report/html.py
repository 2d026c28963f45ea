"""The report page's building blocks: a shell with inline CSS, tables, key-value lists and inline images.
Nothing on the page points outside it: images are base64 PNG data, there are no scripts or links."""

from __future__ import annotations

import base64
import io
from html import escape
from typing import Any, Iterable, Sequence

CSS = """
body{font:14px/1.45 system-ui,-apple-system,Segoe UI,Roboto,sans-serif;margin:1.5rem auto;max-width:1150px;
  color:#1b1f24;padding:0 1rem}
h1{font-size:1.35rem;margin-bottom:.2rem}
h2{font-size:1.1rem;margin-top:2rem;border-bottom:1px solid #d8dee4;padding-bottom:.2rem}
h3{font-size:.95rem;margin:1rem 0 .3rem}
table{border-collapse:collapse;font-variant-numeric:tabular-nums;margin:.4rem 0}
th,td{padding:.2rem .55rem;border-bottom:1px solid #eaeef2;text-align:right;vertical-align:top}
th:first-child,td:first-child,td.l,th.l{text-align:left}
td.text{text-align:left;max-width:560px;white-space:normal}
.meta,.note{color:#57606a} .bad{color:#cf222e} .good{color:#116329}
img{max-width:100%;height:auto;display:block;margin:.4rem 0}
dl.kv{display:grid;grid-template-columns:max-content auto;gap:.1rem 1rem;font-size:.92em} dl.kv dt{font-weight:600}
dl.kv dd{margin:0;font-family:ui-monospace,Menlo,Consolas,monospace}
code{background:#f6f8fa;padding:0 .2rem}
"""


def fmt(v: Any) -> str:
    if v is None:
        return "–"
    if isinstance(v, bool):
        return "yes" if v else "no"
    if isinstance(v, float):
        return f"{v:.4f}" if abs(v) < 1000 else f"{v:,.1f}"
    if isinstance(v, int):
        return f"{v:,}"
    return str(v)


def table(header: Sequence[str], rows: Iterable[Sequence[Any]], text_cols: Sequence[int] = ()) -> str:
    head = "".join(f'<th class="{"l" if i in text_cols else ""}">{escape(h)}</th>' for i, h in enumerate(header))
    body = []
    for r in rows:
        cells = "".join(f'<td class="{"text" if i in text_cols else ""}">{escape(fmt(v))}</td>'
                        for i, v in enumerate(r))
        body.append(f"<tr>{cells}</tr>")
    return f"<table><tr>{head}</tr>{''.join(body)}</table>"


def kv(items: Iterable[tuple[str, Any]]) -> str:
    return '<dl class="kv">' + "".join(f"<dt>{escape(k)}</dt><dd>{escape(fmt(v))}</dd>" for k, v in items) + "</dl>"


def note(text: str) -> str:
    return f'<p class="note">{escape(text)}</p>'


def image(fig, alt: str) -> str:
    """A matplotlib figure as an inline base64 PNG (the figure is closed)."""
    import matplotlib.pyplot as plt

    buf = io.BytesIO()
    try:
        fig.savefig(buf, format="png", dpi=100, metadata={"Software": None})
    finally:
        plt.close(fig)
    data = base64.b64encode(buf.getvalue()).decode("ascii")
    return f'<img alt="{escape(alt)}" src="data:image/png;base64,{data}">'


def page(title: str, subtitle: str, sections: list[tuple[str, str]]) -> str:
    body = "".join(f"<section><h2>{escape(t)}</h2>{h}</section>" for t, h in sections)
    return (f'<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8"><title>{escape(title)}</title>'
            f"<style>{CSS}</style></head><body><h1>{escape(title)}</h1><p class=\"meta\">{escape(subtitle)}</p>"
            f"{body}</body></html>\n")
