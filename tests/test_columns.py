"""The one table reader and column finder: `tokenize --file`, `classify` and streamed `classify predict` read the
same tables the same way (bertkit.data.io, bertkit.data.columns), with the same one-line errors."""

from __future__ import annotations

import pandas as pd
import pytest

from bertkit.classify.data import detect_columns
from bertkit.data.columns import find_column, find_field, resolve_column, row_text, usual_name
from bertkit.data.io import read_table
from bertkit.errors import BertkitError
from bertkit.tokenization.corpus import read_file


def test_find_column_by_name_position_join_and_usual_names():
    df = pd.DataFrame({"Title": ["a", "b"], "Sentence": ["x y", "z"], "y": ["1", "0"]})
    assert find_column(df, None, ("text", "sentence"), "--text-col", "f") == "Sentence"  # without case
    assert find_column(df, "2", (), "--label-col", "f") == "y"
    assert find_column(df, "Title,Sentence", (), "--text-col", "f") == "Title,Sentence"
    assert df["Title,Sentence"].tolist() == ["a x y", "b z"]
    assert find_column(df, None, ("text",), "--text-col", "f") is None
    with pytest.raises(BertkitError, match=r"f: which column holds the text\? Give --text-col \(columns: Title"):
        find_column(df, None, ("text",), "--text-col", "f", required="text")
    with pytest.raises(BertkitError, match=r"f: no column 'body' \(--text-col\).*--text-col body"):
        resolve_column(df, "body", "--text-col", "f")
    with pytest.raises(BertkitError, match=r"f: --text-col 7: there are only 4 columns"):  # 3 + the joined one
        resolve_column(df, "7", "--text-col", "f")


def test_records_find_fields_like_tables():
    rec = {"Text": "hi", "b": "there", "n": 3}
    assert find_field(rec, None, (None, "text", "sentence")) == "Text"
    assert find_field(rec, "b", ("text",)) == "b"
    assert find_field({"x": 1}, None, ("text",)) is None
    assert row_text(rec, "Text,b") == "hi there" and row_text(rec, "1") == "there" and row_text(rec, "q") is None
    assert usual_name(["A", "LABEL"], ("label",)) == "LABEL"


@pytest.mark.parametrize("suffix", [".csv", ".tsv", ".jsonl", ".json", ".parquet"])
def test_corpus_reads_the_table_column_the_classifier_would(tmp_path, suffix):
    df = pd.DataFrame({"id": ["1", "2", "3"], "Review": ["good, \"fine\"", "bad", ""], "label": ["1", "0", "0"]})
    p = tmp_path / f"d{suffix}"
    tsv = "".join("\t".join(r) + "\n" for r in [list(df.columns), *df.values.tolist()])  # GLUE-style: no quoting
    {".tsv": lambda: p.write_text(tsv, encoding="utf-8"), ".csv": lambda: df.to_csv(p, index=False),
     ".jsonl": lambda: df.to_json(p, orient="records", lines=True), ".parquet": lambda: df.to_parquet(p),
     ".json": lambda: df.to_json(p, orient="records")}[suffix]()
    table = read_table(str(p))
    text, _, _ = detect_columns(table, str(p))
    assert read_file(str(p)).texts == [str(v) for v in table[text]] == ["good, \"fine\"", "bad", ""]
    assert read_file(str(p), "1", limit=2).texts == ["good, \"fine\"", "bad"]  # by position, as in classify
    assert read_file(str(p), "id,Review").texts == ["1 good, \"fine\"", "2 bad", "3"]  # joined


def test_corpus_errors_are_the_readers(tmp_path):
    semi = tmp_path / "semi.csv"
    semi.write_text("text;label\na;1\nb;0\n", encoding="utf-8")
    with pytest.raises(BertkitError, match=r"semi.csv: one column only, but its lines look delimited by ';'"):
        read_file(str(semi))
    latin = tmp_path / "latin.tsv"
    latin.write_bytes("text\tlabel\ncaf\xe9\t1\n".encode("latin-1"))
    with pytest.raises(BertkitError, match=r"latin.tsv: not UTF-8 text \(byte b'\\xe9'.*iconv"):
        read_file(str(latin))
    lines = tmp_path / "lines.txt"
    lines.write_bytes(b"ok\n\xff\n")
    with pytest.raises(BertkitError, match=r"--file .*lines.txt: not UTF-8 text"):
        read_file(str(lines))
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"text": "a"}\n[1]\n', encoding="utf-8")
    with pytest.raises(BertkitError, match=r"bad.jsonl:2: expected one JSON object"):
        read_file(str(bad))


def test_ner_tables_and_datasets_come_through_the_one_reader(tmp_path, monkeypatch):
    import datasets

    from bertkit.ner.data import read_sentences

    good = tmp_path / "t.csv"
    good.write_text("tokens,tags\n\"['Bob', 'lives']\",\"['B-person', 'O']\"\n", encoding="utf-8")
    sents = read_sentences(str(good))
    assert sents.tokens == [["Bob", "lives"]] and sents.tags == [["B-person", "O"]]
    bad = tmp_path / "bad.csv"
    bad.write_text("tokens,tags\n\"['Bob', 'lives']\",\"['B-person', 'O']\"\n\"['Ann']\",\n", encoding="utf-8")
    with pytest.raises(BertkitError, match=r"bad.csv: row 2: column 'tags' is not a list"):
        read_sentences(str(bad))
    latin = tmp_path / "latin.csv"
    latin.write_bytes("tokens,tags\n\"['caf\xe9']\",\"['O']\"\n".encode("latin-1"))
    with pytest.raises(BertkitError, match=r"latin.csv: not UTF-8 text"):
        read_sentences(str(latin))
    feats = datasets.Features({"tokens": datasets.Sequence(datasets.Value("string")),
                               "ner_tags": datasets.Sequence(datasets.ClassLabel(names=["O", "B-person"]))})
    ds = datasets.Dataset.from_dict({"tokens": [["Bob", "lives"]], "ner_tags": [[1, 0]]}, features=feats)
    monkeypatch.setattr(datasets, "load_dataset", lambda name, config, split: ds)
    sents = read_sentences("someone/tagged-set#train")
    assert sents.tokens == [["Bob", "lives"]] and sents.tags == [["B-person", "O"]]  # ids named by the ClassLabel


def test_ner_json_lines_are_read_by_the_one_json_lines_reader(tmp_path):
    from bertkit.ner.conll import read_json_tagged

    cases = {"list.json": ('[{"tokens": ["a"], "tags": ["O"]}', r"list.json: not valid JSON"),
             "deep.jsonl": ("[" * 100000, r"deep.jsonl: JSON nested too deeply"),
             "bad.jsonl": ('{"tokens": ["a"], "tags": ["O"]}\n{bad\n',
                           r"bad.jsonl:2: not valid JSON \(.*\); each line"),
             "list-line.jsonl": ('{"tokens": ["a"], "tags": ["O"]}\n[1]\n', r"list-line.jsonl:2: expected an object")}
    for name, (text, error) in cases.items():
        (tmp_path / name).write_text(text, encoding="utf-8")
        with pytest.raises(BertkitError, match=error):
            read_json_tagged(tmp_path / name)
