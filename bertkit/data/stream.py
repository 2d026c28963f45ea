"""Reading data files in chunks: memory bounded by the chunk, not by the file.

The design, with its measurements: docs/design/data-path.md#reading-in-chunks.
"""

from __future__ import annotations

import hashlib
import itertools
from pathlib import Path
from typing import Iterator

import pandas as pd

from bertkit.errors import BertkitError

CHUNK_ROWS = 65536
JSONL_SUFFIXES = (".jsonl", ".ndjson")
PARQUET_SUFFIXES = (".parquet", ".pq")


def content_hash(spec: str) -> str:
    """blake2b of a file's bytes (read in 4 MiB blocks); a Hugging Face dataset: of its rows as read."""
    h = hashlib.blake2b(digest_size=16)
    path = Path(spec)
    if path.is_file():
        with open(path, "rb") as f:
            for block in iter(lambda: f.read(1 << 22), b""):
                h.update(block)
        return h.hexdigest()
    from bertkit.data.io import read_table

    df = read_table(spec)
    h.update(",".join(df.columns).encode())
    h.update(pd.util.hash_pandas_object(df.astype(str), index=True).values.tobytes())
    return h.hexdigest()


def iter_frames(spec: str, *, header: bool | None = None, limit: int | None = None, default_split: str = "train",
                chunk_rows: int = CHUNK_ROWS) -> Iterator[pd.DataFrame]:
    """Chunks of the table `spec` (see the module docstring); at least one frame (maybe empty) is yielded."""
    from bertkit.data.io import read_table

    path = Path(spec)
    suffix = path.suffix.lower()
    if not path.is_file() or suffix not in (".csv", ".tsv", ".tab", ".txt", *JSONL_SUFFIXES, *PARQUET_SUFFIXES):
        df = read_table(spec, header=header, limit=limit, default_split=default_split)
        yield from _slices(df, chunk_rows)
        return
    if suffix in JSONL_SUFFIXES:
        frames = _jsonl_frames(path, chunk_rows, limit)
    elif suffix in PARQUET_SUFFIXES:
        frames = _parquet_frames(path, chunk_rows, limit)
    else:
        frames = _delimited_frames(path, header, chunk_rows, limit)
    yield from _numbered(frames, spec)


def _slices(df: pd.DataFrame, chunk_rows: int) -> Iterator[pd.DataFrame]:
    if len(df) == 0:
        yield df
    for s in range(0, len(df), chunk_rows):
        yield df.iloc[s : s + chunk_rows]


def _numbered(frames: Iterator[pd.DataFrame], spec: str) -> Iterator[pd.DataFrame]:
    """Global row positions as the index, string column names, read errors as one line naming the file."""
    start, any_frame = 0, False
    while True:
        try:
            df = next(frames)
        except StopIteration:
            break
        except BertkitError:
            raise
        except UnicodeDecodeError as e:  # past the first 64 KiB
            from bertkit.data.io import not_utf8

            raise not_utf8(spec, e) from e
        except (ValueError, pd.errors.ParserError, OSError) as e:
            raise BertkitError(f"{spec}: could not read ({str(e).splitlines()[0]})") from e
        df.columns = [str(c) for c in df.columns]
        df.index = pd.RangeIndex(start, start + len(df))
        start += len(df)
        any_frame = True
        yield df
    if not any_frame:
        yield pd.DataFrame()


def _delimited_frames(path: Path, header: bool | None, chunk_rows: int, limit: int | None) -> Iterator[pd.DataFrame]:
    import csv

    from bertkit.data.io import check_one_column, delimited_setup

    sep, header, sample = delimited_setup(path, header)  # the same checks as read_table (binary, UTF-8, delimiter)
    quoting = csv.QUOTE_NONE if sep == "\t" else csv.QUOTE_MINIMAL
    reader = pd.read_csv(path, sep=sep, header=0 if header else None, quoting=quoting, dtype=str, keep_default_na=False,
                         na_values=[], encoding="utf-8", chunksize=chunk_rows, nrows=limit)
    with reader:
        for k, df in enumerate(reader):
            if not header:
                df.columns = [f"col{i}" for i in range(df.shape[1])]
            if k == 0:
                check_one_column(path, df, sample, sep)
            yield df


def _jsonl_frames(path: Path, chunk_rows: int, limit: int | None) -> Iterator[pd.DataFrame]:
    from bertkit.data.io import iter_jsonl

    with open(path, encoding="utf-8") as f:
        objs = (obj for _, obj in iter_jsonl(f, str(path)))
        if limit is not None:
            objs = itertools.islice(objs, limit)
        while True:
            chunk = list(itertools.islice(objs, chunk_rows))
            if not chunk:
                return
            yield pd.DataFrame(chunk)


def _parquet_frames(path: Path, chunk_rows: int, limit: int | None) -> Iterator[pd.DataFrame]:
    import pyarrow.parquet as pq

    left = limit
    for batch in pq.ParquetFile(path).iter_batches(batch_size=chunk_rows):
        df = batch.to_pandas()
        if left is not None:
            df = df.iloc[:left]
            left -= len(df)
        yield df
        if left is not None and left <= 0:
            return
