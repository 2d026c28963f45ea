"""Post-processing: n-best spans, start <= end, max answer length, spans across windows, the null score."""

from __future__ import annotations

import numpy as np

from bertkit.qa.data import QAData, QAExample, gold_dataset
from bertkit.qa.postprocess import Prediction, Span, evaluate, postprocess, tune_null_threshold

CTX = "aa bb cc dd ee"
# token k (k>=2) covers word k-2; tokens 0 ([CLS]) and 1 (question) are not context
OFFS = [None, None, (0, 2), (3, 5), (6, 8), (9, 11), (12, 14)]


def _logits(start_at: dict[int, float], end_at: dict[int, float], n: int = 7):
    s, e = np.full(n, -10.0), np.full(n, -10.0)
    for k, v in start_at.items():
        s[k] = v
    for k, v in end_at.items():
        e[k] = v
    return s, e


def _run(windows, examples=None, **kw):
    examples = examples or [QAExample("q", "?", CTX)]
    idx = [w[0] for w in windows]
    offs = [w[1] for w in windows]
    s = [w[2] for w in windows]
    e = [w[3] for w in windows]
    return postprocess(examples, idx, offs, [0] * len(windows), s, e, **kw)


def test_best_span_start_before_end():
    s, e = _logits({5: 5.0, 3: 1.0}, {3: 4.0, 6: 2.0})  # the best start (5) is after the best end (3)
    p = _run([(0, OFFS, s, e)])[0]
    assert p.spans[0].text == "dd ee"  # start 5 + end 6 = 7 beats start 3 + end 3 = 5
    assert all(sp.start < sp.end for sp in p.spans)


def test_max_answer_length():
    s, e = _logits({2: 5.0, 5: 1.0}, {6: 5.0, 5: 1.0})
    p = _run([(0, OFFS, s, e)], max_answer_length=2)[0]
    assert p.spans[0].text == "dd ee"  # "aa ... ee" is 5 tokens: too long
    p = _run([(0, OFFS, s, e)], max_answer_length=30)[0]
    assert p.spans[0].text == CTX


def test_never_outside_context():
    s, e = _logits({1: 50.0, 4: 1.0}, {1: 50.0, 4: 1.0})  # the question token has the highest logits
    p = _run([(0, OFFS, s, e)])[0]
    assert p.spans[0].text == "cc"


def test_n_best_limits_candidates():
    s, e = _logits({2: 3.0, 3: 2.0, 4: 1.0}, {2: 3.0, 3: 2.0, 4: 1.0})
    p = _run([(0, OFFS, s, e)], n_best=1)[0]
    assert [sp.text for sp in p.spans] == ["aa"]


def test_spans_across_windows_and_null_min():
    # window 0 covers words 0-2, window 1 covers words 2-4 (same character offsets)
    w0 = [None, None, (0, 2), (3, 5), (6, 8)]
    w1 = [None, None, (6, 8), (9, 11), (12, 14)]
    s0, e0 = _logits({0: 2.0, 2: 1.0}, {0: 2.0, 2: 1.0}, 5)
    s1, e1 = _logits({0: 0.5, 4: 3.0}, {0: 0.5, 4: 3.0}, 5)
    p = _run([(0, w0, s0, e0), (0, w1, s1, e1)])[0]
    assert p.spans[0].text == "ee" and (p.spans[0].start, p.spans[0].end) == (12, 14)
    assert p.null_score == 1.0  # the lowest null score over the windows (BERT's choice)
    assert p.score_diff == 1.0 - 6.0
    # the same character span from two windows is listed once, with its better score
    assert len({(sp.start, sp.end) for sp in p.spans}) == len(p.spans)


def test_null_comparison_and_threshold():
    p = Prediction("q", [Span("aa", 0, 2, 1.0, 1.0, 0.5)], 2.0, 1.0, 0.3)  # null 3 > span 2
    assert p.score_diff == 1.0
    assert p.text(allow_no_answer=True, threshold=0.0) == ""
    assert p.text(allow_no_answer=True, threshold=1.5) == "aa"
    assert p.text(allow_no_answer=False, threshold=0.0) == "aa"
    nb = p.nbest(allow_no_answer=True, n_best=20)
    assert nb[0]["text"] == "" and abs(sum(x["probability"] for x in nb) - 1) < 1e-9


def _data(rows):
    exs = []
    for i, (ctx, ans) in enumerate(rows):
        if ans is None:
            exs.append(QAExample(f"q{i}", "?", ctx, {"text": [], "answer_start": []}, True))
        else:
            exs.append(QAExample(f"q{i}", "?", ctx, {"text": [ans], "answer_start": [ctx.index(ans)]}))
    return QAData(exs, "mem")


def test_tuned_threshold_maximises_official_f1():
    d = _data([("aa bb", "aa"), ("cc dd", None), ("ee ff", "ff"), ("gg hh", None)])
    gold = gold_dataset(d)
    preds = [
        Prediction("q0", [Span("aa", 0, 2, 2, 2, 0.9)], 0.5, 0.5, 0.1),  # diff -3: answer (right)
        Prediction("q1", [Span("cc", 0, 2, 1, 1, 0.5)], 1.0, 0.5, 0.4),  # diff -0.5: should be null
        Prediction("q2", [Span("ff", 3, 5, 1, 1, 0.5)], 0.5, 0.5, 0.4),  # diff -1: answer (right)
        Prediction("q3", [Span("gg", 0, 2, 0, 0, 0.5)], 1.0, 1.0, 0.4),  # diff 2: null
    ]
    thr, res = tune_null_threshold(gold, preds)
    assert res["best_f1"] == 100.0
    scored = evaluate(gold, preds, True, thr)
    assert scored["f1"] == 100.0 and scored["exact"] == 100.0
    assert evaluate(gold, preds, True, 0.0)["f1"] == 75.0  # q1 answered at the default threshold
    assert evaluate(gold, preds, False, 0.0)["f1"] == 50.0  # v1: always an answer


def test_all_null_best_gets_a_threshold_that_says_so():
    d = _data([("aa bb", None), ("cc dd", None)])
    gold = gold_dataset(d)
    preds = [Prediction("q0", [Span("aa", 0, 2, 2, 2, 0.9)], 0.5, 0.5, 0.1),
             Prediction("q1", [Span("cc", 0, 2, 2, 2, 0.9)], 0.5, 0.5, 0.1)]
    thr, res = tune_null_threshold(gold, preds)
    assert res["best_f1"] == 100.0
    assert evaluate(gold, preds, True, thr)["f1"] == 100.0
