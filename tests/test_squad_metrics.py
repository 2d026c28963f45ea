"""SQuAD scoring equals the official v2.0 script: every expected number below is worked out by
hand from the official rules (written as the same arithmetic, so floats compare exactly)."""

from __future__ import annotations

import json
import os

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bertkit.errors import BertkitError
from bertkit.qa import official_files as of
from bertkit.qa.squad_metrics import (
    GoldQuestion,
    compute_exact,
    compute_f1,
    find_best_thresh,
    get_raw_scores,
    gold_questions,
    load_squad_json,
    make_qid_to_has_ans,
    normalize_answer,
    squad_evaluate,
)

BASE_KEYS = ["exact", "f1", "total"]
HAS = ["HasAns_exact", "HasAns_f1", "HasAns_total"]
NO = ["NoAns_exact", "NoAns_f1", "NoAns_total"]
BEST = ["best_exact", "best_exact_thresh", "best_f1", "best_f1_thresh"]


def squad(*qas, v2=True):
    """A one-paragraph dataset from (qid, [gold texts]) pairs."""
    items = []
    for qid, golds in qas:
        qa = {"id": qid, "question": "q?", "answers": [{"text": t, "answer_start": 0} for t in golds]}
        if v2:
            qa["is_impossible"] = not golds
        items.append(qa)
    return {"version": "v2.0", "data": [{"title": "t", "paragraphs": [{"context": "c", "qas": items}]}]}


@pytest.mark.parametrize("raw, norm", [
    ("The Theater!", "theater"),            # 'the' removed as a word; 'the' inside 'theater' kept
    ("  An  Apple,\ta PEAR\n", "apple pear"),
    ("a-an apple", "aan apple"),            # punctuation goes first, so 'a-an' fuses into 'aan'
    ("an.the", "anthe"),
    ("thea the-a", "thea thea"),
    ("“Paris”", "“paris”"),               # unicode quotes are not string.punctuation
    ("Café — bar", "café — bar"),           # neither is the em dash
    ("theé", "theé"),                       # é is a word character: no boundary after 'the'
    ("x\u00a0y", "x y"),                    # str.split() splits on no-break space
    ("snake_case 3.14", "snakecase 314"),
    ("the a an", ""),
    ("", ""),
])
def test_normalize_answer(raw, norm):
    assert normalize_answer(raw) == norm


def test_exact_and_f1_single_answers():
    assert compute_exact("Paris", "paris.") == 1
    assert compute_exact("Paris", "“Paris”") == 0
    assert compute_exact("", "") == 1 and compute_f1("", "") == 1        # no answer predicted for no answer
    assert compute_exact("", "the") == 1 and compute_f1("the", "") == 1  # both have no tokens
    assert compute_exact("Paris", "") == 0 and compute_f1("Paris", "") == 0
    assert compute_f1("", "Paris") == 0
    assert compute_f1("big red dog", "green cat") == 0
    # repeated tokens: gold [cat, cat, sat], pred [cat, cat, cat] -> 2 in common
    p = r = 1.0 * 2 / 3
    assert compute_f1("the cat the cat sat", "cat cat cat") == (2 * p * r) / (p + r)
    # gold [big, red, dog], pred [big, dog]: precision 1, recall 2/3
    p, r = 1.0 * 2 / 2, 1.0 * 2 / 3
    assert compute_f1("the big red dog", "big dog") == (2 * p * r) / (p + r)
    assert compute_f1("Big dog", "big DOG!") == 1.0


def test_max_over_gold_and_empty_golds_dropped():
    golds = [GoldQuestion("m", ["Eiffel Tower", "the tower"]),   # max over golds
             GoldQuestion("d", ["The", "Paris"]),               # 'The' normalises to "": dropped
             GoldQuestion("e", ["a", "..."])]                   # all dropped: gold is "", yet HasAns
    preds = {"m": "tower", "d": "", "e": ""}
    exact, f1 = get_raw_scores(golds, preds)
    assert exact == {"m": 1, "d": 0, "e": 1}
    p, r = 1.0, 1.0 * 1 / 2
    assert f1 == {"m": 1.0, "d": 0, "e": 1}
    assert compute_f1("Eiffel Tower", "tower") == (2 * p * r) / (p + r)
    assert make_qid_to_has_ans(golds) == {"m": True, "d": True, "e": True}


