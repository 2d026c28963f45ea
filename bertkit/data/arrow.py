"""Arrow-backed features and the tokenization cache.

The design, with its measurements: docs/design/data-path.md#the-cache.
"""

from __future__ import annotations

import atexit
import hashlib
import json
import os
import shutil
import tempfile
from collections.abc import Mapping
from contextlib import contextmanager, nullcontext
from pathlib import Path
from typing import Any, Callable, Iterable, Iterator, TypeVar

import numpy as np

from bertkit.errors import UsageError

FEATURES_VERSION = 2  # bump when what a cache entry holds changes (2: ~16 MB record batches)
DONE_FILE = "bertkit_cache.json"
T = TypeVar("T")


def cache_root(cache_dir: str | None = None) -> Path:
    if cache_dir:
        return Path(cache_dir).expanduser()
    if os.environ.get("BERTKIT_CACHE_DIR"):
        return Path(os.environ["BERTKIT_CACHE_DIR"]).expanduser()
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "bertkit"


def check_settings(cfg) -> None:
    """--cache-dir must be a folder (the settings' types and ranges are checked by their declarations,
    bertkit.settings)."""
    root = cache_root(getattr(cfg, "cache_dir", None))
    if root.exists() and not root.is_dir():
        raise UsageError(f"--cache-dir {root}: exists and is not a folder")


def digest(parts: Any) -> str:
    return hashlib.blake2b(json.dumps(parts, sort_keys=True, default=str).encode(), digest_size=12).hexdigest()


def tokenizer_key(tokenizer) -> dict[str, Any]:
    """The tokenizer's name and a hash of what decides its output (the fast tokenizer's JSON without the
    truncation/padding state that calls change, else the vocabulary and the init settings)."""
    h = hashlib.blake2b(digest_size=16)
    backend = getattr(tokenizer, "backend_tokenizer", None)
    if backend is not None:
        spec = json.loads(backend.to_str())
        spec.pop("truncation", None)
        spec.pop("padding", None)
        h.update(json.dumps(spec, sort_keys=True).encode())
    else:
        h.update(json.dumps(sorted(tokenizer.get_vocab().items())).encode())
        h.update(json.dumps({k: v for k, v in tokenizer.init_kwargs.items() if isinstance(v, (str, int, bool, float))},
                            sort_keys=True, default=str).encode())
    return {"name": getattr(tokenizer, "name_or_path", ""), "class": type(tokenizer).__name__, "hash": h.hexdigest(),
            "padding_side": getattr(tokenizer, "padding_side", "right"),
            "model_input_names": list(getattr(tokenizer, "model_input_names", []))}


# -- features ------------------------------------------------------------------------------------------------

class ArrowColumns(Mapping):
    """`columns[name]`: a whole column (numpy for scalars, lists for sequences), read from the mapped table."""

    def __init__(self, table, dataset=None):
        self._table, self._dataset = table, dataset

    def __getitem__(self, name: str):
        import pyarrow as pa

        if name not in self._table.column_names:
            raise KeyError(name)
        col = self._table.column(name)
        if pa.types.is_list(col.type) or pa.types.is_large_list(col.type) or pa.types.is_fixed_size_list(col.type):
            return col.to_pylist()
        reader = _pread_table(self._dataset, [name]) if self._dataset is not None else None
        if reader is None:
            return col.to_numpy()
        try:  # read, not mapped in (see bertkit.data.pread)
            return reader.column(name)
        finally:
            reader.close()

    def __iter__(self) -> Iterator[str]:
        return iter(self._table.column_names)

    def __len__(self) -> int:
        return len(self._table.column_names)


