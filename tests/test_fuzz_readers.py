"""Fuzzing the readers and label parsing: any input gives a correct parse or the clean BertkitError, never another
exception (a raw UnicodeDecodeError, KeyError, ValueError ... would reach the user as a crash)."""

from __future__ import annotations

import json
import tempfile
from pathlib import Path

import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bertkit.classify.data import encode_labels, infer_label_space, read_label_names
from bertkit.data.io import iter_jsonl, read_table
from bertkit.errors import BertkitError
from bertkit.qa.data import BadRow, load_qa, parse_answers

FUZZ = settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])

cells = st.text(alphabet=st.characters(blacklist_categories=("Cs",)), max_size=12)
json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-5, 5) | st.floats(allow_nan=True) | st.text(max_size=8),
    lambda kids: st.lists(kids, max_size=4) | st.dictionaries(st.text(max_size=6), kids, max_size=4),
    max_leaves=12,
)


_TMP = tempfile.TemporaryDirectory(prefix="bertkit-fuzz-")  # every example's file goes in here


@pytest.fixture(scope="module", autouse=True)
def _remove_examples():
    """Hypothesis writes hundreds of example files: they go when the module's tests end, not into /tmp for good."""
    yield
    _TMP.cleanup()


def _write(suffix: str, data: bytes) -> Path:
    d = Path(tempfile.mkdtemp(dir=_TMP.name))
    p = d / f"f{suffix}"
    p.write_bytes(data)
    return p


@FUZZ
@given(data=st.binary(max_size=300), suffix=st.sampled_from([".csv", ".tsv", ".jsonl", ".json", ".txt"]))
def test_any_bytes_read_as_a_table_or_a_clean_error(data, suffix):
    p = _write(suffix, data)
    try:
        df = read_table(str(p))
    except BertkitError as e:
        assert str(e).startswith(str(p)), str(e)  # the error names the file
        return
    assert all(isinstance(c, str) for c in df.columns)


@FUZZ
@given(rows=st.lists(st.lists(cells, min_size=1, max_size=4), min_size=1, max_size=8),
       sep=st.sampled_from([",", "\t", ";"]), suffix=st.sampled_from([".csv", ".tsv"]))
def test_delimited_text_parses_or_fails_cleanly(rows, sep, suffix):
    text = "\n".join(sep.join(r) for r in rows)
    p = _write(suffix, text.encode("utf-8"))
    try:
        df = read_table(str(p))
    except BertkitError:
        return
    assert len(df) <= len(text.splitlines())


@FUZZ
@given(lines=st.lists(st.one_of(json_values.map(json.dumps), st.text(max_size=20)), max_size=6))
def test_jsonl_lines_are_objects_or_a_clean_error(lines):
    try:
        out = list(iter_jsonl(lines, "src"))
    except BertkitError as e:
        assert str(e).startswith("src:")
        return
    assert all(isinstance(obj, dict) and isinstance(n, int) for n, obj in out)


qa_item = st.fixed_dictionaries({}, optional={
    "id": st.one_of(st.text(max_size=4), st.integers()),
    "question": st.one_of(st.text(max_size=10), st.none(), st.integers()),
    "answers": st.one_of(json_values, st.lists(st.fixed_dictionaries({}, optional={
        "text": st.one_of(st.text(max_size=6), st.none()),
        "answer_start": st.one_of(st.integers(-3, 40), st.text(max_size=3), st.floats())}), max_size=3)),
    "is_impossible": st.one_of(st.booleans(), st.none(), st.text(max_size=2)),
})
squad = st.fixed_dictionaries({"data": st.lists(st.one_of(
    json_values,
    st.fixed_dictionaries({"paragraphs": st.lists(st.one_of(json_values, st.fixed_dictionaries({}, optional={
        "context": st.one_of(st.text(max_size=40), st.none()),
        "qas": st.one_of(json_values, st.lists(qa_item, max_size=3))})),
        max_size=3)})), max_size=3)})


@FUZZ
@given(obj=st.one_of(squad, json_values), skip=st.booleans())
def test_squad_json_reads_or_fails_cleanly(obj, skip):
    p = _write(".json", json.dumps(obj).encode("utf-8"))
    try:
        d = load_qa(str(p), skip_bad_rows=skip)
    except BertkitError:
        return
    for e in d.examples:  # what was read is right: every answer sits where it says
        for t, s in zip(e.answers["text"], e.answers["answer_start"]):
            assert e.context[int(s):int(s) + len(t)] == t


@FUZZ
@given(rows=st.lists(qa_item.map(lambda r: {**r, "context": "jim henson was a nice puppet"}), min_size=1, max_size=5))
def test_flat_qa_rows_read_or_fail_cleanly(rows):
    p = _write(".jsonl", "\n".join(json.dumps(r) for r in rows).encode("utf-8"))
    try:
        load_qa(str(p), skip_bad_rows=True)
    except BertkitError:
        pass


@FUZZ
@given(value=json_values)
def test_parse_answers_gives_lists_or_a_bad_row(value):
    for v in (value, json.dumps(value)):
        try:
            a = parse_answers(v)
        except BadRow:
            continue
        assert set(a) == {"text", "answer_start"} and isinstance(a["text"], list)


labels = st.one_of(st.integers(-3, 12), st.text(alphabet="abc ,;=", max_size=5), st.none(),
                   st.floats(allow_nan=True, allow_infinity=True), st.lists(st.integers(0, 4), max_size=3))


@FUZZ
@given(raw=st.lists(labels, min_size=1, max_size=12),
       ptype=st.sampled_from([None, "binary", "multiclass", "multilabel"]),
       names=st.one_of(st.none(), st.text(alphabet="ab,=1 ", max_size=10)))
def test_label_parsing_is_right_or_a_clean_error(raw, ptype, names):
    series = pd.Series(raw, dtype=object)
    try:
        space = infer_label_space(series, "f", ptype, ",", read_label_names(names))
        y = encode_labels(series, space, "f", ",")
    except BertkitError:
        return
    assert space.num_labels >= 2 and len(set(space.names)) == space.num_labels
    assert len(y) == len(raw)
    if space.problem_type != "multilabel":
        assert set(y.tolist()) <= set(range(space.num_labels))


@pytest.mark.parametrize("spec, want",
                         [("neg,pos", ["neg", "pos"]), ("1=World, 2=Sports", {"1": "World", "2": "Sports"})])
def test_label_names_forms(spec, want):
    assert read_label_names(spec) == want
