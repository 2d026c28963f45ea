"""The text to compare on: one sentence, a file (text lines or a table column) or a Hugging Face dataset."""

from __future__ import annotations

import sys
from dataclasses import dataclass
from pathlib import Path

from bertkit.data.columns import find_column
from bertkit.data.io import decoded_lines, parse_dataset_spec, read_hf_dataset, read_table
from bertkit.defaults import TEXT_COLUMNS
from bertkit.errors import BertkitError, UsageError


@dataclass
class Corpus:
    texts: list[str]
    source: str


TABLE_SUFFIXES = (".tsv", ".csv", ".jsonl", ".ndjson", ".json", ".parquet")


def _column_texts(df, text_col: str | None, where: str) -> list[str]:
    """The text column of a table (named, by position, joined, or the first usual text name)."""
    col = find_column(df, text_col, TEXT_COLUMNS, "--text-col", where, required="text")
    return ["" if v is None or (isinstance(v, float) and v != v) else str(v) for v in df[col].tolist()]


def read_file(path: str, text_col: str | None = None, limit: int | None = None) -> Corpus:
    """Text lines (any other suffix), or a column of a .tsv/.csv/.jsonl/.json/.parquet file; `-` is stdin."""
    if path == "-":
        texts = [line.rstrip("\r\n") for line in decoded_lines(sys.stdin, "--file <stdin>")]
        return Corpus(texts[:limit] if limit else texts, "<stdin>")
    p = Path(path).expanduser()
    if not p.is_file():
        raise BertkitError(f"--file {path}: no such file; give a text file (one row per line) "
                           "or a .tsv/.csv/.jsonl/.parquet")
    if p.suffix.lower() in TABLE_SUFFIXES:  # tables have a header row
        texts = _column_texts(read_table(str(p), header=True, limit=limit), text_col, str(p))
    else:
        with open(p, encoding="utf-8") as f:
            texts = [line.rstrip("\r\n") for line in decoded_lines(f, f"--file {path}")]
    return Corpus(texts[:limit] if limit else texts, str(p))


def read_dataset(name: str, text_col: str | None = None, limit: int | None = None) -> Corpus:
    """`NAME[:CONFIG][#SPLIT]` of a Hugging Face dataset (split defaults to train); a local file works too."""
    if Path(name).expanduser().is_file():
        return read_file(name, text_col, limit)
    from bertkit.console import quiet_libraries

    quiet_libraries()
    ds_name, config, split = parse_dataset_spec(name, "train")
    df = read_hf_dataset(name, default_split="train", limit=limit)
    source = f"{ds_name}{':' + config if config else ''}#{split}{f'[:{limit}]' if limit else ''}"
    return Corpus(_column_texts(df, text_col, f"--dataset {name}"), source)


def gather(text: str | None, file: str | None, dataset: str | None, text_col: str | None,
           limit: int | None) -> tuple[str | None, Corpus | None]:
    """Exactly one of TEXT, --file, --dataset: (sentence, None) or (None, corpus)."""
    given = [x for x in (text is not None, file is not None, dataset is not None) if x]
    if len(given) != 1:
        raise UsageError("give one of TEXT, --file F or --dataset NAME[:CONFIG][#SPLIT] (with --text-col)")
    if limit is not None and limit < 1:
        raise UsageError("--limit: must be at least 1")
    if text is not None:
        return text, None
    corpus = read_file(file, text_col, limit) if file is not None else read_dataset(dataset, text_col, limit)
    if not corpus.texts:
        raise BertkitError(f"{corpus.source}: no text rows to compare")
    return None, corpus
