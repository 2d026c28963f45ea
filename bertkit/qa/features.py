"""Windows and labels, as BERT does them: ``[CLS] question [SEP] context [SEP]``.

A long context is cut into windows of at most ``max_length`` tokens that overlap by ``doc_stride``
tokens; token offsets map every context token back to its characters. A training label is the first
and last token of the answer when the whole answer lies inside the window, else the [CLS] token
(unanswerable questions, and answers outside this window).

Tokenizers that pad on the left (XLNet-style) put the context first; everything below follows
`tokenizer.padding_side` like the reference Hugging Face scripts, so the same code serves both.
"""

from __future__ import annotations

from typing import Any, Sequence

import numpy as np

from bertkit.engine.batching import Features
from bertkit.errors import BertkitError


def context_first(tokenizer) -> bool:
    return getattr(tokenizer, "padding_side", "right") == "left"


def special_tokens_in_pair(tokenizer) -> int:
    try:
        return int(tokenizer.num_special_tokens_to_add(pair=True))
    except Exception:  # pragma: no cover
        return 3


def question_lengths(tokenizer, questions: Sequence[str], chunk: int = 4096) -> list[int]:
    """Tokens of each question (tokenized in chunks, so 100k questions never hold all their encodings at once)."""
    out: list[int] = []
    for s in range(0, len(questions), chunk):
        out += [len(ids) for ids in tokenizer(list(questions[s : s + chunk]), add_special_tokens=False)["input_ids"]]
    return out


def check_stride(tokenizer, questions: Sequence[str], max_length: int, doc_stride: int,
                 ids: Sequence[str] | None = None,
                 source: str = "") -> None:
    """Fail up front when a window cannot advance: doc_stride must be < max_length - question tokens - specials."""
    if max_length < 8:
        raise BertkitError(f"--max-length {max_length} is too small for question answering")
    if not questions:
        return
    lengths = question_lengths(tokenizer, questions)
    worst = int(np.argmax(lengths))
    room = max_length - lengths[worst] - special_tokens_in_pair(tokenizer)
    if doc_stride >= room:
        who = f"question {ids[worst]!r}" if ids is not None else "the question"
        where = f"{source}: " if source else ""
        raise BertkitError(
            f"{where}--doc-stride {doc_stride} does not fit: {who} is {lengths[worst]} tokens, leaving {max(room, 0)} "
            f"context tokens per window with --max-length {max_length}; use a --doc-stride below {max(room, 1)} "
            "or a larger --max-length"
        )


def tokenize_windows(tokenizer, questions: Sequence[str], contexts: Sequence[str], max_length: int, doc_stride: int):
    """One batched fast-tokenizer call: overflowing windows, offsets, and which example each window is from."""
    if not getattr(tokenizer, "is_fast", False):
        raise BertkitError("question answering needs a fast tokenizer (offsets to characters)")
    cf = context_first(tokenizer)
    first, second = (list(contexts), list(questions)) if cf else (list(questions), list(contexts))
    return tokenizer(
        first,
        second,
        truncation="only_first" if cf else "only_second",
        max_length=max_length,
        stride=doc_stride,
        return_overflowing_tokens=True,
        return_offsets_mapping=True,
        padding=False,
    )


def context_offsets(enc, i: int, context_seq: int) -> list[tuple[int, int] | None]:
    """Offsets of window i, None for tokens outside the context (question, specials)."""
    seq = enc.sequence_ids(i)
    return [tuple(o) if s == context_seq else None for o, s in zip(enc["offset_mapping"][i], seq)]


def cls_index(input_ids: Sequence[int], tokenizer) -> int:
    cid = tokenizer.cls_token_id
    if cid is not None and cid in input_ids:
        return list(input_ids).index(cid)
    return 0


def label_window(offsets: Sequence[tuple[int, int] | None], answer_start: int | None, answer_end: int | None,
                 cls: int = 0) -> tuple[int, int]:
    """(start token, end token) of the answer characters [answer_start, answer_end), or (cls, cls) when the
    answer is missing or not entirely inside this window."""
    if answer_start is None or answer_end is None:
        return cls, cls
    ctx = [k for k, o in enumerate(offsets) if o is not None and o[1] > o[0]]
    if not ctx:
        return cls, cls
    first, last = ctx[0], ctx[-1]
    if not (offsets[first][0] <= answer_start and offsets[last][1] >= answer_end):
        return cls, cls
    # first token that ends after the answer starts; last token that starts before it ends
    start = next(k for k in ctx if offsets[k][1] > answer_start)
    end = next(k for k in reversed(ctx) if offsets[k][0] < answer_end)
    if end < start:  # the answer lies in whitespace between tokens
        return cls, cls
    return start, end


def answer_span(is_impossible: bool, texts: Sequence[str], starts: Sequence[Any]) -> tuple[int, int] | None:
    """Characters [start, end) of the first answer; None for an unanswerable question."""
    if is_impossible or not texts:
        return None
    s = int(starts[0])
    return s, s + len(texts[0])


def window_columns(tokenizer, questions: Sequence[str], contexts: Sequence[str], max_length: int, doc_stride: int,
                   spans: Sequence[tuple[int, int] | None] | None = None, offsets: bool = True) -> dict[str, list[Any]]:
    """The windows of these questions (stride not checked here: see check_stride). Columns: input_ids,
    token_type_ids (when the tokenizer gives them), example_idx (position in `questions`), offsets (context offsets
    or None; with `offsets`), cls_index, and with `spans` (answer characters or None) start/end_positions."""
    enc = tokenize_windows(tokenizer, questions, contexts, max_length, doc_stride)
    ctx_seq = 0 if context_first(tokenizer) else 1
    cols: dict[str, list[Any]] = {"input_ids": [], "example_idx": [], **({"offsets": []} if offsets else {}),
                                  "cls_index": []}
    has_tt = "token_type_ids" in enc
    if has_tt:
        cols["token_type_ids"] = []
    if spans is not None:
        cols["start_positions"], cols["end_positions"] = [], []
    for i, ex_i in enumerate(enc["overflow_to_sample_mapping"]):
        ids = enc["input_ids"][i]
        offs = context_offsets(enc, i, ctx_seq)
        cls = cls_index(ids, tokenizer)
        cols["input_ids"].append(ids)
        cols["example_idx"].append(int(ex_i))
        if offsets:
            cols["offsets"].append(offs)
        cols["cls_index"].append(cls)
        if has_tt:
            cols["token_type_ids"].append(enc["token_type_ids"][i])
        if spans is not None:
            span = spans[ex_i]
            sp, ep = label_window(offs, *(span or (None, None)), cls)
            cols["start_positions"].append(sp)
            cols["end_positions"].append(ep)
    return cols


def build_features(tokenizer, examples: Sequence, max_length: int, doc_stride: int, *, labels: bool,
                   source: str = "") -> Features:
    """Features in memory for the engine (dev and eval sets; `qa train` writes its training windows to Arrow:
    bertkit.qa.prepare). Columns: see window_columns."""
    questions = [e.question for e in examples]
    contexts = [e.context for e in examples]
    check_stride(tokenizer, questions, max_length, doc_stride, [e.id for e in examples], source)
    if not examples:
        return Features({"input_ids": [], "example_idx": [], "offsets": [], "cls_index": []})
    spans = ([answer_span(e.is_impossible, e.answers["text"], e.answers["answer_start"]) for e in examples]
             if labels else None)
    cols = window_columns(tokenizer, questions, contexts, max_length, doc_stride, spans)
    return Features(cols, meta={"examples": list(examples)})
