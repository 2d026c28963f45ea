"""`ner train`: the token-classification recipe for the training skeleton: tagged data, windows, task, outputs."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from bertkit import console
from bertkit.errors import UsageError
from bertkit.modeling import check_max_length
from bertkit.ner.data import Tagged, check_known, label_list, parse_label_names, prepare, read_sentences
from bertkit.ner.settings import NERConfig
from bertkit.ner.spec import SPEC
from bertkit.ner.task import TokenClassificationTask, featurize, read_tags, score, word_rows
from bertkit.train import Finished


def train(cfg: NERConfig) -> dict[str, Any] | None:
    """`ner train`: the shared training skeleton with the token-classification recipe."""
    from bertkit.train import run

    return run(NERTraining(cfg))


def ensure_prefix_space(tokenizer):
    """Byte-level BPE tokenizers (RoBERTa, GPT-2) take pre-split words only with `add_prefix_space=True`."""
    if getattr(tokenizer, "add_prefix_space", None) is False or (
            "Roberta" in type(tokenizer).__name__ and not getattr(tokenizer, "add_prefix_space", False)):
        from transformers import AutoTokenizer

        return AutoTokenizer.from_pretrained(tokenizer.name_or_path, add_prefix_space=True)
    return tokenizer


def describe_split(name: str, t: Tagged) -> str:
    return (f"{name}: {len(t.tags)} sentences, {t.words} words"
            + (f", {t.invalid} I- continuations that open an entity (legal, conlleval's reading)" if t.invalid else ""))


class NERTraining:
    """What token classification adds to the training skeleton (`bertkit.train`)."""

    auto_class = SPEC.auto_class

    def __init__(self, cfg: NERConfig):
        self.cfg = cfg

    def load_data(self) -> None:
        cfg = self.cfg
        names = parse_label_names(cfg.label_names)
        self.train_data = prepare(read_sentences(cfg.train, cfg.tag_col, names), cfg.train, cfg.scheme, cfg.limit)
        self.scheme = self.train_data.scheme
        self.labels = label_list(self.train_data.tags, self.scheme)
        self.dev_data = None
        if cfg.dev:
            self.dev_data = prepare(read_sentences(cfg.dev, cfg.tag_col, names), cfg.dev, self.scheme, cfg.dev_limit)
            check_known(self.dev_data, self.labels, cfg.dev)
        if self.scheme == "plain" and cfg.metric not in (None, "accuracy"):
            raise UsageError(f"--metric {cfg.metric}: plain tags (no B-/I- scheme) are scored by accuracy only")
        how = "given" if cfg.scheme != "auto" else "detected"
        console.log(describe_split("data: train", self.train_data)
                    + (f"; {describe_split('dev', self.dev_data)}" if self.dev_data else "")
                    + f"; tag scheme {self.scheme} ({how}), {len(self.labels)} labels"
                    + (" (trained as IOB2)" if self.scheme == "IOB1" else " (trained as BIOES)"
                       if self.scheme == "BILOU" else ""))

    def model_kwargs(self) -> dict[str, Any]:
        return {"num_labels": len(self.labels), "id2label": dict(enumerate(self.labels)),
                "label2id": {n: i for i, n in enumerate(self.labels)}, "ignore_mismatched_sizes": True}

    def _features(self, tokenizer, data: Tagged):
        ids = {n: i for i, n in enumerate(self.labels)}
        tag_ids = [[ids[t] for t in s] for s in data.tags]
        return featurize(tokenizer, data.sentences.tokens, self.cfg.max_length, self.cfg.stride, tag_ids,
                         self.labels, self.cfg.label_all_subtokens, data.tags)

    def featurize(self, tokenizer, model):
        cfg = self.cfg
        check_max_length(cfg.max_length, tokenizer, model.config)
        t0 = time.perf_counter()
        tokenizer = ensure_prefix_space(tokenizer)
        train_feats = self._features(tokenizer, self.train_data)
        self.dev_feats = self._features(tokenizer, self.dev_data) if self.dev_data else None
        self.counts = {}
        for name, f in (("train", train_feats), ("dev", self.dev_feats)):
            if f is None:
                continue
            w = f.meta["windows"]
            self.counts[name] = {"sentences": len(f.meta["n_words"]), "windows": len(f),
                                 "words": sum(f.meta["n_words"]),
                                 "long_sentences": w.long_sentences, "dropped_words": w.dropped_words}
        c = self.counts["train"]
        console.log(f"features ready in {time.perf_counter() - t0:.1f}s; train: {c['windows']} windows of "
                    f"{c['sentences']} sentences ({c['long_sentences']} longer than --max-length {cfg.max_length}, "
                    f"split with --stride {cfg.stride}), {c['words']} words, {c['dropped_words']} words with no "
                    f"sub-token (predicted {'O' if 'O' in self.labels else self.labels[0]})"
                    + (f"; dev: {self.counts['dev']['windows']} windows, {self.counts['dev']['dropped_words']} "
                       "words with no sub-token" if "dev" in self.counts else ""))
        return train_feats, self.dev_feats

    def make_task(self, tokenizer) -> TokenClassificationTask:
        return TokenClassificationTask(self.labels, self.scheme, tokenizer.pad_token_id, self.cfg.metric,
                                       self.cfg.strict, self.cfg.decode)

    def describe_eval(self, record: dict[str, Any]) -> str:
        m = self.cfg.metric or ("accuracy" if self.scheme == "plain" else "f1")
        return f"dev {m} {record[m]:.4f}"

    def after_fit(self, engine, result) -> Finished:
        cfg, dev_metrics = self.cfg, None
        if self.dev_feats is not None and result.best_outputs is not None:
            dev_metrics = self._dev_metrics(result.best_outputs["probs"])
        meta = {"task": "ner", "labels": self.labels, "scheme": self.scheme, "max_length": cfg.max_length,
                "stride": cfg.stride, "label_all_subtokens": cfg.label_all_subtokens, "tag_col": cfg.tag_col,
                "strict": cfg.strict, "decode": cfg.decode}
        summary: dict[str, Any] = {"scheme": self.scheme, "labels": len(self.labels)}
        if dev_metrics:
            summary[engine.task.metric] = dev_metrics.get(engine.task.metric)
        return Finished(meta=meta, metrics={"dev": dev_metrics}, summary=summary,
                        train={"train_sentences": self.counts["train"]["sentences"], "windows": self.counts},
                        figures=lambda folder: confusion_figure(dev_metrics, folder))


    def _dev_metrics(self, probs) -> dict[str, Any]:
        """The best model's dev metrics, read with --decode; for span schemes also the confusion matrix of entity
        types and, beside viterbi, what each word's own argmax would have scored (the same run's comparison)."""
        cfg = self.cfg
        rows = word_rows(self.dev_feats, probs)  # once; read below with --decode, and with argmax beside it
        pred, _ = read_tags(self.labels, rows, self.scheme, cfg.decode)
        out = score(self.dev_data.tags, pred, self.scheme, cfg.strict, detail=True)
        if self.scheme == "plain":
            return out
        from bertkit.ner.report import type_confusion

        out["decode"] = cfg.decode
        out["confusion_matrix"] = type_confusion(self.dev_data.tags, pred)
        if cfg.decode != "argmax":
            alone, _ = read_tags(self.labels, rows, self.scheme, "argmax")
            s = score(self.dev_data.tags, alone, self.scheme, cfg.strict)
            out["argmax"] = {k: s[k] for k in ("f1", "precision", "recall")}
        return out


def confusion_figure(dev_metrics: dict | None, folder: Path) -> None:
    """confusion_matrix.png: entity types (gold rows, predicted columns, with 'none' for missed/spurious)."""
    from bertkit import plots

    if dev_metrics and "confusion_matrix" in dev_metrics:
        cm = dev_metrics["confusion_matrix"]
        plots.save(plots.confusion(cm["matrix"], cm["labels"], "dev entity types (gold × predicted)"),
                   folder / plots.CONFUSION_FILE)
