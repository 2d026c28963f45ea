"""`classify train`: data → features → engine → thresholds → a Hugging Face model folder."""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from bertkit import console
from bertkit.classify.data import LabelSpace, detect_columns, encode_labels, infer_label_space, read_label_names, texts
from bertkit.classify.head import finalize_head, to_probabilities
from bertkit.classify.metrics import tune_binary_threshold, tune_multilabel_thresholds
from bertkit.classify.task import ClassificationTask, class_weights, evaluate_probs, featurize
from bertkit.modeling import model_max_length
from bertkit.data.io import read_table
from bertkit.defaults import ClassifyConfig
from bertkit.envinfo import versions
from bertkit.errors import BertkitError, UsageError
from bertkit.outdir import METADATA_FILE, METRICS_FILE, atomic_dir, check_output_dir, write_json


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


def train(cfg: ClassifyConfig) -> dict[str, Any]:
    from transformers import AutoModelForSequenceClassification

    from bertkit.engine import Engine, seed_everything
    from bertkit.engine.threads import set_auto_threads
    from bertkit.modeling import load_pretrained, load_tokenizer

    t_start = time.perf_counter()
    console.quiet_libraries()
    if not cfg.train:
        raise UsageError("--train is required: the training data file")
    out_dir = check_output_dir(cfg.output_dir, cfg.overwrite)
    if cfg.class_weights not in ("auto", "none"):
        raise UsageError(f"--class-weights must be auto or none, not {cfg.class_weights!r}")
    threads, threads_why = set_auto_threads(cfg.threads)

    train_df, cols = load_split(cfg.train, cfg, None, cfg.limit, "train")
    dev_df = load_split(cfg.dev, cfg, cols, cfg.dev_limit, "validation")[0] if cfg.dev else None
    space = infer_label_space(train_df[cols.label], cfg.train, cfg.problem_type, cfg.label_sep, read_label_names(cfg.label_names))
    y_train = encode_labels(train_df[cols.label], space, cfg.train, cfg.label_sep)
    y_dev = encode_labels(dev_df[cols.label], space, cfg.dev, cfg.label_sep) if dev_df is not None else None
    console.log(f"data: {len(train_df)} train rows" + (f", {len(dev_df)} dev rows" if dev_df is not None else "")
                + f"; text column {cols.text!r}" + (f", pair column {cols.pair!r}" if cols.pair else "")
                + f", label column {cols.label!r}; {space.problem_type} with {space.num_labels} labels")

    seed_everything(cfg.seed)  # before the head is initialised
    tokenizer = load_tokenizer(cfg.model, cfg.trust_remote_code)
    model = load_pretrained(
        AutoModelForSequenceClassification, cfg.model, allow_pickle=cfg.allow_pickle, trust_remote_code=cfg.trust_remote_code,
        attn=cfg.attn, num_labels=space.num_logits, ignore_mismatched_sizes=True,
    )
    limit = model_max_length(tokenizer, model.config)
    if cfg.max_length > limit:
        raise UsageError(f"--max-length {cfg.max_length} is above this model's limit of {limit} tokens")
    if tokenizer.pad_token_id is None:
        raise BertkitError(f"{cfg.model}: the tokenizer has no padding token")

    t_tok = time.perf_counter()
    train_feats, n_trunc = featurize(tokenizer, texts(train_df, cols.text, cfg.train),
                                     texts(train_df, cols.pair, cfg.train) if cols.pair else None, cfg.max_length, y_train)
    dev_feats = None
    if dev_df is not None:
        dev_feats, n_trunc_dev = featurize(tokenizer, texts(dev_df, cols.text, cfg.dev),
                                           texts(dev_df, cols.pair, cfg.dev) if cols.pair else None, cfg.max_length, y_dev)
    console.log(f"tokenized in {time.perf_counter() - t_tok:.1f}s; {n_trunc} of {len(train_feats)} training rows "
                f"({100 * n_trunc / max(1, len(train_feats)):.1f}%) truncated at --max-length {cfg.max_length}; "
                f"mean length {train_feats.lengths.mean():.1f} tokens")

    weights = class_weights(space, y_train) if cfg.class_weights == "auto" else None
    task = ClassificationTask(space, tokenizer.pad_token_id, cfg.metric, weights)
    engine = Engine(task, model, cfg)
    console.log(f"training {type(model).__name__} on {engine.accelerator.device} ({threads} threads: {threads_why}), "
                f"{cfg.epochs:g} epochs, batch {cfg.batch_size}, lr {cfg.lr:g}, mixed precision {cfg.mixed_precision}")

    def on_eval(rec: dict) -> None:
        loss = f", train loss {rec['train_loss']:.4f}" if "train_loss" in rec else ""
        console.log(f"epoch {rec['epoch']:.2f} step {rec['step']}: dev {task.metric} {rec[task.metric]:.4f}{loss}")

    result = engine.fit(train_feats, dev_feats, on_eval=on_eval)
    model = engine.model

    thresholds, tuning = None, None
    dev_metrics = None
    if dev_feats is not None and result.best_outputs is not None:
        probs = to_probabilities(np.stack(result.best_outputs["logits"]), space.problem_type)
        thresholds, tuning = tune(space, task.metric, y_dev, probs, cfg.tune_thresholds)
        dev_metrics = evaluate_probs(space, y_dev, probs, thresholds, detail=True)
    finalize_head(model, space.problem_type, space.names, thresholds)

    meta = {
        "task": "classify",
        "problem_type": space.problem_type,
        "labels": space.names,
        "threshold": 0.5 if space.problem_type == "binary" else None,
        "thresholds": [0.5] * space.num_labels if space.problem_type == "multilabel" else None,
        "tuned_thresholds": thresholds,
        "thresholds_folded_into_bias": thresholds is not None and space.problem_type != "multiclass",
        "max_length": cfg.max_length,
        "text_col": cols.text, "text_pair_col": cols.pair, "label_col": cols.label,
        "label_sep": cfg.label_sep,
        "metric": task.metric,
        "training_args": {k: v for k, v in vars(cfg).items()},
        "versions": versions(),
    }
    metrics = {
        "metric": task.metric,
        "best": result.best,
        "dev": dev_metrics,
        "threshold_tuning": tuning,
        "history": result.history,
        "train": {**result.summary(), "train_rows": len(train_feats), "truncated_rows": n_trunc,
                  "wall_seconds": round(time.perf_counter() - t_start, 2)},
    }
    with atomic_dir(out_dir) as tmp:
        model.save_pretrained(tmp)
        tokenizer.save_pretrained(tmp)
        write_json(tmp / METADATA_FILE, meta)
        write_json(tmp / METRICS_FILE, metrics)
    summary = {"output_dir": str(out_dir), "problem_type": space.problem_type, "labels": len(space.names),
               **({task.metric: dev_metrics[task.metric] if task.metric in dev_metrics else None} if dev_metrics else {}),
               **metrics["train"]}
    if tuning:
        summary["threshold_tuning"] = tuning
    return summary


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
