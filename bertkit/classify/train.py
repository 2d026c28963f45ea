"""`classify train`: the classification recipe for the training skeleton: data, features, task, thresholds."""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from bertkit import console
from bertkit.classify.data import LabelSpace, detect_columns, encode_labels, infer_label_space, read_label_names, texts
from bertkit.classify.head import finalize_head, to_probabilities
from bertkit.classify.metrics import check_metric, tune_binary_threshold, tune_multilabel_thresholds
from bertkit.classify.task import ClassificationTask, class_weights, evaluate_probs, featurize
from bertkit.modeling import model_max_length
from bertkit.data.io import read_table
from bertkit.defaults import ClassifyConfig
from bertkit.errors import UsageError
from bertkit.train import Finished


@dataclass
class Columns:
    text: str
    pair: str | None
    label: str | None


def load_split(spec: str, cfg: ClassifyConfig, cols: Columns | None, limit: int | None, default_split: str) -> tuple[pd.DataFrame, Columns]:
    df = read_table(spec, header=cfg.header, limit=limit, default_split=default_split)
    if cols is None:
        t, p, lab = detect_columns(df, spec, cfg.text_col, cfg.text_pair_col, cfg.label_col)
        cols = Columns(t, p, lab)
    else:  # the training data's columns (positions and joined columns resolved again), or a clear error
        detect_columns(df, spec, cols.text, cols.pair, cols.label)
    return df, cols


def train(cfg: ClassifyConfig) -> dict[str, Any] | None:
    """`classify train`: the shared training skeleton with the classification recipe."""
    from bertkit.train import run

    return run(ClassifyRecipe(cfg))


class ClassifyRecipe:
    """What classification adds to the training skeleton (`bertkit.train`)."""

    auto_class = "AutoModelForSequenceClassification"

    def __init__(self, cfg: ClassifyConfig):
        if cfg.class_weights not in ("auto", "none"):
            raise UsageError(f"--class-weights must be auto or none, not {cfg.class_weights!r}")
        self.cfg = cfg

    def load_data(self) -> None:
        cfg = self.cfg
        self.train_df, self.cols = load_split(cfg.train, cfg, None, cfg.limit, "train")
        self.dev_df = load_split(cfg.dev, cfg, self.cols, cfg.dev_limit, "validation")[0] if cfg.dev else None
        self.space = infer_label_space(self.train_df[self.cols.label], cfg.train, cfg.problem_type, cfg.label_sep,
                                       read_label_names(cfg.label_names))
        self.y_train = encode_labels(self.train_df[self.cols.label], self.space, cfg.train, cfg.label_sep)
        self.y_dev = encode_labels(self.dev_df[self.cols.label], self.space, cfg.dev, cfg.label_sep) if self.dev_df is not None else None
        cols, space = self.cols, self.space
        console.log(f"data: {len(self.train_df)} train rows" + (f", {len(self.dev_df)} dev rows" if self.dev_df is not None else "")
                    + f"; text column {cols.text!r}" + (f", pair column {cols.pair!r}" if cols.pair else "")
                    + f", label column {cols.label!r}; {space.problem_type} with {space.num_labels} labels")

    def model_kwargs(self) -> dict[str, Any]:
        return {"num_labels": self.space.num_logits, "ignore_mismatched_sizes": True}

    def _features(self, tokenizer, df: pd.DataFrame, spec: str, y: np.ndarray):
        cols, cfg = self.cols, self.cfg
        return featurize(tokenizer, texts(df, cols.text, spec), texts(df, cols.pair, spec) if cols.pair else None, cfg.max_length, y)

    def featurize(self, tokenizer, model):
        cfg = self.cfg
        limit = model_max_length(tokenizer, model.config)
        if cfg.max_length > limit:
            raise UsageError(f"--max-length {cfg.max_length} is above this model's limit of {limit} tokens")
        t_tok = time.perf_counter()
        train_feats, self.n_trunc = self._features(tokenizer, self.train_df, cfg.train, self.y_train)
        self.dev_feats = self._features(tokenizer, self.dev_df, cfg.dev, self.y_dev)[0] if self.dev_df is not None else None
        console.log(f"tokenized in {time.perf_counter() - t_tok:.1f}s; {self.n_trunc} of {len(train_feats)} training rows "
                    f"({100 * self.n_trunc / max(1, len(train_feats)):.1f}%) truncated at --max-length {cfg.max_length}; "
                    f"mean length {train_feats.lengths.mean():.1f} tokens")
        self.train_rows = len(train_feats)
        return train_feats, self.dev_feats

    def make_task(self, tokenizer) -> ClassificationTask:
        weights = class_weights(self.space, self.y_train) if self.cfg.class_weights == "auto" else None
        return ClassificationTask(self.space, tokenizer.pad_token_id, self.cfg.metric, weights)

    def describe_eval(self, record: dict[str, Any]) -> str:
        metric = check_metric(self.space.problem_type, self.cfg.metric)
        return f"dev {metric} {record[metric]:.4f}"

    def after_fit(self, engine, result) -> Finished:
        """Thresholds tuned once on the kept model's dev outputs, then folded into the head."""
        space, cfg, metric = self.space, self.cfg, engine.task.metric
        thresholds = tuning = dev_metrics = None
        if self.dev_feats is not None and result.best_outputs is not None:
            probs = to_probabilities(np.stack(result.best_outputs["logits"]), space.problem_type)
            thresholds, tuning = tune(space, metric, self.y_dev, probs, cfg.tune_thresholds)
            dev_metrics = evaluate_probs(space, self.y_dev, probs, thresholds, detail=True)
        finalize_head(engine.model, space.problem_type, space.names, thresholds)
        cols = self.cols
        meta = {"task": "classify", "problem_type": space.problem_type, "labels": space.names,
                "label_values": space.values,
                "threshold": 0.5 if space.problem_type == "binary" else None,
                "thresholds": [0.5] * space.num_labels if space.problem_type == "multilabel" else None,
                "tuned_thresholds": thresholds,
                "thresholds_folded_into_bias": thresholds is not None and space.problem_type != "multiclass",
                "max_length": cfg.max_length, "text_col": cols.text, "text_pair_col": cols.pair, "label_col": cols.label,
                "label_sep": cfg.label_sep}
        summary: dict[str, Any] = {"problem_type": space.problem_type, "labels": len(space.names)}
        if dev_metrics:
            summary[metric] = dev_metrics.get(metric)
        if tuning:
            summary["threshold_tuning"] = tuning
        return Finished(meta=meta, metrics={"dev": dev_metrics, "threshold_tuning": tuning}, summary=summary,
                        train={"train_rows": self.train_rows, "truncated_rows": self.n_trunc},
                        figures=lambda folder: confusion_figure(dev_metrics, folder))


