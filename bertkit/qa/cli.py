"""`bertkit qa`: extractive question answering (train, eval, ask). Thin: logic lives in bertkit.qa."""

from __future__ import annotations

import sys
from typing import Annotated, Optional

import typer

from bertkit.cli import options as o
from bertkit.cli.errors import BertkitCommand, BertkitGroup
from bertkit.formats import Format
from bertkit.qa.settings import QAConfig, QAUse
from bertkit.qa.spec import SPEC

app = typer.Typer(cls=BertkitGroup, help=SPEC.help, no_args_is_help=True)

AllowNoAnswerUse = Annotated[Optional[bool], typer.Option(
    "--allow-no-answer/--always-answer", help="Let a model trained on SQuAD v2.0 answer '' (no answer) when its null "
    "score wins, or always give the best span. \\[default: as trained; in eval only on data with unanswerable "
    "questions]", rich_help_panel="Question answering")]
SkipBadRows = o.option(QAConfig, "skip_bad_rows")
NullThreshold = o.option(QAUse, "null_threshold")
TopK, NaProbThresh = o.option(QAUse, "top_k"), o.option(QAUse, "na_prob_thresh")
QALimit = Annotated[Optional[int], typer.Option("--limit", help="Only the first N questions.")]

o.train_command(app, SPEC, """Fine-tune an encoder for extractive QA on SQuAD v1.1/v2.0 JSON, or JSONL/CSV with
question, context, answers.

The output folder loads with AutoModelForQuestionAnswering / AutoTokenizer; bertkit.json keeps the window
settings and the null threshold tuned on --dev. A summary (JSON) goes to stdout.
""", config_first=True, format_option=True)


@app.command("eval", cls=BertkitCommand)
def eval_cmd(
    data: Annotated[str, typer.Option(
        "--data", "-d", help="Gold data: SQuAD JSON, JSONL/CSV (question, context, answers) or a HF dataset.")],
    model: Annotated[Optional[str], typer.Option(
        "--model", "-m", help="A model folder from `bertkit qa train` (or any *ForQuestionAnswering folder / hub "
        "id).")] = None,
    predictions: Annotated[Optional[str], typer.Option(
        "--predictions", "-p", help="Score this predictions.json ({id: text}) instead of running a model.")] = None,
    na_probs: Annotated[Optional[str], typer.Option(
        "--na-probs", help="With --predictions: no-answer scores {id: float} (the official --na-prob-file).")] = None,
    na_prob_thresh: NaProbThresh = None,
    output_dir: Annotated[Optional[str], typer.Option(
        "--output-dir", "-o", help="Write predictions.json, nbest.json and na_probs.json (v2.0) here.")] = None,
    null_threshold: NullThreshold = None,
    bf16: o.Bf16 = None, fast: o.Fast = None,
    allow_no_answer: AllowNoAnswerUse = None,
    batch_size: o.BatchSizePredict = None,
    limit: QALimit = None,
    skip_bad_rows: SkipBadRows = None,
    threads: o.Threads = None,
    allow_pickle: o.AllowPickle = None,
    format: o.FormatOpt = Format.json,
    extra_metric: o.ExtraMetric = None,
) -> None:
    """Official SQuAD v2.0 scores (exact, f1, HasAns_*, NoAns_*, best_* with thresholds) as JSON on stdout."""
    from bertkit import console
    from bertkit.extra_metrics import load_all
    from bertkit.formats import write_document
    from bertkit.qa import evaluate as ev
    from bertkit.settings import check_options

    console.quiet_libraries()
    na_prob_thresh = check_options(QAUse, QAConfig, limit=limit, na_prob_thresh=na_prob_thresh,
                                   null_threshold=null_threshold)["na_prob_thresh"]
    ev.check_eval_options(model, predictions, na_probs)
    load_all(extra_metric)
    if predictions:
        res = ev.score_predictions(data, predictions, na_probs, na_prob_thresh, limit, bool(skip_bad_rows),
                                   extra_metric)
    else:
        qa = _load(model, batch_size, null_threshold, threads, allow_pickle, bf16, fast=fast)
        res = ev.evaluate_model(qa, data, limit, bool(skip_bad_rows), allow_no_answer, output_dir, extra_metric)
    write_document(res, format)


def _load(model, batch_size, null_threshold, threads, allow_pickle, bf16=None, allow_no_answer=None, fast=None):
    from bertkit.defaults import PREDICT_BATCH_SIZE
    from bertkit.qa.api import QA

    return QA(model, batch_size=PREDICT_BATCH_SIZE if batch_size is None else batch_size, null_threshold=null_threshold,
              allow_no_answer=allow_no_answer, threads=threads, allow_pickle=bool(allow_pickle), bf16=bool(bf16),
              fast=bool(fast))


@app.command("ask", cls=BertkitCommand)
def ask_cmd(
    model: Annotated[str, typer.Option(
        "--model", "-m", help="A model folder from `bertkit qa train` (or any *ForQuestionAnswering folder / hub "
        "id).")],
    question: Annotated[Optional[str], typer.Option(
        "--question", "-q", help="The question. Without it: JSONL (question, context, ...) on stdin or "
        "--input.")] = None,
    context: Annotated[Optional[str], typer.Option("--context", help="The text to find the answer in.")] = None,
    context_file: Annotated[Optional[str], typer.Option(
        "--context-file", help="Read the context from this text file.")] = None,
    input: Annotated[Optional[str], typer.Option(
        "--input", "-i", help="Batch mode: a JSONL file (default: stdin).")] = None,
    top_k: TopK = None,
    null_threshold: NullThreshold = None,
    allow_no_answer: AllowNoAnswerUse = None,
    batch_size: o.BatchSizePredict = None,
    bf16: o.Bf16 = None, fast: o.Fast = None,
    threads: o.Threads = None,
    allow_pickle: o.AllowPickle = None,
    format: o.FormatOpt = Format.jsonl,
) -> None:
    """Answer a question from a context (any length: long contexts are windowed), or a JSONL batch in input order."""
    from bertkit import console
    from bertkit.errors import UsageError
    from bertkit.formats import write_records
    from bertkit.qa import ask
    from bertkit.qa.data import QAExample
    from bertkit.settings import check_options

    console.quiet_libraries()
    top_k = check_options(QAUse, top_k=top_k)["top_k"]
    allow = allow_no_answer
    if question is not None:
        if input:
            raise UsageError("give --question (one question) or --input (a JSONL batch), not both")
        q, ctx = ask.one_question(question, context, context_file)
        qa = _load(model, batch_size, null_threshold, threads, allow_pickle, bf16, allow, fast)
        write_records([ask.record(qa, qa.predict([QAExample("0", q, ctx)])[0], top_k)], format)
        return
    if context is not None or context_file is not None:
        raise UsageError("--context/--context-file need --question; for a batch, send JSONL lines with "
                         "question and context")
    if input is None and sys.stdin.isatty():
        raise UsageError("give --question and --context, or JSONL lines (question, context) on stdin or with --input")
    stream, source = ask.open_input(input, sys.stdin)
    try:
        qa = _load(model, batch_size, null_threshold, threads, allow_pickle, bf16, allow, fast)
        write_records(ask.answer_stream(qa, ask.read_jsonl(stream, source), top_k), format)
    finally:
        if input:
            stream.close()
