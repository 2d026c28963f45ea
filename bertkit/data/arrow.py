"""Arrow-backed features and the tokenization cache.

Features are written once as Arrow files by a batched `datasets.Dataset.map` and memory-mapped, so a training
run's memory does not grow with the number of rows: the engine reads `lengths` (one int32 column, 4 bytes a row)
and gathers the rows of each batch from the mapped files.

The cache lives in `--cache-dir` (default `$BERTKIT_CACHE_DIR`, else `$XDG_CACHE_HOME/bertkit`, else
`~/.cache/bertkit`). An entry is a folder named after a hash of everything that decides its content (the input's
content hash, the tokenizer's name and vocabulary hash, max length, column and label settings, ...), written to a
temporary folder and renamed into place when complete, so a half-built entry is never read. `--no-cache` builds in
a temporary folder removed at exit.
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
from typing import Any, Callable, Iterable, Iterator

import numpy as np

from bertkit.errors import UsageError

FEATURES_VERSION = 1  # bump when what a cache entry holds changes
DONE_FILE = "bertkit_cache.json"


def cache_root(cache_dir: str | None = None) -> Path:
    if cache_dir:
        return Path(cache_dir).expanduser()
    if os.environ.get("BERTKIT_CACHE_DIR"):
        return Path(os.environ["BERTKIT_CACHE_DIR"]).expanduser()
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "bertkit"


def check_settings(cfg) -> None:
    """--cache-dir must be a folder (the settings' types and ranges are checked with the others, in defaults.RULES)."""
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

    def __init__(self, table):
        self._table = table

    def __getitem__(self, name: str):
        import pyarrow as pa

        if name not in self._table.column_names:
            raise KeyError(name)
        col = self._table.column(name)
        if pa.types.is_list(col.type) or pa.types.is_large_list(col.type) or pa.types.is_fixed_size_list(col.type):
            return col.to_pylist()
        return col.to_numpy()

    def __iter__(self) -> Iterator[str]:
        return iter(self._table.column_names)

    def __len__(self) -> int:
        return len(self._table.column_names)


class ArrowFeatures:
    """Features on memory-mapped Arrow files: `len()`, `lengths`, `rows(idx)`, `columns[name]`, `meta`."""

    def __init__(self, dataset, meta: dict | None = None, hidden: Iterable[str] = ("length",)):
        self.dataset = dataset
        self._table = dataset.data  # a datasets Table (memory-mapped); no indices mapping: never `select`ed
        self.lengths = np.asarray(self._table.column("length").to_numpy(), dtype=np.int32)  # 4 bytes a row
        self._row_columns = [c for c in dataset.column_names if c not in set(hidden)]
        self.columns = ArrowColumns(self._table)
        self.meta = meta or {}

    def __len__(self) -> int:
        return self.dataset.num_rows

    def rows(self, idx: Iterable[int]) -> list[dict[str, Any]]:
        idx = [int(i) for i in idx]
        if not idx:
            return []
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
        (self.folder / DONE_FILE).write_text(json.dumps({"key": self.key, "info": info, "files": files}, indent=1, default=str))
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


def load_dataset_files(paths: list[Path]):
    import datasets

    parts = [datasets.Dataset.from_file(str(p)) for p in paths]
    return parts[0] if len(parts) == 1 else datasets.concatenate_datasets(parts)


def write_source(path: Path, features, batches: Iterator[dict[str, list]]) -> int:
    """Stream dict-of-list batches into one Arrow file (datasets' format); returns the number of rows."""
    from datasets.arrow_writer import ArrowWriter

    with ArrowWriter(features=features, path=str(path)) as writer:
        for b in batches:
            writer.write_batch(b)
        n, _ = writer.finalize()
    return n


def tokenize_to_arrow(entry: Entry, source, fn: Callable, features, num_proc: int, desc: str, batch_size: int = 1000):
    """`source.map(fn)` (batched, with global indices) into Arrow files in the entry's folder; their names."""
    from bertkit import console

    folder = entry.folder
    mapped = source.map(fn, batched=True, with_indices=True, batch_size=batch_size, remove_columns=source.column_names,
                        features=features, num_proc=num_proc if num_proc > 1 and len(source) > 1 else None,
                        cache_file_name=str(folder / "features.arrow"), load_from_cache_file=False,
                        desc=desc if console.progress_enabled() else None)
    return [os.path.relpath(f["filename"], folder) for f in mapped.cache_files]


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
