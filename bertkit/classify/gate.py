"""The int8 accuracy gate's hook for classifiers (TaskSpec.gate_ref): the model's selection metric (bertkit.json's
"metric"; accuracy, or macro-F1 for multi-label, otherwise) on a labelled file, and the predicted labels; and the
metric on any resample of the rows, from its counts (for the gate's bootstrap)."""

from __future__ import annotations

from typing import Callable

from bertkit.int8gate import Score


def measure(clf, data: str, limit: int | None) -> Callable[[], Score]:
    """The file is read and its columns and labels checked once; each call scores what `clf` runs now."""
    from bertkit.classify.data import texts
    from bertkit.classify.evaluate import read_labelled
    from bertkit.classify.metrics import DEFAULT_METRIC
    from bertkit.classify.task import decide, evaluate_probs

    df, (t, p, _), y = read_labelled(clf, data, limit=limit)
    text, pair = texts(df, t, data), (texts(df, p, data) if p else None)
    space = clf.space
    metric = clf.meta.get("metric") or DEFAULT_METRIC[space.problem_type]

    def score() -> Score:
        probs = clf.predict_proba(text, pair)
        res = evaluate_probs(space, y, probs, clf.thresholds, detail=False)
        pred = decide(space, probs, clf.thresholds)
        keys = [tuple(row) if getattr(row, "ndim", 0) else int(row) for row in pred]
        on = resampled(metric, y, pred, probs, space.num_labels, space.problem_type == "multilabel")
        return Score(metric, float(res[metric]), metric != "hamming_loss", keys, len(keys), on)

    return score


def resampled(metric: str, y, pred, probs, k: int, multilabel: bool) -> Callable:
    """on(idx): `metric` on the rows `idx` (with repeats), as bertkit.classify.metrics computes it (averages over
    the classes present in the truth or the predictions), from the rows' counts."""
    import numpy as np

    if metric == "roc_auc":
        from sklearn.metrics import roc_auc_score

        return lambda idx: float(roc_auc_score(y[idx], probs[idx, 1])) if len(set(y[idx].tolist())) == 2 else 0.0
    if multilabel:
        yb, pb = y.astype(bool), pred.astype(bool)
        return lambda idx: _multilabel(metric, yb[idx], pb[idx])
    cell = y.astype(np.int64) * k + pred.astype(np.int64)
    return lambda idx: _single(metric, np.bincount(cell[idx], minlength=k * k).reshape(k, k))


def _f1s(tp, pred, true):
    import numpy as np

    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(pred + true > 0, 2 * tp / (pred + true), 0.0)


def _single(metric: str, cm) -> float:
    import numpy as np

    tp, pred, true = np.diag(cm).astype(float), cm.sum(axis=0).astype(float), cm.sum(axis=1).astype(float)
    if metric in ("accuracy", "f1_micro"):  # micro F1 over every class present is the accuracy
        return float(tp.sum() / cm.sum())
    if metric in ("f1", "precision", "recall"):  # the positive class (1) of a binary problem
        den = {"f1": (pred[1] + true[1]) / 2, "precision": pred[1], "recall": true[1]}[metric]
        return float(tp[1] / den) if den else 0.0
    present, f1 = pred + true > 0, _f1s(tp, pred, true)
    if metric == "f1_macro":
        return float(f1[present].mean()) if present.any() else 0.0
    return float((f1 * true).sum() / true.sum()) if true.sum() else 0.0  # f1_weighted


def _multilabel(metric: str, y, p) -> float:
    import numpy as np

    if metric == "subset_accuracy":
        return float((y == p).all(axis=1).mean())
    if metric == "hamming_loss":
        return float((y != p).mean())
    tp, pred, true = (y & p).sum(axis=0), p.sum(axis=0), y.sum(axis=0)
    seen = pred + true > 0
    if not seen.any():
        seen = np.ones_like(seen)
    if metric == "f1_micro":
        return float(_f1s(tp[seen].sum(), pred[seen].sum(), true[seen].sum()))
    return float(_f1s(tp[seen], pred[seen], true[seen]).mean())  # f1_macro
