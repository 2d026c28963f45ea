"""Entity-level scores equal seqeval's on random tag sequences (default mode: conlleval; strict mode), and the
tag-scheme detection and conversions."""

from __future__ import annotations

import warnings

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bertkit.errors import BertkitError
from bertkit.ner.metrics import entity_scores, token_accuracy
from bertkit.ner.schemes import detect_scheme, entities, invalid_continuations, normalize, strict_entities

seqeval = pytest.importorskip("seqeval", reason="seqeval is a test dependency: pip install -e '.[test]'")
from seqeval import metrics as sm  # noqa: E402
from seqeval.scheme import IOB2, IOBES  # noqa: E402

IOB_TAGS = ["O", "O", "B-PER", "I-PER", "B-LOC", "I-LOC", "I-ORG", "B-ORG"]
BIOES_TAGS = ["O", "B-PER", "I-PER", "E-PER", "S-PER", "B-LOC", "E-LOC", "S-LOC", "I-LOC"]


def pairs(alphabet):
    sent = st.integers(0, 12).flatmap(lambda n: st.tuples(st.lists(st.sampled_from(alphabet), min_size=n, max_size=n),
                                                          st.lists(st.sampled_from(alphabet), min_size=n, max_size=n)))
    return st.lists(sent, min_size=1, max_size=8)


def _seqeval(gold, pred, **kw):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        rep = sm.classification_report(gold, pred, output_dict=True, zero_division=0, **kw)
        micro = tuple(f(gold, pred, zero_division=0, **kw) for f in (sm.precision_score, sm.recall_score, sm.f1_score))
        macro = sm.f1_score(gold, pred, average="macro", zero_division=0, **kw)
    return micro, macro, {k: v for k, v in rep.items() if not k.endswith("avg")}


def _check(data, **kw):
    gold, pred = [list(g) for g, _ in data], [list(p) for _, p in data]
    ours = entity_scores(gold, pred, **({"mode": "strict", "scheme": kw["scheme"].__name__.replace("IOBES", "BIOES")}
                                        if kw else {}))
    (p, r, f), macro, per = _seqeval(gold, pred, **({"mode": "strict", "scheme": kw["scheme"]} if kw else {}))
    assert abs(ours["precision"] - p) < 1e-9 and abs(ours["recall"] - r) < 1e-9 and abs(ours["f1"] - f) < 1e-9
    assert abs(ours["f1_macro"] - macro) < 1e-9 or not per
    assert set(ours["per_type"]) == set(per)
    for t, v in per.items():
        mine = ours["per_type"][t]
        assert abs(mine["f1"] - v["f1-score"]) < 1e-9 and mine["support"] == v["support"]


@settings(max_examples=300, deadline=None)
@given(pairs(IOB_TAGS + ["E-PER", "S-LOC"]))
def test_default_mode_equals_seqeval(data):
    _check(data)


@settings(max_examples=200, deadline=None)
@given(pairs(IOB_TAGS))
def test_strict_iob2_equals_seqeval(data):
    _check(data, scheme=IOB2)


@settings(max_examples=200, deadline=None)
@given(pairs(BIOES_TAGS))
def test_strict_bioes_equals_seqeval(data):
    _check(data, scheme=IOBES)


def test_conlleval_reading_of_an_i_after_o():
    tags = ["O", "I-PER", "I-PER", "O", "B-LOC", "I-PER"]
    assert entities(tags) == [("PER", 1, 2), ("LOC", 4, 4), ("PER", 5, 5)]
    assert strict_entities(tags) == [("LOC", 4, 4)]
    assert invalid_continuations(tags) == 2


def test_scheme_detection_and_conversion():
    assert detect_scheme([["B-PER", "I-PER", "O", "B-LOC"]]) == "IOB2"
    assert detect_scheme([["I-PER", "I-PER", "O", "I-LOC", "B-LOC"]]) == "IOB1"
    assert normalize(["I-PER", "I-PER", "O", "I-LOC", "B-LOC"], "IOB1") == ["B-PER", "I-PER", "O", "B-LOC", "B-LOC"]
    assert detect_scheme([["S-PER", "O", "B-LOC", "E-LOC"]]) == "BIOES"
    assert detect_scheme([["U-PER", "O", "B-LOC", "L-LOC"]]) == "BILOU"
    assert normalize(["U-PER", "O", "B-LOC", "I-LOC", "L-LOC"], "BILOU") == ["S-PER", "O", "B-LOC", "I-LOC", "E-LOC"]
    assert detect_scheme([["NN", "VBZ", "O", "DT"]]) == "plain"
    with pytest.raises(BertkitError, match="mixed with plain tags"):
        detect_scheme([["B-PER", "NN"]], where="x.conll")


def test_token_accuracy():
    assert token_accuracy([["NN", "VB"], ["DT"]], [["NN", "NN"], ["DT"]]) == pytest.approx(2 / 3)
