"""Label logic, batching, threshold folding and config merging: unit and property tests."""

from __future__ import annotations

import math
import re

import numpy as np
import pandas as pd
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from bertkit.classify.data import LabelSpace, detect_columns, encode_labels, infer_label_space
from bertkit.classify.head import finalize_head, to_probabilities
from bertkit.classify.metrics import tune_binary_threshold, tune_multilabel_thresholds
from bertkit.classify.settings import ClassifyConfig
from bertkit.classify.task import decide
from bertkit.defaults import build_config
from bertkit.engine.batching import bucket_batches, pad_collate, sorted_batches
from bertkit.errors import BertkitError

label_names = st.lists(st.text(alphabet="abcdefghij_", min_size=1, max_size=6), min_size=2, max_size=6, unique=True)


@given(names=label_names, data=st.data())
def test_string_labels_round_trip(names, data):
    picks = data.draw(st.lists(st.sampled_from(names), min_size=len(names), max_size=40))
    picks = names + picks  # every name occurs
    space = infer_label_space(pd.Series(picks), "f", None, ",", None)
    assert space.names == sorted(names)
    assert space.problem_type == ("binary" if len(names) == 2 else "multiclass")
    ids = encode_labels(pd.Series(picks), space, "f", ",")
    assert [space.names[i] for i in ids] == picks


@given(n_labels=st.integers(2, 8), data=st.data())
def test_multilabel_strings_round_trip(n_labels, data):
    sets = data.draw(st.lists(st.sets(st.integers(0, n_labels - 1), min_size=1), min_size=2, max_size=30))
    sets.append({0, n_labels - 1})  # at least one multi-label row
    raw = pd.Series([",".join(str(i) for i in sorted(s)) for s in sets])
    space = infer_label_space(raw, "f", None, ",", None)
    seen = sorted(set().union(*sets))
    assert space.problem_type == "multilabel" and space.names == [str(i) for i in seen]  # the labels observed
    y = encode_labels(raw, space, "f", ",")
    assert [{int(space.names[j]) for j in np.flatnonzero(r)} for r in y] == sets


class _OneLogit(torch.nn.Module):
    """The smallest model finalize_head works on: a one-logit Linear whose output is its input z."""

    def __init__(self):
        super().__init__()
        from types import SimpleNamespace

        self.config = SimpleNamespace()
        self.classifier = torch.nn.Linear(1, 1)
        with torch.no_grad():
            self.classifier.weight.fill_(1.0)
            self.classifier.bias.zero_()

    def forward(self, x):
        return self.classifier(x)


@given(z=st.floats(-20, 20), t=st.floats(0.01, 0.99))
@settings(max_examples=60, deadline=None)
def test_folding_threshold_into_bias_keeps_decisions(z, t):
    """bertkit's finalize_head: the saved two-logit head says 'positive' (softmax > 0.5) exactly when the trained
    one-logit head's sigmoid(z) > t (away from float ties)."""
    p = 1 / (1 + math.exp(-z))
    if abs(p - t) < 1e-6:
        return
    m = _OneLogit()
    finalize_head(m, "binary", ["neg", "pos"], [t])
    with torch.no_grad():
        two = m(torch.tensor([[z]], dtype=torch.float32))
    assert two.shape == (1, 2)
    assert bool(torch.softmax(two.double(), -1)[0, 1] > 0.5) == (p > t)


def test_finalize_head_binary_and_multilabel_folding():
    from transformers import BertConfig, BertForSequenceClassification

    cfg = BertConfig(vocab_size=50, hidden_size=16, num_hidden_layers=1, num_attention_heads=2, intermediate_size=20,
                     num_labels=1)
    torch.manual_seed(0)
    m = BertForSequenceClassification(cfg).eval()
    x = {"input_ids": torch.randint(5, 50, (6, 7))}
    with torch.no_grad():
        z = m(**x).logits[:, 0]
    finalize_head(m, "binary", ["neg", "pos"], [0.7])
    with torch.no_grad():
        two = m(**x).logits
    assert two.shape == (6, 2) and m.config.id2label == {0: "neg", 1: "pos"}
    assert torch.equal((torch.softmax(two, -1)[:, 1] > 0.5), torch.sigmoid(z) > 0.7)

    cfg.num_labels = 3
    m = BertForSequenceClassification(cfg).eval()
    with torch.no_grad():
        before = torch.sigmoid(m(**x).logits)
    finalize_head(m, "multilabel", ["a", "b", "c"], [0.2, 0.5, 0.9])
    with torch.no_grad():
        after = torch.sigmoid(m(**x).logits)
    assert torch.equal(after > 0.5, before > torch.tensor([0.2, 0.5, 0.9]))
    assert m.config.problem_type == "multi_label_classification"


