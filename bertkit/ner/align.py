"""Words to sub-word windows and back.

A sentence's words are tokenized with the fast tokenizer's word ids; a sentence longer than `max_length` becomes
overlapping windows (`stride` tokens shared). Each word is scored in exactly one place: its first sub-token in the
window where that token has the most context (the larger of its distances to the window's edges, as SQuAD's
"max context" rule), so training labels it there and prediction reads it there. Other sub-tokens are ignored in the
loss (IGNORE) unless `label_all`: then they carry the word's tag (B- turned I-). Words with no sub-token at all
(lone control or zero-width characters) are counted; prediction gives them the outside tag.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Sequence

IGNORE = -100


@dataclass
class Windows:
    """The windows of many sentences: `input_ids`, `labels` (when tags were given), and per window its sentence and,
    per token, the word it scores (-1: none)."""

    input_ids: list[list[int]] = field(default_factory=list)
    labels: list[list[int]] = field(default_factory=list)
    sentence: list[int] = field(default_factory=list)
    scores_word: list[list[int]] = field(default_factory=list)
    word_ids: list[list[int | None]] = field(default_factory=list)  # per token, the word it is part of
    dropped_words: int = 0  # words the tokenizer gave no sub-token
    long_sentences: int = 0  # sentences that needed more than one window


def _context(pos: int, first: int, last: int) -> int:
    return min(pos - first, last - pos)


def _best_windows(word_ids_per_window: list[list[int | None]], stride: int) -> dict[int, tuple[int, int]]:
    """word -> (window, position) of its first sub-token where that token has the most context. Window k repeats
    the last `stride` content tokens of window k-1, so its first token heads a word unless the token before it
    (in window k-1) belongs to the same word."""
    best: dict[int, tuple[int, int, int]] = {}
    prev_content: list[int | None] = []
    for w, wids in enumerate(word_ids_per_window):
        content = [i for i, x in enumerate(wids) if x is not None]
        if not content:
            continue
        lo, hi = content[0], content[-1]
        j = len(prev_content) - stride - 1  # the token before this window's first, in the previous window
        before = prev_content[j] if w and 0 <= j < len(prev_content) else None
        for i in content:
            word = wids[i]
            if (wids[i - 1] if i > lo else before) == word:
                continue  # not the word's first sub-token
            score = _context(i, lo, hi)
            if word not in best or score > best[word][2]:
                best[word] = (w, i, score)
        prev_content = [wids[i] for i in content]
    return {word: (w, i) for word, (w, i, _) in best.items()}


def _continuation(tag_id: int, names: Sequence[str], ids: dict[str, int]) -> int:
    name = names[tag_id]
    return ids.get("I-" + name[2:], tag_id) if name.startswith("B-") else tag_id


def encode(tokenizer, sentences: Sequence[Sequence[str]], max_length: int, stride: int,
           tags: Sequence[Sequence[int]] | None = None, label_names: Sequence[str] = (),
           label_all: bool = False) -> Windows:
    """The windows of `sentences` (lists of words); `tags` as label ids, one per word."""
    enc = tokenizer([list(s) for s in sentences], is_split_into_words=True, truncation=True, max_length=max_length,
                    stride=stride, return_overflowing_tokens=True)
    ids = {n: i for i, n in enumerate(label_names)}
    out = Windows()
    by_sentence: dict[int, list[int]] = {}
    for w, s in enumerate(enc["overflow_to_sample_mapping"]):
        by_sentence.setdefault(s, []).append(w)
    for s, wins in sorted(by_sentence.items()):
        word_ids = [enc.word_ids(w) for w in wins]
        best = _best_windows(word_ids, stride)
        out.dropped_words += len(sentences[s]) - len(best)
        out.long_sentences += len(wins) > 1
        for k, w in enumerate(wins):
            scored = [-1] * len(word_ids[k])
            for word, (bw, pos) in best.items():
                if bw == k:
                    scored[pos] = word
            out.input_ids.append(enc["input_ids"][w])
            out.sentence.append(s)
            out.scores_word.append(scored)
            out.word_ids.append(word_ids[k])
            if tags is not None:
                out.labels.append(_labels(word_ids[k], scored, tags[s], label_all, label_names, ids))
    return out


def _labels(word_ids, scored, tags, label_all, names, ids) -> list[int]:
    labels = []
    for i, word in enumerate(word_ids):
        if scored[i] >= 0:
            labels.append(tags[scored[i]])
        elif label_all and word is not None:
            labels.append(_continuation(tags[word], names, ids))
        else:
            labels.append(IGNORE)
    return labels


AGGREGATES = ("first", "average", "max")


def word_predictions(windows: Windows, probs: Sequence, n_words: Sequence[int], aggregate: str = "first"):
    """Per sentence, per word: a probability row over the tags, from the window where the word is scored, or None
    for a word with no sub-token. `aggregate`: the word's first sub-token (first), the mean over its sub-tokens in
    that window (average), or its most confident sub-token (max). `probs[w][t]` is a row for token t of window w."""
    import numpy as np

    out: list[list] = [[None] * n for n in n_words]
    for w, s in enumerate(windows.sentence):
        wids = windows.word_ids[w]
        for pos, word in enumerate(windows.scores_word[w]):
            if word < 0:
                continue
            if aggregate == "first":
                out[s][word] = np.asarray(probs[w][pos])
                continue
            end = pos
            while end + 1 < len(wids) and wids[end + 1] == word:
                end += 1
            rows = np.asarray([probs[w][t] for t in range(pos, end + 1)])
            out[s][word] = rows.mean(axis=0) if aggregate == "average" else rows[int(rows.max(axis=1).argmax())]
    return out