# q1..q5 in file order; q2 and q3 tie on na_prob 0.5
DATA = squad(("q1", ["Paris"]), ("q2", ["the big red dog"]), ("q3", []), ("q4", []), ("q5", ["1984"]))
PREDS = {"q1": "Paris", "q2": "big dog", "q3": "something", "q4": "", "q5": "1985"}
NA = {"q1": 0.1, "q2": 0.5, "q3": 0.5, "q4": 0.9, "q5": 0.3}
F1_Q2 = (2 * 1.0 * (2 / 3)) / (1.0 + 2 / 3)


def test_breakdown_and_key_order_without_na_probs():
    res = squad_evaluate(DATA, PREDS)
    assert list(res) == BASE_KEYS + HAS + NO  # no best_* keys without na_probs, as officially
    assert res["exact"] == 100.0 * (1 + 0 + 0 + 1 + 0) / 5 == 40.0
    assert res["f1"] == 100.0 * (1 + F1_Q2 + 0 + 1 + 0) / 5
    assert res["HasAns_exact"] == 100.0 * 1 / 3 and res["HasAns_f1"] == 100.0 * (1 + F1_Q2 + 0) / 3
    assert res["NoAns_exact"] == 50.0 and res["NoAns_f1"] == 50.0
    assert (res["total"], res["HasAns_total"], res["NoAns_total"]) == (5, 3, 2)
    assert all(type(res[k]) is int for k in ("total", "HasAns_total", "NoAns_total"))
    assert all(type(res[k]) is float for k in res if not k.endswith("total"))


def test_best_thresholds_by_hand_with_ties():
    # sorted by na_prob: q1 .1, q5 .3, q2 .5, q3 .5, q4 .9; start 2 (NoAns count), thresh 0.0
    # exact: q1 +1 -> 3 (new best, thresh .1), q5 +0, q2 +0, q3 -1 (non-empty pred), q4 0
    # f1:    q1 +1 -> 3 (.1), q5 +0, q2 +0.8 -> 3.8 (.5), q3 -1, q4 0
    res = squad_evaluate(DATA, PREDS, NA)
    assert list(res) == BASE_KEYS + HAS + NO + BEST
    assert res["best_exact"] == 100.0 * 3 / 5 and res["best_exact_thresh"] == 0.1
    assert res["best_f1"] == 100.0 * (2 + 1 + 0 + F1_Q2) / 5 and res["best_f1_thresh"] == 0.5
    # the official quirk: at thresh 0.5 q3 (na_prob 0.5, not > 0.5) is answered too, so the
    # reported best F1 is not reached by its own threshold
    at = squad_evaluate(DATA, PREDS, NA, na_prob_thresh=res["best_f1_thresh"])
    assert at["f1"] == 100.0 * (1 + F1_Q2 + 0 + 1 + 0) / 5 < res["best_f1"]
    # ties are broken by the order of the na_probs mapping: q3 before q2 loses the 3.8 peak
    swapped = {k: NA[k] for k in ("q1", "q3", "q2", "q4", "q5")}
    res2 = squad_evaluate(DATA, PREDS, swapped)
    assert res2["best_f1"] == 100.0 * 3 / 5 and res2["best_f1_thresh"] == 0.1


def test_best_thresh_stays_zero_and_counts_raw_prediction_strings():
    # all-no-answer is best: nothing strictly improves on the start, threshold stays 0.0
    res = squad_evaluate(squad(("n", []), ("h", ["yes"])), {"n": "x", "h": "no"}, {"n": 0.2, "h": 0.7})
    assert (res["best_exact"], res["best_exact_thresh"], res["best_f1_thresh"]) == (100.0 * 1 / 2, 0.0, 0.0)
    # "." for a NoAns question scores exact 1, but find_best_thresh tests the raw string: -1
    data = squad(("n", []), ("h", ["yes"]))
    res = squad_evaluate(data, {"n": ".", "h": "yes"}, {"n": 0.5, "h": 0.9})
    assert res["exact"] == 100.0 and res["best_exact"] == 100.0 * 1 / 2 and res["best_exact_thresh"] == 0.0
    # start 1; n ("" pred) +0; h +1 -> 2 at na_prob 1: an int na_prob comes back as given (prints as 1)
    exact, _ = get_raw_scores(gold_questions(data), {"n": "", "h": "yes"})
    best = find_best_thresh({"n": "", "h": "yes"}, exact, {"n": 0, "h": 1}, make_qid_to_has_ans(gold_questions(data)))
    assert best == (100.0 * 2 / 2, 1) and type(best[1]) is int


