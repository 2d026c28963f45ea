"""Reading QA data: SQuAD JSON, flat JSONL/CSV rows, answer checks and v2 detection."""

from __future__ import annotations

import json

import pandas as pd
import pytest

from bertkit.errors import BertkitError
from bertkit.qa.data import gold_dataset, load_qa, parse_answers

CTX = "Paris is the capital of France."


def _squad(qas, version="v2.0"):
    return {"version": version, "data": [{"title": "t", "paragraphs": [{"context": CTX, "qas": qas}]}]}


def test_squad_v2_json(tmp_path):
    f = tmp_path / "d.json"
    f.write_text(json.dumps(_squad([
        {"id": "a", "question": "  What is the capital?",
         "answers": [{"text": "Paris", "answer_start": 0}, {"text": "Paris", "answer_start": 0}],
         "is_impossible": False},
        {"id": "b", "question": "Who?", "answers": [], "is_impossible": True,
         "plausible_answers": [{"text": "France", "answer_start": 24}]},
    ])))
    d = load_qa(str(f))
    assert [e.id for e in d.examples] == ["a", "b"] and d.has_impossible
    assert d.examples[0].question == "What is the capital?"  # leading spaces stripped, as the reference scripts do
    assert d.examples[0].answers == {"text": ["Paris", "Paris"], "answer_start": [0, 0]}
    assert d.examples[1].is_impossible and d.examples[1].answers["text"] == []
    assert d.squad_json is not None
    gold = gold_dataset(d)
    assert gold[0]["paragraphs"][1]["qas"][0]["answers"] == []


def test_squad_v1_json_is_not_v2(tmp_path):
    f = tmp_path / "d.json"
    f.write_text(json.dumps(_squad([{"id": "a", "question": "q?", "answers": [{"text": "France", "answer_start": 24}]}],
                                   "1.1")))
    assert not load_qa(str(f)).has_impossible


def test_flat_jsonl_csv_and_answer_shapes(tmp_path):
    rows = [
        {"id": "x1", "question": "capital?", "context": CTX, "answers": {"text": ["Paris"], "answer_start": [0]},
         "extra": 1},
        {"id": "x2", "question": "none?", "context": CTX, "answers": {"text": [], "answer_start": []}, "extra": 2},
    ]
    j = tmp_path / "d.jsonl"
    j.write_text("\n".join(json.dumps(r) for r in rows))
    d = load_qa(str(j))
    assert [e.id for e in d.examples] == ["x1", "x2"] and d.examples[1].is_impossible
    c = tmp_path / "d.csv"
    pd.DataFrame([{**r, "answers": json.dumps(r["answers"])} for r in rows]).to_csv(c, index=False)
    d2 = load_qa(str(c))
    assert [(e.id, e.answers, e.is_impossible) for e in d2.examples] == [(e.id, e.answers,
                                                                          e.is_impossible) for e in d.examples]
    assert parse_answers([{"text": "Paris", "answer_start": 0}]) == {"text": ["Paris"], "answer_start": [0]}


def test_bad_rows(tmp_path):
    f = tmp_path / "d.jsonl"
    rows = [{"question": "q", "context": CTX, "answers": {"text": ["Paris"], "answer_start": [0]}},
            {"question": "q", "context": CTX, "answers": {"text": ["Paris"], "answer_start": [40]}},
            {"question": "q", "context": CTX, "answers": {"text": ["Paris"], "answer_start": [1]}}]
    f.write_text("\n".join(json.dumps(r) for r in rows))
    with pytest.raises(BertkitError, match=r"d.jsonl: row 2: answer_start 40 of 'Paris' is outside the context"):
        load_qa(str(f))
    d = load_qa(str(f), skip_bad_rows=True)
    assert len(d) == 1 and d.skipped == 2 and "found 'aris '" in d.skip_reasons[1]
    g = tmp_path / "nocol.jsonl"
    g.write_text(json.dumps({"q": "x", "context": CTX}) + "\n")
    with pytest.raises(BertkitError, match="no 'question' column"):
        load_qa(str(g))


def test_limit_and_duplicate_ids(tmp_path):
    f = tmp_path / "d.json"
    qa = {"question": "q?", "answers": [{"text": "Paris", "answer_start": 0}]}
    f.write_text(json.dumps(_squad([{"id": "a", **qa}, {"id": "a", **qa}, {"id": "c", **qa}])))
    with pytest.raises(BertkitError, match="duplicate id 'a'"):
        load_qa(str(f))
    assert [e.id for e in load_qa(str(f), limit=1).examples] == ["a"]
