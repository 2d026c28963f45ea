"""SQuAD scoring that equals the official SQuAD v2.0 evaluation script ("evaluate-v2.0.py",
Rajpurkar, Jia et al.) number for number, written afresh from its behaviour.

What the official script does, and so does this module:

* A question "has an answer" when its ``answers`` list is non-empty; ``is_impossible`` is never
  read. SQuAD v1.1 files therefore score as all-HasAns.
* Gold answers that normalise to "" are dropped; when none are left the only gold is "".
* Exact and F1 are the maximum over the gold answers. F1 is 1 when both sides have no tokens,
  0 when only one has none.
* ``na_prob > na_prob_thresh`` turns a prediction into "no answer" (the default 1.0 never does).
* Output keys, in order: exact, f1, total, then HasAns_* and NoAns_* when such questions exist,
  then best_exact, best_exact_thresh, best_f1, best_f1_thresh only when na_probs are given
  (the official script reports thresholds only with --na-prob-file).
* find_best_thresh: questions sorted by na_prob (a stable sort, so the na_probs mapping's own
  order breaks ties); the running score starts at the number of NoAns questions and the
  threshold at 0.0; a HasAns question adds its raw score, a NoAns question subtracts 1 when
  its raw prediction string is non-empty (so "." costs 1 although it scores exact 1); the
  threshold becomes the na_prob of the question at which the running score strictly improves.
  With ties in na_prob the reported best score can exceed what that threshold achieves.

Where the official script would crash (a question without a prediction: it prints "Missing
prediction" and then fails with a KeyError; a scored question absent from na_probs; nothing to
score) this module raises a :class:`~bertkit.errors.BertkitError` instead.
"""

from __future__ import annotations

import collections
import numbers
import os
import re
import string
from typing import Any, Iterable, Mapping, NamedTuple, Sequence, Union

from bertkit.errors import BertkitError

_PUNCTUATION = frozenset(string.punctuation)  # ASCII only: “ ” — ¿ and the like are kept
_ARTICLES = re.compile(r"\b(a|an|the)\b", re.UNICODE)


class GoldQuestion(NamedTuple):
    """One question to score: its id and the raw texts of its gold answers (empty: unanswerable).
    A plain ``(qid, [texts])`` tuple is accepted wherever a GoldQuestion is."""

    qid: str
    answers: Sequence[str]


Examples = Union[Mapping[str, Any], Sequence[Mapping[str, Any]], Iterable[Sequence[Any]], str, os.PathLike]


# --------------------------------------------------------------------------- per answer

def normalize_answer(s: str) -> str:
    """Lower-case, drop ASCII punctuation, replace the words a/an/the by a space, collapse
    whitespace: in that order, exactly as the official script."""
    text = s.lower()
    text = "".join(ch for ch in text if ch not in _PUNCTUATION)
    text = _ARTICLES.sub(" ", text)
    return " ".join(text.split())


def get_tokens(s: str) -> list[str]:
    """The tokens F1 counts: the normalised answer split on whitespace ([] for "")."""
    if not s:
        return []
    return normalize_answer(s).split()


def compute_exact(a_gold: str, a_pred: str) -> int:
    """1 when both normalise to the same string, else 0."""
    return int(normalize_answer(a_gold) == normalize_answer(a_pred))


def compute_f1(a_gold: str, a_pred: str) -> float:
    """Token-overlap F1 (multiset intersection). When either side has no tokens: 1 if both have
    none, else 0 (returned as int, like the official script)."""
    gold_toks = get_tokens(a_gold)
    pred_toks = get_tokens(a_pred)
    common = collections.Counter(gold_toks) & collections.Counter(pred_toks)
    num_same = sum(common.values())
    if len(gold_toks) == 0 or len(pred_toks) == 0:
        return int(gold_toks == pred_toks)
    if num_same == 0:
        return 0
    precision = 1.0 * num_same / len(pred_toks)
    recall = 1.0 * num_same / len(gold_toks)
    return (2 * precision * recall) / (precision + recall)


