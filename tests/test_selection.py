"""Best-model selection: the better metric, then (tied) the lower dev loss, then the later step; unit tests of the
rule and the engine keeping the model it names, also across a resume."""

from __future__ import annotations

import numpy as np
import torch
from test_engine import FakeTask, data, engine

from bertkit.engine.selection import judge


def test_nothing_kept_yet_takes_the_first():
    assert judge(0.5, None, None, None) == (True, True)


def test_a_better_metric_wins_whatever_the_loss():
    assert judge(0.96, 0.9, 0.95, 0.1) == (True, True)
    assert judge(0.94, 0.01, 0.95, 0.9) == (False, False)
    assert judge(0.3, 0.9, 0.4, 0.1, greater_is_better=False) == (True, True)  # a loss-like metric


def test_a_tie_goes_to_the_lower_dev_loss():
    assert judge(0.95, 0.20, 0.95, 0.69) == (True, True)
    assert judge(0.95, 0.70, 0.95, 0.69) == (False, False)
    assert judge(0.1 + 0.2, 0.2, 0.3, 0.69) == (True, True)  # equal up to float rounding is a tie


def test_a_tie_on_everything_goes_to_the_later_step_without_resetting_patience():
    assert judge(0.95, 0.5, 0.95, 0.5) == (True, False)
    assert judge(0.95, None, 0.95, None) == (True, False)  # a task without a dev loss
    assert judge(0.95, 0.5, 0.95, None) == (True, False)  # kept before dev losses were recorded


class LossTask(FakeTask):
    """Scripted metrics and dev losses."""

    def __init__(self, scores, losses):
        super().__init__(scores)
        self.losses = list(losses)

    def dev_loss(self, outputs, feats):
        return self.losses[min(self.calls, len(self.losses)) - 1]


def test_the_engine_keeps_the_tied_evaluation_with_the_lowest_dev_loss():
    task = LossTask(scores=[0.95, 0.95, 0.9, 0.95, 0.95], losses=[0.69, 0.3, 0.2, 0.25, 0.3])
    eng = engine(task, batch_size=10, epochs=5.0)
    res = eng.fit(data(40), data(10, 1))
    assert [r["dev_loss"] for r in res.history] == [0.69, 0.3, 0.2, 0.25, 0.3]
    assert res.best["step"] == 16 and res.best["dev_loss"] == 0.25  # epoch 4: tied 0.95, lowest loss among them
    assert eng.state.best_loss == 0.25
    assert torch.equal(eng.model.weight.detach(), eng.best_weights["weight"])


def test_patience_counts_a_lower_loss_at_a_tied_metric_as_progress():
    task = LossTask(scores=[0.9] * 6, losses=[0.5, 0.4, 0.4, 0.45, 0.3, 0.3])
    eng = engine(task, batch_size=10, epochs=6.0, patience=2)
    res = eng.fit(data(40), data(10, 1))
    # 0.4 improves; the second 0.4 (a tie: later step kept) and 0.45 do not: stopped after evaluation 4
    assert [r["step"] for r in res.history] == [4, 8, 12, 16]
    assert res.stopped_early and res.best["step"] == 12


def test_without_dev_loss_a_tie_keeps_the_later_step():
    eng = engine(FakeTask(scores=[0.9, 0.9, 0.8]), batch_size=10, epochs=3.0)
    res = eng.fit(data(40), data(10, 1))
    assert res.best["step"] == 8 and "dev_loss" not in res.history[0]


def test_classification_dev_loss_is_the_training_loss():
    from bertkit.classify.data import LabelSpace
    from bertkit.classify.task import ClassificationTask
    from bertkit.engine.batching import Features

    space = LabelSpace(problem_type="binary", names=["neg", "pos"])
    task = ClassificationTask(space, pad_id=0)
    logits = [np.array([2.0], dtype=np.float32), np.array([-1.0], dtype=np.float32)]
    feats = Features({"input_ids": [[1, 2], [1]], "labels": [1, 1]})
    want = float(np.mean([np.log1p(np.exp(-2.0)), np.log1p(np.exp(1.0))]))
    assert abs(task.dev_loss({"logits": logits}, feats) - want) < 1e-6
    assert task.dev_loss({"logits": logits}, Features({"input_ids": [[1], [1]]})) is None
