"""`--extra-metric NAME|PATH` on `classify eval` and `qa eval`: Hugging Face `evaluate` metrics next to the
built-in ones (which stay scikit-learn and the official SQuAD rules).

A metric is a hub name (`accuracy`, `matthews_correlation`, `squad_v2`; needs the network or the local
`evaluate` cache), or a local metric script (`my_metric.py`) or folder (`my_metric/my_metric.py`), which load
offline. The package is an optional extra: `pip install 'bertkit[evaluate]'`.

Inputs given to the metric's `compute`:
- classify: `predictions` and `references` as label ids (binary, multi-class) or 0/1 lists per label (multi-label);
- qa: SQuAD-style metrics (their `predictions` feature has `prediction_text`) get
  `[{"id", "prediction_text"(, "no_answer_probability")}]` and `[{"id", "answers"}]`; any other metric gets the
  predicted answer strings and the gold answers (all of them when its `references` feature is a sequence,
  else the first; "" for unanswerable questions).
Results come back under `extra_metrics` in the output, by metric name.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Mapping, Sequence

import numpy as np

from bertkit.errors import BertkitError


_LOADED: dict[str, Any] = {}


def load_metric(spec: str):
    """An `evaluate` metric by hub name, local script or folder, with one-line errors (loaded once per process)."""
    if spec in _LOADED:
        return _LOADED[spec]
    try:
        import evaluate
    except ImportError as e:
        raise BertkitError(f"--extra-metric {spec}: needs the 'evaluate' package: pip install 'bertkit[evaluate]'") from e
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


def _compute(spec: str, metric, **inputs) -> dict[str, Any]:
    try:
        res = metric.compute(**inputs)
    except Exception as e:
        msg = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        raise BertkitError(f"--extra-metric {spec}: the metric failed on these predictions ({msg})") from e
    return res if isinstance(res, dict) else {"value": res}


def _name(spec: str, metric) -> str:
    return getattr(metric, "name", None) or Path(spec).stem


def classify_extra(specs: Sequence[str] | None, y: np.ndarray, pred: np.ndarray) -> dict[str, dict]:
    """{metric name: its results} on label ids (or 0/1 rows for multi-label)."""
    out: dict[str, dict] = {}
    for spec in specs or ():
        m = load_metric(spec)
        out[_name(spec, m)] = _compute(spec, m, predictions=np.asarray(pred).tolist(), references=np.asarray(y).tolist())
    return out


def _feature(metric, key: str):
    feats = metric.features
    if isinstance(feats, (list, tuple)):
        feats = feats[0]
    return feats.get(key) if hasattr(feats, "get") else None


def qa_extra(specs: Sequence[str] | None, gold: Sequence[dict] | dict, texts: Mapping[str, str],
             na_probs: Mapping[str, float] | None = None) -> dict[str, dict]:
    """{metric name: its results} for QA predictions {id: text} against the gold (SQuAD dataset or article list)."""
    if not specs:
        return {}
    from bertkit.qa.squad_metrics import gold_questions

    golds = [g for g in gold_questions(gold) if g.qid in texts]
    out: dict[str, dict] = {}
    for spec in specs:
        m = load_metric(spec)
        pf, rf = _feature(m, "predictions"), _feature(m, "references")
        if isinstance(pf, dict) and "prediction_text" in pf:
            preds = [{"id": g.qid, "prediction_text": texts[g.qid]} for g in golds]
            if "no_answer_probability" in pf:
                for p in preds:
                    p["no_answer_probability"] = float(na_probs.get(p["id"], 0.0)) if na_probs else 0.0
            refs = [{"id": g.qid, "answers": {"text": list(g.answers), "answer_start": [0] * len(g.answers)}} for g in golds]
        else:
            preds = [texts[g.qid] for g in golds]
            many = rf is not None and not hasattr(rf, "dtype")  # a Sequence / list feature: all gold answers
            refs = [(list(g.answers) or [""]) if many else (g.answers[0] if g.answers else "") for g in golds]
        out[_name(spec, m)] = _compute(spec, m, predictions=preds, references=refs)
    return out


def qa_results(specs: Sequence[str] | None, gold, preds, version_2: bool = False, threshold: float = 0.0,
               na_probs: Mapping[str, float] | None = None) -> dict[str, Any]:
    """`{"extra_metrics": {...}}` for `qa eval` (empty without specs): `preds` is a list of Predictions (a model
    run, decided at `threshold`) or {id: text} (a predictions file, with its `na_probs`)."""
    if not specs:
        return {}
    if not isinstance(preds, Mapping):
        texts = {p.id: p.text(version_2, threshold) for p in preds}
        na_probs = {p.id: p.score_diff for p in preds} if version_2 else None
        preds = texts
    return {"extra_metrics": qa_extra(specs, gold, preds, na_probs)}
