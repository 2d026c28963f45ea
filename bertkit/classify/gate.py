"""The int8 accuracy gate's hook for classifiers (TaskSpec.gate_ref): the model's selection metric (bertkit.json's
"metric"; accuracy, or macro-F1 for multi-label, otherwise) on a labelled file, and the predicted labels."""

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
        keys = [tuple(row) if getattr(row, "ndim", 0) else int(row) for row in decide(space, probs, clf.thresholds)]
        return Score(metric, float(res[metric]), metric != "hamming_loss", keys)

    return score