def test_na_prob_thresh_applied():
    res = squad_evaluate(DATA, PREDS, NA, na_prob_thresh=0.4)  # q2, q3, q4 become "no answer"
    assert res["exact"] == 100.0 * (1 + 0.0 + 1.0 + 1.0 + 0) / 5
    assert res["f1"] == 100.0 * (1 + 0.0 + 1.0 + 1.0 + 0) / 5
    assert res["HasAns_exact"] == 100.0 * (1 + 0.0 + 0) / 3 and res["NoAns_exact"] == 100.0
    # without na_probs every question gets 0.0: a negative threshold empties every answer
    assert squad_evaluate(DATA, PREDS, na_prob_thresh=-1)["exact"] == 100.0 * 2 / 5


def test_v1_file_and_is_impossible_ignored():
    v1 = squad(("a", ["Denver Broncos", "Broncos"]), ("b", ["1984"]), v2=False)
    res = squad_evaluate(v1, {"a": "the Broncos", "b": "in 1984"})
    assert list(res) == BASE_KEYS + HAS
    p, r = 1.0 * 1 / 2, 1.0
    assert res["exact"] == 100.0 * (1 + 0) / 2 and res["f1"] == 100.0 * (1 + (2 * p * r) / (p + r)) / 2
    flagged = squad(("a", ["x"]))
    flagged["data"][0]["paragraphs"][0]["qas"][0]["is_impossible"] = True  # answers decide, not the flag
    assert squad_evaluate(flagged, {"a": "x"})["HasAns_total"] == 1


def test_in_memory_examples_match_json_path(tmp_path):
    examples = [("q1", ["Paris"]), ("q2", ["the big red dog"]), ("q3", []), ("q4", []), GoldQuestion("q5", ["1984"])]
    path = tmp_path / "dev.json"
    path.write_text(json.dumps(DATA))
    ref = squad_evaluate(DATA, PREDS, NA)
    assert squad_evaluate(examples, PREDS, NA) == ref
    assert squad_evaluate(DATA["data"], PREDS, NA) == ref
    assert squad_evaluate(str(path), PREDS, NA) == ref == squad_evaluate(load_squad_json(path), PREDS, NA)
    assert squad_evaluate(examples, {**PREDS, "extra": "ignored"}, {**NA, "extra": 0.0}) == ref


def test_errors_where_the_official_script_crashes():
    with pytest.raises(BertkitError, match="missing predictions for 1 of 5 questions \\(q4\\)"):
        squad_evaluate(DATA, {k: v for k, v in PREDS.items() if k != "q4"})
    with pytest.raises(BertkitError, match="no-answer probabilities missing for 1 questions"):
        squad_evaluate(DATA, PREDS, {k: v for k, v in NA.items() if k != "q2"})
    with pytest.raises(BertkitError, match="not a string"):
        squad_evaluate(DATA, {**PREDS, "q1": None})
    with pytest.raises(BertkitError, match="not a number"):
        squad_evaluate(DATA, PREDS, {**NA, "q1": "0.3"})
    with pytest.raises(BertkitError, match="no questions"):
        squad_evaluate({"data": []}, {})
    with pytest.raises(BertkitError, match="pair"):
        squad_evaluate([("a", ["x"], 3)], {"a": "x"})


def test_load_squad_json_errors_name_the_file(tmp_path):
    bad = tmp_path / "bad.json"
    bad.write_text("{not json")
    with pytest.raises(BertkitError, match="bad.json: not valid JSON"):
        load_squad_json(bad)
    with pytest.raises(BertkitError, match="nope.json: file not found"):
        load_squad_json(tmp_path / "nope.json")
    for obj, msg in [([], "not a SQuAD dataset"), ({"data": [{}]}, 'data\\[0\\] has no "paragraphs"'),
                     ({"data": [{"paragraphs": [{"context": "c", "qas": [{"id": "x"}]}]}]}, 'id x\\) has no "answers"'),
                     ({"data": [{"paragraphs": [{"context": "c", "qas": [{"answers": []}]}]}]}, 'no string "id"'),
                     ({"data": [{"paragraphs": [{"qas": []}]}]}, 'no string "context"')]:
        bad.write_text(json.dumps(obj))
        with pytest.raises(BertkitError, match=f"bad.json: .*{msg}"):
            load_squad_json(bad)


