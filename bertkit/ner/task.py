"""The token-classification task for the engine: windows in, per-token loss, per-word tags and metrics out."""

from __future__ import annotations

from typing import Any, Sequence

import numpy as np
import torch
import torch.nn.functional as F

from bertkit.engine.batching import Features, pad_collate
from bertkit.modeling import model_inputs
from bertkit.ner import align
from bertkit.ner.decode import decode
from bertkit.ner.metrics import entity_scores, token_accuracy
from bertkit.ner.spec import SPEC


def featurize(tokenizer, words: Sequence[Sequence[str]], max_length: int, stride: int,
              tag_ids: Sequence[Sequence[int]] | None = None, names: Sequence[str] = (),
              label_all: bool = False, gold: Sequence[Sequence[str]] | None = None) -> Features:
    """Windows of `words` as features (`input_ids`, `labels`); the windows and gold tags ride in `meta`."""
    win = align.encode(tokenizer, words, max_length, stride, tag_ids, names, label_all)
    cols: dict[str, list] = {"input_ids": win.input_ids}
    items = None
    if tag_ids is not None:
        cols["labels"] = win.labels
        items = [sum(1 for t in row if t != align.IGNORE) for row in win.labels]  # the loss's denominator
    meta = {"windows": win, "n_words": [len(s) for s in words], "gold": gold}
    return Features(cols, meta=meta, items=items)


def word_tags(names: Sequence[str], feats: Features, probs: Sequence[np.ndarray], aggregate: str = "first",
              scheme: str = "plain", method: str = "viterbi"):
    """Per sentence: (tags, scores) of its words, each from the window where it has the most context, read with
    `method` (bertkit.ner.decode: viterbi, the best sequence `scheme` allows; argmax); a word the tokenizer dropped
    gets the outside tag (score 0). A word's score is its probability of the tag it got."""
    return read_tags(names, word_rows(feats, probs, aggregate), scheme, method)


def word_rows(feats: Features, probs: Sequence[np.ndarray], aggregate: str = "first") -> list:
    """Per sentence, each word's probabilities (None for a word the tokenizer dropped), from its best window."""
    return align.word_predictions(feats.meta["windows"], probs, feats.meta["n_words"], aggregate)


def read_tags(names: Sequence[str], rows: list, scheme: str = "plain", method: str = "viterbi"):
    """(tags, scores) per sentence from `word_rows`, read with `method` (see `word_tags`)."""
    tags, scores = [], []
    for sent, ids in zip(rows, decode(rows, names, scheme, method)):
        tags.append([names[i] for i in ids])
        scores.append([float(p[i]) if p is not None else 0.0 for p, i in zip(sent, ids)])
    return tags, scores


def score(gold, pred, scheme: str, strict: bool = False, detail: bool = False) -> dict[str, Any]:
    """Entity P/R/F1 (micro, macro; per type with `detail`) for span schemes, plus token accuracy; plain tags:
    token accuracy only."""
    acc = token_accuracy(gold, pred)
    if scheme == "plain":
        return {"accuracy": acc}
    s = entity_scores(gold, pred, mode="strict" if strict else "default", scheme=scheme)
    out = {"f1": s["f1"], "precision": s["precision"], "recall": s["recall"], "f1_macro": s["f1_macro"],
           "accuracy": acc, "entities_gold": s["entities_gold"], "entities_predicted": s["entities_predicted"]}
    if detail:
        out["per_type"] = s["per_type"]
    return out


class TokenClassificationTask:
    def __init__(self, names: Sequence[str], scheme: str, pad_id: int, metric: str | None = None,
                 strict: bool = False, decode: str = "viterbi"):
        self.names, self.scheme, self.strict, self.decode = list(names), scheme, strict, decode
        self.pads = {"input_ids": pad_id, "token_type_ids": 0, **SPEC.pad}
        self.metric = metric or ("accuracy" if scheme == "plain" else "f1")
        self.greater_is_better = True

    def collate(self, rows: list[dict[str, Any]]) -> dict[str, torch.Tensor]:
        return pad_collate(rows, self.pads)

    def logits(self, model, batch: dict[str, torch.Tensor]) -> torch.Tensor:
        return model(**model_inputs(model, batch)).logits

    def loss(self, model, batch: dict[str, torch.Tensor]) -> torch.Tensor:
        """Per-row loss: the row's summed token cross-entropy over its labelled tokens. The engine divides a step's
        sum by the epoch's mean labelled tokens a global batch (`Features.items`, from the plan: no communication),
        so every labelled token weighs the same in every step of the epoch, as in the Trainer's token mean over random
        batches, and 2 processes × batch 8 train exactly like 1 × 16. (Dividing by the batch's own count, as the
        Trainer does, weighs a token of a short-sentence batch more than one of a long-sentence batch under length
        grouping: docs/design/engine.md#the-loss-of-a-step.)"""
        logits = self.logits(model, batch).float()
        y = batch["labels"]
        tok = F.cross_entropy(logits.transpose(1, 2), y, ignore_index=align.IGNORE, reduction="none")
        return tok.sum(dim=1)

    def loss_positions(self, batch: dict[str, torch.Tensor]) -> torch.Tensor:
        """The positions `loss` reads: the labelled tokens (bertkit.engine.last_layer)."""
        return batch["labels"] != align.IGNORE

    def predict_step(self, model, batch: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        return {"probs": torch.softmax(self.logits(model, batch).float(), dim=-1)}

    def dev_loss(self, outputs: dict[str, list[np.ndarray]], features: Features) -> float | None:
        if "labels" not in features.columns or not len(features):
            return None
        total = count = 0.0
        for p, y in zip(outputs["probs"], features.columns["labels"]):
            y = np.asarray(y)
            keep = y != align.IGNORE
            if keep.any():
                total -= float(np.log(np.clip(p[: len(y)][keep, y[keep]], 1e-12, None)).sum())
                count += int(keep.sum())
        return total / count if count else None

    def compute_metrics(self, outputs: dict[str, list[np.ndarray]], features: Features,
                        detail: bool = False) -> dict[str, Any]:
        pred, _ = word_tags(self.names, features, outputs["probs"], scheme=self.scheme, method=self.decode)
        return score(features.meta["gold"], pred, self.scheme, self.strict, detail)
