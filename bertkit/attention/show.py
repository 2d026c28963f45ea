"""What `bertkit attention show` does, without Typer."""

from __future__ import annotations

import sys
from typing import Sequence

from bertkit.errors import UsageError


def _default_token(att) -> int:
    return next((i for i, s in enumerate(att.special) if not s), 0)


def show(model: str | None, *, text: str | None, text_pair: Sequence[str] | None = None, layers=None, heads=None,
         token: str | None = None, top: int = 5, output: str | None = None, compare: str | None = None,
         fmt: str | None = None, allow_pickle: bool = False, trust_remote_code: bool = False) -> None:
    from bertkit import console
    from bertkit.attention import save
    from bertkit.attention.weights import load, run

    if (text is None) == (text_pair is None):
        raise UsageError("give the input with --text TEXT or --text-pair A B (one of them)")
    if top < 1:
        raise UsageError(f"--top must be at least 1, not {top}")
    if output and not output.lower().endswith((".png", ".svg", ".html")):
        raise UsageError(f"--output {output}: must end in .png, .svg or .html")
    a, b = (text, None) if text is not None else tuple(text_pair)
    kw = {"allow_pickle": allow_pickle, "trust_remote_code": trust_remote_code}
    att = run(load(model, **kw), a, b).select(layers, heads)
    other = run(load(compare, **kw), a, b).select(layers, heads) if compare else None
    if other is not None:
        from bertkit.attention.weights import difference

        difference(att, other)  # same tokens and shape, or a clear error before anything is written
    tok = att.token_index(token) if token is not None else None
    if output:
        save(att, output, token=tok, compare=other)
        console.log(f"wrote {output} ({att.shape[0]} layers x {att.shape[1]} heads, {att.shape[2]} tokens)")
    fmt = fmt or (None if output else "table")
    if fmt == "json":
        from bertkit.formats import dumps

        doc = att.to_dict(tok)
        if other is not None:
            from bertkit.attention.weights import difference

            doc["compare"] = {"model": other.model, "weights": other.weights.tolist(),
                              "difference": difference(att, other).tolist()}
        sys.stdout.write(dumps(doc) + "\n")
    elif fmt == "table":
        from bertkit.attention.render_terminal import render

        if tok is None:
            tok = _default_token(att)
            console.log(f"following token {tok} {att.tokens[tok]!r}; choose another with --token WORD|INDEX")
        render(att, tok, k=min(top, len(att.tokens)), compare=other)
