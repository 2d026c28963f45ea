"""The classify parts of `bertkit report`: data, dev metrics with thresholds, confusion matrix or per-label F1,
and the highest-confidence dev errors, through the same code as `classify eval`."""

from __future__ import annotations

from collections import Counter
from typing import Any

import numpy as np

from bertkit import plots
from bertkit.report import html as H


def _run(model_dir: str, meta: dict, dev: str, limit, batch_size, allow_pickle, trust_remote_code):
    from bertkit.classify.evaluate import evaluate_classifier
    from bertkit.classify.predict import Classifier

    args = meta.get("training_args") or {}
    clf = Classifier(model_dir, batch_size=batch_size, allow_pickle=allow_pickle, trust_remote_code=trust_remote_code)
    run = evaluate_classifier(clf, model_dir, dev, header=args.get("header"), limit=limit)
    return clf, run


def _truncated(clf, run) -> int:
    from bertkit.classify.data import texts
    from bertkit.classify.task import featurize

    t, p, _ = run.columns
    src = run.metrics["data"]
    return featurize(clf.tokenizer, texts(run.df, t, src), texts(run.df, p, src) if p else None, clf.max_length)[1]


def data_section(meta: dict, metrics: dict, clf, run, why: str) -> str:
    train = metrics.get("train") or {}
    args = meta.get("training_args") or {}
    rows = [("train data", args.get("train")), ("train rows", train.get("train_rows")),
            ("train rows truncated", f"{train.get('truncated_rows')} at --max-length {meta.get('max_length')}"
             if train.get("truncated_rows") is not None else None),
            ("problem type", meta.get("problem_type")), ("labels", len(meta.get("labels") or []))]
    out = H.kv([r for r in rows if r[1] is not None])
    if run is None:
        return out + H.note(f"no dev data: {why}")
    names = clf.space.names
    if clf.space.problem_type == "multilabel":
        counts = dict(zip(names, run.y.sum(axis=0).astype(int).tolist()))
    else:
        c = Counter(run.y.tolist())
        counts = {n: c.get(i, 0) for i, n in enumerate(names)}
    n = len(run.df)
    out += H.kv([("dev data", run.metrics["data"]), ("dev rows", n),
                 ("dev rows truncated", f"{_truncated(clf, run)} at {clf.max_length} tokens")])
    shares = [(k, v, f"{100 * v / max(n, 1):.1f}%") for k, v in counts.items()]
    out += "<h3>Dev label distribution</h3>" + H.table(["label", "rows", "share"], shares, [0])
    return out


def metrics_section(meta: dict, metrics: dict, dev: dict | None, from_run: bool) -> str:
    if not dev:
        return H.note("no dev metrics: the model was trained without --dev and no --data was given")
    src = "computed now on the dev data" if from_run else "recorded at training (metrics.json)"
    scalars = [(k, v) for k, v in dev.items() if isinstance(v, (int, float)) and not isinstance(v, bool)
               and k not in ("seconds", "examples_per_second")]
    out = H.note(f"Dev metrics {src}.") + H.kv(scalars)
    tuning = metrics.get("threshold_tuning")
    if tuning:
        out += "<h3>Threshold tuning on dev</h3>" + H.kv(list(tuning.items()))
        if meta.get("thresholds_folded_into_bias"):
            out += H.note("The tuned thresholds are folded into the classifier bias: the saved model decides at 0.5.")
    per = dev.get("per_class") or {}
    tuned = meta.get("tuned_thresholds")
    names = list(per)
    if per:
        thr = tuned if meta.get("problem_type") == "multilabel" and tuned and len(tuned) == len(names) else None
        head = ["label", "precision", "recall", "f1", "support"] + (["tuned threshold"] if thr else [])
        rows = [(n, per[n].get("precision"), per[n].get("recall"), per[n].get("f1-score"), per[n].get("support"))
                + ((thr[i],) if thr else ()) for i, n in enumerate(names)]
        out += "<h3>Per label</h3>" + H.table(head, rows, [0])
    cm = dev.get("confusion_matrix")
    if cm:
        out += "<h3>Confusion matrix</h3>" + H.image(plots.confusion(cm["matrix"], cm["labels"]), "confusion matrix")
    elif per:
        out += H.image(plots.per_label_f1(names, [per[n].get("f1-score", 0.0) for n in names],
                                          [per[n].get("support", 0) for n in names]), "per-label F1")
    return out


def _text(df, cols, i: int) -> str:
    t, p, _ = cols
    s = str(df[t].iloc[i])
    return s + (f"  ‖  {df[p].iloc[i]}" if p else "")


def mistakes_section(clf, run, k: int) -> str:
    from bertkit.classify.task import decide

    if run is None:
        return H.note("no dev data, so no mistakes to show; give labelled data with --data")
    names, probs, y = clf.space.names, run.probs, run.y
    pred = decide(clf.space, probs, clf.thresholds)
    rows: list[tuple[float, Any]] = []
    if clf.space.problem_type == "multilabel":
        for i, j in zip(*np.nonzero(pred != y)):
            conf = float(probs[i, j]) if pred[i, j] else 1.0 - float(probs[i, j])
            kind = "predicted, not gold" if pred[i, j] else "gold, not predicted"
            rows.append((conf, (_text(run.df, run.columns, i), names[j], kind, float(probs[i, j]))))
        head = ["text", "label", "error", "probability"]
    else:
        for i in np.flatnonzero(pred != y):
            rows.append((float(probs[i, pred[i]]), (_text(run.df, run.columns, i), names[y[i]], names[pred[i]],
                                                    float(probs[i, pred[i]]), float(probs[i, y[i]]))))
        head = ["text", "gold", "predicted", "confidence", "p(gold)"]
    rows.sort(key=lambda r: -r[0])
    n_err = int((pred != y).any(axis=1).sum()) if pred.ndim == 2 else int((pred != y).sum())
    intro = H.note(f"{n_err} of {len(y)} dev rows are wrong; the {min(k, len(rows))} most confident errors:")
    return intro + (H.table(head, [r for _, r in rows[:k]], [0, 1, 2]) if rows else "")


def sections(model_dir: str, meta: dict, metrics: dict, dev: str | None, why: str, *, mistakes: int, limit,
             batch_size, allow_pickle, trust_remote_code) -> list[tuple[str, str]]:
    clf = run = None
    if dev:
        clf, run = _run(model_dir, meta, dev, limit, batch_size, allow_pickle, trust_remote_code)
    dev_metrics = run.metrics if run is not None else metrics.get("dev")
    return [("Data", data_section(meta, metrics, clf, run, why)),
            ("Dev metrics", metrics_section(meta, metrics, dev_metrics, run is not None)),
            ("Worst mistakes", mistakes_section(clf, run, mistakes))]