class ArrowFeatures:
    """Features on memory-mapped Arrow files: `len()`, `lengths`, `rows(idx)`, `columns[name]`, `meta`."""

    def __init__(self, dataset, meta: dict | None = None, hidden: Iterable[str] = ("length",)):
        self.dataset = dataset
        self._table = dataset.data  # a datasets Table (memory-mapped); no indices mapping: never `select`ed
        self._row_columns = [c for c in dataset.column_names if c not in set(hidden)]
        self._pread = _pread_table(dataset, self._row_columns)  # rows read with pread (see bertkit.data.pread)
        self.columns = ArrowColumns(self._table, dataset)
        self.lengths = np.asarray(self.columns["length"], dtype=np.int32)  # 4 bytes a row
        self.meta = meta or {}

    def __len__(self) -> int:
        return self.dataset.num_rows

    def rows(self, idx: Iterable[int]) -> list[dict[str, Any]]:
        """The rows as dicts of Python values, read with pread (`bertkit.data.pread`), else through the mapping."""
        idx = [int(i) for i in idx]
        if not idx:
            return []
        if self._pread is not None:
            return self._pread.rows(idx)
        return self._table.fast_gather(idx).select(self._row_columns).to_pylist()

    def __getitem__(self, i: int) -> dict[str, Any]:
        return self.rows([i])[0]


# -- cache entries -------------------------------------------------------------------------------------------

class Entry:
    """One cache folder: `ready` when complete; `build()` gives a temporary folder renamed into place by `commit`."""

    def __init__(self, root: Path | None, kind: str, key: dict[str, Any]):
        self.key = {"kind": kind, "version": FEATURES_VERSION, **key}
        self.name = f"{kind}-{digest(self.key)}"
        self.final = root / self.name if root is not None else None
        self.folder: Path | None = self.final if self.ready else None

    @property
    def ready(self) -> bool:
        return self.final is not None and (self.final / DONE_FILE).is_file()

    def info(self) -> dict[str, Any]:
        return json.loads(((self.folder or self.final) / DONE_FILE).read_text())["info"]

    def build(self) -> Path:
        if self.final is None:  # --no-cache: a private folder removed when the process exits
            self.folder = Path(tempfile.mkdtemp(prefix=f"bertkit-{self.name}-"))
            atexit.register(shutil.rmtree, self.folder, True)
        else:
            self.final.parent.mkdir(parents=True, exist_ok=True)
            self.folder = Path(tempfile.mkdtemp(prefix=f".{self.name}.tmp-", dir=self.final.parent))
        return self.folder

    def commit(self, info: dict[str, Any], files: list[str]) -> None:
        (self.folder / DONE_FILE).write_text(json.dumps({"key": self.key, "info": info, "files": files}, indent=1,
                                                        default=str))
        if self.final is None:
            return
        try:
            os.rename(self.folder, self.final)
        except OSError:  # another process finished the same entry first: use theirs
            shutil.rmtree(self.folder, ignore_errors=True)
        self.folder = self.final

    def files(self) -> list[Path]:
        folder = self.folder or self.final
        return [folder / f for f in json.loads((folder / DONE_FILE).read_text())["files"]]


def cached(entry: Entry, build: Callable[[Path], T], reuse: Callable[[dict[str, Any]], T]) -> T:
    """The one cache-or-build step of every task's features: `reuse(info)` of a complete entry, else `build(folder)`
    into a fresh folder (it ends with `entry.commit`); a build that fails leaves no folder behind. Under
    `accelerate launch` the main process of each machine goes first, and the others then find its entry."""
    with main_process_first():
        if entry.ready:
            return reuse(entry.info())
        folder = entry.build()
        try:
            return build(folder)
        except BaseException:
            if entry.folder == folder and not (folder / DONE_FILE).is_file():
                shutil.rmtree(folder, ignore_errors=True)
            raise


def _mapped_table(path: Path):
    """The Arrow stream file memory-mapped (as `Dataset.from_file` does), with the mapping's address range
    remembered so that `bertkit.data.pread` can turn a buffer's address into its offset in the file."""
    import mmap

    import pyarrow as pa
    from datasets.table import MemoryMappedTable

    with open(path, "rb") as f:
        mm = mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ)
    view = pa.py_buffer(mm)
    _remember_mapping(view.address, view.size, str(path))
    return MemoryMappedTable(pa.ipc.open_stream(pa.BufferReader(view)).read_all(), str(path))  # zero-copy views


