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
    if _quiet or os.environ.get("BERTKIT_NO_PROGRESS"):
        return False
    return sys.stderr.isatty()


class _NullProgress:
    def add_task(self, *a, **k):
        return 0

    def update(self, *a, **k):
        pass

    def advance(self, *a, **k):
        pass


@contextmanager
def progress(*extra_fields: str):
    """A rich progress bar on stderr, or a no-op outside a terminal."""
    if not progress_enabled():
        yield _NullProgress()
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
    try:
        import datasets

        datasets.logging.set_verbosity_error()
        datasets.disable_progress_bars()
    except Exception:  # pragma: no cover
        pass
