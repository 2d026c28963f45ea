"""`POST /v1/classify` of `bertkit serve`: texts or text pairs in, per input the object `classify predict` prints."""

from __future__ import annotations

from typing import Annotated, Any

import numpy as np
from pydantic import AfterValidator, Field, model_validator

from bertkit.serve.adapter import RequestError, ServeAdapter, ServeRequest, not_blank

Text = Annotated[str, AfterValidator(not_blank)]
SERVE_BATCH_SIZE = 1024  # the server's batcher bounds a batch by tokens; the predictor runs it in one pass


class ClassifyRequest(ServeRequest):
    texts: list[Text] | None = Field(None, min_length=1, description="Texts to classify.")
    pairs: list[tuple[Text, Text]] | None = Field(None, min_length=1, description="[text, text_pair] pairs.")
    threshold: float | None = Field(None, ge=0, le=1, description="Decision threshold (binary, multi-label).")
    all_scores: bool = Field(False, description="Add the probability of every label (`--all-scores`).")
    top_k: int | None = Field(None, ge=1, le=1000, description="Add `scores` of the k most probable labels.")

    @model_validator(mode="after")
    def _one_of(self):
        if (self.texts is None) == (self.pairs is None):
            raise ValueError("give `texts` or `pairs` (one of them)")
        return self


def _load(path: str, fast: bool = False):
    from bertkit.classify.predict import Classifier

    return Classifier(path, batch_size=SERVE_BATCH_SIZE, fast=fast)


def _inputs(req: ClassifyRequest) -> list[tuple[str, str | None]]:
    return [(t, None) for t in req.texts] if req.texts is not None else [(a, b) for a, b in req.pairs]


def _length(clf, tok, x: tuple[str, str | None]) -> int:
    return len(tok(x[0], x[1], truncation=True, max_length=clf.max_length)["input_ids"])


def _run(clf, inputs: list[tuple[str, str | None]]) -> list[np.ndarray]:
    out: list[Any] = [None] * len(inputs)
    singles = [i for i, x in enumerate(inputs) if x[1] is None]
    paired = [i for i, x in enumerate(inputs) if x[1] is not None]
    for idx, pairs in ((singles, False), (paired, True)):
        if idx:
            probs = clf.predict_proba([inputs[i][0] for i in idx], [inputs[i][1] for i in idx] if pairs else None)
            for i, p in zip(idx, probs):
                out[i] = p
    return out


def _thresholds(clf, req: ClassifyRequest) -> list[float] | None:
    if req.threshold is None:
        return None
    return [req.threshold] * len(clf.thresholds)


def _check(clf, req: ClassifyRequest) -> None:
    if req.threshold is not None and clf.thresholds is None:
        raise RequestError("threshold", "applies to binary and multi-label models; this one is multi-class (argmax)")


def _render(clf, req: ClassifyRequest, probs: list[np.ndarray]) -> list[dict]:
    recs = clf.format(np.stack(probs), req.all_scores, _thresholds(clf, req))
    names = clf.space.names
    out = []
    for x, p, rec in zip(_inputs(req), probs, recs):
        if req.top_k is not None:
            top = np.argsort(-p, kind="stable")[: req.top_k]
            rec["scores"] = {names[j]: round(float(p[j]), 6) for j in top}
        head = {"text": x[0]} if x[1] is None else {"text": x[0], "text_pair": x[1]}
        out.append({**head, **rec})
    return out


ADAPTER = ServeAdapter(
    route="/v1/classify", request=ClassifyRequest, summary="Classify texts or text pairs", load=_load,
    inputs=_inputs, length=_length, run=_run, render=_render, chars=lambda x: len(x[0]) + len(x[1] or ""),
    check=_check, warmup=lambda: [("warm up", None), ("warm up", "a pair")],
)
