"""`bertkit qa`: extractive question answering (train, eval, ask)."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated, Any, Iterator, Optional

import typer

from bertkit.cli import options as o
from bertkit.cli.errors import BertkitGroup
from bertkit.formats import Format

app = typer.Typer(cls=BertkitGroup, help="Extractive question answering: train, eval, ask (SQuAD v1.1/v2.0).", no_args_is_help=True)

_Q = "Question answering"
DocStride = Annotated[Optional[int], typer.Option("--doc-stride", help="Overlap in tokens between the windows of a long context (default 128).", rich_help_panel=_Q)]
NBest = Annotated[Optional[int], typer.Option("--n-best", help="Start and end candidates per window (default 20).", rich_help_panel=_Q)]
MaxAnswerLength = Annotated[Optional[int], typer.Option("--max-answer-length", help="Longest answer in tokens (default 30).", rich_help_panel=_Q)]
Version2 = Annotated[Optional[bool], typer.Option("--version-2/--no-version-2", help="SQuAD v2.0: questions may have no answer. Default: detected from unanswerable questions in the data.", rich_help_panel=_Q)]
SkipBadRows = Annotated[Optional[bool], typer.Option("--skip-bad-rows", help="Skip (and count) rows whose answer_start does not match the answer text, instead of stopping.", rich_help_panel=_Q)]
NullThreshold = Annotated[Optional[float], typer.Option("--null-threshold", help="v2.0 models: answer '' when null score - best span score is above this (default: the threshold tuned on dev, saved in bertkit.json).", rich_help_panel=_Q)]


def _config(cfg_file: Optional[str], params: dict[str, Any]):
    from bertkit.defaults import QAConfig, build_config

    return build_config(QAConfig, cfg_file, o.overrides(params))


@app.command("train")
def train_cmd(
    config: o.Config = None, model: o.Model = None, train: o.Train = None, dev: o.Dev = None, output_dir: o.OutputDir = None,
    max_length: o.MaxLength = None, doc_stride: DocStride = None, n_best: NBest = None, max_answer_length: MaxAnswerLength = None,
    version_2: Version2 = None, skip_bad_rows: SkipBadRows = None,
    epochs: o.Epochs = None, batch_size: o.BatchSize = None, eval_batch_size: o.EvalBatchSize = None, lr: o.Lr = None,
    weight_decay: o.WeightDecay = None, warmup_ratio: o.WarmupRatio = None, grad_accum: o.GradAccum = None,
    max_grad_norm: o.MaxGradNorm = None, seed: o.Seed = None, mixed_precision: o.MixedPrecision = None,
    eval_steps: o.EvalSteps = None, patience: o.Patience = None, limit: o.Limit = None, dev_limit: o.DevLimit = None,
    threads: o.Threads = None, compile: o.Compile = None, overwrite: o.Overwrite = None,
    save_steps: o.SaveSteps = None, save_total_limit: o.SaveTotalLimit = None, resume: o.Resume = None,
    report_to: o.ReportTo = None, log_every: o.LogEvery = None,
    trust_remote_code: o.TrustRemoteCode = None, allow_pickle: o.AllowPickle = None,
    format: o.FormatOpt = Format.json,
) -> None:
    """Fine-tune an encoder for extractive QA on SQuAD v1.1/v2.0 JSON, or JSONL/CSV with question, context, answers.

    The output folder loads with AutoModelForQuestionAnswering / AutoTokenizer; bertkit.json keeps the window
    settings and the null threshold tuned on --dev. A summary (JSON) goes to stdout.
    """
    params = dict(locals())
    params.pop("format")
    from bertkit.formats import write_document
    from bertkit.qa.train import train as run

    cfg = _config(config, params)
    summary = run(cfg)
    if summary is not None:  # the main process prints; the others of a multi-process run return None
        write_document(summary, format)


def _gold_for_file(data: str, limit: Optional[int], skip_bad_rows: bool):
    """What the official scorer reads for --data: the SQuAD JSON itself when it is one, else the flat rows."""
    from bertkit.qa.data import gold_dataset, load_qa

    d = load_qa(data, limit=limit, skip_bad_rows=skip_bad_rows, default_split="validation")
    if d.squad_json is not None and limit is None and not d.skipped:
        return d, d.squad_json
    return d, gold_dataset(d)


@app.command("eval")
def eval_cmd(
    data: Annotated[str, typer.Option("--data", "-d", help="Gold data: SQuAD JSON, JSONL/CSV (question, context, answers) or a HF dataset.")],
    model: Annotated[Optional[str], typer.Option("--model", "-m", help="A model folder from `bertkit qa train` (or any *ForQuestionAnswering folder / hub id).")] = None,
    predictions: Annotated[Optional[str], typer.Option("--predictions", "-p", help="Score this predictions.json ({id: text}) instead of running a model.")] = None,
    na_probs: Annotated[Optional[str], typer.Option("--na-probs", help="With --predictions: no-answer scores {id: float} (the official --na-prob-file).")] = None,
    na_prob_thresh: Annotated[float, typer.Option("--na-prob-thresh", help="With --predictions: no-answer score above which a prediction counts as no answer (official default 1.0).")] = 1.0,
    output_dir: Annotated[Optional[str], typer.Option("--output-dir", "-o", help="Write predictions.json, nbest.json and na_probs.json (v2.0) here.")] = None,
    null_threshold: NullThreshold = None,
    bf16: o.Bf16 = None,
    null: Annotated[Optional[bool], typer.Option("--null/--no-null", help="Let a v2.0 model answer '' (no answer). Default: only when --data has unanswerable questions (SQuAD v2.0); on v1.1 data every question gets its best span, as SQuAD v1.1 scoring expects.", rich_help_panel=_Q)] = None,
    batch_size: o.BatchSizePredict = None,
    limit: Annotated[Optional[int], typer.Option("--limit", help="Only the first N questions.")] = None,
    skip_bad_rows: SkipBadRows = None,
    threads: o.Threads = None,
    allow_pickle: o.AllowPickle = None,
    format: o.FormatOpt = Format.json,
    extra_metric: o.ExtraMetric = None,
) -> None:
    """Official SQuAD v2.0 scores (exact, f1, HasAns_*, NoAns_*, best_* with thresholds) as JSON on stdout."""
    from bertkit import console
    from bertkit.errors import UsageError
    from bertkit.formats import write_document
    from bertkit.qa import official_files as of
    from bertkit.qa.squad_metrics import squad_evaluate
    from bertkit.extra_metrics import load_all, qa_results

    console.quiet_libraries()
    load_all(extra_metric)
    if predictions:
        if model:
            raise UsageError("give --model (run the model) or --predictions (score a file), not both")
        preds = of.read_predictions(predictions)
        probs = of.read_na_probs(na_probs) if na_probs else None
        if Path(data).suffix.lower() == ".json" and limit is None:
            from bertkit.qa.squad_metrics import load_squad_json

            try:
                gold = load_squad_json(data)
            except Exception:
                gold = _gold_for_file(data, limit, bool(skip_bad_rows))[1]
        else:
            gold = _gold_for_file(data, limit, bool(skip_bad_rows))[1]
        res = squad_evaluate(gold, preds, na_probs=probs, na_prob_thresh=na_prob_thresh)
        write_document({**res, **qa_results(extra_metric, gold, preds, na_probs=probs)}, format)
        return
    if na_probs:
        raise UsageError("--na-probs goes with --predictions; a model computes its own")
    if not model:
        raise UsageError("give --model (a folder from `bertkit qa train`) or --predictions (a predictions.json to score)")

    from bertkit.qa import postprocess as pp
    from bertkit.qa.api import QA

    qa = _load(model, batch_size, null_threshold, threads, allow_pickle, bf16)
    d, gold = _gold_for_file(data, limit, bool(skip_bad_rows))
    if d.skipped:
        console.warn(f"{data}: skipped {d.skipped} bad row(s), e.g. {d.skip_reasons[0]}")
    v2 = _allow_null(qa.version_2, d.has_impossible, null, data)
    console.log(f"answering {len(d)} questions with {qa!r}")
    preds = qa.predict(d.examples)
    res = {**pp.evaluate(gold, preds, v2, qa.null_threshold), **qa_results(extra_metric, gold, preds, v2, qa.null_threshold)}
    if output_dir:
        texts, nbest, na = pp.official_files(preds, v2, qa.null_threshold, qa.n_best)
        written = of.write_official_files(output_dir, texts, nbest, na)
        console.log("wrote " + ", ".join(str(p) for p in written.values())
                    + (f"; the official script reproduces these scores with --na-prob-thresh {qa.null_threshold}" if na else ""))
    write_document(res, format)


def _allow_null(model_v2: bool, data_has_unanswerable: bool, null: Optional[bool], data: str) -> bool:
    """Whether eval lets the model answer '': --null/--no-null, else a v2.0 model on v2.0 data only."""
    from bertkit import console

    if null is not None:
        return bool(null)
    if model_v2 and not data_has_unanswerable:
        console.log(f"{data} has no unanswerable questions (SQuAD v1.1): the v2.0 model answers every question "
                    "with its best span; --null lets it answer '' at its null threshold")
        return False
    return model_v2


def _load(model, batch_size, null_threshold, threads, allow_pickle, bf16=None, null=None):
    from bertkit.defaults import PREDICT_BATCH_SIZE
    from bertkit.modeling import set_threads
    from bertkit.qa.api import QA

    set_threads(threads)
    # null: qa ask --null/--no-null overrides the model's version_2 (eval decides per dataset, see _allow_null)
    return QA(model, batch_size=batch_size or PREDICT_BATCH_SIZE, null_threshold=null_threshold, version_2=null,
              allow_pickle=bool(allow_pickle), bf16=bool(bf16))


def _record(qa, pred, top_k: int) -> dict[str, Any]:
    answers = qa.format(pred, top_k)
    best = answers[0]
    rec = {"answer": best["answer"], "score": best["score"], "start": best["start"] if best["answer"] else None,
           "end": best["end"] if best["answer"] else None, "no_answer": not best["answer"]}
    if top_k > 1:
        rec["alternatives"] = answers[1:]
    return rec


def _read_jsonl(stream, source: str) -> Iterator[tuple[int, dict]]:
    from bertkit.data.io import iter_jsonl
    from bertkit.errors import BertkitError

    for n, obj in iter_jsonl(stream, source, "a JSON object with question and context"):
        for k in ("question", "context"):
            if not isinstance(obj.get(k), str) or not obj[k].strip():
                raise BertkitError(f"{source}:{n}: needs a non-empty {k!r} string")
        yield n, obj


@app.command("ask")
def ask_cmd(
    model: Annotated[str, typer.Option("--model", "-m", help="A model folder from `bertkit qa train` (or any *ForQuestionAnswering folder / hub id).")],
    question: Annotated[Optional[str], typer.Option("--question", "-q", help="The question. Without it: JSONL (question, context, ...) on stdin or --input.")] = None,
    context: Annotated[Optional[str], typer.Option("--context", help="The text to find the answer in.")] = None,
    context_file: Annotated[Optional[str], typer.Option("--context-file", help="Read the context from this text file.")] = None,
    input: Annotated[Optional[str], typer.Option("--input", "-i", help="Batch mode: a JSONL file (default: stdin).")] = None,
    top_k: Annotated[int, typer.Option("--top-k", "-k", help="Also give the next best answers (alternatives).")] = 1,
    null_threshold: NullThreshold = None,
    null: Annotated[Optional[bool], typer.Option("--null/--no-null", help="v2.0 models answer 'no answer' when the null wins (--null, the default); --no-null always gives the best span.", rich_help_panel=_Q)] = None,
    batch_size: o.BatchSizePredict = None,
    bf16: o.Bf16 = None,
    threads: o.Threads = None,
    allow_pickle: o.AllowPickle = None,
    format: o.FormatOpt = Format.jsonl,
) -> None:
    """Answer a question from a context (any length: long contexts are windowed), or a JSONL batch in input order."""
    from bertkit import console
    from bertkit.defaults import PREDICT_CHUNK_ROWS
    from bertkit.errors import UsageError
    from bertkit.formats import write_records
    from bertkit.qa.data import QAExample

    console.quiet_libraries()
    if top_k < 1:
        raise UsageError(f"--top-k must be at least 1, not {top_k}")
    if question is not None:
        if input:
            raise UsageError("give --question (one question) or --input (a JSONL batch), not both")
        if (context is None) == (context_file is None):
            raise UsageError("give the context with --context TEXT or --context-file FILE (one of them)")
        if context_file:
            p = Path(context_file)
            if not p.is_file():
                raise UsageError(f"{context_file}: context file not found")
            context = p.read_text(encoding="utf-8")
        if not question.strip() or not context.strip():
            raise UsageError("--question and the context must not be empty")
        qa = _load(model, batch_size, null_threshold, threads, allow_pickle, bf16, null)
        pred = qa.predict([QAExample("0", question.strip(), context)])[0]
        write_records([_record(qa, pred, top_k)], format)
        return
    if context is not None or context_file is not None:
        raise UsageError("--context/--context-file need --question; for a batch, send JSONL lines with question and context")
    if input is None and sys.stdin.isatty():
        raise UsageError("give --question and --context, or JSONL lines (question, context) on stdin or with --input")
    qa = _load(model, batch_size, null_threshold, threads, allow_pickle, bf16, null)
    source = input or "<stdin>"
    if input and not Path(input).is_file():
        raise UsageError(f"{input}: file not found")
    stream = open(input, encoding="utf-8") if input else sys.stdin

    def records() -> Iterator[dict]:
        chunk: list[dict] = []

        def flush():
            preds = qa.predict([QAExample(str(i), r["question"].strip(), r["context"]) for i, r in enumerate(chunk)])
            for r, p in zip(chunk, preds):
                yield {**r, **_record(qa, p, top_k)}

        for _, row in _read_jsonl(stream, source):
            chunk.append(row)
            if len(chunk) >= PREDICT_CHUNK_ROWS:
                yield from flush()
                chunk = []
        if chunk:
            yield from flush()

    try:
        write_records(records(), format)
    finally:
        if input:
            stream.close()