@given(lengths=st.lists(st.integers(1, 200), min_size=1, max_size=300), bs=st.integers(1, 33), seed=st.integers(0, 5),
       epoch=st.integers(0, 3))
@settings(max_examples=60)
def test_bucket_batches_partition_every_row_once(lengths, bs, seed, epoch):
    lengths = np.asarray(lengths)
    batches = bucket_batches(lengths, bs, seed, epoch, bucket_size=4)
    flat = [i for b in batches for i in b]
    assert sorted(flat) == list(range(len(lengths)))
    assert all(1 <= len(b) <= bs for b in batches)
    assert bucket_batches(lengths, bs, seed, epoch, bucket_size=4) == batches  # deterministic
    assert lengths[batches[0]].max() == lengths.max()  # the longest row's batch first: peak memory at step 1
    assert batches.order.dtype == np.int32  # 4 bytes a row, not a Python list of lists


def test_epoch_plan_memory_is_arrays():
    """The plan of a 3.4 M-row epoch is two arrays (~4 bytes a row), built without per-row Python objects."""
    import tracemalloc

    lengths = np.random.default_rng(0).integers(1, 128, 3_400_000).astype(np.int32)
    tracemalloc.start()
    plan = bucket_batches(lengths, 32, 42, 0)
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    assert plan.order.nbytes + plan.starts.nbytes < 6 * len(lengths)
    assert peak < 120 * len(lengths) // 4  # temporaries: a few int64 arrays of n, never ~36+ bytes a row kept
    assert len(plan) == -(-len(lengths) // 32)


def test_buckets_reduce_padding():
    rng = np.random.default_rng(0)
    lengths = rng.integers(3, 60, 5000)
    def padded(batches):
        return sum(len(b) * lengths[b].max() for b in batches)
    rand = [list(range(i, min(i + 32, 5000))) for i in range(0, 5000, 32)]
    assert padded(bucket_batches(lengths, 32, 0, 0)) < 0.6 * padded(rand)


@given(lengths=st.lists(st.integers(1, 100), min_size=1, max_size=200), bs=st.integers(1, 40),
       budget=st.integers(100, 2000))
def test_sorted_batches_with_token_budget(lengths, bs, budget):
    lengths = np.asarray(lengths)
    batches = sorted_batches(lengths, bs, max_tokens=budget)
    assert sorted(i for b in batches for i in b) == list(range(len(lengths)))
    for b in batches:
        assert len(b) <= bs and (len(b) == 1 or len(b) * lengths[b].max() <= budget)


def test_pad_collate_pads_and_masks():
    rows = [{"input_ids": [1, 2, 3], "token_type_ids": [0, 0, 1], "labels": 1},
            {"input_ids": [4], "token_type_ids": [0], "labels": 0}]
    b = pad_collate(rows, {"input_ids": 9, "token_type_ids": 0})
    assert b["input_ids"].tolist() == [[1, 2, 3], [4, 9, 9]]
    assert b["attention_mask"].tolist() == [[1, 1, 1], [1, 0, 0]]
    assert b["token_type_ids"].tolist() == [[0, 0, 1], [0, 0, 0]] and b["labels"].tolist() == [1, 0]


def test_pad_collate_pads_each_key_with_its_own_value():
    """Per-token labels pad with -100 (ignored by the loss), not with 0, a real label id."""
    rows = [{"input_ids": [1, 2], "labels": [3, 4]}, {"input_ids": [5], "labels": [6]}]
    b = pad_collate(rows, {"input_ids": 0, "labels": -100})
    assert b["labels"].tolist() == [[3, 4], [6, -100]] and b["input_ids"].tolist() == [[1, 2], [5, 0]]
    assert b["attention_mask"].tolist() == [[1, 1], [1, 0]]


@given(st.lists(st.tuples(st.booleans(), st.floats(0, 1)), min_size=5, max_size=80))
@settings(deadline=None)  # the first call imports scikit-learn
def test_tuned_binary_threshold_never_worse_than_half(pairs):
    y = np.array([int(a) for a, _ in pairs])
    p = np.array([b for _, b in pairs])
    t, best, base = tune_binary_threshold(y, p, "accuracy")
    assert best >= base and 0 < t < 1
    assert best == pytest.approx(float(((p > t).astype(int) == y).mean()))


def test_multilabel_thresholds_beat_half_per_label():
    rng = np.random.default_rng(1)
    y = (rng.random((300, 4)) < [0.05, 0.2, 0.5, 0.3]).astype(int)
    p = np.clip(y * 0.35 + rng.random((300, 4)) * 0.5, 0, 1)  # positives score higher, but below 0.5 often
    from sklearn.metrics import f1_score

    ts = tune_multilabel_thresholds(y, p)
    for j in range(4):
        assert f1_score(y[:, j], p[:, j] > ts[j]) >= f1_score(y[:, j], p[:, j] > 0.5, zero_division=0)


def test_probabilities_and_ties():
    probs = to_probabilities(np.array([[0.0], [2.0]]), "binary")
    assert np.allclose(probs.sum(1), 1) and probs[0, 1] == 0.5
    space = LabelSpace("binary", ["n", "p"])
    assert decide(space, probs).tolist() == [0, 1]  # exactly 0.5 goes negative, like argmax over (0, 0)


def test_detect_columns_headerless_goemotions_like():
    df = pd.DataFrame({"col0": ["some long text here", "another long text"], "col1": ["1,2", "3"],
                       "col2": ["id1", "id2"]})
    assert detect_columns(df, "f") == ("col0", None, "col1")
    with pytest.raises(BertkitError, match="no column 'x'"):
        detect_columns(df, "f", label_col="x")


def test_build_config_layers(tmp_path):
    (tmp_path / "r.yaml").write_text("lr: 0.001\nepochs: 2\n")
    cfg = build_config(ClassifyConfig, str(tmp_path / "r.yaml"), {"epochs": 5.0})
    assert cfg.lr == 0.001 and cfg.epochs == 5.0 and cfg.batch_size == ClassifyConfig().batch_size
    (tmp_path / "bad.yaml").write_text("epochs: many\n")
    with pytest.raises(BertkitError, match="bad.yaml: epochs must be a number"):
        build_config(ClassifyConfig, str(tmp_path / "bad.yaml"), {})


@pytest.mark.parametrize("labels, names, want_names, want_ids", [
    (["1", "2", "3", "4", "2"], None, ["1", "2", "3", "4"], [0, 1, 2, 3, 1]),  # no phantom class 0
    ([1, 2, 3, 4], "1=World,2=Sports,3=Business,4=Sci", ["World", "Sports", "Business", "Sci"], [0, 1, 2, 3]),
    (["0", "1", "1"], "neg,pos", ["neg", "pos"], [0, 1, 1]),
    (["b", "a", "c"], None, ["a", "b", "c"], [1, 0, 2]),
    ([3.0, 10.0, 3.0], None, ["3", "10"], [0, 1, 0]),  # numbers sort by value
])
def test_labels_are_the_observed_set(labels, names, want_names, want_ids):
    from bertkit.classify.data import read_label_names

    raw = pd.Series(labels)
    space = infer_label_space(raw, "f", None, ",", read_label_names(names))
    assert space.names == want_names
    assert encode_labels(raw, space, "f", ",").tolist() == want_ids


@pytest.mark.parametrize("labels, names, needle", [
    (["1", "NaN", "2"], None, "row 2: missing label"),
    ([1.0, float("nan"), 0.0], None, "row 2: missing label"),
    (["x", "x", "x"], None, "every row has the label 'x'"),
    (["1", "2", "3", "4"], "a,b,c,d", "name each label instead, e.g. --label-names 1=a,2=b"),
    (["1", "2"], "1=a", "label(s) 2 have no name"),
    (["1", "2"], "1=a,2", "'2' is not LABEL=NAME"),
])
def test_bad_labels_say_what_to_do(labels, names, needle):
    from bertkit.classify.data import read_label_names

    with pytest.raises(BertkitError, match=re.escape(needle)):
        infer_label_space(pd.Series(labels), "f", None, ",", read_label_names(names))


def test_config_checks_every_field_and_names_the_option():
    from dataclasses import fields

    from bertkit.defaults import TrainConfig
    from bertkit.settings import Setting
    from bertkit.taskspec import registry

    for cls in [TrainConfig, *(spec.settings() for spec in registry().values())]:
        # every field of every task's settings is one declaration: default, check, option help
        assert all(isinstance(f.metadata.get("setting"), Setting) for f in fields(cls)), cls
    for kw, needle in [({"batch_size": -4}, "--batch-size must be an integer of at least 1, not -4"),
                       ({"warmup_ratio": 5}, "--warmup-ratio must be a number from 0 to 1"),
                       ({"threads": "many"}, "--threads must be an integer of at least 1 or 'auto'"),
                       ({"report_to": "x"}, "--report-to must be one of tensorboard, wandb, mlflow, none")]:
        with pytest.raises(BertkitError, match=re.escape(needle)):
            ClassifyConfig(**kw)
    # auto: the load-aware opt-in
    assert ClassifyConfig(threads="auto").threads == "auto" and ClassifyConfig(threads="3").threads == 3
