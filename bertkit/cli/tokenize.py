"""`bertkit tokenize`: tokenizers side by side (compare, encode)."""

from __future__ import annotations

from typing import Annotated, List, Optional

import typer

from bertkit.cli import options as o
from bertkit.cli.errors import BertkitCommand, BertkitGroup
from bertkit.tokenization.compare import CompareFormat

app = typer.Typer(cls=BertkitGroup, help="WordPiece, byte-level BPE and SentencePiece Unigram tokenizers side by side.",
                  no_args_is_help=True)

_SPEC_HELP = ("Tokenizer: [NAME=]SOURCE. SOURCE: a folder (HF folder → AutoTokenizer, else tokenizer.json, *.model, "
              "vocab.json+merges.txt or vocab.txt is detected), tokenizer.json, a SentencePiece .model, a WordPiece "
              "vocab.txt, VOCAB.json,MERGES.txt, or a hub id. Repeat for each tokenizer.")
_D = "Input"
_O = "Output"


@app.command("compare", cls=BertkitCommand)
def compare(
    text: Annotated[Optional[str], typer.Argument(
        help="One sentence to show token by token (or use --file / --dataset).")] = None,
    tokenizer: Annotated[List[str], typer.Option("--tokenizer", "-t", help=_SPEC_HELP)] = [],  # noqa: B006
    file: Annotated[Optional[str], typer.Option(
        "--file", help="Corpus: a text file (one row per line, - for stdin) or a .tsv/.csv/.jsonl/.json/.parquet "
        "column.", rich_help_panel=_D)] = None,
    dataset: Annotated[Optional[str], typer.Option(
        "--dataset", help="Corpus: a Hugging Face dataset NAME[:CONFIG]\\[#SPLIT] (split: train).",
        rich_help_panel=_D)] = None,
    text_col: Annotated[Optional[str], typer.Option(
        "--text-col", help="The text column of a table file or dataset (default: text, sentence, ...).",
        rich_help_panel=_D)] = None,
    limit: Annotated[Optional[int], typer.Option(
        "--limit", help="Use only the first N rows.", rich_help_panel=_D)] = None,
    max_length: Annotated[int, typer.Option(
        "--max-length", help="Rows longer than this (special tokens included) count as truncated.")] = 128,
    baseline: Annotated[Optional[str], typer.Option(
        "--baseline", help="Tokenizer name for the Δ column (default: the first -t).")] = None,
    lowercase: Annotated[Optional[bool], typer.Option(
        "--lowercase/--cased", help="For vocab.txt (lowercase + strip accents) and .model specs (lowercase); default: "
        "when the vocabulary has no uppercase letters.")] = None,
    with_special: Annotated[bool, typer.Option(
        "--with-special", help="Count the special tokens added by post-processing ([CLS]/[SEP], <s>/</s>).")] = False,
    ids: Annotated[bool, typer.Option(
        "--ids", help="Show token ids under the tokens (one sentence, html).", rich_help_panel=_O)] = False,
    fail_under: Annotated[List[str], typer.Option(
        "--fail-under", help="[TOKENIZER:]METRIC=VALUE: exit 1 when a tokenizer is worse (roundtrip=0.99, "
        "unk_rate=0.1%). Repeatable.", rich_help_panel=_O)] = [],  # noqa: B006
    fmt: Annotated[CompareFormat, typer.Option(
        "--format", "-f", help="table for people; json, csv or html (one self-contained page).",
        rich_help_panel=_O)] = CompareFormat.table,
    output: Annotated[Optional[str], typer.Option(
        "--output", "-o", help="Write to this file instead of stdout.", rich_help_panel=_O)] = None,
    batch_size: Annotated[int, typer.Option("--batch-size", help="Rows per encode_batch call.")] = 4096,
    trust_remote_code: o.TrustRemoteCode = None,
) -> None:
    """Compare tokenizers on one sentence (tokens as coloured spans) or on a corpus (metrics table)."""
    from bertkit.tokenization.compare import run_compare

    run_compare(text=text, tokenizers=tokenizer, file=file, dataset=dataset, text_col=text_col, limit=limit,
                max_length=max_length, baseline=baseline, lowercase=lowercase, with_special=with_special, ids=ids,
                fail_under=fail_under, fmt=fmt, output=output, batch_size=batch_size,
                trust_remote_code=bool(trust_remote_code))


@app.command("encode", cls=BertkitCommand)
def encode(
    file: Annotated[Optional[str], typer.Argument(
        help="Text file, one input per line; - or nothing for stdin.")] = None,
    tokenizer: Annotated[str, typer.Option("--tokenizer", "-t", help=_SPEC_HELP)] = ...,
    lowercase: Annotated[Optional[bool], typer.Option(
        "--lowercase/--cased", help="For a vocab.txt or .model spec (default: when the vocabulary has no uppercase "
        "letters).")] = None,
    with_special: Annotated[bool, typer.Option(
        "--with-special", help="Add the special tokens ([CLS]/[SEP], <s>/</s>).")] = False,
    trust_remote_code: o.TrustRemoteCode = None,
) -> None:
    """Stream JSONL {tokens, ids, offsets} for each input line (offsets: characters, end exclusive)."""
    from bertkit.tokenization.encode import run_encode
    from bertkit.tokenization.specs import load_all

    backend = load_all([tokenizer], lowercase, bool(trust_remote_code))[0]
    run_encode(backend, file, with_special)
