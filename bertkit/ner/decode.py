"""Tags from per-word tag probabilities: each word's most likely tag, or the most likely well-formed sequence.

`argmax` takes each word's most likely tag on its own, as transformers' token-classification pipeline does; the
sequence may then hold `O I-person` or `B-person I-location`, which conlleval reads as extra or split entities.
`viterbi` (the default for span schemes) takes the sequence of highest total log-probability among those the scheme
allows: in IOB2 an `I-X` follows only `B-X` or `I-X`; in BIOES `I-X`/`E-X` follow only `B-X`/`I-X`, an open `B-`/`I-`
is always closed by its `E-`, and nothing else follows it. The model and its probabilities are the same; only the
reading changes (on WNUT-17 dev it raised entity F1 by ~2 points, mostly precision:
docs/commands/ner.md#decoding-on-wnut-17).
Plain tags (part-of-speech, chunks) have no constraints: both give the argmax. Vectorised over sentences: one
(sentences × tags × tags) step a word position.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np

from bertkit.ner.schemes import OUTSIDE, split_tag

_NEG = -1e9  # a forbidden step; any allowed path scores far above it
_CHUNK = 512  # sentences decoded together


def transitions(names: Sequence[str], scheme: str) -> tuple[np.ndarray, np.ndarray, np.ndarray] | None:
    """(start, allowed, end): the tags a sentence may open with, allowed[i, j] (tag j may follow tag i), and the tags
    it may close with; None when the scheme constrains nothing (plain tags)."""
    if scheme not in ("IOB2", "BIOES"):
        return None
    parts = [split_tag(t) for t in names]
    n = len(names)
    start, end, allowed = np.ones(n, bool), np.ones(n, bool), np.ones((n, n), bool)
    continues = {"I"} if scheme == "IOB2" else {"I", "E"}  # prefixes that continue an open entity
    for j, (pj, tj) in enumerate(parts):
        if pj in continues:
            start[j] = False
            allowed[:, j] = [pi in ("B", "I") and ti == tj for pi, ti in parts]
        elif scheme == "BIOES":  # B-, S-, O may not follow an entity left open
            allowed[:, j] = [pi not in ("B", "I") for pi, _ in parts]
    if scheme == "BIOES":
        end[:] = [p not in ("B", "I") for p, _ in parts]
    return start, allowed, end


def _viterbi(lp: np.ndarray, lengths: np.ndarray,
             masks: tuple[np.ndarray, np.ndarray, np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    """Best allowed paths of a padded (sentences, words, tags) block of log-probabilities, and their scores."""
    start, allowed, end = (np.where(m, 0.0, _NEG) for m in masks)
    s, t, n = lp.shape
    score = lp[:, 0] + start
    back = np.zeros((s, t, n), dtype=np.int64)
    for k in range(1, t):
        cand = score[:, :, None] + allowed[None]  # previous tag i -> tag j
        back[:, k] = cand.argmax(axis=1)
        best = np.take_along_axis(cand, back[:, k][:, None, :], axis=1)[:, 0] + lp[:, k]
        score = np.where((k < lengths)[:, None], best, score)  # a finished sentence keeps its score
    final = score + end
    cur = final.argmax(axis=1)
    path = np.zeros((s, t), dtype=np.int64)
    rows = np.arange(s)
    for k in range(t - 1, -1, -1):
        inside = k < lengths
        path[:, k] = np.where(inside, cur, 0)
        if k:
            cur = np.where(inside, back[rows, k, cur], cur)
    return path, final.max(axis=1)


def decode(rows: Sequence[Sequence[np.ndarray | None]], names: Sequence[str], scheme: str,
           method: str = "viterbi") -> list[list[int]]:
    """Per sentence, the tag id of each word from its probability row (None: a word the tokenizer dropped, tagged
    outside). `method`: viterbi (the best sequence the scheme allows) or argmax (each word alone)."""
    n = len(names)
    out_id = names.index(OUTSIDE) if OUTSIDE in names else 0
    forced = np.zeros(n)
    forced[out_id] = 1.0
    probs = [np.stack([forced if p is None else np.asarray(p, dtype=np.float64) for p in sent]) if len(sent)
             else np.zeros((0, n)) for sent in rows]
    masks = transitions(names, scheme) if method == "viterbi" else None
    if masks is None:
        return [p.argmax(axis=1).tolist() for p in probs]
    logp = [np.log(np.clip(p, 1e-300, None)) for p in probs]  # a dropped word: log 1 for O, about -690 elsewhere
    out: list[list[int]] = [[] for _ in logp]
    order = [i for i in sorted(range(len(logp)), key=lambda i: len(logp[i])) if len(logp[i])]  # similar lengths
    for c in range(0, len(order), _CHUNK):
        idx = order[c : c + _CHUNK]
        lengths = np.array([len(logp[i]) for i in idx])
        block = np.full((len(idx), int(lengths.max()), n), _NEG)
        for r, i in enumerate(idx):
            block[r, : lengths[r]] = logp[i]
        paths, best = _viterbi(block, lengths, masks)
        for r, i in enumerate(idx):  # no allowed path (a label set without O or S-): each word's argmax
            out[i] = paths[r, : lengths[r]].tolist() if best[r] > _NEG / 2 else probs[i].argmax(axis=1).tolist()
    return out
