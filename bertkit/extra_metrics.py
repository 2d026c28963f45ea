"""`--extra-metric NAME|PATH` on `classify eval` and `qa eval`: Hugging Face `evaluate` metrics next to the
built-in ones (which stay scikit-learn and the official SQuAD rules).

A metric is a hub name (`accuracy`, `matthews_correlation`, `squad_v2`; needs the network or the local
`evaluate` cache), or a local metric script (`my_metric.py`) or folder (`my_metric/my_metric.py`), which load
offline. The package is an optional extra: `pip install 'bertkit[evaluate]'`.

Each task's adapter (`bertkit/<task>/metric_adapter.py`, TaskSpec.extra_metrics_ref) turns its predictions into
the metric's `compute` inputs:
- classify: `predictions` and `references` as label ids (binary, multi-class) or 0/1 lists per label (multi-label);
- qa: SQuAD-style metrics (their `predictions` feature has `prediction_text`) get
  `[{"id", "prediction_text"(, "no_answer_probability")}]` and `[{"id", "answers"}]`; any other metric gets the
  predicted answer strings and the gold answers (all of them when its `references` feature is a sequence,
  else the first; "" for unanswerable questions).
Results come back under `extra_metrics` in the output, by metric name.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Sequence

from bertkit.errors import BertkitError

_LOADED: dict[str, Any] = {}


def load_metric(spec: str):
    """An `evaluate` metric by hub name, local script or folder, with one-line errors (loaded once per process)."""
    if spec in _LOADED:
        return _LOADED[spec]
    try:
        import evaluate
    except ImportError as e:
        raise BertkitError(f"--extra-metric {spec}: needs the 'evaluate' package: "
                           "pip install 'bertkit[evaluate]'") from e
    p = Path(spec).expanduser()
    looks_local = p.suffix == ".py" or "/" in spec or spec.startswith(".")
    if looks_local and not p.exists():
        raise BertkitError(f"--extra-metric {spec}: no such metric script or folder")
    try:
        from bertkit.console import quiet_libraries

        quiet_libraries()
        _LOADED[spec] = evaluate.load(str(p) if p.exists() else spec)
        return _LOADED[spec]
    except Exception as e:  # evaluate raises FileNotFoundError, ConnectionError, ImportError, ...
        msg = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        hint = "" if p.exists() else "; offline, give a local metric script or folder"
        raise BertkitError(f"--extra-metric {spec}: could not load the metric ({msg}){hint}") from e


def load_all(specs: Sequence[str] | None) -> None:
    """Load every metric up front: a missing package or metric fails before any model runs."""
    for spec in specs or ():
        load_metric(spec)


def compute(spec: str, metric, **inputs) -> dict[str, Any]:
    try:
        res = metric.compute(**inputs)
    except Exception as e:
        msg = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        raise BertkitError(f"--extra-metric {spec}: the metric failed on these predictions ({msg})") from e
    return res if isinstance(res, dict) else {"value": res}


def metric_name(spec: str, metric) -> str:
    return getattr(metric, "name", None) or Path(spec).stem


def feature(metric, key: str):
    feats = metric.features
    if isinstance(feats, (list, tuple)):
        feats = feats[0]
    return feats.get(key) if hasattr(feats, "get") else None
