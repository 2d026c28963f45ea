"""`bertkit tokenize compare | encode` on small local tokenizers (no shared data needed)."""

from __future__ import annotations

import csv
import io
import json
import string
from html.parser import HTMLParser

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from bertkit.cli.main import app
from bertkit.tokenization.metrics import find_words, roundtrip_reason
from bertkit.tokenization.schema import CSV_FIELDS, FIELDS, JSON_ONLY
from bertkit.tokenization.specs import load_all, parse_spec

runner = CliRunner()

WORDS = "the a cat sat on mat it was too tired animal street cross because didn hello world".split()


def _vocab(cased: bool = False) -> list[str]:
    special = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
    chars = list(string.ascii_lowercase + string.digits + string.punctuation)
    pieces = ["##" + c for c in string.ascii_lowercase + string.digits] + ["##ed", "##s", "##ing"]
    extra = ["The", "Hello"] if cased else []
    out: list[str] = []
    for t in special + chars + pieces + WORDS + extra:
        if t not in out:
            out.append(t)
    return out


@pytest.fixture(scope="module")
def vocab_dir(tmp_path_factory):
    d = tmp_path_factory.mktemp("wp")
    (d / "vocab.txt").write_text("\n".join(_vocab()) + "\n")
    (d / "cased").mkdir()
    (d / "cased" / "vocab.txt").write_text("\n".join(_vocab(cased=True)) + "\n")
    return d


def run(*args, input=None):
    return runner.invoke(app, list(args), input=input)


# ---------------------------------------------------------------- specs

def test_spec_syntax(vocab_dir, tmp_path):
    s = parse_spec(f"mine={vocab_dir / 'vocab.txt'}")
    assert (s.name, s.kind, s.named) == ("mine", "wordpiece", True)
    s = parse_spec(str(vocab_dir))
    assert (s.kind, s.name) == ("wordpiece", vocab_dir.name)
    (tmp_path / "vocab.json").write_text("{}")
    (tmp_path / "merges.txt").write_text("#version: 0.2\n")
    s = parse_spec(f"{tmp_path}/vocab.json,{tmp_path}/merges.txt")
    assert s.kind == "bpe" and s.paths[0].endswith("vocab.json")
    assert parse_spec(str(tmp_path)).kind == "bpe"
    assert parse_spec("bert-base-uncased").kind == "hf"
    assert parse_spec("google-bert/bert-base-uncased").kind == "hf"


def test_lowercase_auto_and_names(vocab_dir):
    lower, cased, again = load_all([str(vocab_dir), str(vocab_dir / "cased"), str(vocab_dir / "vocab.txt")])
    assert lower.lowercase is True and cased.lowercase is False
    assert len({lower.name, cased.name, again.name}) == 3  # display names made unique
    forced = load_all([str(vocab_dir / "cased")], lowercase=True)[0]
    assert forced.lowercase is True


@pytest.mark.parametrize("spec, expect", [
    ("/nonexistent/vocab.txt", "no such file or folder"),
    ("/nonexistent/dir/", "no such file or folder"),
])
def test_bad_spec_is_one_line(spec, expect):
    r = run("tokenize", "compare", "-t", spec, "hello")
    assert r.exit_code == 1
    assert r.stderr.startswith(f"bertkit: error: -t {spec}: {expect}")
    assert "Traceback" not in r.output and len(r.stderr.strip().splitlines()) == 1


def test_half_bpe_pair_and_bad_file(tmp_path):
    (tmp_path / "vocab.json").write_text("{}")
    r = run("tokenize", "compare", "-t", str(tmp_path / "vocab.json"), "hello")
    assert r.exit_code == 1 and "MERGES.txt" in r.stderr
    (tmp_path / "broken.model").write_bytes(b"not a model")
    r = run("tokenize", "compare", "-t", str(tmp_path / "broken.model"), "hello")
    assert r.exit_code == 1 and "could not load as sentencepiece" in r.stderr and "Traceback" not in r.output
    (tmp_path / "empty").mkdir()
    r = run("tokenize", "compare", "-t", str(tmp_path / "empty"), "hello")
    assert r.exit_code == 1 and "no tokenizer files" in r.stderr