def test_official_files_round_trip_atomically(tmp_path):
    nbest = {"q1": [{"text": "Paris", "probability": 0.75, "start_logit": 2.5, "end_logit": 1.0},
                    {"text": "", "probability": 0.25, "start_logit": 0.5, "end_logit": 0.0}]}
    written = of.write_official_files(tmp_path / "out", PREDS, nbest, {"q1": -1.5, "q2": 3})
    assert sorted(written) == ["na_probs", "nbest", "predictions"]
    assert sorted(os.listdir(tmp_path / "out")) == sorted([of.NBEST_FILE, of.NULL_ODDS_FILE, of.PREDICTIONS_FILE])
    assert of.read_predictions(written["predictions"]) == PREDS
    assert json.loads(written["nbest"].read_text()) == nbest
    assert list(json.loads(written["nbest"].read_text())["q1"][0]) == list(of.NBEST_KEYS)
    assert of.read_na_probs(written["na_probs"]) == {"q1": -1.5, "q2": 3.0}
    assert written["predictions"].read_text().startswith('{\n    "q1": "Paris"')
    target = tmp_path / "p.json"
    target.write_text('{"old": "kept"}')
    with pytest.raises(BertkitError, match="finite"):
        of.write_na_probs(target, {"q": float("nan")})
    with pytest.raises(BertkitError, match="must be a string"):
        of.write_predictions(target, {"q": 1})
    assert of.read_predictions(target) == {"old": "kept"} and os.listdir(tmp_path).count("p.json") == 1
    assert len(os.listdir(tmp_path)) == 2  # no temporary files left
    for bad_nbest, msg in [({"q": "x"}, "must be a list of entries"), ({"q": [{"text": "x"}]}, "needs the keys")]:
        with pytest.raises(BertkitError, match=msg):
            of.write_nbest(target, bad_nbest)
    assert of.read_predictions(target) == {"old": "kept"}  # a refused write leaves the file as it was


WORDS = st.sampled_from(["the", "a", "an", "Cat", "cat", "dog", "x", ".", ",", "“q”", "theater", "1", "é", "-"])
ANSWER = st.lists(WORDS, max_size=6).map(" ".join)


@settings(max_examples=150, deadline=None)
@given(ANSWER, ANSWER)
def test_f1_properties(gold, pred):
    f1 = compute_f1(gold, pred)
    assert 0 <= f1 <= 1 and f1 == compute_f1(pred, gold)
    if compute_exact(gold, pred):
        assert f1 == 1


@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(st.lists(ANSWER, max_size=3), ANSWER), min_size=1, max_size=8))
def test_evaluate_is_mean_of_per_question_scores(rows):
    examples = [(f"q{i}", golds) for i, (golds, _) in enumerate(rows)]
    preds = {f"q{i}": pred for i, (_, pred) in enumerate(rows)}
    exact, f1 = get_raw_scores(examples, preds)
    res = squad_evaluate(examples, preds)
    assert res["exact"] == 100.0 * sum(exact.values()) / len(rows) and res["total"] == len(rows)
    assert res["f1"] == pytest.approx(100.0 * sum(f1.values()) / len(rows))
    assert res["exact"] <= res["f1"] + 1e-9


def test_real_squad2_dev(shared_data):
    path = shared_data / "squad" / "squad2-cs224n" / "dev-v2.0.json"
    if not path.is_file():
        pytest.skip(f"{path} not found")
    golds = gold_questions(load_squad_json(path))
    gold_preds = {qid: answers[0] if answers else "" for qid, answers in golds}
    res = squad_evaluate(path, gold_preds, {qid: 0.0 for qid, _ in golds})
    assert (res["total"], res["HasAns_total"], res["NoAns_total"]) == (6078, 2910, 3168)
    assert res["exact"] == res["f1"] == res["HasAns_exact"] == res["NoAns_exact"] == 100.0
    assert (res["best_exact"], res["best_exact_thresh"]) == (100.0, 0.0)
    empty = squad_evaluate(path, {qid: "" for qid, _ in golds})
    assert empty["NoAns_exact"] == 100.0 and empty["HasAns_exact"] == 0.0
    assert empty["exact"] == 100.0 * 3168 / 6078
