"""One sentence through every tokenizer: the tokens with ids and offsets, and where segmentations differ."""

from __future__ import annotations

import re
from dataclasses import dataclass

from .libraries import Backend

MARKERS = ("##", "Ġ", "▁", "Ċ")  # WordPiece continuation, byte-level space / newline, SentencePiece space
_VISIBLE = {" ": "␣", "\t": "⇥", "\n": "⏎", "\r": "␍"}


@dataclass
class Token:
    text: str  # the vocabulary entry, markers included (##ing, Ġthe, ▁the)
    id: int
    start: int  # character offsets into the sentence, end exclusive ((0, 0) for added special tokens)
    end: int
    special: bool
    unk: bool

    def as_dict(self) -> dict:
        return {"token": self.text, "id": self.id, "start": self.start, "end": self.end,
                "special": self.special, "unk": self.unk}


@dataclass
class Encoded:
    backend: Backend
    tokens: list[Token]  # as the model sees them: special tokens included
    count: int  # the counted quantity: without special tokens unless --with-special


def visible(s: str) -> str:
    """Whitespace made visible, so spaces inside tokens can be told from the gaps between tokens."""
    if not s:
        return "∅"
    return "".join(_VISIBLE.get(c, c) for c in s)


def split_marker(s: str) -> tuple[str, str]:
    for m in MARKERS:
        if s.startswith(m) and s != m:
            return m, s[len(m):]
    return "", s


def tokens_of(be: Backend, ids: list[int], offsets: list[tuple[int, int]] | None) -> list[Token]:
    offsets = offsets or [(0, 0)] * len(ids)
    return [Token(be.id_to_token(i), i, int(s), int(e), i in be.special_ids and i != be.unk_id, i == be.unk_id)
            for i, (s, e) in zip(ids, offsets)]


def encode_lines(be: Backend, texts: list[str], with_special: bool = False) -> list[list[Token]]:
    """What `bertkit tokenize encode` streams: tokens, ids and offsets per line."""
    batch = be.encode(texts, with_special=with_special, offsets=True)
    offs = batch.offsets or [None] * len(texts)
    return [tokens_of(be, ids, o) for ids, o in zip(batch.ids, offs)]


def encode_sentence(backends: list[Backend], text: str, with_special: bool = False) -> list[Encoded]:
    out = []
    for be in backends:
        shown = be.encode([text], with_special=True, offsets=True)
        counted = shown if with_special else be.encode([text], with_special=False, offsets=False)
        out.append(Encoded(be, tokens_of(be, shown.ids[0], (shown.offsets or [None])[0]), len(counted.ids[0])))
    return out


def segmentation(text: str, tokens: list[Token], start: int, end: int) -> list[str]:
    """The word text[start:end] cut where this tokenizer's tokens begin and end.

    Several tokens over the same characters (byte-level BPE splitting one character into bytes) show as `x×N`.
    """
    spans: list[list] = []
    for t in tokens:
        if t.special or t.end <= t.start or t.end <= start or t.start >= end:
            continue
        s, e = max(t.start, start), min(t.end, end)
        if spans and spans[-1][0] == s and spans[-1][1] == e:
            spans[-1][2] += 1
        elif spans and s < spans[-1][1]:  # overlapping, not identical: extend
            spans[-1][1] = max(spans[-1][1], e)
            spans[-1][2] += 1
        else:
            spans.append([s, e, 1])
    pieces, pos = [], start
    for s, e, n in spans:
        if s > pos:  # characters no token covers (dropped by the normaliser)
            pieces.append(text[pos:s])
        pieces.append(text[s:e] + (f"×{n}" if n > 1 else ""))
        pos = e
    if pos < end:
        pieces.append(text[pos:end])
    return pieces


def differences(text: str, encoded: list[Encoded]) -> list[dict]:
    """Whitespace-separated words that the tokenizers cut differently.

    [{"word", "start", "end", "segmentations": {name: [pieces]}}], one entry per word where they disagree.
    """
    out = []
    for m in re.finditer(r"\S+", text):
        segs = {e.backend.name: segmentation(text, e.tokens, m.start(), m.end()) for e in encoded}
        if len({tuple(v) for v in segs.values()}) > 1:
            out.append({"word": m.group(), "start": m.start(), "end": m.end(), "segmentations": segs})
    return out


def group_segmentations(segs: dict[str, list[str]]) -> list[tuple[str, list[str]]]:
    """{name: pieces} → [("a|b", [names…]), …], most common cut first."""
    groups: dict[str, list[str]] = {}
    for name, pieces in segs.items():
        groups.setdefault("|".join(pieces), []).append(name)
    return sorted(groups.items(), key=lambda kv: -len(kv[1]))
