"""`qa train`: SQuAD-style data → windows → engine → null threshold → a Hugging Face model folder."""

from __future__ import annotations

import time
from typing import Any

from bertkit import console
from bertkit.defaults import QAConfig
from bertkit.envinfo import versions
from bertkit.errors import BertkitError, UsageError
from bertkit.outdir import METADATA_FILE, METRICS_FILE, atomic_dir, check_output_dir, write_json
from bertkit.qa.data import QAData, gold_dataset, load_qa
from bertkit.qa.features import build_features
from bertkit.modeling import model_max_length
from bertkit.qa.task import QATask


def load_split(spec: str, cfg: QAConfig, limit: int | None, default_split: str) -> QAData:
    data = load_qa(spec, limit=limit, skip_bad_rows=cfg.skip_bad_rows, default_split=default_split)
    if data.skipped:
        console.warn(f"{spec}: skipped {data.skipped} bad row(s) (--skip-bad-rows), e.g. {data.skip_reasons[0]}")
    if not data.examples:
        raise BertkitError(f"{spec}: no usable questions")
    return data


def resolve_version_2(cfg: QAConfig, *splits: QAData | None) -> bool:
    impossible = [d for d in splits if d is not None and d.has_impossible]
    if cfg.version_2 is None:
        return bool(impossible)
    if not cfg.version_2 and impossible:
        d = impossible[0]
        n = sum(e.is_impossible for e in d.examples)
        raise UsageError(f"{d.source}: {n} unanswerable question(s) (SQuAD v2.0 data) but --no-version-2 was given; "
                         "drop --no-version-2 to train a model that can say 'no answer'")
    return cfg.version_2


def check_lengths(cfg: QAConfig, tokenizer, model_config) -> None:
    limit = model_max_length(tokenizer, model_config)
    if cfg.max_length > limit:
        raise UsageError(f"--max-length {cfg.max_length} is above this model's limit of {limit} tokens")
    if cfg.n_best < 1:
        raise UsageError(f"--n-best must be at least 1, not {cfg.n_best}")
    if cfg.max_answer_length < 1:
        raise UsageError(f"--max-answer-length must be at least 1, not {cfg.max_answer_length}")


