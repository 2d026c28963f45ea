"""What a task supplies to the engine: features in, loss, outputs, metrics and post-processing out."""

from __future__ import annotations

from typing import Any, Protocol

import numpy as np
import torch

from bertkit.engine.batching import Features


class Task(Protocol):
    """The contract between a task (classification, QA, ...) and `Engine`.

    - `collate(rows)`: a list of feature rows to a dict of tensors (the model inputs plus labels).
    - `loss(model, batch)`: the training loss of every row of the batch (shape (rows,); no host sync); the
      engine weights and averages it over the global batch.
    - `predict_step(model, batch)`: per-example outputs as a dict of tensors with batch as dim 0.
    - `compute_metrics(outputs, features)`: outputs (dict of per-example numpy arrays, in the order of
      `features`) to a flat dict of numbers; `metric` names the one used to pick the best model.
    - `greater_is_better`: whether a higher `metric` is better.
    - `dev_loss(outputs, features)` (optional): the mean dev loss, or None; it breaks ties of `metric` when the
      best model is chosen (`bertkit.engine.selection`).
    - `loss_positions(batch)` (optional): a (rows, length) bool tensor of the positions `loss` reads; the encoder's
      last layer then computes only there in training (`bertkit.engine.last_layer`, checked on the model first).
    """

    metric: str
    greater_is_better: bool

    def collate(self, rows: list[dict[str, Any]]) -> dict[str, torch.Tensor]: ...

    def loss(self, model: torch.nn.Module, batch: dict[str, torch.Tensor]) -> torch.Tensor: ...

    def predict_step(self, model: torch.nn.Module, batch: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]: ...

    def compute_metrics(self, outputs: dict[str, list[np.ndarray]], features: Features) -> dict[str, float]: ...
