"""Word/sub-word alignment of token classification: every word is scored once, at its first sub-token, in the
window where that token has the most context; long sentences become windows; reading the sentences of CoNLL and
JSON files (WNUT-17's real quirks)."""

from __future__ import annotations

import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bertkit.errors import BertkitError
from bertkit.ner.align import IGNORE, encode, word_predictions
from bertkit.ner.conll import read_tagged

WORDS = ["the", "unbelievably", "@paulwalk", "http://t.co/x", "Empire", "State", "&amp;", "😀", "東京", "gt", ";",
         "\u200b", "réalité", "ESB"]


@pytest.fixture(scope="module")
def tok(tiny_bert):
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(tiny_bert)


def _check(tok, sents, max_length, stride):
    tags = [[i % 3 for i in range(len(s))] for s in sents]
    w = encode(tok, sents, max_length=max_length, stride=stride, tags=tags, label_names=["O", "B-x", "I-x"])
    full = tok([list(s) for s in sents], is_split_into_words=True)
    seen = {}
    for k, s in enumerate(w.sentence):
        for pos, word in enumerate(w.scores_word[k]):
            if word >= 0:
                assert (s, word) not in seen, "a word scored twice"
                seen[s, word] = True
                wids = full.word_ids(s)
                first = full["input_ids"][s][wids.index(word)]
                assert w.input_ids[k][pos] == first and w.labels[k][pos] == tags[s][word]
            else:
                assert w.labels[k][pos] == IGNORE
        assert len(w.input_ids[k]) <= max_length
    present = {(s, x) for s in range(len(sents)) for x in full.word_ids(s) if x is not None}
    assert set(seen) == present
    assert w.dropped_words == sum(len(s) for s in sents) - len(present)
    return w


@settings(max_examples=60, deadline=None)
@given(st.lists(st.lists(st.sampled_from(WORDS), min_size=1, max_size=30), min_size=1, max_size=4),
       st.integers(6, 20), st.integers(0, 3))
def test_every_word_scored_once_at_its_first_subtoken(tok, sents, max_length, stride):
    _check(tok, sents, max_length, stride)


def test_long_sentence_windows_and_zero_subtoken_words(tok):
    w = _check(tok, [["the"] * 40 + ["\u200b"] + ["unbelievably"] * 5], max_length=16, stride=4)
    assert w.long_sentences == 1 and w.dropped_words == 1 and len(w.input_ids) > 3
    preds = word_predictions(w, [[[t, 0.5] for t in range(len(ids))] for ids in w.input_ids], [46])
    assert preds[0][40] is None and all(p is not None for i, p in enumerate(preds[0]) if i != 40)


def test_byte_level_bpe_with_prefix_space(shared_data):
    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(shared_data / "tokenizers" / "roberta-base", add_prefix_space=True)
    _check(tok, [["Empire", "State", "Building", "@paulwalk", "😀"]], max_length=8, stride=2)


def test_label_all_subtokens_turns_b_into_i(tok):
    w = encode(tok, [["unbelievably"]], 32, 0, tags=[[1]], label_names=["O", "B-x", "I-x"], label_all=True)
    assert [x for x in w.labels[0] if x != IGNORE] == [1] + [2] * (len(w.labels[0]) - 3)


def test_wnut17_reads_as_published(shared_data):
    train = read_tagged(shared_data / "ner" / "wnut17" / "train.conll")
    dev = read_tagged(shared_data / "ner" / "wnut17" / "dev.conll")
    assert (len(train), sum(map(len, train.tokens))) == (3394, 62730)  # SOURCES.md's counts
    assert (len(dev), sum(map(len, dev.tokens))) == (1009, 15733)
    assert train.tokens[0][0] == "@paulwalk" and train.tags[0][14:17] == ["B-location", "I-location", "I-location"]


@pytest.mark.parametrize("content, message", [
    ("a\tO\nb\n", ":2: one column"),
    ("a\tO\nb\tO\textra\n", ":2: 3 columns where earlier lines have 2"),
    ("\n\n\t\n", "no sentences"),
    ("", "no sentences"),
])
def test_bad_conll_is_one_line_naming_the_line(tmp_path, content, message):
    f = tmp_path / "x.conll"
    f.write_text(content)
    with pytest.raises(BertkitError, match=message):
        read_tagged(f)


def test_conll_columns_docstart_spaces_and_tag_col(tmp_path):
    f = tmp_path / "c.conll"
    f.write_text("-DOCSTART- -X- O O\n\nEU NNP B-NP B-ORG\nrejects VBZ B-VP O\n \nPeter NNP B-NP B-PER\n")
    s = read_tagged(f)
    assert s.tokens == [["EU", "rejects"], ["Peter"]] and s.tags == [["B-ORG", "O"], ["B-PER"]]
    assert read_tagged(f, tag_col=1).tags[0] == ["NNP", "VBZ"] and s.lines == [3, 6]


def test_json_lines_with_names_or_ids(tmp_path):
    f = tmp_path / "t.jsonl"
    f.write_text(json.dumps({"tokens": ["a", "b"], "ner_tags": [1, 0]}) + "\n")
    assert read_tagged(f, label_names=["O", "B-x"]).tags == [["B-x", "O"]]
    with pytest.raises(BertkitError, match="integer tags need their names"):
        read_tagged(f)
    f.write_text(json.dumps({"tokens": ["a", "b"], "tags": ["O"]}) + "\n")
    with pytest.raises(BertkitError, match=":1: 2 tokens but 1 tags"):
        read_tagged(f)
    f.write_bytes(b"\x00\x01binary")
    with pytest.raises(BertkitError, match="a binary file"):
        read_tagged(f)


def test_entity_offsets_on_wnut17_dev(shared_data):
    from bertkit.ner.spans import entity_spans, word_offsets

    dev = read_tagged(shared_data / "ner" / "wnut17" / "dev.conll")
    n = 0
    for toks, tags in zip(dev.tokens, dev.tags):
        text = " ".join(toks)
        offs = word_offsets(text, toks)
        assert [text[a:b] for a, b in offs] == toks
        for e in entity_spans(text, offs, tags, [1.0] * len(toks)):
            assert text[e["start"]:e["end"]] == e["text"]
            n += 1
    assert n > 800  # dev has 835 gold entities


@settings(max_examples=100, deadline=None)
@given(st.lists(st.sampled_from(WORDS + ["Paris", "Paris", "'s", "don't", "東京タワー", "👍🏽", "."]), min_size=1,
                max_size=25), st.data())
def test_entities_text_is_the_texts_characters(words, data):
    from bertkit.ner.spans import entity_spans, split_words

    text = " ".join(words)
    got, offs = split_words(text)
    assert all(text[a:b] == w for w, (a, b) in zip(got, offs))
    tags = data.draw(st.lists(st.sampled_from(["O", "B-loc", "I-loc", "B-per"]), min_size=len(got), max_size=len(got)))
    for e in entity_spans(text, offs, tags, [0.5] * len(got)):
        assert text[e["start"]:e["end"]] == e["text"] and e["text"].strip() == e["text"]
