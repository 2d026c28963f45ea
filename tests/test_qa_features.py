"""Windows, offsets and labels: any answer span survives the window/offset round trip."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bertkit.errors import BertkitError
from bertkit.qa.data import QAExample
from bertkit.qa.features import build_features, check_stride, label_window

WORDS = "jim henson was a nice puppet who the of paris france capital city river moon sun night day berlin".split()
PUNCT = [",", ".", "!", "?", "'s", "-"]


@pytest.fixture(scope="module")
def tok(tiny_bert):
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(tiny_bert)


def _context(words: list[str], seps: list[str]) -> tuple[str, list[tuple[int, int]]]:
    """Join words with random separators; return the text and each word's character span."""
    text, spans = "", []
    for w, sep in zip(words, seps):
        text += sep
        spans.append((len(text), len(text) + len(w)))
        text += w
    return text, spans


def _ex(context: str, question: str, start: int | None, answer: str | None) -> QAExample:
    if start is None:
        return QAExample("q", question, context, {"text": [], "answer_start": []}, True)
    return QAExample("q", question, context, {"text": [answer], "answer_start": [start]}, False)


def test_short_context_one_window(tok):
    ctx = "Jim Henson was a nice puppet"
    ex = _ex(ctx, "Who was Jim Henson?", ctx.index("nice puppet"), "nice puppet")
    f = build_features(tok, [ex], max_length=64, doc_stride=16, labels=True)
    assert len(f) == 1
    s, e = f.columns["start_positions"][0], f.columns["end_positions"][0]
    offs = f.columns["offsets"][0]
    assert ctx[offs[s][0] : offs[e][1]] == "nice puppet"
    ids = f.columns["input_ids"][0]
    assert ids[0] == tok.cls_token_id and ids.count(tok.sep_token_id) == 2
    # question tokens are not context: no offsets there
    q_len = len(tok("Who was Jim Henson?", add_special_tokens=False)["input_ids"])
    assert all(o is None for o in offs[: q_len + 2])


def test_long_context_windows_and_cls_for_outside(tok):
    words = ["night"] * 200 + ["berlin"] + ["day"] * 50
    ctx = " ".join(words)
    start = ctx.index("berlin")
    f = build_features(tok, [_ex(ctx, "which city ?", start, "berlin")], max_length=48, doc_stride=16, labels=True)
    assert len(f) > 5
    hits = 0
    for i in range(len(f)):
        s, e, offs = f.columns["start_positions"][i], f.columns["end_positions"][i], f.columns["offsets"][i]
        if s == 0:
            assert e == 0
        else:
            hits += 1
            assert ctx[offs[s][0] : offs[e][1]] == "berlin"
    assert hits >= 1
    # every context character is covered by some window
    covered = set()
    for offs in f.columns["offsets"]:
        for o in offs:
            if o is not None:
                covered.update(range(*o))
    assert all(i in covered for i, ch in enumerate(ctx) if not ch.isspace())


def test_unanswerable_points_at_cls(tok):
    f = build_features(tok, [_ex("paris is nice", "who ?", None, None)], max_length=32, doc_stride=8, labels=True)
    assert f.columns["start_positions"] == [0] and f.columns["end_positions"] == [0]


def test_stride_check(tok):
    q = " ".join(["who"] * 20)
    with pytest.raises(BertkitError, match=r"--doc-stride 10 does not fit: question 'q' is 20 tokens"):
        check_stride(tok, [q], 32, 10, ["q"])
    check_stride(tok, [q], 32, 8, ["q"])  # 32 - 20 - 3 = 9 > 8
    with pytest.raises(BertkitError, match="doc-stride"):
        build_features(tok, [_ex("paris", q, None, None)], max_length=32, doc_stride=9, labels=True)


def test_label_window_edges():
    offs = [None, None, (0, 3), (4, 10), (11, 14), None]
    assert label_window(offs, 4, 10) == (3, 3)
    assert label_window(offs, 0, 14) == (2, 4)
    assert label_window(offs, 5, 8) == (3, 3)  # inside one token: that token
    assert label_window(offs, 11, 20) == (0, 0)  # runs past the window
    assert label_window(offs, None, None, cls=0) == (0, 0)