# --------------------------------------------------------------------------- datasets

def _fail(source: str | None, msg: str) -> BertkitError:
    return BertkitError(f"{source}: {msg}" if source else msg)


def gold_questions(dataset: Mapping[str, Any] | Sequence[Mapping[str, Any]],
                   source: str | None = None) -> list[GoldQuestion]:
    """Flatten a SQuAD dataset (the whole JSON object, or its ``data`` list) into GoldQuestions,
    in file order. ``source`` (a file name) prefixes error messages."""
    articles = dataset.get("data") if isinstance(dataset, Mapping) else dataset
    if not isinstance(articles, list):
        raise _fail(source, 'not a SQuAD dataset: expected {"data": [{"paragraphs": [...]}, ...]}')
    out: list[GoldQuestion] = []
    for i, article in enumerate(articles):
        paragraphs = article.get("paragraphs") if isinstance(article, Mapping) else None
        if not isinstance(paragraphs, list):
            raise _fail(source, f'data[{i}] has no "paragraphs" list')
        for j, p in enumerate(paragraphs):
            qas = p.get("qas") if isinstance(p, Mapping) else None
            if not isinstance(qas, list):
                raise _fail(source, f'data[{i}].paragraphs[{j}] has no "qas" list')
            for k, qa in enumerate(qas):
                where = f"data[{i}].paragraphs[{j}].qas[{k}]"
                if not isinstance(qa, Mapping) or not isinstance(qa.get("id"), str):
                    raise _fail(source, f'{where} has no string "id"')
                answers = qa.get("answers")
                if not isinstance(answers, list):
                    raise _fail(source, f'{where} (id {qa["id"]}) has no "answers" list')
                texts = []
                for a in answers:
                    if not isinstance(a, Mapping) or not isinstance(a.get("text"), str):
                        raise _fail(source, f'{where} (id {qa["id"]}) has an answer without a string "text"')
                    texts.append(a["text"])
                out.append(GoldQuestion(qa["id"], texts))
    return out


def load_squad_json(path: str | os.PathLike) -> dict:
    """Read a SQuAD v1.1/v2.0 dataset file and check the structure scoring needs (ids, answer
    texts; contexts must be strings). Returns the parsed JSON object. Errors name the file."""
    from bertkit.data.io import read_json_file

    obj = read_json_file(path)
    if not isinstance(obj, dict) or not isinstance(obj.get("data"), list):
        raise BertkitError(f'{path}: not a SQuAD dataset: expected {{"data": [{{"paragraphs": [...]}}, ...]}}')
    gold_questions(obj, source=str(path))
    for i, article in enumerate(obj["data"]):
        for j, p in enumerate(article["paragraphs"]):
            if not isinstance(p.get("context"), str):
                raise BertkitError(f'{path}: data[{i}].paragraphs[{j}] has no string "context"')
    return obj


def _as_gold(examples: Examples) -> list[GoldQuestion]:
    if isinstance(examples, (str, os.PathLike)):
        return gold_questions(load_squad_json(examples), source=os.fspath(examples))
    if isinstance(examples, Mapping):
        return gold_questions(examples)
    items = list(examples)
    if items and isinstance(items[0], Mapping):  # the "data" list of articles
        return gold_questions(items)
    out = []
    for item in items:
        try:
            qid, answers = item
        except (TypeError, ValueError):
            raise BertkitError(f"cannot score {item!r}: expected a (question id, [gold answer texts]) pair") from None
        if isinstance(answers, str) or not all(isinstance(a, str) for a in answers):
            raise BertkitError(f"question {qid}: gold answers must be a list of strings, got {answers!r}")
        out.append(GoldQuestion(qid, list(answers)))
    return out


# --------------------------------------------------------------------------- official steps

def make_qid_to_has_ans(golds: Iterable[GoldQuestion]) -> dict[str, bool]:
    """qid -> whether its answers list is non-empty (a later duplicate id overwrites)."""
    return {qid: bool(answers) for qid, answers in golds}


