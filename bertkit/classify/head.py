"""The classification head as Hugging Face tools read it.

Binary models train ONE logit z (sigmoid + BCE). A one-logit sigmoid head equals a
two-logit softmax head with logits (0, z), so bertkit saves it that way: every
Hugging Face tool (`pipeline`, `from_pretrained`) then reads a normal 2-label model.

Tuned decision thresholds are folded into the bias: sigmoid(z - logit(t)) > 0.5
exactly when sigmoid(z) > t. A saved model therefore decides at 0.5 like any HF
classifier, and `transformers.pipeline` agrees with `bertkit classify predict`.
"""

from __future__ import annotations

import math
from typing import Sequence

import numpy as np
import torch
from torch import nn

from bertkit.errors import BertkitError

HF_PROBLEM_TYPE = {"binary": "single_label_classification", "multiclass": "single_label_classification",
                   "multilabel": "multi_label_classification"}


def _logit(t: float) -> float:
    t = min(max(float(t), 1e-6), 1 - 1e-6)
    return math.log(t / (1 - t))


def final_linear(model: nn.Module, out_features: int) -> tuple[nn.Module, str, nn.Linear]:
    """The last Linear layer with `out_features` outputs (the classifier), with its parent and attribute name."""
    found = None
    for name, mod in model.named_modules():
        if isinstance(mod, nn.Linear) and mod.out_features == out_features:
            found = name
    if found is None:
        raise BertkitError(f"could not find the classification layer ({out_features} outputs) in "
                           f"{type(model).__name__}")
    parent_name, _, attr = found.rpartition(".")
    parent = model.get_submodule(parent_name) if parent_name else model
    return parent, attr, getattr(parent, attr)


def to_probabilities(logits: np.ndarray, problem_type: str) -> np.ndarray:
    """(n, K) probabilities: binary → (1-p, p); multiclass → softmax; multilabel → sigmoid."""
    logits = np.asarray(logits, dtype=np.float64)
    if problem_type == "multilabel":
        return 1.0 / (1.0 + np.exp(-logits))
    if problem_type == "binary" and logits.shape[1] == 1:
        p = 1.0 / (1.0 + np.exp(-logits[:, 0]))
        return np.stack([1 - p, p], axis=1)
    z = logits - logits.max(axis=1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=1, keepdims=True)


@torch.no_grad()
def finalize_head(model: nn.Module, problem_type: str, names: Sequence[str],
                  thresholds: Sequence[float] | None) -> None:
    """Turn the trained head into the saved form (see module doc) and write labels into the config."""
    cfg = model.config
    if problem_type == "binary":
        parent, attr, lin = final_linear(model, 1)
        two = nn.Linear(lin.in_features, 2, bias=True).to(lin.weight.device, lin.weight.dtype)
        two.weight.zero_()
        two.bias.zero_()
        two.weight[1] = lin.weight[0]
        b = lin.bias[0] if lin.bias is not None else torch.zeros((), dtype=lin.weight.dtype)
        two.bias[1] = b - _logit(thresholds[0] if thresholds else 0.5)
        setattr(parent, attr, two)
        cfg.num_labels = 2
    elif problem_type == "multilabel" and thresholds is not None:
        _, _, lin = final_linear(model, len(names))
        shift = torch.tensor([_logit(t) for t in thresholds], dtype=lin.bias.dtype, device=lin.bias.device)
        lin.bias -= shift
    cfg.id2label = {i: n for i, n in enumerate(names)}
    cfg.label2id = {n: i for i, n in enumerate(names)}
    cfg.problem_type = HF_PROBLEM_TYPE[problem_type]
