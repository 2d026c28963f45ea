"""How many torch CPU threads to use without oversubscribing the cores.

The design, with its measurements: docs/design/engine.md#threads.
"""

from __future__ import annotations

import os
import statistics
import time


def physical_cores() -> int:
    try:
        import psutil

        n = psutil.cpu_count(logical=False) or os.cpu_count() or 1
    except Exception:  # pragma: no cover
        n = os.cpu_count() or 1
    try:
        n = min(n, len(os.sched_getaffinity(0)))
    except (AttributeError, OSError):  # pragma: no cover - not Linux
        pass
    return max(1, n)


def other_runnable(samples: int = 10, interval: float = 0.01) -> float | None:
    """Runnable tasks (threads) of other processes now: the median over a few samples of /proc/loadavg's
    running count, less the one that reads it. None where /proc/loadavg does not exist."""
    counts = []
    for k in range(samples):
        try:
            with open("/proc/loadavg") as f:
                running = int(f.read().split()[3].split("/")[0])
        except (OSError, ValueError, IndexError):
            return None
        counts.append(running - 1)
        if k + 1 < samples:
            time.sleep(interval)
    return float(statistics.median(counts))


def auto_threads(requested: int | str | None = None, processes: int = 1) -> tuple[int, str]:
    """(threads, why). `requested` if a number; OMP_NUM_THREADS if set; by default the physical cores shared by
    this machine's training processes, whatever the load (so two identical runs use the same threads and give the
    same weights); `"auto"` opts into the load-aware choice: the physical cores free right now."""
    if requested not in (None, "", "auto"):
        return max(1, int(requested)), "as asked"
    env = os.environ.get("OMP_NUM_THREADS")
    if env and env.isdigit() and int(env) > 0:
        return int(env), "OMP_NUM_THREADS"
    cores = physical_cores()
    share = max(1, cores // max(1, processes))
    if requested != "auto":
        return share, f"{cores} physical cores" + (f" / {processes} processes" if processes > 1 else "")
    busy = other_runnable()
    if busy is None or cores == 1:
        return share, f"auto: {cores} cores"
    free = max(1, min(share, cores - int(round(busy))))
    return free, f"auto: {cores} cores, {busy:g} runnable tasks of other processes"


def set_auto_threads(requested: int | str | None = None, processes: int = 1) -> tuple[int, str]:
    import torch

    n, why = auto_threads(requested, processes)
    torch.set_num_threads(n)
    return torch.get_num_threads(), why
