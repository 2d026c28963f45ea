"""`ner eval`: a model folder scored on tagged data, through the same path as prediction."""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

from bertkit.ner.data import Tagged, check_known, parse_label_names, prepare, read_sentences


@dataclass
class EvalRun:
    data: Tagged
    pred: list[list[str]]
    scores: list[list[float]]
    metrics: dict[str, Any]


def read_gold(tagger, data: str, tag_col: int | None = None, label_names: str | None = None,
              limit: int | None = None) -> Tagged:
    """The tagged sentences of `data` in the model's scheme; tags the model does not know are an error."""
    names = parse_label_names(label_names)
    if tag_col is None:
        tag_col = tagger.meta.get("tag_col")
    tagged = prepare(read_sentences(data, tag_col, names), data, "auto", limit)
    if (tagged.scheme == "plain") != (tagger.scheme == "plain"):
        from bertkit.errors import BertkitError

        raise BertkitError(f"{data}: {tagged.scheme} tags, but the model was trained on {tagger.scheme} tags")
    check_known(tagged, tagger.labels, data)
    return tagged


def evaluate_tagger(tagger, data: str, tag_col: int | None = None, label_names: str | None = None,
                    limit: int | None = None, strict: bool | None = None) -> EvalRun:
    from bertkit.ner.task import score

    tagged = read_gold(tagger, data, tag_col, label_names, limit)
    t0 = time.perf_counter()
    pred, scores = tagger.tag_words(tagged.sentences.tokens)
    secs = time.perf_counter() - t0
    strict = bool(tagger.meta.get("strict")) if strict is None else strict
    metrics = {"data": data, "sentences": len(pred), "words": tagged.words, "scheme": tagger.scheme,
               **({"decode": tagger.decode} if tagger.scheme != "plain" else {}),
               **score(tagged.tags, pred, tagger.scheme, strict, detail=True),
               "invalid_continuations_gold": tagged.invalid, **tagger.last_counts,
               "seconds": round(secs, 3), "words_per_second": round(tagged.words / max(secs, 1e-9), 1)}
    return EvalRun(tagged, pred, scores, metrics)


def evaluate_file(model_dir: str, data: str, tag_col=None, label_names=None, limit=None, batch_size=None,
                  aggregate="first", fast=False, allow_pickle=False, trust_remote_code=False, strict=None,
                  extra_metrics=None, decode=None) -> dict[str, Any]:
    from bertkit.extra_metrics import load_all
    from bertkit.ner.metric_adapter import ner_extra
    from bertkit.ner.predict import Tagger

    load_all(extra_metrics)
    tagger = Tagger(model_dir, batch_size=batch_size, aggregate=aggregate, fast=fast, allow_pickle=allow_pickle,
                    trust_remote_code=trust_remote_code, decode=decode)
    run = evaluate_tagger(tagger, data, tag_col, label_names, limit, strict)
    if extra_metrics:
        run.metrics["extra_metrics"] = ner_extra(extra_metrics, run.data.tags, run.pred)
    return run.metrics
