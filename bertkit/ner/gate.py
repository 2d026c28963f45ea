"""The int8 accuracy gate's hook for token classifiers (TaskSpec.gate_ref): entity micro F1 on a labelled file (CoNLL
columns, JSON Lines with tokens + tags, ...) as `bertkit ner eval` scores it (token accuracy for plain tags), and each
word's predicted tag, so that the agreement with fp32 is the share of words tagged the same; the metric is also
given per sentence (entity counts, or words right) for the gate's bootstrap."""

from __future__ import annotations

from typing import Callable

from bertkit.int8gate import Score


def measure(tagger, data: str, limit: int | None) -> Callable[[], Score]:
    """The file is read and its tags checked against the model's once; each call scores what `tagger` runs now."""
    import numpy as np

    from bertkit.ner.evaluate import read_gold
    from bertkit.ner.metrics import sentence_counts
    from bertkit.ner.task import score as ner_score

    gold = read_gold(tagger, data, limit=limit)
    metric = "accuracy" if tagger.scheme == "plain" else "f1"
    strict = bool(tagger.meta.get("strict"))

    def score() -> Score:
        pred, _ = tagger.tag_words(gold.sentences.tokens)
        res = ner_score(gold.tags, pred, tagger.scheme, strict)
        if metric == "accuracy":
            parts = np.array([[sum(a == b for a, b in zip(g, p)), len(g)] for g, p in zip(gold.tags, pred)], float)
        else:
            mode = "strict" if strict else "default"
            parts = np.array(sentence_counts(gold.tags, pred, mode, tagger.scheme), dtype=np.float64).reshape(-1, 3)
        return Score(metric, float(res[metric]), True, [t for sent in pred for t in sent], len(parts),
                     lambda idx: _from_sums(metric, parts[idx].sum(axis=0)))

    return score


def _from_sums(metric: str, sums) -> float:
    """Token accuracy from (right, words), micro F1 from (correct, predicted, gold) entity counts."""
    if metric == "accuracy":
        return float(sums[0] / sums[1]) if sums[1] else 0.0
    return float(2 * sums[0] / (sums[1] + sums[2])) if sums[0] else 0.0
