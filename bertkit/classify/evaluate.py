"""`classify eval`: a trained model scored on labelled data with scikit-learn metrics."""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

import numpy as np

from bertkit.classify.data import detect_columns, encode_labels, texts
from bertkit.classify.task import evaluate_probs
from bertkit.data.columns import row_text
from bertkit.errors import BertkitError


@dataclass
class EvalRun:
    """What one evaluation saw and computed (`bertkit report` shows the rows and the mistakes)."""

    metrics: dict[str, Any]
    df: Any  # the data as read (pandas)
    columns: tuple[str, str | None, str]  # text, pair, label
    y: np.ndarray
    probs: np.ndarray


def evaluate_file(model_dir: str, data: str, text_col=None, pair_col=None, label_col=None, header=None, threshold=None,
                  limit=None, batch_size=None, allow_pickle=False, trust_remote_code=False, extra_metrics=None,
                  fast=False) -> dict[str, Any]:
    """Scores of a model folder on labelled data; `extra_metrics`: `evaluate` metric names or paths (see
    bertkit.extra_metrics), loaded before the model so a missing one fails fast."""
    from bertkit.classify.metric_adapter import classify_extra
    from bertkit.classify.predict import Classifier
    from bertkit.defaults import TrainConfig, check_options
    from bertkit.extra_metrics import load_all

    check_options(TrainConfig, limit=limit,
                  **({"batch_size": batch_size} if batch_size is not None else {}))  # None: the default
    load_all(extra_metrics)
    clf = Classifier(model_dir, batch_size=batch_size, threshold=threshold, allow_pickle=allow_pickle,
                     trust_remote_code=trust_remote_code,
                     fast=fast)
    run = evaluate_classifier(clf, model_dir, data, text_col, pair_col, label_col, header, limit)
    if extra_metrics:
        from bertkit.classify.task import decide

        run.metrics["extra_metrics"] = classify_extra(extra_metrics, run.y,
                                                      decide(clf.space, run.probs, clf.thresholds))
    return run.metrics


def read_labelled(clf, data: str, text_col=None, pair_col=None, label_col=None, header=None, limit=None):
    """(table, (text, pair, label) columns, encoded labels) of a labelled file, its columns found as the model's."""
    from bertkit.data.io import read_table

    meta = clf.meta
    df = read_table(data, header=header, limit=limit, default_split="validation")
    if df.empty:
        raise BertkitError(f"{data}: no rows")

    def saved(key: str) -> str | None:  # the model's training column, when this file has it
        c = meta.get(key)
        return c if c and row_text(df.iloc[0].to_dict(), c) is not None else None

    t, p, lab = detect_columns(df, data, text_col or saved("text_col"), pair_col or saved("text_pair_col"),
                               label_col or saved("label_col"))
    return df, (t, p, lab), encode_labels(df[lab], clf.space, data, meta.get("label_sep", ","))


def evaluate_classifier(clf, model_dir: str, data: str, text_col=None, pair_col=None, label_col=None, header=None,
                        limit=None) -> EvalRun:
    df, (t, p, lab), y = read_labelled(clf, data, text_col, pair_col, label_col, header, limit)
    t0 = time.perf_counter()
    probs = clf.predict_proba(texts(df, t, data), texts(df, p, data) if p else None)
    secs = time.perf_counter() - t0
    res = {"model": model_dir, "data": data, "problem_type": clf.space.problem_type,
           **evaluate_probs(clf.space, y, probs, clf.thresholds)}
    res["thresholds"] = clf.thresholds
    res["seconds"] = round(secs, 3)
    res["examples_per_second"] = round(len(df) / secs, 1) if secs else None
    return EvalRun(res, df, (t, p, lab), y, probs)
