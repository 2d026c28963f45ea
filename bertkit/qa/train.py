"""`qa train`: the extractive-QA recipe for the training skeleton: SQuAD data, windows, task, null threshold."""

from __future__ import annotations

import time
from typing import Any

from bertkit import console
from bertkit.data.arrow import check_settings
from bertkit.errors import BertkitError, UsageError
from bertkit.modeling import check_max_length
from bertkit.qa.data import QAData, gold_dataset, load_qa
from bertkit.qa.features import build_features
from bertkit.qa.settings import QAConfig
from bertkit.qa.spec import SPEC
from bertkit.qa.task import QATask
from bertkit.train import Finished


def load_split(spec: str, cfg: QAConfig, limit: int | None, default_split: str) -> QAData:
    data = load_qa(spec, limit=limit, skip_bad_rows=cfg.skip_bad_rows, default_split=default_split)
    if data.skipped:
        console.warn(f"{spec}: skipped {data.skipped} bad row(s) (--skip-bad-rows), e.g. {data.skip_reasons[0]}")
    if not data.examples:
        raise BertkitError(f"{spec}: no usable questions")
    return data


def resolve_allow_no_answer(cfg: QAConfig, *splits: QAData | None) -> bool:
    """Whether the model learns to answer "no answer" (SQuAD v2.0): as given, else when the data has such questions."""
    impossible = [d for d in splits if d is not None and d.has_impossible]
    if cfg.allow_no_answer is None:
        return bool(impossible)
    if not cfg.allow_no_answer and impossible:
        d = impossible[0]
        n = sum(e.is_impossible for e in d.examples)
        raise UsageError(f"{d.source}: {n} unanswerable question(s) (SQuAD v2.0 data) but --always-answer was given; "
                         "drop --always-answer to train a model that can say 'no answer'")
    return cfg.allow_no_answer


def train(cfg: QAConfig) -> dict[str, Any] | None:
    """`qa train`: the shared training skeleton with the QA recipe."""
    from bertkit.train import run

    return run(QATraining(cfg))


class QATraining:
    """What extractive QA adds to the training skeleton (`bertkit.train`)."""

    auto_class = SPEC.auto_class

    def __init__(self, cfg: QAConfig):
        self.cfg = cfg

    def load_data(self) -> None:
        cfg = self.cfg
        check_settings(cfg)
        self.train_data = load_split(cfg.train, cfg, cfg.limit, "train")
        self.dev_data = load_split(cfg.dev, cfg, cfg.dev_limit, "validation") if cfg.dev else None
        self.allow_no_answer = resolve_allow_no_answer(cfg, self.train_data, self.dev_data)
        n_imp = sum(e.is_impossible for e in self.train_data.examples)
        console.log(f"data: {len(self.train_data)} training questions ({n_imp} unanswerable)"
                    + (f", {len(self.dev_data)} dev questions" if self.dev_data else "")
                    + f"; SQuAD {'v2.0 (no-answer allowed)' if self.allow_no_answer else 'v1.1 (always an answer)'}")

    def model_kwargs(self) -> dict[str, Any]:
        return {}

    def featurize(self, tokenizer, model):
        """Training windows into memory-mapped Arrow files (cached: bertkit.qa.prepare); dev windows, with the offsets
        that map answers back to characters, in memory."""
        from bertkit.qa.prepare import training_windows, window_counts

        cfg = self.cfg
        check_max_length(cfg.max_length, tokenizer, model.config)
        t_tok = time.perf_counter()
        train_feats = training_windows(self.train_data.examples, cfg.train, tokenizer, cfg)
        self.dev_feats = (build_features(tokenizer, self.dev_data.examples, cfg.max_length, cfg.doc_stride, labels=True,
                                         source=cfg.dev)
                          if self.dev_data else None)
        n = window_counts(train_feats)
        console.log(f"features in {time.perf_counter() - t_tok:.1f}s: {n['windows']} training windows "
                    f"({n['windows'] - len(self.train_data)} extra from --doc-stride {cfg.doc_stride}; "
                    f"{n['at_cls']} pointed at [CLS])"
                    + (f", {len(self.dev_feats)} dev windows" if self.dev_feats is not None else "")
                    + f"; mean length {n['mean_length']:.0f} tokens")
        self.train_windows, self.train_questions = n["windows"], len(self.train_data)
        # in the Arrow files now; not kept while training
        self.train_data.examples, self.train_data.squad_json = [], None
        return train_feats, self.dev_feats

    def make_task(self, tokenizer) -> QATask:
        self.gold = gold_dataset(self.dev_data) if self.dev_data else None
        return QATask(tokenizer.pad_token_id, self.allow_no_answer, self.gold, self.cfg.n_best,
                      self.cfg.max_answer_length)

    def describe_eval(self, rec: dict[str, Any]) -> str:
        thr = f" (null threshold {rec['null_threshold']:.3f})" if "null_threshold" in rec else ""
        return f"dev exact {rec['exact']:.2f} f1 {rec['f1']:.2f}{thr}"

    def after_fit(self, engine, result) -> Finished:
        """The null threshold tuned once on the kept model's dev outputs."""
        cfg = self.cfg
        threshold, tuning, dev_metrics = 0.0, None, None
        if self.dev_feats is not None and result.best_outputs is not None:
            from bertkit.qa import postprocess as pp

            preds = engine.task.predictions(result.best_outputs, self.dev_feats)
            if self.allow_no_answer:
                threshold, tuning = pp.tune_null_threshold(self.gold, preds)
                tuning = {"null_threshold": threshold, **{k: v for k, v in tuning.items() if k.startswith("best_")},
                          "at_0": pp.evaluate(self.gold, preds, True, 0.0)["f1"]}
            dev_metrics = pp.evaluate(self.gold, preds, self.allow_no_answer, threshold)
        meta = {"task": "qa", "allow_no_answer": self.allow_no_answer, "max_length": cfg.max_length,
                "doc_stride": cfg.doc_stride,
                "n_best": cfg.n_best, "max_answer_length": cfg.max_answer_length, "null_threshold": threshold,
                "null_threshold_tuned": tuning is not None}
        summary: dict[str, Any] = {"allow_no_answer": self.allow_no_answer}
        if dev_metrics:
            summary.update({"exact": dev_metrics["exact"], "f1": dev_metrics["f1"]})
            if self.allow_no_answer:
                summary["null_threshold"] = threshold
        train = {"train_questions": self.train_questions, "train_windows": self.train_windows,
                 "skipped_rows": self.train_data.skipped}
        return Finished(meta=meta, metrics={"dev": dev_metrics, "null_threshold_tuning": tuning}, summary=summary,
                        train=train)
