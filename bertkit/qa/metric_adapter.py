"""`--extra-metric` on `qa eval`: predicted answers (and no-answer scores) given to an `evaluate` metric."""

from __future__ import annotations

from typing import Any, Mapping, Sequence

from bertkit.extra_metrics import compute, feature, load_metric, metric_name


def qa_extra(specs: Sequence[str] | None, gold: Sequence[dict] | dict, texts: Mapping[str, str],
             na_probs: Mapping[str, float] | None = None) -> dict[str, dict]:
    """{metric name: its results} for QA predictions {id: text} against the gold (SQuAD dataset or article list)."""
    if not specs:
        return {}
    from bertkit.qa.squad_metrics import gold_questions

    golds = [g for g in gold_questions(gold) if g.qid in texts]
    out: dict[str, dict] = {}
    for spec in specs:
        m = load_metric(spec)
        pf, rf = feature(m, "predictions"), feature(m, "references")
        if isinstance(pf, dict) and "prediction_text" in pf:
            preds = [{"id": g.qid, "prediction_text": texts[g.qid]} for g in golds]
            if "no_answer_probability" in pf:
                for p in preds:
                    p["no_answer_probability"] = float(na_probs.get(p["id"], 0.0)) if na_probs else 0.0
            refs = [{"id": g.qid,
                     "answers": {"text": list(g.answers), "answer_start": [0] * len(g.answers)}} for g in golds]
        else:
            preds = [texts[g.qid] for g in golds]
            many = rf is not None and not hasattr(rf, "dtype")  # a Sequence / list feature: all gold answers
            refs = [(list(g.answers) or [""]) if many else (g.answers[0] if g.answers else "") for g in golds]
        out[metric_name(spec, m)] = compute(spec, m, predictions=preds, references=refs)
    return out


def qa_results(specs: Sequence[str] | None, gold, preds, allow_no_answer: bool = False, threshold: float = 0.0,
               na_probs: Mapping[str, float] | None = None) -> dict[str, Any]:
    """`{"extra_metrics": {...}}` for `qa eval` (empty without specs): `preds` is a list of Predictions (a model
    run, decided at `threshold`) or {id: text} (a predictions file, with its `na_probs`)."""
    if not specs:
        return {}
    if not isinstance(preds, Mapping):
        texts = {p.id: p.text(allow_no_answer, threshold) for p in preds}
        na_probs = {p.id: p.score_diff for p in preds} if allow_no_answer else None
        preds = texts
    return {"extra_metrics": qa_extra(specs, gold, preds, na_probs)}