def confusion_figure(dev_metrics: dict | None, folder: Path) -> None:
    """confusion_matrix.png: K×K for binary and multi-class; per label (true/false × predicted) for multi-label."""
    from bertkit import plots

    if not dev_metrics:
        return
    if "confusion_matrix" in dev_metrics:
        cm = dev_metrics["confusion_matrix"]
        plots.confusion_matrix(cm["matrix"], cm["labels"], folder / plots.CONFUSION_FILE)
    elif "per_label_confusion" in dev_metrics:
        cm = dev_metrics["per_label_confusion"]
        plots.confusion_matrix(cm["matrix"], cm["labels"], folder / plots.CONFUSION_FILE,
                               title="dev confusion per label", columns=cm["columns"])


def tune(space: LabelSpace, metric: str, y: np.ndarray, probs: np.ndarray, enabled: bool) -> tuple[list[float] | None, dict | None]:
    if space.problem_type == "binary":
        if not enabled:
            return None, None
        t, best, base = tune_binary_threshold(y, probs[:, 1], metric)
        return [t], {"metric": metric if metric != "roc_auc" else "accuracy", "at_0.5": base, "tuned": best, "threshold": t}
    if space.problem_type == "multilabel":
        if not enabled:
            return None, None
        ts = tune_multilabel_thresholds(y, probs)
        base = evaluate_probs(space, y, probs, None, detail=False)
        tuned = evaluate_probs(space, y, probs, ts, detail=False)
        return ts.round(2).tolist(), {"metric": "f1_macro (per-label F1 maximised)", "at_0.5": base["f1_macro"],
                                      "tuned": tuned["f1_macro"], "micro_at_0.5": base["f1_micro"], "micro_tuned": tuned["f1_micro"]}
    return None, None
