"""The QA parts of `bertkit report`: data, official EM/F1 with HasAns/NoAns, the null-threshold curve, and the
highest-confidence wrong answers, through the same code as `qa eval` (QA.predict, postprocess.evaluate, the
official scoring steps)."""

from __future__ import annotations

from typing import Any

import numpy as np

from bertkit import plots
from bertkit.qa.settings import saved_allow_no_answer
from bertkit.report import html as H


def _run(model_dir: str, meta: dict, dev: str, limit, batch_size, allow_pickle, trust_remote_code):
    from bertkit.defaults import PREDICT_BATCH_SIZE
    from bertkit.qa import postprocess as pp
    from bertkit.qa.api import QA
    from bertkit.qa.data import gold_dataset, load_qa

    args = meta.get("training_args") or {}
    qa = QA(model_dir, batch_size=batch_size or PREDICT_BATCH_SIZE, allow_pickle=allow_pickle,
            trust_remote_code=trust_remote_code)
    data = load_qa(dev, limit=limit, skip_bad_rows=bool(args.get("skip_bad_rows")), default_split="validation")
    from bertkit.qa.evaluate import allow_no_answer

    gold = gold_dataset(data)
    no_answer = allow_no_answer(qa.allow_no_answer, data.has_impossible, None, dev)  # as `qa eval` decides by default
    preds = qa.predict(data.examples)
    return {"qa": qa, "data": data, "gold": gold, "no_answer": no_answer, "preds": preds,
            "metrics": pp.evaluate(gold, preds, no_answer, qa.null_threshold)}


def data_section(meta: dict, metrics: dict, run: dict | None, why: str) -> str:
    train = metrics.get("train") or {}
    args = meta.get("training_args") or {}
    rows = [("train data", args.get("train")), ("train questions", train.get("train_questions")),
            ("train windows", train.get("train_windows")), ("skipped bad rows", train.get("skipped_rows")),
            ("SQuAD version", "v2.0 (no-answer allowed)" if saved_allow_no_answer(meta) else "v1.1"),
            ("max length / doc stride", f"{meta.get('max_length')} / {meta.get('doc_stride')}")]
    out = H.kv([r for r in rows if r[1] is not None])
    if run is None:
        return out + H.note(f"no dev data: {why}")
    ex = run["data"].examples
    n_imp = sum(e.is_impossible for e in ex)
    tok = run["qa"].tokenizer
    lengths = [len(tok(e.question, e.context, truncation=False, verbose=False)["input_ids"]) for e in ex]
    longer = sum(n > run["qa"].max_length for n in lengths)
    out += H.kv([("dev data", run["data"].source), ("dev questions", len(ex)), ("answerable", len(ex) - n_imp),
                 ("unanswerable", n_imp), ("skipped bad rows", run["data"].skipped),
                 ("question + context tokens (median / max)", f"{int(np.median(lengths))} / {max(lengths)}"),
                 ("longer than max length (split into windows)", f"{longer} at {run['qa'].max_length} tokens")])
    return out


def null_curve(run: dict) -> tuple[np.ndarray, dict[str, list[float]]]:
    """Official exact/F1 (all, HasAns, NoAns) at each null threshold, from the best non-null answers."""
    from bertkit.qa.squad_metrics import (
        apply_no_ans_threshold,
        get_raw_scores,
        gold_questions,
        make_eval_dict,
        make_qid_to_has_ans,
    )

    preds = run["preds"]
    golds = gold_questions(run["gold"])
    has = make_qid_to_has_ans(golds)
    raw = {p.id: (p.spans[0].text if p.spans else "") for p in preds}
    na = {p.id: p.score_diff for p in preds}
    exact, f1 = get_raw_scores(golds, raw)
    diffs = np.array(sorted(na.values()))
    lo, hi = np.percentile(diffs, 1) - 1.0, np.percentile(diffs, 99) + 1.0
    grid = np.linspace(lo, hi, 81)
    curves: dict[str, list[float]] = {"f1": [], "exact": [], "HasAns_f1": [], "NoAns_f1": []}
    has_ids = [q for q, h in has.items() if h]
    no_ids = [q for q, h in has.items() if not h]
    for t in grid:
        e = apply_no_ans_threshold(exact, na, has, float(t))
        f = apply_no_ans_threshold(f1, na, has, float(t))
        curves["f1"].append(make_eval_dict(e, f)["f1"])
        curves["exact"].append(make_eval_dict(e, f)["exact"])
        curves["HasAns_f1"].append(make_eval_dict(e, f, has_ids)["f1"] if has_ids else np.nan)
        curves["NoAns_f1"].append(make_eval_dict(e, f, no_ids)["f1"] if no_ids else np.nan)
    return grid, curves