def test_hub_id_offline_is_a_clear_error(monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    r = run("tokenize", "compare", "-t", "no-such-org/no-such-tokenizer-xyz", "hello")
    assert r.exit_code == 1
    assert "-t no-such-org/no-such-tokenizer-xyz: could not load as hf" in r.stderr


def test_hf_folder_loads_with_autotokenizer(vocab_dir, tmp_path):
    from transformers import AutoTokenizer, BertTokenizer

    BertTokenizer(vocab={t: i for i, t in enumerate(_vocab())}, do_lower_case=True).save_pretrained(tmp_path)
    be = load_all([str(tmp_path)])[0]
    assert be.library == "transformers" and be.family == "WordPiece" and be.n_special == 2
    texts = ["The cat sat on the mat.", "hello wORLD!!", ""]
    direct = AutoTokenizer.from_pretrained(tmp_path)(texts, add_special_tokens=False)["input_ids"]
    assert be.encode(texts).ids == direct


# ---------------------------------------------------------------- usage

def test_needs_exactly_one_input(vocab_dir):
    r = run("tokenize", "compare", "-t", str(vocab_dir))
    assert r.exit_code == 2 and "give one of TEXT" in r.stderr
    r = run("tokenize", "compare", "-t", str(vocab_dir), "x", "--file", "y")
    assert r.exit_code == 2


def test_unknown_baseline(vocab_dir):
    r = run("tokenize", "compare", "-t", str(vocab_dir), "--baseline", "nope", "hello")
    assert r.exit_code == 1 and "--baseline nope" in r.stderr


# ---------------------------------------------------------------- sentence view

def test_sentence_plain_text(vocab_dir):
    r = run("tokenize", "compare", "-t", f"lc={vocab_dir}", "-t", f"cs={vocab_dir / 'cased'}", "--ids",
            "The cat sat, tired.")
    assert r.exit_code == 0, r.output
    out = r.stdout
    assert "\x1b[" not in out  # no colours outside a terminal
    flat = " ".join(out.split())
    assert "[CLS] the cat sat , tired . [SEP] 2 111 112 113 52 119 54 3" in flat
    assert "[CLS] The cat sat , tired . [SEP]" in flat  # the cased vocabulary keeps "The"
    assert "lc  WordPiece" in out and "6 tokens (+2 special)" in out
    assert "All tokenizers cut every word the same way." in out


def test_sentence_differences_json(vocab_dir):
    r = run("tokenize", "compare", "-t", f"a={vocab_dir}", "-t", f"b={vocab_dir / 'cased'}", "--cased",
            "Hello world", "-f", "json")
    assert r.exit_code == 0, r.output
    doc = json.loads(r.stdout)
    assert doc["schema"] == "bertkit.tokenize.sentence/1" and doc["mode"] == "sentence"
    a, b = doc["tokenizers"]
    assert [t["token"] for t in a["encoding"]] == ["[CLS]", "[UNK]", "world", "[SEP]"]  # --cased: no "Hello" in a
    assert a["encoding"][1]["unk"] and a["encoding"][0]["special"] and not a["encoding"][1]["special"]
    assert [t["token"] for t in b["encoding"]][1:3] == ["Hello", "world"]
    assert a["tokens"] == 2 and a["unk"] == 1 and a["roundtrip_failures"] == {"unk": 1}
    assert doc["differences"] == [] or all("segmentations" in d for d in doc["differences"])


# ---------------------------------------------------------------- corpus: schemas

@pytest.fixture(scope="module")
def corpus_file(tmp_path_factory):
    p = tmp_path_factory.mktemp("corpus") / "rows.tsv"
    rows = ["sentence\tlabel", "the cat sat on the mat .\t1", "Hello  World , it was tired\t0",
            "the animal didn't cross the street\t1", "qqq zzz 123 €\t0"]
    p.write_text("\n".join(rows) + "\n")
    return p


def test_corpus_json_schema(vocab_dir, corpus_file):
    r = run("tokenize", "compare", "-t", f"lc={vocab_dir}", "-t", f"cs={vocab_dir / 'cased'}", "--file",
            str(corpus_file), "-f", "json", "--max-length", "8", "--baseline", "cs")
    assert r.exit_code == 0, r.output
    doc = json.loads(r.stdout)
    assert doc["schema"] == "bertkit.tokenize.compare/1" and doc["mode"] == "corpus"
    assert set(doc) == {"schema", "mode", "source", "with_special", "max_length", "baseline", "corpus", "tokenizers",
                        "best"}
    assert doc["corpus"]["rows"] == 4 and doc["baseline"] == "cs"
    for row in doc["tokenizers"]:
        assert set(row) == set(FIELDS) | set(JSON_ONLY)
        assert row["family"] == "WordPiece" and row["library"] == "tokenizers"
        assert 0 <= row["roundtrip"] <= 1 and 0 <= row["truncated"] <= 1 and row["len_max"] >= row["len_p95"]
        assert row["fertility"] > 0 and isinstance(row["roundtrip_failures"], dict)
    lc = doc["tokenizers"][0]
    assert "lowercasing" in " ".join(lc["roundtrip_failures"]) or "whitespace" in lc["roundtrip_failures"]
    assert doc["tokenizers"][1]["delta_vs_baseline"] == 0


def test_corpus_csv_schema(vocab_dir, corpus_file):
    r = run("tokenize", "compare", "-t", str(vocab_dir), "--file", str(corpus_file), "-f", "csv")
    assert r.exit_code == 0, r.output
    rows = list(csv.DictReader(io.StringIO(r.stdout)))
    assert list(rows[0]) == CSV_FIELDS and len(rows) == 1
    for key in ("tokens", "chars_per_token", "fertility", "split_words", "unk_rate", "roundtrip", "truncated",
                "tokens_per_s"):
        float(rows[0][key])
    assert rows[0]["byte_level"] == "false"


class _Checker(HTMLParser):
    VOID = {"meta", "br", "link", "img", "hr", "input"}

    def __init__(self):
        super().__init__()
        self.stack, self.seen, self.errors = [], [], []

    def handle_starttag(self, tag, attrs):
        self.seen.append((tag, dict(attrs).get("class", "")))
        if tag not in self.VOID:
            self.stack.append(tag)

    def handle_endtag(self, tag):
        if not self.stack or self.stack[-1] != tag:
            self.errors.append(f"unexpected </{tag}> with {self.stack[-3:]}")
        else:
            self.stack.pop()


def _check_html(text: str) -> _Checker:
    c = _Checker()
    c.feed(text)
    c.close()
    assert text.startswith("<!DOCTYPE html>")
    assert not c.errors and not c.stack, (c.errors, c.stack)
    tags = {t for t, _ in c.seen}
    assert {"html", "head", "style", "body", "table"} <= tags and "script" not in tags and "link" not in tags
    return c


def test_html_corpus_to_file_parses(vocab_dir, corpus_file, tmp_path):
    out = tmp_path / "report.html"
    r = run("tokenize", "compare", "-t", str(vocab_dir), "--file", str(corpus_file), "-f", "html", "-o", str(out))
    assert r.exit_code == 0, r.output
    assert r.stdout == ""
    c = _check_html(out.read_text())
    assert any(cls.startswith("tok") for t, cls in c.seen if t == "span")


def test_html_sentence_parses(vocab_dir):
    r = run("tokenize", "compare", "-t", str(vocab_dir), "-f", "html", "--ids", "<b>the cat</b> & €")
    assert r.exit_code == 0, r.output
    c = _check_html(r.stdout)
    assert ("span", "tok unk") in c.seen and ("span", "tok special") in c.seen
    assert "&lt;b&gt;" in r.stdout


def test_table_has_legend(vocab_dir, corpus_file):
    r = run("tokenize", "compare", "-t", str(vocab_dir), "-t", f"c={vocab_dir / 'cased'}", "--file", str(corpus_file))
    assert r.exit_code == 0, r.output
    assert "fertility" in r.stdout and "Best value in each column" in r.stdout and "round-trip:" in r.stdout


# ---------------------------------------------------------------- --fail-under

def test_fail_under(vocab_dir, corpus_file):
    base = ["tokenize", "compare", "-t", f"lc={vocab_dir}", "--file", str(corpus_file), "-f", "json"]
    ok = run(*base, "--fail-under", "roundtrip=0", "--fail-under", "unk_rate=100%")
    assert ok.exit_code == 0, ok.output
    bad = run(*base, "--fail-under", "roundtrip=0.99")
    assert bad.exit_code == 1 and json.loads(bad.stdout)["tokenizers"]  # the report is still written
    assert "--fail-under: lc roundtrip" in bad.stderr and "<" in bad.stderr
    bad = run(*base, "--fail-under", "lc:unk_rate=0")
    assert bad.exit_code == 1 and "unk_rate" in bad.stderr
    assert run(*base, "--fail-under", "nosuch=1").exit_code == 2
    assert run(*base, "--fail-under", "roundtrip").exit_code == 2
    assert run(*base, "--fail-under", "other:roundtrip=0").exit_code == 2


# ---------------------------------------------------------------- encode

def test_encode_streams_jsonl_from_stdin(vocab_dir):
    text = "the cat sat\n\nHello, World qqq\r\nlast line no newline"
    r = run("tokenize", "encode", "-t", str(vocab_dir), input=text)
    assert r.exit_code == 0, r.output
    lines = [json.loads(x) for x in r.stdout.splitlines()]
    src = text.replace("\r\n", "\n").split("\n")
    assert len(lines) == len(src) == 4
    assert lines[0] == {"tokens": ["the", "cat", "sat"], "ids": lines[0]["ids"], "offsets": [[0, 3], [4, 7], [8, 11]]}
    assert lines[1] == {"tokens": [], "ids": [], "offsets": []}
    for rec, s in zip(lines, src):
        assert set(rec) == {"tokens", "ids", "offsets"} and len(rec["tokens"]) == len(rec["ids"]) == len(rec["offsets"])
        for tok, (a, b) in zip(rec["tokens"], rec["offsets"]):
            assert tok == "[UNK]" or tok.removeprefix("##") == s[a:b].lower()


def test_encode_file_with_special(vocab_dir, tmp_path):
    f = tmp_path / "in.txt"
    f.write_text("the cat\nit was\n")
    r = run("tokenize", "encode", "-t", str(vocab_dir), str(f), "--with-special")
    assert r.exit_code == 0, r.output
    recs = [json.loads(x) for x in r.stdout.splitlines()]
    assert [x["tokens"] for x in recs] == [["[CLS]", "the", "cat", "[SEP]"], ["[CLS]", "it", "was", "[SEP]"]]
    r = run("tokenize", "encode", "-t", str(vocab_dir), str(tmp_path / "missing.txt"))
    assert r.exit_code == 1 and "cannot read" in r.stderr


def test_encode_raw_fd_batches(vocab_dir, tmp_path):
    from bertkit.tokenization.encode import run_encode

    f = tmp_path / "many.txt"
    f.write_text("".join(f"the cat {i}\n" for i in range(5000)))
    out = io.StringIO()
    be = load_all([str(vocab_dir)])[0]
    assert run_encode(be, str(f), out=out) == 5000
    last = json.loads(out.getvalue().splitlines()[-1])
    assert last["tokens"] == ["the", "cat", "4", "##9", "##9", "##9"]


# ---------------------------------------------------------------- properties

_BACKENDS: dict = {}


def _cached_backend(spec: str):
    if spec not in _BACKENDS:
        _BACKENDS[spec] = load_all([spec])[0]
    return _BACKENDS[spec]


@settings(max_examples=200, deadline=None)
@given(st.text(alphabet=string.printable, max_size=60))
def test_offsets_point_at_token_text(vocab_dir, text):
    from bertkit.tokenization.sentence import encode_lines

    be = _cached_backend(str(vocab_dir))

    (toks,) = encode_lines(be, [text])
    for t in toks:
        assert 0 <= t.start < t.end <= len(text)
        piece = text[t.start:t.end]
        if t.unk:
            assert piece.strip() == piece and piece
        else:  # BERT's normaliser deletes control characters (\x0b, \x0c); offsets still cover them
            assert t.text.removeprefix("##") == piece.lower().replace("\x0b", "").replace("\x0c", "")


@settings(max_examples=150, deadline=None)
@given(st.text(max_size=40))
def test_words_cover_every_non_space_char(text):
    w = find_words([text, "x y"])
    assert w.n_words == len(set(w.word_id[w.word_id >= 0].tolist()))
    assert w.n_words >= 2  # "x" and "y"


def test_roundtrip_reasons():
    assert roundtrip_reason("a b", "a b") is None
    assert roundtrip_reason("it 's", "it's") == "whitespace"
    assert roundtrip_reason("The Cat", "the cat") == "lowercasing"
    assert roundtrip_reason("Café", "cafe") == "lowercasing+accent stripping"
    assert roundtrip_reason("ﬁne", "fine") == "normalisation"
    assert roundtrip_reason("x y", "[UNK] y", has_unk=True) == "unk"
    assert roundtrip_reason("abc", "xyz") == "other"


def test_corpus_from_stdin_jsonl_and_dataset_path(vocab_dir, tmp_path):
    r = run("tokenize", "compare", "-t", str(vocab_dir), "--file", "-", "-f", "json", input="the cat\nit was\n")
    assert r.exit_code == 0, r.output
    assert json.loads(r.stdout)["corpus"]["rows"] == 2
    f = tmp_path / "rows.jsonl"
    f.write_text('{"body": "the cat sat", "y": 1}\n{"body": "hello", "y": 0}\n{"body": "mat", "y": 0}\n')
    r = run("tokenize", "compare", "-t", str(vocab_dir), "--dataset", str(f), "--text-col", "body", "--limit", "2",
            "-f", "csv")
    assert r.exit_code == 0, r.output
    assert list(csv.DictReader(io.StringIO(r.stdout)))[0]["rows"] == "2"
    r = run("tokenize", "compare", "-t", str(vocab_dir), "--file", str(f))
    assert r.exit_code == 1 and "--text-col" in r.stderr and "body" in r.stderr
