"""Classification metrics with scikit-learn, and decision-threshold tuning."""

from __future__ import annotations

from typing import Sequence

import numpy as np

from bertkit.errors import BertkitError


class _LazySklearnMetrics:
    """sklearn.metrics on first use: predicting never scores, and importing scikit-learn (with scipy)
    costs ~1 s and ~100 MB of memory."""

    def __getattr__(self, name: str):
        from sklearn import metrics

        return getattr(metrics, name)


skm = _LazySklearnMetrics()

THRESHOLD_GRID = np.round(np.arange(0.02, 0.99, 0.01), 2)

BINARY_METRICS = ("accuracy", "f1", "f1_macro", "precision", "recall", "roc_auc")
MULTICLASS_METRICS = ("accuracy", "f1_macro", "f1_micro", "f1_weighted")
MULTILABEL_METRICS = ("f1_macro", "f1_micro", "subset_accuracy", "hamming_loss")
DEFAULT_METRIC = {"binary": "accuracy", "multiclass": "accuracy", "multilabel": "f1_macro"}


def check_metric(problem_type: str, metric: str | None) -> str:
    metric = metric or DEFAULT_METRIC[problem_type]
    allowed = {"binary": BINARY_METRICS, "multiclass": MULTICLASS_METRICS,
               "multilabel": MULTILABEL_METRICS}[problem_type]
    if metric not in allowed:
        raise BertkitError(f"--metric {metric!r} is not available for {problem_type}; choose one of: "
                           f"{', '.join(allowed)}")
    return metric


def _prf(y, p, average, labels=None) -> tuple[float, float, float]:
    pr, rc, f1, _ = skm.precision_recall_fscore_support(y, p, average=average, labels=labels, zero_division=0)
    return float(pr), float(rc), float(f1)


def present_labels(y: np.ndarray, pred: np.ndarray, k: int) -> tuple[list[int], list[int]]:
    """(ids in the truth or the predictions, ids in neither). Averages run over the first: a class that no row
    has and no prediction names would count as F1 0 and pull macro scores down for nothing."""
    seen = set(np.unique(y).tolist()) | set(np.unique(pred).tolist())
    return [i for i in range(k) if i in seen], [i for i in range(k) if i not in seen]


def single_label_metrics(y: np.ndarray, pred: np.ndarray, names: Sequence[str], pos_scores: np.ndarray | None = None,
                         detail: bool = True) -> dict:
    labels, absent = present_labels(y, pred, len(names))
    out: dict = {"accuracy": float(skm.accuracy_score(y, pred))}
    if absent:  # said, not silent: the averages below leave these classes out
        out["classes_not_averaged"] = [names[i] for i in absent]
    for avg in ("macro", "micro", "weighted"):
        p, r, f = _prf(y, pred, avg, labels)
        out[f"precision_{avg}"], out[f"recall_{avg}"], out[f"f1_{avg}"] = p, r, f
    if len(names) == 2:
        p, r, f = _prf(y, pred, "binary")
        out["precision"], out["recall"], out["f1"] = p, r, f
        if pos_scores is not None:
            out["roc_auc"] = float(skm.roc_auc_score(y, pos_scores)) if len(set(y.tolist())) == 2 else None
    if detail:
        out["per_class"] = _report(y, pred, names, labels)
        every = list(range(len(names)))
        out["confusion_matrix"] = {"labels": list(names),
                                   "matrix": skm.confusion_matrix(y, pred, labels=every).tolist()}
    out["n"] = int(len(y))
    return out


def multilabel_metrics(y: np.ndarray, pred: np.ndarray, names: Sequence[str], detail: bool = True) -> dict:
    out: dict = {}
    seen = (y.sum(axis=0) + pred.sum(axis=0)) > 0 if len(y) else np.zeros(len(names), dtype=bool)
    labels = [j for j in range(len(names)) if seen[j]] or None
    if labels is not None and len(labels) < len(names):
        out["classes_not_averaged"] = [names[j] for j in range(len(names)) if not seen[j]]
    for avg in ("macro", "micro", "weighted", "samples"):
        p, r, f = _prf(y, pred, avg, labels if avg != "samples" else None)
        out[f"precision_{avg}"], out[f"recall_{avg}"], out[f"f1_{avg}"] = p, r, f
    out["subset_accuracy"] = float(skm.accuracy_score(y, pred))
    out["hamming_loss"] = float(skm.hamming_loss(y, pred))
    if detail:
        out["per_class"] = _report(y, pred, names, None)
        cms = skm.multilabel_confusion_matrix(y, pred).reshape(len(names), 4)
        out["per_label_confusion"] = {"labels": list(names), "columns": ["tn", "fp", "fn", "tp"],
                                      "matrix": cms.tolist()}
    out["n"] = int(len(y))
    return out


def _report(y, pred, names, labels) -> dict:
    if labels is not None:  # the names of just these ids
        names = [names[i] for i in labels]
    rep = skm.classification_report(y, pred, labels=labels, target_names=list(names), output_dict=True, zero_division=0)
    return {n: {k: (float(v) if k != "support" else int(v)) for k, v in rep[n].items()} for n in names if n in rep}


def score(metric: str, y: np.ndarray, pred: np.ndarray) -> float:
    if metric in ("accuracy", "subset_accuracy"):
        return float(skm.accuracy_score(y, pred))
    if metric == "hamming_loss":
        return -float(skm.hamming_loss(y, pred))
    if metric == "f1":
        return float(skm.f1_score(y, pred, average="binary", zero_division=0))
    if metric.startswith("f1_"):
        return float(skm.f1_score(y, pred, average=metric[3:], zero_division=0))
    if metric in ("precision", "recall"):
        fn = skm.precision_score if metric == "precision" else skm.recall_score
        return float(fn(y, pred, average="binary", zero_division=0))
    raise BertkitError(f"cannot tune a threshold for metric {metric!r}")


def tune_binary_threshold(y: np.ndarray, prob: np.ndarray, metric: str) -> tuple[float, float, float]:
    """(threshold, score at threshold, score at 0.5): the grid value that maximises `metric` (ties: closest to 0.5)."""
    if metric == "roc_auc":
        metric = "accuracy"  # AUC does not depend on the threshold
    base = score(metric, y, (prob > 0.5).astype(int))
    best_t, best = 0.5, base
    for t in THRESHOLD_GRID:
        s = score(metric, y, (prob > t).astype(int))
        if s > best + 1e-12 or (abs(s - best) <= 1e-12 and abs(t - 0.5) < abs(best_t - 0.5)):
            best_t, best = float(t), s
    return best_t, best, base


def tune_multilabel_thresholds(y: np.ndarray, prob: np.ndarray) -> np.ndarray:
    """Per-label thresholds maximising each label's F1 on dev (0.5 where the label never occurs)."""
    out = np.full(y.shape[1], 0.5)
    for j in range(y.shape[1]):
        if y[:, j].sum() == 0:
            continue
        best_t, best = 0.5, skm.f1_score(y[:, j], prob[:, j] > 0.5, zero_division=0)
        for t in THRESHOLD_GRID:
            s = skm.f1_score(y[:, j], prob[:, j] > t, zero_division=0)
            if s > best + 1e-12:
                best_t, best = float(t), s
        out[j] = best_t
    return out