def metrics_section(meta: dict, metrics: dict, run: dict | None) -> str:
    dev = run["metrics"] if run is not None else metrics.get("dev")
    if not dev:
        return H.note("no dev metrics: the model was trained without --dev and no --data was given")
    src = ("computed now on the dev data with the model's null threshold" if run
           else "recorded at training (metrics.json)")
    out = H.note(f"Official SQuAD scores {src}.")
    rows = [(k, dev.get(f"{k}_exact" if k != "all" else "exact"), dev.get(f"{k}_f1" if k != "all" else "f1"),
             dev.get(f"{k}_total" if k != "all" else "total")) for k in ("all", "HasAns", "NoAns")
            if dev.get(f"{k}_total" if k != "all" else "total")]
    out += H.table(["questions", "exact", "f1", "count"], rows, [0])
    tuning = metrics.get("null_threshold_tuning")
    out += H.kv([("null threshold", meta.get("null_threshold")),
                 ("tuned on dev at training", meta.get("null_threshold_tuned"))]
                + ([(f"tuning: {k}", v) for k, v in tuning.items()] if tuning else []))
    if run is not None and run["no_answer"]:
        grid, curves = null_curve(run)
        fig = plots.null_curve(grid.tolist(), curves, run["qa"].null_threshold)
        out += ("<h3>Null-threshold curve</h3>"
                + H.note("A question gets no answer when its null score - best span score is above the threshold.")
                + H.image(fig, "null-threshold curve"))
    elif run is not None:
        out += H.note("No null-threshold curve: the model or the dev data is SQuAD v1.1 "
                      "(every question has an answer).")
    return out


def _snippet(context: str, start: int | None, width: int = 220) -> str:
    if start is None or len(context) <= width:
        return context[:width] + ("…" if len(context) > width else "")
    a = max(0, start - width // 2)
    return ("…" if a else "") + context[a:a + width] + ("…" if a + width < len(context) else "")


def mistakes_section(run: dict | None, k: int) -> str:
    from bertkit.qa.squad_metrics import get_raw_scores, gold_questions

    if run is None:
        return H.note("no dev data, so no mistakes to show; give SQuAD-style data with --data")
    qa, no_answer = run["qa"], run["no_answer"]
    texts = {p.id: p.text(no_answer, qa.null_threshold) for p in run["preds"]}
    exact, f1 = get_raw_scores(gold_questions(run["gold"]), texts)
    by_id = {e.id: e for e in run["data"].examples}
    rows: list[tuple[float, Any]] = []
    for p in run["preds"]:
        if exact.get(p.id, 1):
            continue
        best = qa.format(p, 1, no_answer)[0]
        e = by_id[p.id]
        gold = " | ".join(e.answers["text"]) or "(no answer)"
        at = e.answers["answer_start"][0] if e.answers["answer_start"] else (best["start"] if best["answer"] else None)
        rows.append((best["score"], (e.question, _snippet(e.context, at), gold, best["answer"] or "(no answer)",
                                     best["score"], f1.get(p.id))))
    rows.sort(key=lambda r: -r[0])
    intro = H.note(f"{len(rows)} of {len(texts)} dev questions are not exact matches; the {min(k, len(rows))} "
                   "most confident wrong answers:")
    return intro + (H.table(["question", "context", "gold", "predicted", "score", "f1"], [r for _, r in rows[:k]],
                            [0, 1, 2, 3]) if rows else "")


def sections(model_dir: str, meta: dict, metrics: dict, dev: str | None, why: str, *, mistakes: int, limit,
             batch_size, allow_pickle, trust_remote_code) -> list[tuple[str, str]]:
    run = _run(model_dir, meta, dev, limit, batch_size, allow_pickle, trust_remote_code) if dev else None
    return [("Data", data_section(meta, metrics, run, why)),
            ("Dev metrics", metrics_section(meta, metrics, run)),
            ("Worst mistakes", mistakes_section(run, mistakes))]