@settings(max_examples=150, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(
    data=st.data(),
    n_words=st.integers(1, 120),
    q_words=st.integers(1, 8),
    max_length=st.integers(24, 96),
    stride_frac=st.floats(0.0, 0.9),
)
def test_answer_span_round_trip(tok, data, n_words, q_words, max_length, stride_frac):
    """For random contexts, questions, strides and answer positions: a window's label is either [CLS]
    (the answer is not wholly inside it) or token offsets that point back at exactly the answer characters;
    and at least one window holds the answer whenever it fits in a window."""
    words = data.draw(st.lists(st.sampled_from(WORDS + PUNCT + ["Jim", "HENSON", "Paris", "2024", "x1"]),
                               min_size=n_words, max_size=n_words))
    seps = [data.draw(st.sampled_from(["", " ", "  ", "\n", " "] if i else ["", " "])) for i in range(n_words)]
    seps = [s if (i == 0 or s or words[i] in PUNCT) else " " for i, s in enumerate(seps)]
    ctx, spans = _context(words, seps)
    a = data.draw(st.integers(0, n_words - 1))
    b = data.draw(st.integers(a, min(n_words - 1, a + 6)))
    start, end = spans[a][0], spans[b][1]
    answer = ctx[start:end]
    question = " ".join(data.draw(st.lists(st.sampled_from(WORDS), min_size=q_words, max_size=q_words))) + " ?"
    room = max_length - len(tok(question, add_special_tokens=False)["input_ids"]) - 3
    stride = int(stride_frac * (room - 1)) if room > 1 else 0
    feats = build_features(tok, [_ex(ctx, question, start, answer)], max_length, stride, labels=True)
    found = 0
    for i in range(len(feats)):
        s, e = feats.columns["start_positions"][i], feats.columns["end_positions"][i]
        offs, cls = feats.columns["offsets"][i], feats.columns["cls_index"][i]
        assert len(feats.columns["input_ids"][i]) <= max_length
        if (s, e) == (cls, cls):
            ctx_offs = [o for o in offs if o is not None]
            inside = ctx_offs and ctx_offs[0][0] <= start and ctx_offs[-1][1] >= end
            assert not inside, "answer wholly inside this window but labelled [CLS]"
            continue
        found += 1
        assert offs[s] is not None and offs[e] is not None and s <= e
        assert ctx[offs[s][0] : offs[e][1]] == answer
    answer_tokens = len(tok(answer, add_special_tokens=False)["input_ids"])
    if answer_tokens <= stride + 1:  # windows overlap by `stride` tokens, so a short answer always fits in one
        assert found >= 1


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_arbitrary_char_spans_cover_the_answer(tok, data):
    """Answers that start or end inside a token: the label is the smallest token span covering them."""
    ctx = " ".join(data.draw(st.lists(st.sampled_from(WORDS), min_size=1, max_size=30)))
    start = data.draw(st.integers(0, len(ctx) - 1))
    end = data.draw(st.integers(start + 1, min(len(ctx), start + 25)))
    answer = ctx[start:end]
    if not answer.strip():
        return
    f = build_features(tok, [_ex(ctx, "who ?", start, answer)], 256, 32, labels=True)
    s, e, offs = f.columns["start_positions"][0], f.columns["end_positions"][0], f.columns["offsets"][0]
    assert s > 0
    a, b = offs[s][0], offs[e][1]
    assert a <= start + (len(answer) - len(answer.lstrip())) and b >= end - (len(answer) - len(answer.rstrip()))
    assert offs[s][1] > start and offs[e][0] < end  # no token more than needed


def test_context_first_tokenizers(tiny_bert):
    """Tokenizers that pad on the left put the context first (the reference scripts' rule); labels still round-trip."""
    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(tiny_bert)
    tok.padding_side = "left"
    ctx = " ".join(["night"] * 60) + " jim henson was a nice puppet"
    ex = _ex(ctx, "who was jim henson ?", ctx.index("nice puppet"), "nice puppet")
    f = build_features(tok, [ex], max_length=32, doc_stride=8, labels=True)
    assert len(f) > 1
    hits = 0
    for i in range(len(f)):
        offs, s, e = f.columns["offsets"][i], f.columns["start_positions"][i], f.columns["end_positions"][i]
        assert offs[1] is not None  # context right after [CLS]
        if s != f.columns["cls_index"][i]:
            hits += 1
            assert ctx[offs[s][0] : offs[e][1]] == "nice puppet"
    assert hits >= 1


def test_roberta_style_tokenizer_without_token_types(shared_data, tmp_path):
    """Byte-level BPE (RoBERTa): no token_type_ids, offsets without the leading space; labels still round-trip."""
    from transformers import PreTrainedTokenizerFast

    path = shared_data / "tokenizers" / "roberta-base" / "tokenizer.json"
    if not path.is_file():
        pytest.skip("roberta-base tokenizer.json not in shared data")
    tok = PreTrainedTokenizerFast(tokenizer_file=str(path), bos_token="<s>", eos_token="</s>", cls_token="<s>",
                                  sep_token="</s>", pad_token="<pad>", unk_token="<unk>", mask_token="<mask>",
                                  model_input_names=["input_ids", "attention_mask"])
    ctx = "The Muppets were created by Jim Henson, a puppeteer born in 1936. " * 20 + "Paris is the capital of France."
    ex = _ex(ctx, "What is the capital of France?", ctx.index("Paris"), "Paris")
    f = build_features(tok, [ex], max_length=64, doc_stride=16, labels=True)
    assert "token_type_ids" not in f.columns
    found = [i for i in range(len(f)) if f.columns["start_positions"][i] != f.columns["cls_index"][i]]
    assert found
    for i in found:
        offs = f.columns["offsets"][i]
        assert ctx[offs[f.columns["start_positions"][i]][0] : offs[f.columns["end_positions"][i]][1]] == "Paris"