def train(cfg: QAConfig) -> dict[str, Any]:
    from transformers import AutoModelForQuestionAnswering

    from bertkit.engine import Engine, seed_everything
    from bertkit.modeling import load_pretrained, load_tokenizer, set_threads

    t_start = time.perf_counter()
    console.quiet_libraries()
    if not cfg.train:
        raise UsageError("--train is required: SQuAD JSON, or JSONL/CSV with question, context, answers")
    out_dir = check_output_dir(cfg.output_dir, cfg.overwrite)
    threads = set_threads(cfg.threads)

    train_data = load_split(cfg.train, cfg, cfg.limit, "train")
    dev_data = load_split(cfg.dev, cfg, cfg.dev_limit, "validation") if cfg.dev else None
    version_2 = resolve_version_2(cfg, train_data, dev_data)
    n_imp = sum(e.is_impossible for e in train_data.examples)
    console.log(f"data: {len(train_data)} training questions ({n_imp} unanswerable)"
                + (f", {len(dev_data)} dev questions" if dev_data else "")
                + f"; SQuAD {'v2.0 (no-answer allowed)' if version_2 else 'v1.1 (always an answer)'}")

    seed_everything(cfg.seed)  # before the QA head is initialised
    tokenizer = load_tokenizer(cfg.model, cfg.trust_remote_code)
    if tokenizer.pad_token_id is None:
        raise BertkitError(f"{cfg.model}: the tokenizer has no padding token")
    t_tok = time.perf_counter()
    train_feats = build_features(tokenizer, train_data.examples, cfg.max_length, cfg.doc_stride, labels=True, source=cfg.train)
    dev_feats = (build_features(tokenizer, dev_data.examples, cfg.max_length, cfg.doc_stride, labels=False, source=cfg.dev)
                 if dev_data else None)
    model = load_pretrained(AutoModelForQuestionAnswering, cfg.model, allow_pickle=cfg.allow_pickle,
                            trust_remote_code=cfg.trust_remote_code, attn=cfg.attn)
    check_lengths(cfg, tokenizer, model.config)
    cls = train_feats.columns["cls_index"]
    n_cls = sum(1 for s, c in zip(train_feats.columns["start_positions"], cls) if s == c)
    console.log(f"features in {time.perf_counter() - t_tok:.1f}s: {len(train_feats)} training windows "
                f"({len(train_feats) - len(train_data)} extra from --doc-stride {cfg.doc_stride}; {n_cls} pointed at [CLS])"
                + (f", {len(dev_feats)} dev windows" if dev_feats is not None else "")
                + f"; mean length {train_feats.lengths.mean():.0f} tokens")

    gold = gold_dataset(dev_data) if dev_data else None
    task = QATask(tokenizer.pad_token_id, version_2, gold, cfg.n_best, cfg.max_answer_length)
    engine = Engine(task, model, cfg)
    console.log(f"training {type(model).__name__} on {engine.accelerator.device} ({threads} threads), "
                f"{cfg.epochs:g} epochs, batch {cfg.batch_size}, lr {cfg.lr:g}, max length {cfg.max_length}")

    def on_eval(rec: dict) -> None:
        loss = f", train loss {rec['train_loss']:.4f}" if "train_loss" in rec else ""
        thr = f" (null threshold {rec['null_threshold']:.3f})" if "null_threshold" in rec else ""
        console.log(f"epoch {rec['epoch']:.2f} step {rec['step']}: dev exact {rec['exact']:.2f} f1 {rec['f1']:.2f}{thr}{loss}")

    result = engine.fit(train_feats, dev_feats, on_eval=on_eval)
    model = engine.model

    threshold, tuning, dev_metrics = 0.0, None, None
    if dev_feats is not None and result.best_outputs is not None:
        from bertkit.qa import postprocess as pp

        preds = task.predictions(result.best_outputs, dev_feats)
        if version_2:
            threshold, tuning = pp.tune_null_threshold(gold, preds)
            tuning = {"null_threshold": threshold, **{k: v for k, v in tuning.items() if k.startswith("best_")},
                      "at_0": pp.evaluate(gold, preds, True, 0.0)["f1"]}
        dev_metrics = pp.evaluate(gold, preds, version_2, threshold)

    meta = {
        "task": "qa",
        "version_2": version_2,
        "max_length": cfg.max_length,
        "doc_stride": cfg.doc_stride,
        "n_best": cfg.n_best,
        "max_answer_length": cfg.max_answer_length,
        "null_threshold": threshold,
        "null_threshold_tuned": tuning is not None,
        "metric": task.metric,
        "training_args": dict(vars(cfg)),
        "versions": versions(),
    }
    metrics = {
        "metric": task.metric,
        "best": result.best,
        "dev": dev_metrics,
        "null_threshold_tuning": tuning,
        "history": result.history,
        "train": {**result.summary(), "train_questions": len(train_data), "train_windows": len(train_feats),
                  "skipped_rows": train_data.skipped, "wall_seconds": round(time.perf_counter() - t_start, 2)},
    }
    with atomic_dir(out_dir) as tmp:
        model.save_pretrained(tmp)
        tokenizer.save_pretrained(tmp)
        write_json(tmp / METADATA_FILE, meta)
        write_json(tmp / METRICS_FILE, metrics)
    summary: dict[str, Any] = {"output_dir": str(out_dir), "version_2": version_2}
    if dev_metrics:
        summary.update({"exact": dev_metrics["exact"], "f1": dev_metrics["f1"]})
        if version_2:
            summary["null_threshold"] = threshold
    summary.update(metrics["train"])
    return summary
