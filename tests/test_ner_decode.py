"""Reading tags from word probabilities (bertkit.ner.decode): viterbi gives the most likely sequence the tag scheme
allows (checked against every sequence by brute force), argmax each word's own best; and the CLI's --decode."""

from __future__ import annotations

import itertools
import json

import numpy as np
import pytest
from helpers import invoke
from hypothesis import given, settings
from hypothesis import strategies as st

from bertkit.ner.decode import decode, transitions
from bertkit.ner.schemes import invalid_continuations

IOB2 = ["O", "B-loc", "I-loc", "B-per", "I-per"]
BIOES = ["O", "B-loc", "I-loc", "E-loc", "S-loc", "B-per", "E-per", "S-per"]


def well_formed(ids, names, scheme) -> bool:
    start, allowed, end = transitions(names, scheme)
    return bool(start[ids[0]] and end[ids[-1]] and all(allowed[a, b] for a, b in zip(ids, ids[1:])))


def log_prob(rows, ids) -> float:
    return float(sum(np.log(r[i]) for r, i in zip(rows, ids)))


def prob_rows(draw, n_labels: int, n_words: int) -> list[np.ndarray]:
    raw = draw(st.lists(st.lists(st.floats(0.01, 1.0), min_size=n_labels, max_size=n_labels),
                        min_size=n_words, max_size=n_words))
    return [np.asarray(r) / sum(r) for r in raw]


@st.composite
def sentences(draw):
    names, scheme = draw(st.sampled_from([(IOB2, "IOB2"), (BIOES, "BIOES")]))
    return names, scheme, [prob_rows(draw, len(names), draw(st.integers(1, 4))) for _ in range(draw(st.integers(1, 4)))]


@settings(max_examples=60, deadline=None)
@given(sentences())
def test_viterbi_is_the_best_well_formed_sequence(case):
    names, scheme, batch = case
    got = decode(batch, names, scheme, "viterbi")
    for rows, ids in zip(batch, got):
        assert len(ids) == len(rows) and well_formed(ids, names, scheme)
        best = max((p for p in itertools.product(range(len(names)), repeat=len(rows))
                    if well_formed(p, names, scheme)), key=lambda p: log_prob(rows, p))
        assert log_prob(rows, ids) == pytest.approx(log_prob(rows, best), abs=1e-9)
        alone = [int(np.argmax(r)) for r in rows]
        assert decode([rows], names, scheme, "argmax")[0] == alone
        if well_formed(alone, names, scheme):  # nothing to repair: as likely as the argmax (the same but for ties)
            assert log_prob(rows, ids) == pytest.approx(log_prob(rows, alone), abs=1e-9)


def test_viterbi_repairs_what_argmax_leaves_ill_formed():
    rows = [np.array([0.55, 0.2, 0.2, 0.03, 0.02]), np.array([0.1, 0.05, 0.6, 0.05, 0.2])]  # O I-loc by argmax
    alone = [IOB2[i] for i in decode([rows], IOB2, "IOB2", "argmax")[0]]
    fixed = [IOB2[i] for i in decode([rows], IOB2, "IOB2", "viterbi")[0]]
    assert alone == ["O", "I-loc"] and invalid_continuations(alone) == 1
    assert fixed == ["B-loc", "I-loc"] and invalid_continuations(fixed) == 0


def test_dropped_words_are_outside_and_plain_tags_are_argmax():
    rows = [np.array([0.1, 0.8, 0.05, 0.03, 0.02]), None, np.array([0.1, 0.05, 0.8, 0.03, 0.02])]
    ids = decode([rows, []], IOB2, "IOB2", "viterbi")
    assert IOB2[ids[0][1]] == "O" and well_formed(ids[0], IOB2, "IOB2") and ids[1] == []
    plain = ["NN", "VB", "DT"]
    rows = [np.array([0.2, 0.5, 0.3]), np.array([0.7, 0.2, 0.1])]
    assert decode([rows], plain, "plain", "viterbi") == [[1, 0]] and transitions(plain, "plain") is None


def test_a_label_set_with_no_allowed_path_falls_back_to_argmax():
    names = ["B-x", "I-x"]  # BIOES without O, E- or S-: no sequence can close
    rows = [np.array([0.3, 0.7]), np.array([0.9, 0.1])]
    assert decode([rows], names, "BIOES", "viterbi") == [[1, 0]]


def test_cli_decode_option(tmp_path, tiny_bert):
    from test_ner_cli import FAST, toy_sentences, write_conll

    train = write_conll(tmp_path / "train.conll", toy_sentences(40, 0))
    out = tmp_path / "m"
    r = invoke(["ner", "train", "-m", str(tiny_bert), "--train", str(train), "--dev", str(train), "-o", str(out),
                "--epochs", "2", *FAST[2:]])
    assert r.exit_code == 0, r.stderr[-2000:]
    meta, dev = json.loads((out / "bertkit.json").read_text()), json.loads((out / "metrics.json").read_text())["dev"]
    assert meta["decode"] == "viterbi" and dev["decode"] == "viterbi" and set(dev["argmax"]) == {"f1", "precision",
                                                                                                   "recall"}
    for how in ("argmax", "viterbi"):
        r = invoke(["ner", "eval", "-m", str(out), "--data", str(train), "--decode", how])
        assert r.exit_code == 0 and json.loads(r.stdout)["decode"] == how, r.stderr[-2000:]
    r = invoke(["ner", "eval", "-m", str(out), "--data", str(train)])
    m = json.loads(r.stdout)
    assert m["decode"] == "viterbi" and m["f1"] == pytest.approx(dev["f1"])  # as trained
    r = invoke(["ner", "predict", "-m", str(out), "--decode", "beam"], input="john went to paris\n")
    assert r.exit_code == 2 and "--decode" in r.stderr and "viterbi" in r.stderr
