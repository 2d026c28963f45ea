"""Reading data files in chunks: memory bounded by the chunk, not by the file.

The design, with its measurements: docs/design/data-path.md#reading-in-chunks.
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Iterator

import pandas as pd

CHUNK_ROWS = 65536


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
    """Chunks of the table `spec` (see the module docstring); at least one frame (maybe empty) is yielded.
    Files are read in chunks by the one table reader (bertkit.data.io.file_frames); a Hugging Face dataset whole."""
    from bertkit.data.io import file_frames, read_errors, read_table

    path = Path(spec)
    if not path.is_file():  # a Hugging Face dataset, or the reader's error
        df = read_table(spec, header=header, limit=limit, default_split=default_split)
        yield from _slices(df, chunk_rows)
        return
    start = 0
    for df in read_errors(file_frames(path, header, limit, chunk_rows), spec):
        df.columns = [str(c) for c in df.columns]  # global row positions as the index, string column names
        df.index = pd.RangeIndex(start, start + len(df))
        start += len(df)
        yield df


def _slices(df: pd.DataFrame, chunk_rows: int) -> Iterator[pd.DataFrame]:
    if len(df) == 0:
        yield df
    for s in range(0, len(df), chunk_rows):
        yield df.iloc[s : s + chunk_rows]
