"""Shared helpers for the bench scripts: JSON lines, load average, children with their own peak RSS.

Every measurement that reports memory runs in a child process of its own (`run_child`): the child
does the work and writes its result as JSON to a file; the parent reaps it with `os.wait4`, whose
resource usage is that child's alone, so `peak_rss_mb` is the child's high-water mark (ru_maxrss).
Sides are run alternately (A, B, B, A, ...) so that a busy machine slows both alike.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, Callable, Iterable, Sequence

REPO = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("BERTKIT_SHARED_DATA", REPO.parent / "shared" / "data"))


def loadavg() -> list[float]:
    try:
        return [round(x, 2) for x in os.getloadavg()]
    except OSError:  # pragma: no cover
        return []


def environment() -> dict[str, Any]:
    from importlib import metadata

    env: dict[str, Any] = {"python": platform.python_version(), "cpus": os.cpu_count()}
    for p in ("torch", "transformers", "accelerate"):
        try:
            env[p] = metadata.version(p)
        except metadata.PackageNotFoundError:  # pragma: no cover
            pass
    return env


def emit(record: dict[str, Any]) -> dict[str, Any]:
    """Print one JSON line (stdout), with the load average at the time of printing."""
    rec = {**record, "loadavg": loadavg()}
    print(json.dumps(rec), flush=True)
    return rec


def median(xs: Sequence[float]) -> float:
    return float(statistics.median(xs)) if xs else float("nan")


def order(sides: Sequence[str], repeats: int) -> list[str]:
    """A B, B A, A B, ...: each repeat reverses the previous one, so drift in the machine's load cancels."""
    out: list[str] = []
    for r in range(repeats):
        out += list(sides) if r % 2 == 0 else list(reversed(sides))
    return out


def run_child(argv: Sequence[str], python: str | None = None, env: dict[str, str] | None = None,
              timeout: float | None = None, quiet: bool = True) -> dict[str, Any]:
    """Run `python argv... --result FILE` in a child; its JSON result plus wall_s and peak_rss_mb (its own ru_maxrss).

    The child's stderr goes to a log file (shown when it fails, or always with quiet=False)."""
    with tempfile.TemporaryDirectory(prefix="bertkit-bench-") as tmp:
        res_file, log_file = Path(tmp) / "result.json", Path(tmp) / "stderr.log"
        cmd = [python or sys.executable, *argv, "--result", str(res_file)]
        child_env = {**os.environ, "BERTKIT_NO_PROGRESS": "1", "TOKENIZERS_PARALLELISM": "false",
                     "HF_HUB_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1", "TRANSFORMERS_VERBOSITY": "error",
                     "DISABLE_TQDM": "1", "PYTHONPATH": os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")])),
                     **(env or {})}
        t0 = time.perf_counter()
        with open(log_file, "wb") as log:
            proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL if quiet else None, stderr=log if quiet else None,
                                    env=child_env, cwd=str(REPO))
            deadline = None if timeout is None else t0 + timeout
            while True:
                pid, status, usage = os.wait4(proc.pid, os.WNOHANG)
                if pid:
                    break
                if deadline and time.perf_counter() > deadline:
                    proc.kill()
                    pid, status, usage = os.wait4(proc.pid, 0)
                    break
                time.sleep(0.05)
        proc.returncode = os.waitstatus_to_exitcode(status)  # reaped here; keep Popen from waiting again
        wall = time.perf_counter() - t0
        if proc.returncode != 0 or not res_file.is_file():
            tail = log_file.read_text(errors="replace")[-4000:] if log_file.is_file() else ""
            raise RuntimeError(f"child failed (exit {proc.returncode}): {' '.join(cmd)}\n{tail}")
        out = json.loads(res_file.read_text())
    out["child_wall_s"] = round(wall, 2)
    out["peak_rss_mb"] = round(usage.ru_maxrss / 1024, 1)  # Linux: kilobytes
    return out


def write_result(path: str | None, result: dict[str, Any]) -> None:
    """The child's side of run_child."""
    if path:
        Path(path).write_text(json.dumps(result))
    else:
        print(json.dumps(result), flush=True)


def add_child_options(ap: argparse.ArgumentParser, names: Iterable[str]) -> None:
    """The hidden options a script's children are run with: `SCRIPT --child NAME --params JSON` (+ run_child's --result)."""
    ap.add_argument("--child", choices=tuple(names), help=argparse.SUPPRESS)
    ap.add_argument("--params", help=argparse.SUPPRESS)
    ap.add_argument("--result", help=argparse.SUPPRESS)


def run_as_child(args: argparse.Namespace, children: dict[str, Callable[[dict], dict]]) -> bool:
    """In a child (--child NAME): run children[NAME] on --params and write its result; True when it did."""
    if not args.child:
        return False
    write_result(args.result, children[args.child](json.loads(args.params)))
    return True


def timed(fn: Callable[[], Any]) -> tuple[Any, float]:
    t0 = time.perf_counter()
    out = fn()
    return out, time.perf_counter() - t0


def read_tsv(path: str | Path, text_col: str = "sentence", label_col: str | None = "label") -> tuple[list[str], list[int]]:
    """SST-2 style TSV with a header, no quoting (as GLUE ships it)."""
    import csv

    with open(path, encoding="utf-8", newline="") as f:
        rows = list(csv.reader(f, delimiter="\t", quoting=csv.QUOTE_NONE))
    head = rows[0]
    ti = head.index(text_col)
    li = head.index(label_col) if label_col and label_col in head else None
    texts = [r[ti] for r in rows[1:]]
    labels = [int(r[li]) for r in rows[1:]] if li is not None else []
    return texts, labels


def packaged_model() -> str:
    from bertkit.modeling import packaged_model_dir

    return str(packaged_model_dir())


def tiny_model(path: Path) -> str:
    """The tests' 2-layer random BERT, for --smoke runs."""
    import importlib.util

    if not (path / "config.json").is_file():  # tests/conftest.py read as a file: tests/ is no package
        spec = importlib.util.spec_from_file_location("bertkit_tests_conftest", REPO / "tests" / "conftest.py")
        conftest = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(conftest)
        conftest.build_tiny_bert(path)
    return str(path)