def get_raw_scores(golds: Iterable[GoldQuestion], preds: Mapping[str, str]) -> tuple[dict[str, int], dict[str, float]]:
    """Per-question exact and F1 before any no-answer threshold. Questions without a
    prediction are skipped, as in the official script."""
    exact_scores: dict[str, int] = {}
    f1_scores: dict[str, float] = {}
    for qid, answers in golds:
        gold_answers = [a for a in answers if normalize_answer(a)] or [""]
        if qid not in preds:
            continue
        a_pred = preds[qid]
        exact_scores[qid] = max(compute_exact(a, a_pred) for a in gold_answers)
        f1_scores[qid] = max(compute_f1(a, a_pred) for a in gold_answers)
    return exact_scores, f1_scores


def apply_no_ans_threshold(scores: Mapping[str, float], na_probs: Mapping[str, float],
                           qid_to_has_ans: Mapping[str, bool], na_prob_thresh: float) -> dict[str, float]:
    """Questions with na_prob > na_prob_thresh count as predicted "no answer": 1.0 if right, else 0.0."""
    return {qid: float(not qid_to_has_ans[qid]) if na_probs[qid] > na_prob_thresh else s
            for qid, s in scores.items()}


def make_eval_dict(exact_scores: Mapping[str, float], f1_scores: Mapping[str, float],
                   qid_list: Sequence[str] | None = None) -> dict[str, Any]:
    """{"exact", "f1", "total"}: 100-scaled means over qid_list (all scored questions if empty)."""
    if not qid_list:
        total = len(exact_scores)
        return {"exact": 100.0 * sum(exact_scores.values()) / total,
                "f1": 100.0 * sum(f1_scores.values()) / total, "total": total}
    total = len(qid_list)
    return {"exact": 100.0 * sum(exact_scores[k] for k in qid_list) / total,
            "f1": 100.0 * sum(f1_scores[k] for k in qid_list) / total, "total": total}


def merge_eval(main_eval: dict[str, Any], new_eval: Mapping[str, Any], prefix: str) -> None:
    for k in new_eval:
        main_eval[f"{prefix}_{k}"] = new_eval[k]


def find_best_thresh(preds: Mapping[str, str], scores: Mapping[str, float], na_probs: Mapping[str, float],
                     qid_to_has_ans: Mapping[str, bool]) -> tuple[float, float]:
    """(best 100-scaled score, its na_prob threshold), by the official algorithm and its quirks
    (see the module docstring)."""
    num_no_ans = sum(1 for k in qid_to_has_ans if not qid_to_has_ans[k])
    cur_score = num_no_ans
    best_score = cur_score
    best_thresh = 0.0
    for qid in sorted(na_probs, key=lambda k: na_probs[k]):
        if qid not in scores:
            continue
        if qid_to_has_ans[qid]:
            diff = scores[qid]
        else:
            diff = -1 if preds[qid] else 0
        cur_score += diff
        if cur_score > best_score:
            best_score = cur_score
            best_thresh = na_probs[qid]
    return 100.0 * best_score / len(scores), best_thresh


def find_all_best_thresh(main_eval: dict[str, Any], preds: Mapping[str, str], exact_raw: Mapping[str, float],
                         f1_raw: Mapping[str, float], na_probs: Mapping[str, float],
                         qid_to_has_ans: Mapping[str, bool]) -> None:
    """Add best_exact, best_exact_thresh, best_f1, best_f1_thresh to main_eval."""
    main_eval["best_exact"], main_eval["best_exact_thresh"] = find_best_thresh(
        preds, exact_raw, na_probs, qid_to_has_ans)
    main_eval["best_f1"], main_eval["best_f1_thresh"] = find_best_thresh(preds, f1_raw, na_probs, qid_to_has_ans)


# --------------------------------------------------------------------------- entry point