_MAPPINGS: dict[int, tuple[int, str]] = {}  # start address -> (size, path) of the files mapped by _mapped_table


def _remember_mapping(start: int, size: int, path: str) -> None:
    """A new mapping occupies [start, start + size): any remembered one overlapping it has been unmapped."""
    for old in [a for a, (n, _) in _MAPPINGS.items() if a < start + size and start < a + n]:
        del _MAPPINGS[old]
    _MAPPINGS[start] = (size, path)


def _mapping_of(table) -> tuple[int, int] | None:
    """(start, size) of the mapping the table's buffers view (buffer address - start = offset in the file)."""
    for batch in table.to_batches():
        for buf in batch.column(0).buffers():
            if buf is not None:
                for start, (size, _path) in _MAPPINGS.items():
                    if start <= buf.address < start + size:
                        return start, size
                return None
    return None


def _pread_table(dataset, columns: list[str]):
    """A `bertkit.data.pread.PreadTable` on the files under `dataset` (opened by `load_dataset_files`), or None."""
    from datasets.table import ConcatenationTable, MemoryMappedTable

    from bertkit.data.pread import PreadTable

    data = dataset.data
    blocks = [data] if isinstance(data, MemoryMappedTable) else (
        [t for row in data.blocks for t in row] if isinstance(data, ConcatenationTable) else [])
    maps = [_mapping_of(t.table) if isinstance(t, MemoryMappedTable) else None for t in blocks]
    if not blocks or any(m is None for m in maps):
        return None
    return PreadTable.open([(t.path, *m, t.table) for t, m in zip(blocks, maps)], columns)


def load_dataset_files(paths: list[Path]):
    """A `datasets.Dataset` on memory-mapped Arrow files (as `Dataset.from_file`; rows then read with pread)."""
    import datasets

    parts = [datasets.Dataset(_mapped_table(Path(p))) for p in paths]
    return parts[0] if len(parts) == 1 else datasets.concatenate_datasets(parts)


TARGET_BATCH_BYTES = 16 << 20  # Arrow record batches of ~16 MB: few enough that opening a file touches little of it


class StreamWriter:
    """An Arrow stream file in `datasets`' format (its schema metadata), written with record batches of about
    `target_bytes`: `Dataset.from_file` memory-maps such a file by reading each batch's header, and the kernel's
    read-ahead around ~1,000-row batches (what `datasets` writes) pulls nearly the whole file into the process's
    resident memory; a few large batches keep opening it cheap at any number of rows."""

    def __init__(self, path: Path, features, target_bytes: int = TARGET_BATCH_BYTES):
        import pyarrow as pa

        self.schema = features.arrow_schema
        self._sink = pa.OSFile(str(path), "wb")
        self._writer = pa.ipc.new_stream(self._sink, self.schema)
        self.target, self.rows, self._parts, self._bytes = target_bytes, 0, [], 0

    def write(self, part) -> None:
        """`part`: a dict of columns (Python lists) or a pyarrow Table/RecordBatch with this schema's columns."""
        import pyarrow as pa

        if isinstance(part, dict):
            part = pa.Table.from_pydict({k: part[k] for k in self.schema.names}, schema=self.schema)
        elif isinstance(part, pa.RecordBatch):
            part = pa.Table.from_batches([part])
        self._parts.append(part.select(self.schema.names).cast(self.schema))
        self._bytes += part.nbytes
        self.rows += part.num_rows
        if self._bytes >= self.target:
            self._flush()

    def _flush(self) -> None:
        import pyarrow as pa

        if self._parts:
            table = pa.concat_tables(self._parts).combine_chunks()
            for batch in table.to_batches(max_chunksize=table.num_rows or None):
                self._writer.write_batch(batch)
        self._parts, self._bytes = [], 0

    def close(self) -> int:
        self._flush()
        self._writer.close()
        self._sink.close()
        return self.rows

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        if exc[0] is None:
            self.close()
        else:
            self._sink.close()


