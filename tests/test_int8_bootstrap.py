"""The int8 gate's paired bootstrap: each task's per-example metric equals the metric it reports (property tests
against bertkit's metrics, which are checked against sklearn / seqeval / the official SQuAD script elsewhere), and
`--gate-confidence` refuses a drop that the gate data cannot resolve. No ONNX: the gate's graph steps are faked."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bertkit import int8gate
from bertkit.int8gate import Bootstrap, Score

SINGLE = {"binary": ("accuracy", "f1", "f1_macro", "precision", "recall"),
          "multiclass": ("accuracy", "f1_macro", "f1_micro", "f1_weighted")}


@settings(max_examples=40, deadline=None)
@given(st.integers(2, 5), st.lists(st.tuples(st.integers(0, 4), st.integers(0, 4)), min_size=1, max_size=60))
def test_single_label_resample_equals_the_reported_metric(k, pairs):
    from bertkit.classify.gate import resampled
    from bertkit.classify.metrics import single_label_metrics

    y, pred = (np.array([p[i] % k for p in pairs]) for i in (0, 1))
    probs = np.eye(k)[pred]
    res = single_label_metrics(y, pred, [str(i) for i in range(k)], detail=False)
    idx = np.arange(len(y))
    for metric in SINGLE["binary" if k == 2 else "multiclass"]:
        assert resampled(metric, y, pred, probs, k, False)(idx) == pytest.approx(res[metric], abs=1e-12), metric


@settings(max_examples=40, deadline=None)
@given(st.integers(2, 5), st.integers(1, 40), st.integers(0, 2**31 - 1))
def test_multilabel_resample_equals_the_reported_metric(k, n, seed):
    from bertkit.classify.gate import resampled
    from bertkit.classify.metrics import multilabel_metrics

    rng = np.random.default_rng(seed)
    y, pred = (rng.random((n, k)) < 0.3).astype(np.int64), (rng.random((n, k)) < 0.3).astype(np.int64)
    res = multilabel_metrics(y, pred, [str(i) for i in range(k)], detail=False)
    for metric in ("f1_macro", "f1_micro", "subset_accuracy", "hamming_loss"):
        got = resampled(metric, y, pred, None, k, True)(np.arange(n))
        assert got == pytest.approx(res[metric], abs=1e-12), metric


TAGS = st.lists(st.lists(st.sampled_from(["O", "B-A", "I-A", "B-B", "I-B"]), min_size=0, max_size=8), min_size=1,
                max_size=12)


@settings(max_examples=80, deadline=None)
@given(TAGS, st.integers(0, 2**31 - 1), st.sampled_from(["default", "strict"]))
def test_entity_counts_per_sentence_sum_to_micro_f1(gold, seed, mode):
    from bertkit.ner.gate import _from_sums
    from bertkit.ner.metrics import entity_scores, sentence_counts

    rng = np.random.default_rng(seed)
    names = ["O", "B-A", "I-A", "B-B", "I-B"]
    pred = [[t if rng.random() < 0.6 else names[rng.integers(0, 5)] for t in s] for s in gold]
    counts = np.array(sentence_counts(gold, pred, mode, "IOB2"), dtype=float).reshape(-1, 3)
    assert len(counts) == len(gold)
    want = entity_scores(gold, pred, mode=mode, scheme="IOB2")["f1"]
    assert _from_sums("f1", counts.sum(axis=0)) == pytest.approx(want, abs=1e-12)
    half = np.arange(0, len(gold), 2)  # any subset of sentences: the F1 of those sentences alone
    sub = entity_scores([gold[i] for i in half], [pred[i] for i in half], mode=mode, scheme="IOB2")["f1"]
    assert _from_sums("f1", counts[half].sum(axis=0)) == pytest.approx(sub, abs=1e-12)


ANSWERS = st.sampled_from(["", "the cat", "a cat", "cat sat", "dog", "The Cat!"])


@settings(max_examples=40, deadline=None)
@given(st.lists(st.tuples(st.lists(ANSWERS, max_size=2), ANSWERS, st.floats(-3, 3)), min_size=1, max_size=20),
       st.floats(-2, 2), st.booleans())
def test_question_f1_averages_to_the_official_f1(rows, thresh, v2):
    from bertkit.qa.squad_metrics import per_question_f1, squad_evaluate

    gold = [(f"q{i}", [a for a in answers if a]) for i, (answers, _, _) in enumerate(rows)]
    preds = {f"q{i}": p for i, (_, p, _) in enumerate(rows)}
    na = {f"q{i}": s for i, (_, _, s) in enumerate(rows)} if v2 else None
    kw = {"na_probs": na, "na_prob_thresh": thresh} if v2 else {}
    want = squad_evaluate(gold, preds, **kw)["f1"]
    f1 = per_question_f1(gold, preds, **({"na_probs": na, "na_prob_thresh": thresh} if v2 else {}))
    assert 100.0 * np.mean(list(f1.values())) == pytest.approx(want, abs=1e-9)


def _score(values: np.ndarray) -> Score:
    """A per-example metric (their mean)."""
    return Score("accuracy", float(values.mean()), True, list(values), len(values),
                 lambda idx: float(values[idx].mean()))


def test_bootstrap_interval_is_paired_and_narrows_with_more_examples():
    rng = np.random.default_rng(0)
    widths = []
    for n in (100, 2500):
        ref = (rng.random(n) < 0.8).astype(float)
        got = ref.copy()
        flip = rng.choice(n, n // 10, replace=False)
        got[flip] = 1 - got[flip]  # 10 % of the answers change, about as many each way
        boot = Bootstrap(_score(ref))
        lo, hi = Bootstrap.interval(boot.drops(_score(got)))
        assert lo <= int8gate.relative_drop(_score(ref), _score(got)) <= hi
        widths.append(hi - lo)
    assert widths[1] < widths[0] / 3  # ~ 1/sqrt(n)
    same = Bootstrap(_score(ref)).drops(_score(ref.copy()))
    assert np.all(same == 0)  # paired: the same answers drop nothing on every resample
    assert not Bootstrap(Score("roc_auc", 0.9, True, [1, 2])).usable  # no per-example metric: no interval


def _fake_gate(monkeypatch, tmp_path, ref: np.ndarray, by_variant: dict[tuple, np.ndarray]):
    """run_gate with its ONNX steps faked: two groups; each variant's per-example results from `by_variant`, keyed
    by the groups left in fp32."""
    monkeypatch.setattr(int8gate, "node_groups", lambda pre: {"layer.0": ["a"], "head": ["b"]})
    monkeypatch.setattr(int8gate, "weight_widths", lambda: [8])

    def quantize(pre, dest, exclude=(), bits=None):
        dest.write_text(",".join(sorted(exclude)))
        return dest

    monkeypatch.setattr(int8gate, "quantize", quantize)
    names = {"": (), "b": ("head",), "a": ("layer.0",)}

    def score(path):
        if path.name == "fp32.onnx":
            return _score(ref)
        return _score(by_variant[names[path.read_text()]])

    (tmp_path / "fp32.onnx").write_text("")
    return lambda **kw: int8gate.run_gate(score, tmp_path / "fp32.onnx", tmp_path / "pre.onnx", tmp_path, 0.01,
                                          lambda msg: None, **kw)


def test_gate_confidence_refuses_a_drop_the_data_cannot_resolve(monkeypatch, tmp_path):
    rng = np.random.default_rng(1)
    ref = (rng.random(200) < 0.8).astype(float)
    noisy = ref.copy()
    noisy[np.flatnonzero(ref == 1)[:20]], noisy[np.flatnonzero(ref == 0)[:20]] = 0, 1  # 40 answers change, each way
    assert int8gate.relative_drop(_score(ref), _score(noisy)) == 0
    gate = _fake_gate(monkeypatch, tmp_path, ref, {(): noisy, ("head",): ref.copy(), ("layer.0",): noisy})
    loose, chosen = gate()
    assert loose["accepted"] and loose["excluded"] == [] and loose["examples"] == 200 and chosen is not None
    assert loose["drop_interval_95"][1] > 0.01 and "--gate-confidence 0.95" in loose["caution"]
    strict, chosen = gate(confidence=0.95)
    assert strict["accepted"] and strict["excluded"] == ["head"] and strict["drop_bound"] <= 0.01
    assert not strict["variants"][0]["passed"] and strict["variants"][0]["drop_bound"] > 0.01
    assert "caution" not in strict and strict["confidence"] == 0.95


def test_gate_confidence_needs_a_per_example_metric(monkeypatch, tmp_path):
    from bertkit.errors import BertkitError

    monkeypatch.setattr(int8gate, "node_groups", lambda pre: {"head": ["b"]})
    score = lambda path: Score("roc_auc", 0.9, True, [1])  # noqa: E731
    with pytest.raises(BertkitError, match="not scored per example"):
        int8gate.run_gate(score, tmp_path / "f.onnx", tmp_path / "p.onnx", tmp_path, 0.01, print, confidence=0.95)
    few = lambda path: _score(np.array([1.0, 0.0, 1.0]))  # noqa: E731
    with pytest.raises(BertkitError, match="3 examples cannot be split"):
        int8gate.run_gate(few, tmp_path / "f.onnx", tmp_path / "p.onnx", tmp_path, 0.01, print, confidence=0.95)


def test_gate_confidence_confirms_the_choice_on_examples_that_did_not_choose_it(monkeypatch, tmp_path):
    ref = (np.random.default_rng(2).random(400) < 0.8).astype(float)
    chose, other = int8gate.halves(400)
    assert len(chose) == len(other) == 200 and not set(chose) & set(other)
    lucky = ref.copy()  # as fp32 where the variants are chosen, wrong on 30 right answers elsewhere
    lucky[other[ref[other] == 1][:30]] = 0
    gate = _fake_gate(monkeypatch, tmp_path, ref, {(): lucky, ("head",): ref.copy(), ("layer.0",): lucky})
    loose, _ = gate()  # without --gate-confidence every example chooses: the drop shows, the head is kept in fp32
    assert loose["accepted"] and loose["excluded"] == ["head"] and "confirmation" not in loose
    strict, chosen = gate(confidence=0.95)
    assert not strict["accepted"] and chosen is None and strict["excluded"] == []
    conf = strict["confirmation"]
    assert conf["examples"] == 200 and not conf["passed"] and conf["relative_drop"] > 0.15 and conf["drop_bound"] > 0.01
    assert strict["relative_drop"] == 0 and strict["drop_bound"] == 0  # where it was chosen it looked exact
    assert "but not on the other 200" in strict["why"] and strict["why"].endswith("fp32 kept")
    ok = _fake_gate(monkeypatch, tmp_path, ref, {(): ref.copy(), ("head",): ref.copy(), ("layer.0",): ref.copy()})
    passed, chosen = ok(confidence=0.95)
    assert passed["accepted"] and chosen is not None and passed["confirmation"]["passed"]
    assert "chosen on" in passed["why"] and "on the other 200" in passed["why"]
