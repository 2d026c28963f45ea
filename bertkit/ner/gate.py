"""The int8 accuracy gate's hook for token classifiers (TaskSpec.gate_ref): entity micro F1 on a labelled file (CoNLL
columns, JSON Lines with tokens + tags, ...) as `bertkit ner eval` scores it (token accuracy for plain tags), and each
word's predicted tag, so that the agreement with fp32 is the share of words tagged the same."""

from __future__ import annotations

from typing import Callable

from bertkit.int8gate import Score


def measure(tagger, data: str, limit: int | None) -> Callable[[], Score]:
    """The file is read and its tags checked against the model's once; each call scores what `tagger` runs now."""
    from bertkit.ner.evaluate import read_gold
    from bertkit.ner.task import score as ner_score

    gold = read_gold(tagger, data, limit=limit)
    metric = "accuracy" if tagger.scheme == "plain" else "f1"
    strict = bool(tagger.meta.get("strict"))

    def score() -> Score:
        pred, _ = tagger.tag_words(gold.sentences.tokens)
        res = ner_score(gold.tags, pred, tagger.scheme, strict)
        return Score(metric, float(res[metric]), True, [t for sent in pred for t in sent])

    return score
