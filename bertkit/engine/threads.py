"""How many torch CPU threads to use without oversubscribing the cores.

libgomp (torch's OpenMP) spins its threads at every parallel region. When other processes already
keep some cores busy, two threads on two shared cores wait for each other behind the scheduler: on
a 2-core machine running two other CPU jobs, a MiniLM training step took 4x longer with 2 threads
than with 1 (fp32, batch 32 x 14 tokens: 2,652 ms vs 665 ms). So, unless told otherwise, bertkit
takes one thread per physical core. That choice must not depend on the load: the thread count changes the order of floating-point
sums, so a load-aware default made two identical commands give different weights. `--threads auto` opts into
the load-aware choice: cores minus the runnable tasks of other processes (Linux: /proc/loadavg, sampled for
~0.1 s), at least 1.
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
        return max(1, int(requested)), "--threads"
    env = os.environ.get("OMP_NUM_THREADS")
    if env and env.isdigit() and int(env) > 0:
        return int(env), "OMP_NUM_THREADS"
    cores = physical_cores()
    share = max(1, cores // max(1, processes))
    if requested != "auto":
        return share, f"{cores} physical cores" + (f" / {processes} processes" if processes > 1 else "")
    busy = other_runnable()
    if busy is None or cores == 1:
        return share, f"--threads auto: {cores} cores"
    free = max(1, min(share, cores - int(round(busy))))
    return free, f"--threads auto: {cores} cores, {busy:g} runnable tasks of other processes"


def set_auto_threads(requested: int | str | None = None, processes: int = 1) -> tuple[int, str]:
    import torch

    n, why = auto_threads(requested, processes)
    torch.set_num_threads(n)
    return torch.get_num_threads(), why
