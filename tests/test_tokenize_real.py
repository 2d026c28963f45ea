"""The six real tokenizers in ../shared/data/tokenizers: counts equal each library called directly."""

from __future__ import annotations

import csv
import json
import string

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from bertkit.cli.main import app
from bertkit.tokenization.specs import load_all

runner = CliRunner()
SIX = ["gpt2", "roberta-base", "bert-base-cased", "bert-base-multilingual-cased", "t5-small", "albert-base-v2"]
SEED = "The animal didn't cross the street because it was too tired."


@pytest.fixture(scope="module")
def tok_dir(shared_data):
    return shared_data / "tokenizers"


@pytest.fixture(scope="module")
def sst2_dev(shared_data) -> list[str]:
    with open(shared_data / "glue" / "SST-2" / "dev.tsv", encoding="utf-8", newline="") as f:
        rows = list(csv.reader(f, delimiter="\t", quoting=csv.QUOTE_NONE))
    assert rows[0] == ["sentence", "label"] and len(rows) == 873
    return [r[0] for r in rows[1:]]


def _direct(tok_dir, name: str, texts: list[str], with_special: bool) -> list[list[int]]:
    """Each library called directly, the way its documentation shows."""
    import sentencepiece as spm
    from tokenizers import BertWordPieceTokenizer, ByteLevelBPETokenizer, Tokenizer

    d = tok_dir / name
    if name == "gpt2":
        tok = ByteLevelBPETokenizer(str(d / "vocab.json"), str(d / "merges.txt"))
    elif name in ("roberta-base", "t5-small"):  # a folder with tokenizer.json loads tokenizer.json
        tok = Tokenizer.from_file(str(d / "tokenizer.json"))
    elif name.startswith("bert"):
        tok = BertWordPieceTokenizer(str(d / "vocab.txt"), lowercase=False)  # cased vocabularies
    else:  # albert: the raw .model; its vocabulary is uncased, so inputs are lowercased (as AlbertTokenizer does)
        sp = spm.SentencePieceProcessor(model_file=str(d / "spiece.model"))
        return sp.encode([t.lower() for t in texts])
    return [e.ids for e in tok.encode_batch(texts, add_special_tokens=with_special)]


@pytest.mark.parametrize("with_special", [False, True])
def test_counts_equal_the_libraries_on_sst2_dev(tok_dir, sst2_dev, with_special):
    args = ["tokenize", "compare", *sum((["-t", str(tok_dir / n)] for n in SIX), []),
            "--file", str(tok_dir.parent / "glue" / "SST-2" / "dev.tsv"), "-f", "json"]
    r = runner.invoke(app, args + (["--with-special"] if with_special else []))
    assert r.exit_code == 0, r.output
    doc = json.loads(r.stdout)
    assert [t["name"] for t in doc["tokenizers"]] == SIX and doc["corpus"]["rows"] == 872
    backends = load_all([str(tok_dir / n) for n in SIX])
    for name, row, be in zip(SIX, doc["tokenizers"], backends):
        direct = _direct(tok_dir, name, sst2_dev, with_special)
        assert row["tokens"] == sum(map(len, direct)), name
        assert be.encode(sst2_dev, with_special=with_special).ids == direct, name  # row by row, id by id
        if with_special and name == "albert-base-v2":
            assert row["special_tokens_added"] == 0


def test_families_and_vocab_sizes(tok_dir):
    got = {b.name: (b.library, b.family_label, b.vocab_size) for b in load_all([str(tok_dir / n) for n in SIX])}
    assert got == {
        "gpt2": ("tokenizers", "BPE (byte-level)", 50257),
        "roberta-base": ("tokenizers", "BPE (byte-level)", 50265),
        "bert-base-cased": ("tokenizers", "WordPiece", 28996),
        "bert-base-multilingual-cased": ("tokenizers", "WordPiece", 119547),
        "t5-small": ("tokenizers", "Unigram", 32100),
        "albert-base-v2": ("sentencepiece", "Unigram", 30000),
    }


# the "Hello world" ids listed in ../shared/data/SOURCES.md (Hugging Face tokenizers, special tokens added)
HELLO = {
    "gpt2": [15496, 995],
    "roberta-base": [0, 31414, 232, 2],
    "bert-base-cased": [101, 8667, 1362, 102],
    "bert-base-multilingual-cased": [101, 31178, 11356, 102],
    "t5-small": [8774, 296, 1],
    "albert-base-v2": [2, 10975, 126, 3],
}


# Raw files without a post-processor (a SentencePiece .model, a vocab.json + merges.txt pair) add no special
# tokens, so their reference is the one above without them. The albert-base-v2 folder holds only spiece.model.
RAW = [("t5-small/spiece.model", [8774, 296]), ("albert-base-v2", [10975, 126]),
       ("albert-base-v2/spiece.model", [10975, 126]),
       ("roberta-base/vocab.json,{d}/roberta-base/merges.txt", [31414, 232])]


@pytest.mark.parametrize("spec, ref", [(n, HELLO[n]) for n in SIX if n != "albert-base-v2"] + RAW)
def test_hello_world_ids(tok_dir, spec, ref):
    spec = str(tok_dir / spec.format(d=tok_dir))
    r = runner.invoke(app, ["tokenize", "encode", "-t", spec, "--with-special"], input="Hello world\n")
    assert r.exit_code == 0, r.output
    (rec,) = [json.loads(x) for x in r.stdout.splitlines()]
    assert rec["ids"] == ref
    world = [rec["offsets"][k] for k, t in enumerate(rec["tokens"]) if t.lstrip("Ġ▁").lower() == "world"]
    assert world in ([[5, 11]], [[6, 11]])


def test_seed_sentence_all_six(tok_dir):
    r = runner.invoke(app, ["tokenize", "compare", *sum((["-t", str(tok_dir / n)] for n in SIX), []), SEED])
    assert r.exit_code == 0, r.output
    out = r.stdout
    expected = [  # ../shared/data/SOURCES.md, the same sentence
        "The Ġanimal Ġdidn 't Ġcross Ġthe Ġstreet Ġbecause Ġit Ġwas Ġtoo Ġtired .",
        "<s> The Ġanimal Ġdidn 't Ġcross Ġthe Ġstreet Ġbecause Ġit Ġwas Ġtoo Ġtired . </s>",
        "[CLS] The animal didn ' t cross the street because it was too tired . [SEP]",
        "[CLS] The animal didn ' t cross the street because it was too tire ##d . [SEP]",
        "▁The ▁animal ▁didn ' t ▁cross ▁the ▁street ▁because ▁it ▁was ▁too ▁tired . </s>",
        "▁the ▁animal ▁didn ' t ▁cross ▁the ▁street ▁because ▁it ▁was ▁too ▁tired .",
    ]
    lines = [line.strip() for line in out.splitlines()]
    for e in expected:
        assert e in lines, e
    assert "didn|'t ← gpt2, roberta-base" in out and "tire|d|. ← bert-base-multilingual-cased" in out


@pytest.fixture(scope="module")
def gpt2(tok_dir):
    return load_all([str(tok_dir / "gpt2")])[0]


@settings(max_examples=100, deadline=None)
@given(text=st.text(alphabet=string.ascii_letters + string.digits + " .,'!?-", max_size=60))
def test_byte_level_offsets_cover_token_text(gpt2, text):
    from bertkit.tokenization.sentence import encode_lines

    (toks,) = encode_lines(gpt2, [text])
    assert "".join(text[t.start:t.end] for t in toks) == text
    for t in toks:
        assert t.text.replace("Ġ", " ") == text[t.start:t.end]
