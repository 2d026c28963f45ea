"""From start/end logits to answers, as BERT's run_squad does it.

For each question, over all its windows: the `n_best` highest start and end logits among context
tokens, every pair with start <= end and at most `max_answer_length` tokens, scored by
start + end logit. v2.0 models also have the null score (the [CLS] start + end logits, the lowest
over the windows); a question gets "no answer" when null score - best span score > threshold,
the threshold tuned on dev for the best official F1.

An answer's probability (`score` in `qa ask` and `QA`, `probability` in nbest.json) is
the softmax of start + end logit over the candidate spans of all windows (and the null for v2.0), so
it follows the ranking. `Span.prob` keeps the old pipeline's per-window softmax(start) x softmax(end).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Sequence

import numpy as np


@dataclass
class Span:
    text: str
    start: int  # characters in the context, end exclusive
    end: int
    start_logit: float
    end_logit: float
    prob: float  # p_start * p_end in its window

    @property
    def logit(self) -> float:
        return self.start_logit + self.end_logit


@dataclass
class Prediction:
    id: str
    spans: list[Span] = field(default_factory=list)  # best first, distinct character spans
    null_start_logit: float = math.inf
    null_end_logit: float = 0.0
    null_prob: float = 0.0

    @property
    def null_score(self) -> float:
        return self.null_start_logit + self.null_end_logit

    @property
    def score_diff(self) -> float:
        """null score - best span score: the no-answer odds BERT writes (na_probs.json)."""
        if not self.spans:
            return 1e6
        return float(self.null_score - self.spans[0].logit)

    def is_null(self, allow_no_answer: bool, threshold: float) -> bool:
        return not self.spans or (allow_no_answer and self.score_diff > threshold)

    def text(self, allow_no_answer: bool, threshold: float) -> str:
        return "" if self.is_null(allow_no_answer, threshold) else self.spans[0].text

    def probabilities(self, allow_no_answer: bool) -> tuple[list[float], float]:
        """(softmax of start + end logit over the candidate spans, plus the null for v2.0, in span order;
        the null's share, or for v1.0 models its window probability)."""
        scores = [s.logit for s in self.spans]
        with_null = allow_no_answer and math.isfinite(self.null_start_logit)
        if with_null:
            scores.append(self.null_score)
        if not scores:
            return [], 1.0
        p = _softmax(np.asarray(scores, dtype=np.float64)).tolist()
        return (p[:-1], p[-1]) if with_null else (p, float(self.null_prob))

    def nbest(self, allow_no_answer: bool, n_best: int) -> list[dict[str, Any]]:
        """Entries for nbest.json: text, probability (softmax over the entries), logits."""
        entries = [(s.text, s.start_logit, s.end_logit) for s in self.spans[:n_best]]
        if allow_no_answer and math.isfinite(self.null_start_logit):
            entries.append(("", self.null_start_logit, self.null_end_logit))
            entries.sort(key=lambda e: -(e[1] + e[2]))
        if not entries:
            entries = [("empty", 0.0, 0.0)]  # as BERT does when nothing is valid
        scores = np.array([a + b for _, a, b in entries], dtype=np.float64)
        p = np.exp(scores - scores.max())
        p /= p.sum()
        return [{"text": t, "probability": float(pi), "start_logit": float(a), "end_logit": float(b)}
                for (t, a, b), pi in zip(entries, p)]


def _softmax(x: np.ndarray) -> np.ndarray:
    if x.size == 0:
        return x
    e = np.exp(x - x.max())
    return e / e.sum()


def window_candidates(start_logits: np.ndarray, end_logits: np.ndarray, offsets: Sequence, cls: int, n_best: int,
                      max_answer_length: int):
    """(candidates [(start_tok, end_tok, start_logit, end_logit, prob)], null (start, end, prob)) of one window."""
    n = len(offsets)
    s_all = np.asarray(start_logits[:n], dtype=np.float64)
    e_all = np.asarray(end_logits[:n], dtype=np.float64)
    ctx = np.array([k for k, o in enumerate(offsets) if o is not None and o[1] > o[0]], dtype=np.int64)
    keep = np.concatenate([[cls], ctx]) if cls < n else ctx
    ps = _softmax(s_all[keep])
    pe = _softmax(e_all[keep])
    pos = {int(k): j for j, k in enumerate(keep)}
    null = (float(s_all[cls]), float(e_all[cls]), float(ps[0] * pe[0])) if cls < n else None
    if ctx.size == 0:
        return [], null
    k = min(n_best, ctx.size)
    top_s = ctx[np.argsort(-s_all[ctx], kind="stable")[:k]]
    top_e = ctx[np.argsort(-e_all[ctx], kind="stable")[:k]]
    out = []
    for si in top_s.tolist():
        for ei in top_e.tolist():
            if ei < si or ei - si + 1 > max_answer_length:
                continue
            out.append((si, ei, float(s_all[si]), float(e_all[ei]), float(ps[pos[si]] * pe[pos[ei]])))
    return out, null


def postprocess(examples: Sequence, example_idx: Sequence[int], offsets: Sequence[Sequence], cls_index: Sequence[int],
                start_logits: Sequence[np.ndarray], end_logits: Sequence[np.ndarray], *, n_best: int = 20,
                max_answer_length: int = 30) -> list[Prediction]:
    """One Prediction per example (in example order), over all of its windows."""
    preds = [Prediction(e.id) for e in examples]
    best: list[dict[tuple[int, int], Span]] = [dict() for _ in examples]
    for f, ex_i in enumerate(example_idx):
        ex = examples[ex_i]
        cands, null = window_candidates(start_logits[f], end_logits[f], offsets[f], cls_index[f], n_best,
                                        max_answer_length)
        p = preds[ex_i]
        if null is not None and null[0] + null[1] < p.null_score:
            p.null_start_logit, p.null_end_logit, p.null_prob = null
        offs = offsets[f]
        seen = best[ex_i]
        for si, ei, sl, el, prob in cands:
            a, b = offs[si][0], offs[ei][1]
            key = (a, b)
            old = seen.get(key)
            if old is None or sl + el > old.logit:
                seen[key] = Span(ex.context[a:b], a, b, sl, el, prob)
    for p, seen in zip(preds, best):
        p.spans = sorted(seen.values(), key=lambda s: -s.logit)[: max(n_best, 1)]
    return preds


def predictions_from_features(features, outputs: dict[str, list[np.ndarray]], n_best: int,
                              max_answer_length: int) -> list[Prediction]:
    c = features.columns
    return postprocess(features.meta["examples"], c["example_idx"], c["offsets"], c["cls_index"],
                       outputs["start_logits"], outputs["end_logits"], n_best=n_best,
                       max_answer_length=max_answer_length)


# --------------------------------------------------------------------------- scoring and the null threshold

def official_files(preds: Sequence[Prediction], allow_no_answer: bool, threshold: float, n_best: int):
    """(predictions {id: text}, nbest {id: [...]}, na_probs {id: score_diff} or None for v1 models)."""
    texts = {p.id: p.text(allow_no_answer, threshold) for p in preds}
    nbest = {p.id: p.nbest(allow_no_answer, n_best) for p in preds}
    na = {p.id: p.score_diff for p in preds} if allow_no_answer else None
    return texts, nbest, na


def tune_null_threshold(gold, preds: Sequence[Prediction]) -> tuple[float, dict[str, Any]]:
    """The threshold on score_diff that maximises the official F1 (best_f1_thresh of the official
    find_best_thresh, over the best non-null answers), and the official scores of that search."""
    from bertkit.qa.squad_metrics import squad_evaluate

    raw = {p.id: (p.spans[0].text if p.spans else "") for p in preds}
    na = {p.id: p.score_diff for p in preds}
    res = squad_evaluate(gold, raw, na_probs=na)
    thresh = float(res["best_f1_thresh"])
    n_no = sum(1 for k in ("NoAns_total",) if k in res and res[k])
    if n_no and abs(res["best_f1"] - 100.0 * res["NoAns_total"] / res["total"]) < 1e-9 and thresh == 0.0 and na:
        # the official search never improved on "no answer everywhere": make the threshold say so
        thresh = float(min(na.values())) - 1.0
    return thresh, res


def _scorer_input(preds: Sequence[Prediction], allow_no_answer: bool,
                  threshold: float) -> tuple[dict[str, str], dict[str, Any]]:
    """(qid -> the text scored, the scorer's no-answer arguments): na_prob_thresh = threshold keeps the scorer and the
    written predictions in agreement; without no-answers the scorer's defaults."""
    texts = {p.id: p.text(allow_no_answer, threshold) for p in preds}
    if not allow_no_answer:
        return texts, {}
    return texts, {"na_probs": {p.id: p.score_diff for p in preds}, "na_prob_thresh": threshold}


def evaluate(gold, preds: Sequence[Prediction], allow_no_answer: bool, threshold: float) -> dict[str, Any]:
    """Official scores of the predictions at `threshold`."""
    from bertkit.qa.squad_metrics import squad_evaluate

    texts, na = _scorer_input(preds, allow_no_answer, threshold)
    return squad_evaluate(gold, texts, **na)


def question_f1(gold, preds: Sequence[Prediction], allow_no_answer: bool, threshold: float) -> dict[str, float]:
    """qid -> the F1 (0-1) of each question that `evaluate`'s "f1" averages (x 100), read the same way."""
    from bertkit.qa.squad_metrics import per_question_f1

    texts, na = _scorer_input(preds, allow_no_answer, threshold)
    return per_question_f1(gold, texts, **na)
