"""The engine on a fake task (a linear model on random features): step counting with gradient accumulation and
fractional epochs, --eval-steps, patience, the learning-rate schedule, and that accumulation is exact."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from bertkit.defaults import TrainConfig
from bertkit.engine.batching import Features
from bertkit.engine.engine import Engine, steps_for
from bertkit.train import engine_settings


class FakeTask:
    """y = x·w + noise; the 'metric' is a scripted sequence so patience can be tested exactly."""

    metric, greater_is_better = "score", True

    def __init__(self, scores=None):
        self.scores = list(scores or [])
        self.calls = 0

    def collate(self, rows):
        return {"x": torch.tensor(np.stack([r["x"] for r in rows]), dtype=torch.float32),
                "y": torch.tensor([r["y"] for r in rows], dtype=torch.float32)}

    def loss(self, model, batch):
        return (model(batch["x"]).squeeze(-1) - batch["y"]) ** 2

    def predict_step(self, model, batch):
        return {"pred": model(batch["x"]).squeeze(-1)}

    def compute_metrics(self, outputs, feats):
        self.calls += 1
        if self.scores:
            return {"score": self.scores[min(self.calls, len(self.scores)) - 1]}
        pred, y = np.asarray(outputs["pred"]), np.asarray(feats.columns["y"])
        return {"score": -float(np.mean((pred - y) ** 2))}


def data(n: int, seed: int = 0) -> Features:
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, 4)).astype(np.float32)
    y = x @ np.array([1.0, -2.0, 0.5, 3.0], dtype=np.float32) + 0.01 * rng.normal(size=n).astype(np.float32)
    return Features({"x": list(x), "y": list(y), "input_ids": [[1] * int(k) for k in rng.integers(1, 9, size=n)]})


def engine(task, **kw) -> Engine:
    torch.manual_seed(0)
    cfg = TrainConfig(**{"lr": 0.05, "warmup_ratio": 0.0, "weight_decay": 0.0, "max_grad_norm": 0.0, "log_every": 1,
                         "mixed_precision": "no", **kw})
    return Engine(task, torch.nn.Linear(4, 1), engine_settings(cfg))  # the engine takes its own settings


@pytest.mark.parametrize("n,bs,accum,epochs",
                         [(50, 8, 1, 1.0), (50, 8, 3, 2.0), (50, 8, 4, 0.5), (7, 8, 2, 3.0), (64, 8, 8, 1.25)])
def test_steps_with_accumulation_and_fractional_epochs(n, bs, accum, epochs):
    per_epoch = math.ceil(n / bs)
    total = max(1, math.ceil(epochs * per_epoch))
    eng = engine(FakeTask(), batch_size=bs, grad_accum=accum, epochs=epochs)
    res = eng.fit(data(n))
    assert res.steps == steps_for(total, per_epoch, accum)
    assert eng.state.batches_done == total and res.epochs == pytest.approx(total / per_epoch)
    # the last logged learning rate is the end of the linear decay: the schedule has as many steps as the loop
    assert res.log_history[-1]["lr"] == pytest.approx(0.0, abs=1e-12)


def test_steps_for_by_hand():
    assert steps_for(7, 7, 3) == 3  # 3 + 3 + 1 (the window is cut at the epoch's end)
    assert steps_for(14, 7, 3) == 6
    assert steps_for(10, 7, 3) == 4  # a fractional second epoch: 3 batches, one window


def test_accumulation_equals_one_big_batch():
    """4 micro-batches of 4 accumulated = 1 batch of 16, to float precision (same rows, same order)."""
    feats = data(16)
    a = engine(FakeTask(), batch_size=16, epochs=3.0, bucket_size=1)
    a.fit(feats)
    b = engine(FakeTask(), batch_size=4, grad_accum=4, epochs=3.0, bucket_size=4)
    b.fit(feats)
    wa, wb = a.model.weight.detach(), b.model.weight.detach()
    # bucket sort order within the batch differs, so only float rounding separates them
    assert torch.allclose(wa, wb, atol=1e-6), (wa, wb)
    assert a.state.step == b.state.step == 3


def test_eval_steps_and_patience_stop_early():
    task = FakeTask(scores=[0.5, 0.7, 0.6, 0.65, 0.69, 0.9])
    eng = engine(task, batch_size=4, epochs=10.0, eval_steps=2, patience=3)
    res = eng.fit(data(40), data(10, 1))
    assert [r["step"] for r in res.history] == [2, 4, 6, 8, 10]  # stopped after 3 evaluations without a better one
    assert res.stopped_early and res.best["score"] == 0.7 and res.best["step"] == 4
    assert res.steps == 10


def test_epoch_evaluation_and_a_last_partial_one():
    eng = engine(FakeTask(), batch_size=10, epochs=1.5)
    res = eng.fit(data(40), data(10, 1))
    assert [r["step"] for r in res.history] == [4, 6]  # the end of epoch 1, then the end of the half epoch
    assert res.best is not None and res.best_outputs is not None and len(res.best_outputs["pred"]) == 10


def test_the_kept_model_is_the_best_evaluated_one():
    task = FakeTask(scores=[0.9, 0.1, 0.2])
    eng = engine(task, batch_size=10, epochs=3.0)
    res = eng.fit(data(40), data(10, 1))
    assert res.best["step"] == 4
    snap = {k: v.clone() for k, v in eng.best_weights.items()}
    assert torch.equal(eng.model.weight.detach(), snap["weight"])


def test_learning_rate_warmup_then_linear_decay():
    eng = engine(FakeTask(), batch_size=10, epochs=2.0, warmup_ratio=0.25)  # 8 steps, 2 of warm-up
    res = eng.fit(data(40))
    lrs = [r["lr"] for r in res.log_history]
    assert lrs[:2] == pytest.approx([0.025, 0.05])
    assert lrs[2:] == pytest.approx([0.05 * (8 - s) / 6 for s in range(3, 9)])
