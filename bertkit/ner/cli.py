"""`bertkit ner`: token classification (train, eval, predict). Thin: logic lives in bertkit.ner."""

from __future__ import annotations

from typing import Annotated, Optional

import typer

from bertkit.cli import options as o
from bertkit.cli.errors import BertkitCommand, BertkitGroup
from bertkit.errors import UsageError
from bertkit.formats import Format
from bertkit.ner.settings import NERConfig, NERUse
from bertkit.ner.spec import SPEC

app = typer.Typer(cls=BertkitGroup, help=SPEC.help, no_args_is_help=True)

TagCol = o.option(NERConfig, "tag_col")
LabelNames = o.option(NERConfig, "label_names")
ModelDir = Annotated[str, typer.Option(
    "--model", "-m", help="A model folder trained by bertkit (or any HF token classifier).")]
Aggregate = o.option(NERUse, "aggregate")
Decode = Annotated[Optional[str], typer.Option(  # checked against NERConfig.decode's declaration (bertkit.ner.predict)
    "--decode", help="How tags are read from the word probabilities: viterbi | argmax (see ner train --decode). "
    "\\[default: as the model was trained; viterbi for other folders]")]
_DATA = ("Tagged data: CoNLL columns (token ... tag), JSON/JSONL with tokens + tags, Parquet/CSV with list columns, or "
         "NAME[:CONFIG]\\[#SPLIT] of a Hugging Face dataset.")
FORMATS = ("jsonl", "json", "table", "conll")


o.train_command(app, SPEC,
                "Fine-tune a token classifier (NER, POS) and save a Hugging Face *ForTokenClassification folder.")


@app.command("eval", cls=BertkitCommand)
def eval_cmd(
    model: ModelDir,
    data: Annotated[str, typer.Option("--data", "-d", help=_DATA)],
    tag_col: TagCol = None, label_names: LabelNames = None,
    limit: Annotated[Optional[int], typer.Option("--limit", help="Score only the first N sentences.")] = None,
    strict: Annotated[Optional[bool], typer.Option(
        "--strict/--conlleval", help="Strict entity matching instead of conlleval's. "
        "\\[default: as the model was trained]")] = None,
    aggregate: Aggregate = None, decode: Decode = None, batch_size: o.BatchSizePredict = None, fast: o.Fast = None,
    fmt: o.FormatOpt = Format.json,
    allow_pickle: o.AllowPickle = None, trust_remote_code: o.TrustRemoteCode = None, extra_metric: o.ExtraMetric = None,
) -> None:
    """Score a model on tagged data: entity P/R/F1 (micro, macro, per type) or token accuracy, as JSON on stdout."""
    from bertkit.formats import write_metrics
    from bertkit.ner.evaluate import evaluate_file

    res = evaluate_file(model, data, tag_col=tag_col, label_names=label_names, limit=limit, batch_size=batch_size,
                        aggregate=aggregate or "first", fast=bool(fast), allow_pickle=bool(allow_pickle),
                        trust_remote_code=bool(trust_remote_code), strict=strict, extra_metrics=extra_metric,
                        decode=decode)
    write_metrics(res, fmt, title=f"ner eval: {data}")


@app.command("predict", cls=BertkitCommand)
def predict_cmd(
    model: ModelDir,
    input: Annotated[str, typer.Argument(
        help="Plain text (one text a line), JSONL (a text or tokens field) or CoNLL (tokens in the first column); "
        "'-' for stdin.")] = "-",
    input_format: Annotated[Optional[str], typer.Option(
        "--input-format", help="text | jsonl | conll. \\[default: from the suffix (.conll, .iob, .tsv ...: conll), "
        "else text]")] = None,
    aggregate: Aggregate = None, decode: Decode = None, batch_size: o.BatchSizePredict = None, bf16: o.Bf16 = None,
    fast: o.Fast = None,
    fmt: Annotated[str, typer.Option(
        "--format", "-f", help="jsonl | json | table | conll (token<TAB>tag lines, blank line between sentences; needs "
        "CoNLL or JSONL tokens input).")] = "jsonl",
    allow_pickle: o.AllowPickle = None, trust_remote_code: o.TrustRemoteCode = None,
) -> None:
    """Tag texts: entities with exact character offsets as JSONL on stdout, in input order (streams)."""
    from bertkit.formats import write_records
    from bertkit.ner.predict import Tagger, input_format_of, predict_stream, write_conll

    if fmt not in FORMATS:
        raise UsageError(f"--format must be one of {', '.join(FORMATS)}, not {fmt!r}")
    if fmt == "conll" and input_format_of(input, input_format) == "text":
        raise UsageError("--format conll needs pre-split input (CoNLL, or JSONL with tokens); use --format jsonl")
    tagger = Tagger(model, batch_size=batch_size, aggregate=aggregate or "first", bf16=bool(bf16), fast=bool(fast),
                    allow_pickle=bool(allow_pickle), trust_remote_code=bool(trust_remote_code), decode=decode)
    records = predict_stream(tagger, input, input_format=input_format)
    if fmt == "conll":
        write_conll(records)
    else:
        write_records(records, Format(fmt))
