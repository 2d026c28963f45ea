"""Output directories that are either complete or absent.

Everything is written to a hidden sibling folder and renamed into place at the
end, so an interrupted run never leaves a folder that looks like a finished model.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Iterator

from bertkit.errors import BertkitError
from bertkit.formats import dumps

METADATA_FILE = "bertkit.json"
METRICS_FILE = "metrics.json"


def check_output_dir(path: str | None, overwrite: bool) -> Path:
    """The output folder, checked before anything loads: not a file, empty (or --overwrite), and writable."""
    if not path:
        raise BertkitError("--output-dir is required: where to save the trained model")
    p = Path(path)
    if p.exists() and not p.is_dir():
        raise BertkitError(f"{path}: exists and is not a folder; choose another --output-dir")
    if p.is_dir() and any(p.iterdir()) and not overwrite:
        raise BertkitError(f"{path}: folder exists and is not empty; pass --overwrite or choose another --output-dir")
    base = p.absolute().parent
    while not base.exists():
        base = base.parent
    if not base.is_dir():
        raise BertkitError(f"{path}: {base} is a file, so no folder can be made under it; choose another --output-dir")
    try:  # the only sure test of writability (permissions, read-only mounts, /proc): make and remove a folder there
        os.rmdir(tempfile.mkdtemp(prefix=".bertkit-write-test-", dir=base))
    except OSError as e:
        raise BertkitError(f"{path}: cannot write in {base} ({e.strerror or e}); choose another --output-dir") from None
    return p


def _umask() -> int:
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def file_mode() -> int:
    """The mode a new file gets under the user's umask (0o666 minus the mask)."""
    return 0o666 & ~_umask()


def _follow_umask(root: Path) -> None:
    """mkdtemp makes 0700 and some writers (safetensors) 0600: the finished folder follows the umask like any other."""
    mask = _umask()
    root.chmod(0o777 & ~mask)
    for p in root.rglob("*"):
        if not p.is_symlink():
            p.chmod((0o777 if p.is_dir() else 0o666) & ~mask)


@contextmanager
def atomic_dir(path: str | Path) -> Iterator[Path]:
    final = Path(path)
    final.parent.mkdir(parents=True, exist_ok=True)
    # the pid in the name lets a later run tell a killed save (remove it) from a live one (leave it)
    tmp = Path(tempfile.mkdtemp(prefix=f".{final.name}.partial-{os.getpid()}-", dir=final.parent))
    try:
        yield tmp
        _follow_umask(tmp)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    if final.exists():
        old = final.with_name(f".{final.name}.old")
        shutil.rmtree(old, ignore_errors=True)
        final.rename(old)
        tmp.rename(final)
        shutil.rmtree(old, ignore_errors=True)
    else:
        tmp.rename(final)


def write_json(path: Path, obj: Any) -> None:
    path.write_text(dumps(obj, indent=2) + "\n")


def read_metadata(model_dir: str | Path) -> dict:
    p = Path(model_dir) / METADATA_FILE
    if not p.is_file():
        return {}
    try:
        return json.loads(p.read_text())
    except json.JSONDecodeError as e:
        raise BertkitError(f"{p}: not valid JSON ({e})") from e
