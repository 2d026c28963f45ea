"""Reading rows and columns of memory-mapped Arrow files with `pread`, not through the mapping.

The design, with its measurements: docs/design/data-path.md#training-reads-memory-mapped-files-rows-by-pread.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any

import numpy as np


@dataclass
class _Buffers:
    kind: str  # "list" | "fixed" | "scalar" | "bool"
    dtype: np.dtype
    values: int  # file offset of the values of row 0 (list: of the child values array's element 0)
    offsets: int = 0  # list: file offset of the offsets of row 0
    offset_dtype: np.dtype = np.dtype(np.int32)
    width: int = 1  # fixed-size list: values per row
    bit: int = 0  # bool: bit position of row 0


def _values_at(child, base: int, first: int) -> int:
    """File offset of element `first` of a child values array; 0 when it holds no values (an empty buffer need not
    lie in the mapping, and nothing is read from it)."""
    buf = child.buffers()[1]
    if buf is None or buf.size == 0:
        return 0
    return buf.address - base + first * np.dtype(child.type.to_pandas_dtype()).itemsize


def describe(array, base: int) -> _Buffers | None:
    """Where an array's data lie in the file mapped at `base`; None when pread cannot serve it (nulls, nesting)."""
    import pyarrow as pa

    t = array.type
    if array.null_count:
        return None
    if pa.types.is_list(t) or pa.types.is_large_list(t):
        child = array.values
        if child.null_count or not (pa.types.is_integer(child.type) or pa.types.is_floating(child.type)):
            return None
        odt = np.dtype(np.int64 if pa.types.is_large_list(t) else np.int32)
        item = np.dtype(child.type.to_pandas_dtype())
        return _Buffers("list", item, _values_at(child, base, child.offset),
                        array.buffers()[1].address - base + array.offset * odt.itemsize, odt)
    if pa.types.is_fixed_size_list(t):
        child = array.values
        if child.null_count or not (pa.types.is_integer(child.type) or pa.types.is_floating(child.type)):
            return None
        item = np.dtype(child.type.to_pandas_dtype())
        return _Buffers("fixed", item, _values_at(child, base, child.offset + array.offset * t.list_size),
                        width=t.list_size)
    if pa.types.is_boolean(t):
        return _Buffers("bool", np.dtype(bool), array.buffers()[1].address - base + array.offset // 8,
                        bit=array.offset % 8)
    if pa.types.is_integer(t) or pa.types.is_floating(t):
        dt = np.dtype(t.to_pandas_dtype())
        return _Buffers("scalar", dt, array.buffers()[1].address - base + array.offset * dt.itemsize)
    return None


def read_value(fd: int, b: _Buffers, r: int) -> Any:
    """Row r of a described array, as the Python value `to_pylist` gives."""
    if b.kind == "list":
        size = b.offset_dtype.itemsize
        lo, hi = np.frombuffer(os.pread(fd, 2 * size, b.offsets + r * size), dtype=b.offset_dtype)
        n = int(hi - lo)
        return np.frombuffer(os.pread(fd, n * b.dtype.itemsize, b.values + int(lo) * b.dtype.itemsize),
                             dtype=b.dtype).tolist() if n else []
    if b.kind == "fixed":
        n = b.width * b.dtype.itemsize
        return np.frombuffer(os.pread(fd, n, b.values + r * n), dtype=b.dtype).tolist()
    if b.kind == "bool":
        k = b.bit + r
        return bool(os.pread(fd, 1, b.values + k // 8)[0] >> (k % 8) & 1)
    return np.frombuffer(os.pread(fd, b.dtype.itemsize, b.values + r * b.dtype.itemsize), dtype=b.dtype)[0].item()


def read_column(fd: int, b: _Buffers, rows: int) -> np.ndarray:
    """A whole scalar or bool column of one record batch (fixed-width only)."""
    if b.kind == "scalar":
        return np.frombuffer(os.pread(fd, rows * b.dtype.itemsize, b.values), dtype=b.dtype)
    if b.kind == "bool":
        raw = np.frombuffer(os.pread(fd, (b.bit + rows + 7) // 8, b.values), dtype=np.uint8)
        return np.unpackbits(raw, bitorder="little")[b.bit : b.bit + rows].astype(bool)
    raise ValueError(f"not a fixed-width column: {b.kind}")


class PreadTable:
    """The row columns of memory-mapped Arrow files, read with pread. `None` from `open` when a column cannot be
    served this way (the caller then reads through the mapping)."""

    def __init__(self, parts: list[tuple[int, list[dict[str, _Buffers]], list[int]]]):
        self._parts = parts  # per file: (fd, per batch {column: buffers}, per batch rows)
        self._fds, self._bufs, starts = [], [], [0]
        for fd, batches, sizes in parts:
            for bufs, n in zip(batches, sizes):
                self._fds.append(fd)
                self._bufs.append(bufs)
                starts.append(starts[-1] + n)
        self._starts = np.asarray(starts, dtype=np.int64)

    @classmethod
    def open(cls, mapped: list[tuple[str, int, int, Any]], columns: list[str]) -> "PreadTable | None":
        """`mapped`: (path, start address and size of its mapping, pyarrow Table viewing it) per file."""
        parts = []
        for path, base, size, table in mapped:
            fd = os.open(path, os.O_RDONLY)
            batches, sizes = [], []
            for batch in table.to_batches():
                bufs = {c: describe(batch.column(batch.schema.get_field_index(c)), base) for c in columns}
                if any(b is None or not 0 <= b.values < size for b in bufs.values()):  # not a view of this mapping
                    os.close(fd)
                    return None
                batches.append(bufs)
                sizes.append(batch.num_rows)
            parts.append((fd, batches, sizes))
        return cls(parts)

    def rows(self, idx: list[int]) -> list[dict[str, Any]]:
        where = np.searchsorted(self._starts, idx, side="right") - 1
        out = []
        for i, b in zip(idx, where.tolist()):
            r, fd = i - int(self._starts[b]), self._fds[b]
            out.append({c: read_value(fd, buf, r) for c, buf in self._bufs[b].items()})
        return out

    def column(self, name: str) -> np.ndarray:
        sizes = np.diff(self._starts)
        parts = [read_column(fd, bufs[name], int(n)) for fd, bufs, n in zip(self._fds, self._bufs, sizes)]
        return np.concatenate(parts) if parts else np.zeros(0)

    def __del__(self) -> None:
        self.close()

    def close(self) -> None:
        for fd, _, _ in self._parts:
            try:
                os.close(fd)
            except OSError:
                pass
        self._parts = []
