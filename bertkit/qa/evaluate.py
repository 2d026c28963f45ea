"""`qa eval`: official SQuAD scores for a model on gold data, or for a predictions file.

"May answer no answer" (SQuAD v2.0) is one setting, `allow_no_answer`: in `qa eval` a model that can say
"no answer" does so only on data with unanswerable questions, unless `--allow-no-answer/--always-answer` decides.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from bertkit import console
from bertkit.errors import UsageError
from bertkit.qa.data import QAData, gold_dataset, load_qa


def gold_for_file(data: str, limit: int | None, skip_bad_rows: bool) -> tuple[QAData, list[dict]]:
    """What the official scorer reads for `data`: the SQuAD JSON itself when it is one, else the flat rows."""
    d = load_qa(data, limit=limit, skip_bad_rows=skip_bad_rows, default_split="validation")
    if not d.examples:
        from bertkit.errors import BertkitError

        raise BertkitError(f"{data}: no usable questions"
                           + (f" (skipped {d.skipped}, e.g. {d.skip_reasons[0]})" if d.skipped else ""))
    if d.squad_json is not None and limit is None and not d.skipped:
        return d, d.squad_json
    return d, gold_dataset(d)


def allow_no_answer(model_can: bool, data_has_unanswerable: bool, given: bool | None, data: str) -> bool:
    """Whether eval lets the model answer '': as given, else a model that can, on data with unanswerable questions."""
    if given is not None:
        return bool(given)
    if model_can and not data_has_unanswerable:
        console.log(f"{data} has no unanswerable questions (SQuAD v1.1): the v2.0 model answers every question "
                    "with its best span; --allow-no-answer lets it answer '' at its null threshold")
        return False
    return model_can


def score_predictions(data: str, predictions: str, na_probs: str | None, na_prob_thresh: float,
                      limit: int | None, skip_bad_rows: bool, extra_metrics=None) -> dict[str, Any]:
    """The official evaluation of a predictions.json (and na_probs.json) against `data` (+ `--extra-metric`s)."""
    from bertkit.qa import official_files as of
    from bertkit.qa.metric_adapter import qa_results
    from bertkit.qa.squad_metrics import squad_evaluate

    preds = of.read_predictions(predictions)
    probs = of.read_na_probs(na_probs) if na_probs else None
    gold = None
    if Path(data).suffix.lower() == ".json" and limit is None:
        from bertkit.qa.squad_metrics import load_squad_json

        try:
            gold = load_squad_json(data)
        except Exception:  # not the published layout: read it as rows below, with its own clear errors
            gold = None
    if gold is None:
        gold = gold_for_file(data, limit, skip_bad_rows)[1]
    return {**squad_evaluate(gold, preds, na_probs=probs, na_prob_thresh=na_prob_thresh),
            **qa_results(extra_metrics, gold, preds, na_probs=probs)}


def evaluate_model(qa, data: str, limit: int | None, skip_bad_rows: bool, allow: bool | None,
                   output_dir: str | None, extra_metrics=None) -> dict[str, Any]:
    """Run `qa` (a bertkit.qa.api.QA) over `data`: official scores (+ `--extra-metric`s); the official files in
    `output_dir` if given."""
    from bertkit.qa import official_files as of
    from bertkit.qa import postprocess as pp
    from bertkit.qa.metric_adapter import qa_results

    d, gold = gold_for_file(data, limit, skip_bad_rows)
    if d.skipped:
        console.warn(f"{data}: skipped {d.skipped} bad row(s), e.g. {d.skip_reasons[0]}")
    no_answer = allow_no_answer(qa.allow_no_answer, d.has_impossible, allow, data)
    console.log(f"answering {len(d)} questions with {qa!r}")
    preds = qa.predict(d.examples)
    res = {**pp.evaluate(gold, preds, no_answer, qa.null_threshold),
           **qa_results(extra_metrics, gold, preds, no_answer, qa.null_threshold)}
    if output_dir:
        texts, nbest, na = pp.official_files(preds, no_answer, qa.null_threshold, qa.n_best)
        written = of.write_official_files(output_dir, texts, nbest, na)
        console.log("wrote " + ", ".join(str(p) for p in written.values())
                    + (f"; the official script reproduces these scores with --na-prob-thresh {qa.null_threshold}"
                       if na else ""))
    return res


def check_eval_options(model: str | None, predictions: str | None, na_probs: str | None) -> None:
    if predictions and model:
        raise UsageError("give --model (run the model) or --predictions (score a file), not both")
    if not predictions and na_probs:
        raise UsageError("--na-probs goes with --predictions; a model computes its own")
    if not predictions and not model:
        raise UsageError("give --model (a folder from `bertkit qa train`) or --predictions (a "
                         "predictions.json to score)")
