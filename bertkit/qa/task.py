"""The extractive-QA task for the engine: span loss as BERT computes it, start/end logits out, official scores."""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from bertkit.engine.batching import Features, pad_collate
from bertkit.modeling import model_inputs
from bertkit.qa import postprocess as pp

COLLATED = ("input_ids", "token_type_ids", "start_positions", "end_positions")


def qa_logits(model, batch: dict[str, torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor]:
    out = model(**model_inputs(model, batch))
    return out.start_logits, out.end_logits


class QATask:
    """Training rows come from `bertkit.qa.prepare` (Arrow), dev features from `bertkit.qa.features.build_features`
    (`features.meta['examples']` holds the examples); `collate` takes either's rows (dicts of lists and ints)."""

    metric = "f1"
    greater_is_better = True

    def __init__(self, pad_id: int, allow_no_answer: bool, gold: Any, n_best: int = 20, max_answer_length: int = 30):
        self.pad_id = pad_id
        self.pads = {"input_ids": pad_id, "token_type_ids": 0}  # start/end positions: one per window, stacked
        self.allow_no_answer = allow_no_answer
        self.gold = gold  # what the official scorer reads (article list)
        self.n_best = n_best
        self.max_answer_length = max_answer_length

    def collate(self, rows: list[dict[str, Any]]) -> dict[str, torch.Tensor]:
        return pad_collate([{k: r[k] for k in COLLATED if k in r} for r in rows], self.pads)

    def loss(self, model, batch: dict[str, torch.Tensor]) -> torch.Tensor:
        start, end = qa_logits(model, batch)
        # padded positions must not win the softmax
        mask = batch["attention_mask"] == 0
        start = start.float().masked_fill(mask, -1e4)
        end = end.float().masked_fill(mask, -1e4)
        ce = (F.cross_entropy(start, batch["start_positions"], reduction="none")
              + F.cross_entropy(end, batch["end_positions"], reduction="none"))
        return ce / 2  # per window; the engine averages

    def predict_step(self, model, batch: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        start, end = qa_logits(model, batch)
        return {"start_logits": start, "end_logits": end}

    def dev_loss(self, outputs: dict[str, list[np.ndarray]], features: Features) -> float | None:
        """The training loss on the dev windows (their first gold answer, as training labels them), for ties of F1."""
        cols = features.columns
        if "start_positions" not in cols or not len(features):
            return None
        total = 0.0
        for i, ids in enumerate(cols["input_ids"]):
            n = len(ids)  # outputs are padded to their batch: the padded positions are not candidates
            for key, pos in (("start_logits", cols["start_positions"][i]), ("end_logits", cols["end_positions"][i])):
                z = np.asarray(outputs[key][i][:n], dtype=np.float64)
                m = z.max()
                total += (m + np.log(np.exp(z - m).sum()) - z[int(pos)]) / 2
        return float(total / len(features))

    def predictions(self, outputs: dict[str, list[np.ndarray]], features: Features) -> list[pp.Prediction]:
        return pp.predictions_from_features(features, outputs, self.n_best, self.max_answer_length)

    def compute_metrics(self, outputs: dict[str, list[np.ndarray]], features: Features) -> dict[str, float]:
        """Official scores. allow_no_answer: at the null threshold tuned on these outputs (so `f1` is the best F1)."""
        preds = self.predictions(outputs, features)
        threshold = 0.0
        if self.allow_no_answer:
            threshold, _ = pp.tune_null_threshold(self.gold, preds)
        res = pp.evaluate(self.gold, preds, self.allow_no_answer, threshold)
        out = {k: v for k, v in res.items() if not k.startswith("best_")}
        if self.allow_no_answer:
            out["null_threshold"] = threshold
        return out
