"""The classification task for the engine: features, loss, outputs and metrics."""

from __future__ import annotations

from typing import Any, Sequence

import numpy as np
import torch
import torch.nn.functional as F

from bertkit.classify.data import LabelSpace
from bertkit.classify.head import to_probabilities
from bertkit.classify.metrics import check_metric, multilabel_metrics, single_label_metrics
from bertkit.classify.spec import SPEC
from bertkit.engine.batching import Features, pad_collate
from bertkit.modeling import model_inputs


def featurize(tokenizer, texts: Sequence[str], pairs: Sequence[str] | None, max_length: int,
              labels: np.ndarray | None = None) -> tuple[Features, int]:
    """Tokenize once, unpadded. Returns the features and how many rows were truncated."""
    cols, long_rows = encode(tokenizer, texts, pairs, max_length, labels)
    return Features(cols), len(long_rows)


def encode(tokenizer, texts: Sequence[str], pairs: Sequence[str] | None, max_length: int,
           labels: np.ndarray | None = None) -> tuple[dict[str, list], list[int]]:
    """The feature columns of `featurize`, and the positions of the truncated rows."""
    use_tt = "token_type_ids" in tokenizer.model_input_names
    kw: dict[str, Any] = dict(return_attention_mask=False, return_token_type_ids=use_tt)
    enc = tokenizer(list(texts), list(pairs) if pairs is not None else None, truncation=False, **kw)
    ids = enc["input_ids"]
    long_rows = [i for i, x in enumerate(ids) if len(x) > max_length]
    if long_rows:  # re-encode only the long rows, truncated the way the tokenizer does it
        sub = tokenizer([texts[i] for i in long_rows], [pairs[i] for i in long_rows] if pairs is not None else None,
                        truncation=True, max_length=max_length, **kw)
        for j, i in enumerate(long_rows):
            ids[i] = sub["input_ids"][j]
            if use_tt:
                enc["token_type_ids"][i] = sub["token_type_ids"][j]
    cols: dict[str, list] = {"input_ids": ids}
    if use_tt:
        cols["token_type_ids"] = enc["token_type_ids"]
    if labels is not None:
        cols["labels"] = list(labels)
    return cols, long_rows


class ClassificationTask:
    def __init__(self, space: LabelSpace, pad_id: int, metric: str | None = None,
                 class_weights: np.ndarray | None = None,
                 aggregate: str = "mean"):
        self.space = space
        self.aggregate = aggregate  # how a row's window logits combine (features with a "row" column)
        self.pad_id = pad_id
        self.pads = {"input_ids": pad_id, "token_type_ids": 0, **SPEC.pad}
        self.metric = check_metric(space.problem_type, metric)
        self.greater_is_better = True
        self.weights = torch.as_tensor(class_weights, dtype=torch.float32) if class_weights is not None else None

    def collate(self, rows: list[dict[str, Any]]) -> dict[str, torch.Tensor]:
        return pad_collate(rows, self.pads)

    def logits(self, model, batch: dict[str, torch.Tensor]) -> torch.Tensor:
        return model(**model_inputs(model, batch)).logits

    def loss(self, model, batch: dict[str, torch.Tensor]) -> torch.Tensor:
        """Per-row loss (the engine weights and averages it): BCE for binary and multi-label (mean over labels),
        cross-entropy for multi-class; class weights as `pos_weight` / per-class weights."""
        return self.loss_from_logits(self.logits(model, batch).float(), batch["labels"])

    def loss_positions(self, batch: dict[str, torch.Tensor]) -> torch.Tensor:
        """The position the head reads: [CLS], the first (bertkit.engine.last_layer checks it on the model)."""
        first = torch.zeros_like(batch["input_ids"], dtype=torch.bool)
        first[:, 0] = True
        return first

    def loss_from_logits(self, logits: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        w = self.weights.to(logits.device) if self.weights is not None else None
        pt = self.space.problem_type
        if pt == "binary":
            return F.binary_cross_entropy_with_logits(logits[:, 0], y.float(), pos_weight=w, reduction="none")
        if pt == "multilabel":
            return F.binary_cross_entropy_with_logits(logits, y.float(), pos_weight=w, reduction="none").mean(dim=1)
        return F.cross_entropy(logits, y.long(), weight=w, reduction="none")

    def dev_loss(self, outputs: dict[str, list[np.ndarray]], features: Features) -> float | None:
        """The training loss on dev (per feature: a window of a long row counts as a row), for best-model ties."""
        if "labels" not in features.columns or not len(features):
            return None
        logits = torch.as_tensor(np.stack(outputs["logits"]), dtype=torch.float32)
        y = torch.as_tensor(np.stack(features.columns["labels"]))
        return float(self.loss_from_logits(logits, y).mean())

    def predict_step(self, model, batch: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        return {"logits": self.logits(model, batch)}

    def compute_metrics(self, outputs: dict[str, list[np.ndarray]], features: Features, detail: bool = False,
                        thresholds: Sequence[float] | None = None) -> dict[str, Any]:
        logits, y = np.stack(outputs["logits"]), np.stack(features.columns["labels"])
        if "row" in features.columns:  # --long-text window: one prediction per row from its windows
            from bertkit.classify.windows import aggregate_logits, row_labels

            rows = features.columns["row"]
            logits, y = aggregate_logits(logits, rows, self.aggregate)[1], row_labels(y, rows)
        probs = to_probabilities(logits, self.space.problem_type)
        return evaluate_probs(self.space, y, probs, thresholds, detail)


def decide(space: LabelSpace, probs: np.ndarray, thresholds: Sequence[float] | None = None) -> np.ndarray:
    """Predicted ids (binary/multiclass) or a 0/1 matrix (multilabel). Ties at the threshold go negative."""
    if space.problem_type == "binary":
        t = thresholds[0] if thresholds else 0.5
        return (probs[:, 1] > t).astype(np.int64)
    if space.problem_type == "multilabel":
        t = np.asarray(thresholds if thresholds is not None else [0.5] * probs.shape[1])
        return (probs > t[None, :]).astype(np.int64)
    return probs.argmax(axis=1)


def evaluate_probs(space: LabelSpace, y: np.ndarray, probs: np.ndarray, thresholds=None,
                   detail: bool = True) -> dict[str, Any]:
    pred = decide(space, probs, thresholds)
    if space.problem_type == "multilabel":
        return multilabel_metrics(y.astype(np.int64), pred, space.names, detail=detail)
    pos = probs[:, 1] if space.problem_type == "binary" else None
    return single_label_metrics(y, pred, space.names, pos_scores=pos, detail=detail)


def class_weights(space: LabelSpace, y: np.ndarray) -> np.ndarray:
    """'balanced' weights: pos_weight = negatives/positives (binary, per label) or n / (K * count) (multiclass)."""
    if space.problem_type == "multiclass":
        counts = np.bincount(y, minlength=space.num_labels).astype(np.float64)
        return len(y) / (space.num_labels * np.maximum(counts, 1))
    pos = y.sum(axis=0).astype(np.float64) if y.ndim == 2 else np.array([y.sum()], dtype=np.float64)
    neg = len(y) - pos
    return np.clip(neg / np.maximum(pos, 1), 0.1, 100.0)
