"""Scores of token classification as the field computes them: entity-level precision, recall and F1 (micro, per
type, macro) over exact (type, start, end) spans, conlleval's reading by default (`mode="strict"` keeps only
well-formed spans); token accuracy for plain tags. Equal to seqeval on the same tags (tests/test_ner_metrics.py)."""

from __future__ import annotations

from collections import Counter
from typing import Sequence

from bertkit.ner.schemes import entities, strict_entities


def _spans(sentences: Sequence[Sequence[str]], mode: str, scheme: str) -> set[tuple[int, str, int, int]]:
    get = (lambda t: strict_entities(t, scheme)) if mode == "strict" else entities
    return {(i, *span) for i, tags in enumerate(sentences) for span in get(tags)}


def _prf(correct: int, n_pred: int, n_true: int) -> dict[str, float]:
    p = correct / n_pred if n_pred else 0.0
    r = correct / n_true if n_true else 0.0
    return {"precision": p, "recall": r, "f1": 2 * p * r / (p + r) if p + r else 0.0, "support": n_true}


def entity_scores(gold: Sequence[Sequence[str]], pred: Sequence[Sequence[str]], mode: str = "default",
                  scheme: str = "IOB2") -> dict:
    """{"precision", "recall", "f1"} (micro), "f1_macro", "per_type": {type: {precision, recall, f1, support}}."""
    if len(gold) != len(pred) or any(len(g) != len(p) for g, p in zip(gold, pred)):
        raise ValueError("gold and predicted tags must have the same sentences and lengths")
    true, guess = _spans(gold, mode, scheme), _spans(pred, mode, scheme)
    hit = true & guess
    by = {name: Counter(s[1] for s in spans) for name, spans in (("true", true), ("pred", guess), ("hit", hit))}
    types = sorted(set(by["true"]) | set(by["pred"]))
    per_type = {t: _prf(by["hit"][t], by["pred"][t], by["true"][t]) for t in types}
    micro = _prf(len(hit), len(guess), len(true))
    macro = sum(v["f1"] for v in per_type.values()) / len(per_type) if per_type else 0.0
    return {"precision": micro["precision"], "recall": micro["recall"], "f1": micro["f1"], "f1_macro": macro,
            "entities_gold": len(true), "entities_predicted": len(guess), "per_type": per_type}


def sentence_counts(gold: Sequence[Sequence[str]], pred: Sequence[Sequence[str]], mode: str = "default",
                    scheme: str = "IOB2") -> list[tuple[int, int, int]]:
    """(correct, predicted, gold) entities of each sentence: summed over any set of sentences, micro F1 is
    2 correct / (predicted + gold), as `entity_scores` gives it on those sentences."""
    true, guess = _spans(gold, mode, scheme), _spans(pred, mode, scheme)
    counts = [[0, 0, 0] for _ in gold]
    for col, spans in enumerate((true & guess, guess, true)):
        for s in spans:
            counts[s[0]][col] += 1
    return [tuple(c) for c in counts]


def token_accuracy(gold: Sequence[Sequence[str]], pred: Sequence[Sequence[str]]) -> float:
    n = sum(len(g) for g in gold)
    return sum(a == b for g, p in zip(gold, pred) for a, b in zip(g, p)) / n if n else 0.0
