"""A fixed glibc mmap threshold, so peak memory does not depend on the size of an array freed earlier; and, while
the training loop runs, freed heap memory kept for the next step instead of returned to the system.

The design, with its measurements: docs/design/engine.md#memory-a-fixed-glibc-mmap-threshold.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import os
import sys
from contextlib import contextmanager
from typing import Iterator

M_TRIM_THRESHOLD, M_MMAP_THRESHOLD = -1, -3  # glibc's mallopt parameter numbers
THRESHOLD = 32 << 20
TRIM_DEFAULT = 128 << 10  # glibc's trim threshold once the mmap threshold is set (its adjustment is then off)
TRIM_TRAINING = (1 << 31) - 1  # mallopt takes a C int: the largest, ~2 GB of free heap top kept
_done = False


def _libc():
    if not sys.platform.startswith("linux"):
        return None
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        return libc if hasattr(libc, "mallopt") else None
    except OSError:
        return None


def fix_mmap_threshold(threshold: int = THRESHOLD) -> bool:
    """Set glibc's mmap threshold once per process; False where not glibc or where the user set it."""
    global _done
    if _done or not sys.platform.startswith("linux") or os.environ.get("MALLOC_MMAP_THRESHOLD_"):
        return False
    libc = _libc()  # None: not glibc (musl has no mallopt)
    ok = libc is not None and bool(libc.mallopt(M_MMAP_THRESHOLD, int(threshold)))
    _done = ok
    return ok


@contextmanager
def keep_freed_heap() -> Iterator[bool]:
    """While the training loop runs: glibc keeps up to ~2 GB of freed memory at the top of its heap for the next
    step's tensors (with the mmap threshold fixed, its trim threshold is 128 KiB, and every step returned the memory
    of its activations to the system and faulted it in again). Yields whether it was set; afterwards the threshold is
    back and the kept memory returned. A user's MALLOC_TRIM_THRESHOLD_ wins; it does nothing before
    fix_mmap_threshold (glibc's own adjustment, which keeps up to twice the mmap threshold, is then still on)."""
    libc = None if os.environ.get("MALLOC_TRIM_THRESHOLD_") or not _done else _libc()
    ok = libc is not None and bool(libc.mallopt(M_TRIM_THRESHOLD, TRIM_TRAINING))
    try:
        yield ok
    finally:
        if ok:
            libc.mallopt(M_TRIM_THRESHOLD, TRIM_DEFAULT)
            libc.malloc_trim(0)
