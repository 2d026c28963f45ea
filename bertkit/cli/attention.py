"""`bertkit attention show`: what a model attends to, in the terminal, as PNG/SVG, an HTML page or JSON.
Thin: the logic lives in bertkit.attention."""

from __future__ import annotations

from enum import Enum
from typing import Annotated, Optional, Tuple

import typer

from bertkit.cli import options as o
from bertkit.cli.errors import BertkitGroup

app = typer.Typer(cls=BertkitGroup, help="See inside the model: attention weights per layer and head.",
                  no_args_is_help=True)


class AttnFormat(str, Enum):
    table = "table"
    json = "json"


def _pick(value: str, what: str) -> list[int] | None:
    from bertkit.errors import UsageError

    if value.strip().lower() == "all":
        return None
    try:
        return [int(x) for x in value.split(",") if x.strip()]
    except ValueError:
        raise UsageError(f"--{what} must be all, a number or numbers like 0,3 (from 0), not {value!r}") from None


@app.command("show", help="Where each head looks: for --token, the top tokens per head as bars; the full weights "
             "with --output or --format json.")
def show_cmd(
    model: o.Model = None,
    text: Annotated[Optional[str], typer.Option("--text", "-t", help="The input sentence.")] = None,
    text_pair: Annotated[Optional[Tuple[str, str]], typer.Option(
        "--text-pair", help="Two texts A B as a sentence pair (e.g. question, context).")] = None,
    layer: Annotated[str, typer.Option(
        "--layer", "-l", help="all, a layer or layers like 0,3 (numbered from 0).")] = "all",
    head: Annotated[str, typer.Option("--head", help="all, a head or heads like 1,5 (numbered from 0).")] = "all",
    token: Annotated[Optional[str], typer.Option(
        "--token", help="The token to follow: a token as the tokenizer cut it (first occurrence) or its index. "
        "Default: the first non-special token.")] = None,
    top: Annotated[int, typer.Option("--top", help="Tokens per head in the terminal bars.")] = 5,
    output: Annotated[Optional[str], typer.Option(
        "--output", "-o", help="Write a figure: .png / .svg (layers x heads grid, or one head's matrix) or .html "
        "(interactive page, no network).")] = None,
    compare: Annotated[Optional[str], typer.Option(
        "--compare", help="A second model (same tokenizer): both side by side with the per-head difference.")] = None,
    fmt: Annotated[Optional[AttnFormat], typer.Option(
        "--format", "-f", help="stdout: table (ranked bars per head) or json (weights and tokens). Default: table, "
        "nothing with --output.")] = None,
    allow_pickle: o.AllowPickle = None, trust_remote_code: o.TrustRemoteCode = None,
) -> None:
    from bertkit.attention.show import show

    show(model, text=text, text_pair=text_pair, layers=_pick(layer, "layer"), heads=_pick(head, "head"), token=token,
         top=top, output=output, compare=compare, fmt=fmt.value if fmt else None,
         allow_pickle=bool(allow_pickle), trust_remote_code=bool(trust_remote_code))