def read_batches(paths: Iterable[Path], batch_rows: int = 1000) -> Iterator:
    """Record batches of at most `batch_rows` rows, read with plain file reads (not a memory map), so reading a
    file once from start to end leaves nothing of it in the process's resident memory."""
    import pyarrow as pa

    for path in paths:
        with pa.OSFile(str(path)) as f:
            for batch in pa.ipc.open_stream(f):
                for s in range(0, batch.num_rows, batch_rows):
                    yield batch.slice(s, batch_rows)


def write_source(path: Path, features, batches: Iterator[dict[str, list]]) -> int:
    """Stream dict-of-list batches into one Arrow file (datasets' format); returns the number of rows."""
    with StreamWriter(path, features) as writer:
        for b in batches:
            writer.write(b)
    return writer.rows


def rebatch(path: Path, features) -> None:
    """Rewrite an Arrow stream file with large record batches (see StreamWriter), in constant memory."""
    tmp = path.with_name(path.name + ".rebatch")
    with StreamWriter(tmp, features) as writer:
        for batch in read_batches([path], batch_rows=1 << 20):
            writer.write(batch)
    os.replace(tmp, path)


def tokenize_to_arrow(entry: Entry, source, fn: Callable, features, num_proc: int, desc: str, batch_size: int = 1000):
    """`fn(batch, indices)` over every row of `source` (a list of Arrow files, or a Dataset on such files) into
    Arrow files in the entry's folder; their names. One process: a streamed loop (plain reads in, large batches
    out, flat memory); `--num-proc N`: a batched `datasets.map` in N processes, its files then rebatched."""
    from bertkit import console

    folder = entry.folder
    paths = list(source) if isinstance(source, (list, tuple)) else [Path(f["filename"]) for f in source.cache_files]
    if num_proc <= 1 and paths:
        with StreamWriter(folder / "features.arrow", features) as writer, console.progress() as bar:
            task, done = bar.add_task(desc, total=None), 0
            for batch in read_batches(paths, batch_size):
                writer.write(fn(batch.to_pydict(), list(range(done, done + batch.num_rows))))
                done += batch.num_rows
                bar.update(task, completed=done)
        return ["features.arrow"]
    if isinstance(source, (list, tuple)):
        source = load_dataset_files(paths)
    mapped = source.map(fn, batched=True, with_indices=True, batch_size=batch_size, remove_columns=source.column_names,
                        features=features, num_proc=num_proc if num_proc > 1 and len(source) > 1 else None,
                        cache_file_name=str(folder / "features.arrow"), load_from_cache_file=False,
                        desc=desc if console.progress_enabled() else None)
    files = [os.path.relpath(f["filename"], folder) for f in mapped.cache_files]
    del mapped
    for f in files:
        rebatch(folder / f, features)
    return files


def main_process_first():
    """Under `accelerate launch`: the main process of each machine builds the cache entry, the other processes of
    that machine wait, then read it (per machine, so a --cache-dir on local disks works; on a shared file system
    the machines race and the first complete entry is kept)."""
    from accelerate import PartialState

    if not PartialState._shared_state:  # not a training run (tests, the API): nothing to wait for
        return nullcontext()
    state = PartialState()
    return state.local_main_process_first() if state.num_processes > 1 else nullcontext()


@contextmanager
def quiet_datasets():
    """datasets' own progress bars and logs off (bertkit logs what it does itself)."""
    import datasets

    was = datasets.utils.logging.is_progress_bar_enabled()
    datasets.utils.logging.disable_progress_bar()
    try:
        yield
    finally:
        if was:
            datasets.utils.logging.enable_progress_bar()
