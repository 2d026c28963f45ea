"""`classify train`: the classification recipe for the training skeleton: data, features, task, thresholds."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import numpy as np

from bertkit import console
from bertkit.classify.data import LabelSpace
from bertkit.classify.head import finalize_head, to_probabilities
from bertkit.classify.metrics import check_metric, tune_binary_threshold, tune_multilabel_thresholds
from bertkit.classify.settings import ClassifyConfig
from bertkit.classify.spec import SPEC
from bertkit.classify.task import ClassificationTask, class_weights, evaluate_probs
from bertkit.data.arrow import check_settings
from bertkit.modeling import check_max_length
from bertkit.train import Finished


def train(cfg: ClassifyConfig) -> dict[str, Any] | None:
    """`classify train`: the shared training skeleton with the classification recipe."""
    from bertkit.train import run

    return run(ClassifyTraining(cfg))


class ClassifyTraining:
    """What classification adds to the training skeleton (`bertkit.train`)."""

    auto_class = SPEC.auto_class

    def __init__(self, cfg: ClassifyConfig):
        self.cfg = cfg  # every field checked by its declaration (ClassifyConfig)

    def load_data(self) -> None:
        """One streamed pass over each file (every row checked), cached; see bertkit.classify.prepare."""
        from bertkit.classify.prepare import read_split

        cfg = self.cfg
        check_settings(cfg)
        self.train_split = read_split(cfg.train, cfg, None, None, cfg.limit, "train")
        self.cols, self.space = self.train_split.cols, self.train_split.space
        self.dev_split = read_split(cfg.dev, cfg, self.cols, self.space, cfg.dev_limit,
                                    "validation") if cfg.dev else None
        cols, space = self.cols, self.space
        console.log(f"data: {self.train_split.rows} train rows"
                    + (f", {self.dev_split.rows} dev rows" if self.dev_split else "")
                    + f"; text column {cols.text!r}" + (f", pair column {cols.pair!r}" if cols.pair else "")
                    + f", label column {cols.label!r}; {space.problem_type} with {space.num_labels} labels")

    def model_kwargs(self) -> dict[str, Any]:
        return {"num_labels": self.space.num_logits, "ignore_mismatched_sizes": True}

    def featurize(self, tokenizer, model):
        """Tokenized once into memory-mapped Arrow files (cached); labels per row for weights and tuning."""
        from bertkit.classify.prepare import tokenize_split

        cfg = self.cfg
        check_max_length(cfg.max_length, tokenizer, model.config)
        t_tok = time.perf_counter()
        train_feats = tokenize_split(self.train_split, tokenizer, cfg)
        self.dev_feats = tokenize_split(self.dev_split, tokenizer, cfg) if self.dev_split else None
        self.y_train, self.n_trunc = self._labels(train_feats)
        self.y_dev = self._labels(self.dev_feats)[0] if self.dev_feats is not None else None
        rows = self.train_split.rows
        cut = (f"{self.n_trunc} of {rows} training rows ({100 * self.n_trunc / max(1, rows):.1f}%) "
               + (f"cut into {len(train_feats)} windows of --max-length {cfg.max_length}, --stride {cfg.stride}"
                  if cfg.long_text == "window" else f"truncated at --max-length {cfg.max_length}"))
        console.log(f"features ready in {time.perf_counter() - t_tok:.1f}s; {cut}; mean length "
                    f"{train_feats.lengths.mean():.1f} tokens")
        self.train_rows, self.train_windows = rows, len(train_feats)
        return train_feats, self.dev_feats

    def _labels(self, feats) -> tuple[np.ndarray, int]:
        """(per-row labels, rows truncated or cut into several windows)."""
        from bertkit.classify.windows import row_labels

        y = feats.columns["labels"]
        if "row" in feats.columns:
            rows = feats.columns["row"]
            return row_labels(y, rows).astype(np.float32 if self.space.problem_type == "multilabel" else np.int64), \
                int((np.bincount(rows) > 1).sum())
        y = np.asarray(y, dtype=np.float32 if self.space.problem_type == "multilabel" else np.int64)
        return y, int(np.asarray(feats.columns["truncated"]).sum())

    def make_task(self, tokenizer) -> ClassificationTask:
        weights = class_weights(self.space, self.y_train) if self.cfg.class_weights == "auto" else None
        self.y_train = None  # one value a row: not kept for the whole run
        return ClassificationTask(self.space, tokenizer.pad_token_id, self.cfg.metric, weights, self.cfg.aggregate)

    def describe_eval(self, record: dict[str, Any]) -> str:
        metric = check_metric(self.space.problem_type, self.cfg.metric)
        return f"dev {metric} {record[metric]:.4f}"

    def after_fit(self, engine, result) -> Finished:
        """Thresholds tuned once on the kept model's dev outputs, then folded into the head."""
        space, cfg, metric = self.space, self.cfg, engine.task.metric
        thresholds = tuning = dev_metrics = None
        if self.dev_feats is not None and result.best_outputs is not None:
            logits = np.stack(result.best_outputs["logits"])
            if "row" in self.dev_feats.columns:
                from bertkit.classify.windows import aggregate_logits

                logits = aggregate_logits(logits, self.dev_feats.columns["row"], cfg.aggregate)[1]
            probs = to_probabilities(logits, space.problem_type)
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
                "max_length": cfg.max_length, "text_col": cols.text, "text_pair_col": cols.pair,
                "label_col": cols.label,
                "label_sep": cfg.label_sep, "long_text": cfg.long_text,
                "stride": cfg.stride if cfg.long_text == "window" else None,
                "aggregate": cfg.aggregate if cfg.long_text == "window" else None}
        summary: dict[str, Any] = {"problem_type": space.problem_type, "labels": len(space.names)}
        if dev_metrics:
            summary[metric] = dev_metrics.get(metric)
        if tuning:
            summary["threshold_tuning"] = tuning
        return Finished(meta=meta, metrics={"dev": dev_metrics, "threshold_tuning": tuning}, summary=summary,
                        train={"train_rows": self.train_rows, "truncated_rows": self.n_trunc,
                               **({"train_windows": self.train_windows} if cfg.long_text == "window" else {})},
                        figures=lambda folder: confusion_figure(dev_metrics, folder))