def _check_inputs(golds: list[GoldQuestion], preds: Mapping[str, str], na_probs: Mapping[str, float] | None) -> None:
    if not golds:
        raise BertkitError("no questions to score: the dataset has no qas")
    missing = list(dict.fromkeys(qid for qid, _ in golds if qid not in preds))
    if missing:
        shown = ", ".join(missing[:5]) + (", ..." if len(missing) > 5 else "")
        raise BertkitError(f"missing predictions for {len(missing)} of {len(set(q for q, _ in golds))} questions "
                           f"({shown}); the official SQuAD script cannot score incomplete predictions")
    for qid, _ in golds:
        if not isinstance(preds[qid], str):
            raise BertkitError(f"prediction for {qid} is not a string: {preds[qid]!r}")
    if na_probs is not None:
        bad = [k for k, v in na_probs.items() if isinstance(v, bool) or not isinstance(v, numbers.Real)]
        if bad:
            raise BertkitError(f"no-answer probability for {bad[0]} is not a number: {na_probs[bad[0]]!r}")
        absent = [qid for qid, _ in golds if qid not in na_probs]
        if absent:
            raise BertkitError(f"no-answer probabilities missing for {len(absent)} questions (e.g. {absent[0]})")


def per_question_f1(dataset_or_examples: Examples, preds: Mapping[str, str],
                    na_probs: Mapping[str, float] | None = None, na_prob_thresh: float = 1.0) -> dict[str, float]:
    """qid -> the F1 (0-1) that `squad_evaluate`'s "f1" averages (x 100), no-answer threshold applied: the per-question
    scores a bootstrap resamples."""
    golds = _as_gold(dataset_or_examples)
    _check_inputs(golds, preds, na_probs)
    probs = na_probs if na_probs is not None else {k: 0.0 for k in preds}
    return apply_no_ans_threshold(get_raw_scores(golds, preds)[1], probs, make_qid_to_has_ans(golds), na_prob_thresh)


def squad_evaluate(dataset_or_examples: Examples, preds: Mapping[str, str],
                   na_probs: Mapping[str, float] | None = None, na_prob_thresh: float = 1.0) -> dict[str, Any]:
    """Score predictions exactly like the official SQuAD v2.0 script.

    dataset_or_examples: a SQuAD JSON object, its "data" list, a path to a SQuAD file, or an
        iterable of GoldQuestion / (qid, [gold texts]) pairs ([] = unanswerable).
    preds: qid -> predicted text ("" = no answer); ids not in the dataset are ignored.
    na_probs: qid -> no-answer score (any float: probability or null log-odds). When given, the
        best_* threshold keys are added; when None every question gets 0.0, as officially.
    na_prob_thresh: na_prob above this turns the prediction into "no answer".

    Returns a dict in the official key order: 100-scaled floats, "total" counts as ints.
    """
    golds = _as_gold(dataset_or_examples)
    _check_inputs(golds, preds, na_probs)
    probs = na_probs if na_probs is not None else {k: 0.0 for k in preds}
    qid_to_has_ans = make_qid_to_has_ans(golds)
    has_ans_qids = [k for k, v in qid_to_has_ans.items() if v]
    no_ans_qids = [k for k, v in qid_to_has_ans.items() if not v]
    exact_raw, f1_raw = get_raw_scores(golds, preds)
    exact_thresh = apply_no_ans_threshold(exact_raw, probs, qid_to_has_ans, na_prob_thresh)
    f1_thresh = apply_no_ans_threshold(f1_raw, probs, qid_to_has_ans, na_prob_thresh)
    out_eval = make_eval_dict(exact_thresh, f1_thresh)
    if has_ans_qids:
        merge_eval(out_eval, make_eval_dict(exact_thresh, f1_thresh, qid_list=has_ans_qids), "HasAns")
    if no_ans_qids:
        merge_eval(out_eval, make_eval_dict(exact_thresh, f1_thresh, qid_list=no_ans_qids), "NoAns")
    if na_probs is not None:
        find_all_best_thresh(out_eval, preds, exact_raw, f1_raw, na_probs, qid_to_has_ans)
    return out_eval
