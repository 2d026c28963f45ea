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


_RECORDS: list[dict[str, Any]] = []  # every line printed, for --save-results


def emit(record: dict[str, Any]) -> dict[str, Any]:
    """Print one JSON line (stdout), with the load average at the time of printing."""
    rec = {**record, "loadavg": loadavg()}
    print(json.dumps(rec), flush=True)
    _RECORDS.append(rec)
    return rec


def machine() -> str:
    """The CPU model, cores, GPU (if any) and platform, as one line for a result file."""
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:  # pragma: no cover
        pass
    gpu = ""
    torch = sys.modules.get("torch")  # only when the script imported it (a script without torch never loads it)
    if torch is not None and torch.cuda.is_available():
        gpu = ", GPU " + torch.cuda.get_device_name(0)
    return f"{cpu}, {os.cpu_count()} CPUs{gpu or ', no GPU'}, {platform.system()} {platform.release()}"


def results_path(name: str) -> Path:
    """`--save-results NAME` writes bench/results/NAME.json; a value ending in .json is a path."""
    return Path(name) if name.endswith(".json") else REPO / "bench" / "results" / f"{name}.json"


def save_results(path: Path, argv: Sequence[str]) -> Path:
    """Every line printed so far, with the date, machine, command and environment (docs/gen/benchmarks.py)."""
    script = Path(argv[0]).resolve()
    shown = script.relative_to(REPO) if script.is_relative_to(REPO) else script
    doc = {"schema": "bertkit.bench.result/1", "title": script.name,
           "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()), "machine": machine(),
           "command": " ".join(["python", str(shown), *argv[1:]]),
           "environment": environment(), "records": _RECORDS}
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(doc, indent=1) + "\n")
    print(f"wrote {path}", file=sys.stderr)
    return path


def parse_args(ap: argparse.ArgumentParser, argv: Sequence[str] | None = None) -> argparse.Namespace:
    """`ap.parse_args` plus `--save-results NAME`: at exit, every JSON line printed is saved in bench/results/."""
    import atexit

    ap.add_argument("--save-results", metavar="NAME", default=None,
                    help="also write every JSON line, with the date, machine and command, to bench/results/NAME.json "
                         "(a value ending in .json is a path); `python docs/gen/benchmarks.py` renders it")
    args = ap.parse_args(argv)
    if args.save_results and not getattr(args, "child", None):
        atexit.register(save_results, results_path(args.save_results), [sys.argv[0], *(argv or sys.argv[1:])])
    return args


def median(xs: Sequence[float]) -> float:
    return float(statistics.median(xs)) if xs else float("nan")


def paired(ours: Sequence[dict], peer: Sequence[dict], key: str, name: str) -> dict[str, Any]:
    """Round by round (the i-th run of each side: the same seed and repeat, run back to back), our `key` over the
    peer's, and their geometric mean: the machine's drift between rounds cancels in each ratio."""
    import math

    xs = [a[key] / b[key] for a, b in zip(ours, peer) if a.get(key) and b.get(key)]
    if not xs:
        return {}
    return {f"rounds_x_vs_{name}": [round(x, 3) for x in xs],
            f"geomean_x_vs_{name}": round(math.exp(sum(map(math.log, xs)) / len(xs)), 3)}


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
                     "DISABLE_TQDM": "1",
                     "PYTHONPATH": os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")])),
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
    """The hidden options a script's children are run with: `SCRIPT --child NAME --params JSON` (+ run_child's
    --result)."""
    ap.add_argument("--child", choices=tuple(names), help=argparse.SUPPRESS)
    ap.add_argument("--params", help=argparse.SUPPRESS)
    ap.add_argument("--result", help=argparse.SUPPRESS)


def run_as_child(args: argparse.Namespace, children: dict[str, Callable[[dict], dict]]) -> bool:
    """In a child (--child NAME): run children[NAME] on --params and write its result; True when it did."""
    if not args.child:
        return False
    write_result(args.result, children[args.child](json.loads(args.params)))
    return True


def parent_args(ap: argparse.ArgumentParser, children: dict[str, Callable[[dict], dict]]) -> argparse.Namespace | None:
    """The parsed options of the parent process; None in a child, after it has run children[NAME] and written its
    result (`SCRIPT --child NAME --params JSON`)."""
    add_child_options(ap, children)
    args = parse_args(ap)
    return None if run_as_child(args, children) else args


def timed(fn: Callable[[], Any]) -> tuple[Any, float]:
    t0 = time.perf_counter()
    out = fn()
    return out, time.perf_counter() - t0


def read_tsv(path: str | Path, text_col: str = "sentence",
             label_col: str | None = "label") -> tuple[list[str], list[int]]:
    """SST-2 style TSV with a header, no quoting (as GLUE ships it), read by bertkit's one table reader."""
    from bertkit.data.io import read_table

    df = read_table(str(path), header=True)
    texts = df[text_col].tolist()
    labels = [int(v) for v in df[label_col]] if label_col and label_col in df.columns else []
    return texts, labels


def packaged_model() -> str:
    from bertkit.modeling import packaged_model_dir

    return str(packaged_model_dir())


def trained_max_length(model: str | Path, default: int | None = None) -> int | None:
    """The max_length a bertkit folder was trained at (bertkit.json), which bertkit reads it at; `default` for a
    folder without one."""
    meta = Path(model) / "bertkit.json"
    return json.loads(meta.read_text()).get("max_length", default) if meta.is_file() else default


def tiny_model(path: Path) -> str:
    """The tests' 2-layer random BERT, for --smoke runs."""
    import importlib.util

    if not (path / "config.json").is_file():  # tests/conftest.py read as a file: tests/ is no package
        spec = importlib.util.spec_from_file_location("bertkit_tests_conftest", REPO / "tests" / "conftest.py")
        conftest = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(conftest)
        conftest.build_tiny_bert(path)
    return str(path)