def confusion_figure(dev_metrics: dict | None, folder: Path) -> None:
    """confusion_matrix.png: K×K for binary and multi-class; per label (true/false × predicted) for multi-label."""
    from bertkit import plots

    if not dev_metrics:
        return
    if "confusion_matrix" in dev_metrics:
        cm = dev_metrics["confusion_matrix"]
        plots.save(plots.confusion(cm["matrix"], cm["labels"], "dev confusion matrix"), folder / plots.CONFUSION_FILE)
    elif "per_label_confusion" in dev_metrics:
        cm = dev_metrics["per_label_confusion"]
        plots.save(plots.confusion(cm["matrix"], cm["labels"], "dev confusion per label", columns=cm["columns"]),
                   folder / plots.CONFUSION_FILE)


def tune(space: LabelSpace, metric: str, y: np.ndarray, probs: np.ndarray,
         enabled: bool) -> tuple[list[float] | None, dict | None]:
    if space.problem_type == "binary":
        if not enabled:
            return None, None
        t, best, base = tune_binary_threshold(y, probs[:, 1], metric)
        return [t], {"metric": metric if metric != "roc_auc" else "accuracy", "at_0.5": base, "tuned": best,
                     "threshold": t}
    if space.problem_type == "multilabel":
        if not enabled:
            return None, None
        ts = tune_multilabel_thresholds(y, probs)
        base = evaluate_probs(space, y, probs, None, detail=False)
        tuned = evaluate_probs(space, y, probs, ts, detail=False)
        return ts.round(2).tolist(), {"metric": "f1_macro (per-label F1 maximised)", "at_0.5": base["f1_macro"],
                                      "tuned": tuned["f1_macro"], "micro_at_0.5": base["f1_micro"],
                                      "micro_tuned": tuned["f1_micro"]}
    return None, None
