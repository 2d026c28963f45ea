"""The text to compare on: one sentence, a file (text lines or a table column) or a Hugging Face dataset."""

from __future__ import annotations

import csv
import json
import sys
from dataclasses import dataclass
from pathlib import Path

from bertkit.defaults import TEXT_COLUMNS
from bertkit.errors import BertkitError, UsageError


@dataclass
class Corpus:
    texts: list[str]
    source: str


def _pick_column(columns: list[str], text_col: str | None, where: str) -> str:
    if text_col:
        if text_col not in columns:
            raise BertkitError(f"--text-col {text_col}: no such column in {where}; columns: {', '.join(columns)}")
        return text_col
    for c in TEXT_COLUMNS:
        if c in columns:
            return c
    raise BertkitError(f"{where}: which column holds the text? Give --text-col (columns: {', '.join(columns)})")


def _table_file(p: Path, text_col: str | None) -> list[str]:
    suffix = p.suffix.lower()
    where = str(p)
    if suffix in (".tsv", ".csv"):
        csv.field_size_limit(1 << 30)
        with open(p, encoding="utf-8", newline="") as f:
            if suffix == ".tsv":  # GLUE-style TSV: no quoting
                reader = csv.reader(f, delimiter="\t", quoting=csv.QUOTE_NONE)
            else:
                reader = csv.reader(f)
            header = next(reader, None)
            if header is None:
                return []
            col = header.index(_pick_column(header, text_col, where))
            return [row[col] if col < len(row) else "" for row in reader]
    if suffix in (".jsonl", ".ndjson"):
        rows = [json.loads(line) for line in p.read_text(encoding="utf-8").splitlines() if line.strip()]
    elif suffix == ".json":
        data = json.loads(p.read_text(encoding="utf-8"))
        rows = data if isinstance(data, list) else data.get("data", [])
    else:  # parquet
        import pandas as pd

        df = pd.read_parquet(p)
        col = _pick_column(list(df.columns), text_col, where)
        return ["" if v is None else str(v) for v in df[col].tolist()]
    if not rows:
        return []
    if not isinstance(rows[0], dict):
        return [str(r) for r in rows]
    col = _pick_column(list(rows[0].keys()), text_col, where)
    return ["" if r.get(col) is None else str(r.get(col)) for r in rows]


def read_file(path: str, text_col: str | None = None, limit: int | None = None) -> Corpus:
    """Text lines (any other suffix), or a column of a .tsv/.csv/.jsonl/.json/.parquet file; `-` is stdin."""
    if path == "-":
        texts = [line.rstrip("\r\n") for line in sys.stdin]
        return Corpus(texts[:limit] if limit else texts, "<stdin>")
    p = Path(path).expanduser()
    if not p.is_file():
        raise BertkitError(f"--file {path}: no such file; give a text file (one row per line) or a .tsv/.csv/.jsonl/.parquet")
    try:
        if p.suffix.lower() in (".tsv", ".csv", ".jsonl", ".ndjson", ".json", ".parquet"):
            texts = _table_file(p, text_col)
        else:
            with open(p, encoding="utf-8") as f:
                texts = [line.rstrip("\r\n") for line in f]
    except UnicodeDecodeError as e:
        raise BertkitError(f"--file {path}: not UTF-8 text ({e.reason} at byte {e.start}); convert it to UTF-8") from e
    except (ValueError, KeyError) as e:
        raise BertkitError(f"--file {path}: cannot read it ({e}); check the format") from e
    return Corpus(texts[:limit] if limit else texts, str(p))


def read_dataset(name: str, text_col: str | None = None, limit: int | None = None) -> Corpus:
    """`NAME[:CONFIG][#SPLIT]` of a Hugging Face dataset (split defaults to train); a local file works too."""
    if Path(name).expanduser().is_file():
        return read_file(name, text_col, limit)
    base, split = (name.split("#", 1) + [None])[:2] if "#" in name else (name, None)
    ds_name, config = (base.split(":", 1) + [None])[:2] if ":" in base else (base, None)
    split = split or "train"
    if limit:
        split = f"{split}[:{limit}]"
    from bertkit.console import quiet_libraries

    quiet_libraries()
    try:
        import datasets

        ds = datasets.load_dataset(ds_name, config, split=split)
    except Exception as e:
        msg = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        raise BertkitError(f"--dataset {name}: could not load it ({type(e).__name__}: {msg[:200]}); "
                           "check NAME[:CONFIG][#SPLIT] and your connection") from e
    col = _pick_column(list(ds.column_names), text_col, f"--dataset {name}")
    return Corpus(["" if v is None else str(v) for v in ds[col]], f"{ds_name}{':' + config if config else ''}#{split}")


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
