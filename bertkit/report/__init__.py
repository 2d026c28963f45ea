"""`bertkit report DIR`: one self-contained HTML page about the output folder of a training run (any task).

What it shows: the run's settings (bertkit.json `training_args`), the data (metrics.json `train` and the dev data
read again), training curves (metrics.json `history`), dev metrics, the confusion matrix or per-label F1 with the
tuned thresholds (classify) or EM/F1 with HasAns/NoAns and the null-threshold curve (QA), and the worst mistakes:
the highest-confidence dev errors, found by running the model on the dev data recorded at training (or --data)
through the same code as the task's `eval`. The task's own sections come from its package (TaskSpec.report_ref).
"""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import Any

from bertkit.errors import BertkitError, UsageError
from bertkit.report import html as H

__all__ = ["build_report", "write_report"]


def _train_commands() -> str:
    from bertkit.taskspec import registry

    return " or ".join(f"`bertkit {name} train`" for name in registry())


def _read(model_dir: Path) -> tuple[dict, dict]:
    from bertkit.outdir import METRICS_FILE, read_metadata

    if not model_dir.is_dir():
        raise BertkitError(f"{model_dir}: not a folder; give an output folder of {_train_commands()}")
    from bertkit.taskspec import registry

    meta = read_metadata(model_dir)
    tasks = registry()
    if meta.get("task") not in tasks:
        raise BertkitError(f"{model_dir}: no bertkit.json with a task ({' or '.join(tasks)}); "
                           f"is this an output folder of {_train_commands()}?")
    p = model_dir / METRICS_FILE
    try:
        metrics = json.loads(p.read_text()) if p.is_file() else {}
    except json.JSONDecodeError as e:
        raise BertkitError(f"{p}: not valid JSON ({e})") from e
    return meta, metrics


def dev_source(meta: dict, data: str | None) -> tuple[str | None, str]:
    """(the dev data to read, why): --data, else the --dev recorded at training when it can still be read."""
    if data:
        return data, "--data"
    dev = (meta.get("training_args") or {}).get("dev")
    if not dev:
        return None, "the model was trained without --dev; give dev data with --data to see metrics and mistakes"
    looks_file = Path(dev).suffix or "/" in dev or dev.startswith(".")
    if looks_file and not Path(dev).exists():
        return None, f"the dev data recorded at training ({dev}) is not found from here; give it with --data"
    return dev, "the --dev recorded at training"


def settings_section(meta: dict, metrics: dict) -> str:
    args = meta.get("training_args") or {}
    shown = [(k, v) for k, v in args.items() if v is not None and v is not False]
    versions = meta.get("versions") or {}
    ver = ", ".join(f"{k} {v}" for k, v in versions.items() if isinstance(v, (str, int, float)))
    return H.kv(shown) + (H.note(f"versions: {ver}") if ver else "")


def curves_section(metrics: dict) -> str:
    from bertkit import plots

    history = metrics.get("history") or []
    train = metrics.get("train") or {}
    fig = plots.training_curves(history, metrics.get("metric"))
    out = H.image(fig, "training curves") if fig is not None else H.note(
        "no evaluation history was recorded (trained without --dev), so there are no curves")
    keep = [(k, v) for k, v in train.items() if isinstance(v, (int, float, str)) and not isinstance(v, bool)]
    best = metrics.get("best") or {}
    if best:
        keep.append(("best evaluation", f"step {best.get('step')}, epoch {best.get('epoch')}"))
    return out + H.kv(keep)


def build_report(model_dir: str | os.PathLike, data: str | None = None, mistakes: int = 20, limit: int | None = None,
                 batch_size: int | None = None, allow_pickle: bool = False, trust_remote_code: bool = False) -> str:
    """The page as a string."""
    from bertkit import console

    console.quiet_libraries()
    if mistakes < 0 or (limit is not None and limit < 1):
        raise UsageError("--mistakes must be 0 or more and --limit at least 1")
    d = Path(model_dir)
    meta, metrics = _read(d)
    dev, why = dev_source(meta, data)
    kw: dict[str, Any] = {"mistakes": mistakes, "limit": limit, "batch_size": batch_size, "allow_pickle": allow_pickle,
                          "trust_remote_code": trust_remote_code}
    if dev:
        console.log(f"running {d} on {dev} ({why})")
    else:
        console.log(f"no dev data: {why}")
    from bertkit.taskspec import get, load

    sections = load(get(meta["task"]).report_ref)
    try:
        body = sections(str(d), meta, metrics, dev, why, **kw)
    except BertkitError as e:
        if data or not dev or dev not in str(e):  # only the recorded dev data failing is a note, not an error
            raise
        why = f"the dev data recorded at training ({dev}) could not be read here ({e}); give it with --data"
        console.warn(why)
        dev = None
        body = sections(str(d), meta, metrics, None, why, **kw)
    title = f"bertkit report: {d.resolve().name}"  # the model's folder name, not its path
    sub = f"{meta['task']} model in {d}" + (f"; dev data: {dev} ({why})" if dev else f"; {why}")
    return H.page(title, sub, [("Settings", settings_section(meta, metrics)), *body[:1],
                               ("Training", curves_section(metrics)), *body[1:]])


def write_report(model_dir: str | os.PathLike, output: str | os.PathLike, **kw: Any) -> str:
    """Build the page and write it whole (a temporary file renamed into place)."""
    out = Path(output)
    if out.suffix.lower() not in (".html", ".htm"):
        raise BertkitError(f"--output {output}: the report is an HTML page; give a name ending in .html")
    text = build_report(model_dir, **kw)
    out.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{out.name}.", dir=out.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(text)
        os.chmod(tmp, 0o644)
        os.replace(tmp, out)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return str(out)
