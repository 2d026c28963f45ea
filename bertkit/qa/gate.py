"""The int8 accuracy gate's hook for QA models (TaskSpec.gate_ref): F1 on a labelled file (SQuAD JSON or rows), as
`bertkit qa eval` scores it, each question's F1 (for the gate's bootstrap), and the answers given."""

from __future__ import annotations

from typing import Callable

from bertkit.int8gate import Score


def measure(qa, data: str, limit: int | None) -> Callable[[], Score]:
    import numpy as np

    from bertkit.qa import postprocess as pp
    from bertkit.qa.evaluate import allow_no_answer, gold_for_file

    d, gold = gold_for_file(data, limit, skip_bad_rows=False)
    v2 = allow_no_answer(qa.allow_no_answer, d.has_impossible, None, data)

    def score() -> Score:
        preds = qa.predict(d.examples)
        res = pp.evaluate(gold, preds, v2, qa.null_threshold)
        keys = [qa.format(p, 1, v2)[0]["answer"] for p in preds]
        f1 = np.fromiter(pp.question_f1(gold, preds, v2, qa.null_threshold).values(), dtype=np.float64)
        return Score("f1", float(res["f1"]), True, keys, len(f1), lambda idx: 100.0 * float(f1[idx].mean()))

    return score
