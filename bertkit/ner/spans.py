"""Plain text to words with character offsets, and word tags to entities with exact character offsets.

Words are cut as social-media CoNLL data cuts them (WNUT-17): URLs, e-mail addresses, @mentions and #hashtags stay
whole; a clitic ('s, 'm, n't) is its own word; every other punctuation mark is a word of its own; everything else
splits on white space. Offsets index the text as given (Python string positions: emoji and CJK count one each), so
`text[start:end]` is always the entity's text.
"""

from __future__ import annotations

import re
from typing import Sequence

from bertkit.ner.schemes import entities

_WORD = re.compile(
    r"(?:https?://|www\.)\S+"  # URLs
    r"|[\w.+-]+@[\w-]+\.[\w.-]+"  # e-mail addresses
    r"|[@#]\w+"  # mentions, hashtags
    r"|\w+(?=n't\b)|n't\b"  # don't -> do n't
    r"|'\w+"  # clitics: 's 'm 're
    r"|\w+(?:[-.]\w+)*"  # words, with inner hyphens or dots (U.S, state-of-the-art)
    r"|[^\w\s]",  # any other mark, one at a time
)


def split_words(text: str) -> tuple[list[str], list[tuple[int, int]]]:
    """The words of `text` and their (start, end) character offsets."""
    words, offsets = [], []
    for m in _WORD.finditer(text):
        words.append(m.group())
        offsets.append(m.span())
    return words, offsets


def word_offsets(text: str, words: Sequence[str]) -> list[tuple[int, int]]:
    """Offsets of given `words` in `text` (each searched after the previous one): for tokens read from a file."""
    out, at = [], 0
    for w in words:
        i = text.find(w, at)
        if i < 0:
            raise ValueError(f"word {w!r} not found in the text after position {at}")
        out.append((i, i + len(w)))
        at = i + len(w)
    return out


def entity_spans(text: str, offsets: Sequence[tuple[int, int]], tags: Sequence[str],
                 scores: Sequence[float]) -> list[dict]:
    """Entities as {"text", "type", "start", "end", "score"} (score: the mean of its words' scores), conlleval's
    reading of the tags."""
    out = []
    for type_, first, last in entities(tags):
        start, end = offsets[first][0], offsets[last][1]
        score = sum(scores[first:last + 1]) / (last - first + 1)
        out.append({"text": text[start:end], "type": type_, "start": start, "end": end, "score": round(score, 6)})
    return out
