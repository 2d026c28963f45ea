"""stderr for people (logs, progress), stdout for data.

Progress bars only appear on a terminal; in pipes and CI the logs are plain lines.
"""

from __future__ import annotations

import os
import sys
from contextlib import contextmanager

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

err = Console(stderr=True, highlight=False, soft_wrap=True)
_quiet = False


def set_quiet(quiet: bool) -> None:
    global _quiet
    _quiet = quiet


def log(msg: str) -> None:
    """One human-readable line on stderr (suppressed by --quiet)."""
    if not _quiet:
        err.print(msg, markup=False)


def warn(msg: str) -> None:
    err.print(f"warning: {msg}", markup=False, style="yellow")


def progress_enabled() -> bool:
    """A live bar only on a terminal; BERTKIT_NO_PROGRESS=1 turns it off there too."""
    if _quiet or os.environ.get("BERTKIT_NO_PROGRESS"):
        return False
    return sys.stderr.isatty()


class _LogProgress:
    """Outside a terminal: a plain progress line on stderr at most every `every` seconds (for logs and nohup)."""

    def __init__(self, every: float = 30.0):
        import time

        self._time, self.every, self.tasks = time.monotonic, every, {}

    def add_task(self, description, total=None, **fields):
        tid = len(self.tasks)
        self.tasks[tid] = {"description": description, "total": total, "completed": 0, "start": self._time(),
                           "last": self._time(), **fields}
        return tid

    def update(self, tid, completed=None, **fields):
        t = self.tasks[tid]
        if completed is not None:
            t["completed"] = completed
        t.update(fields)
        now = self._time()
        finished = bool(t["total"]) and t["completed"] >= t["total"]
        if (now - t["last"] >= self.every and not t.get("_said_done")) or (
                finished and now - t["start"] >= self.every and not t.get("_said_done")):
            t["last"], t["_said_done"] = now, finished
            done, total = t["completed"], t["total"]
            eta = (now - t["start"]) / done * (total - done) if done and total else None
            extra = " ".join(str(v) for k, v in t.items() if k not in ("description", "total", "completed", "start",
                                                                       "last", "_said_done") and v)
            log(f"{t['description']}: {done}/{total or '?'} {extra}"
                + (f" eta {eta / 60:.1f} min" if eta is not None else ""))

    def advance(self, tid, n=1):
        self.update(tid, completed=self.tasks[tid]["completed"] + n)


@contextmanager
def progress(*extra_fields: str):
    """A rich progress bar on stderr, or a no-op outside a terminal."""
    if not progress_enabled():
        yield _LogProgress(float(os.environ.get("BERTKIT_LOG_EVERY", "30")))
        return
    cols = [
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        *[TextColumn("{task.fields[%s]}" % f) for f in extra_fields],
        TimeElapsedColumn(),
        TextColumn("eta"),
        TimeRemainingColumn(),
    ]
    with Progress(*cols, console=err, transient=False) as p:
        yield p


def quiet_libraries() -> None:
    """transformers/datasets print load reports and warnings on their own; keep stderr readable."""
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
    try:
        import transformers

        transformers.logging.set_verbosity_error()
        transformers.logging.disable_progress_bar()
    except Exception:  # pragma: no cover - transformers missing is reported by `bertkit env`
        pass
    # datasets reads these when it is imported; importing it here only to quiet it would pull in pandas and
    # pyarrow (~90 MB RSS) on inference paths that never touch it
    os.environ.setdefault("DATASETS_VERBOSITY", "error")
    os.environ.setdefault("HF_DATASETS_DISABLE_PROGRESS_BARS", "1")
    datasets = sys.modules.get("datasets")
    if datasets is not None:
        try:
            datasets.logging.set_verbosity_error()
            datasets.disable_progress_bars()
        except Exception:  # pragma: no cover
            pass
