"""`bertkit classify`: sequence classification (train, eval, predict). Thin: logic lives in bertkit.classify."""

from __future__ import annotations

from typing import Annotated, Optional

import typer

from bertkit.classify.settings import ClassifyConfig, ClassifyUse
from bertkit.classify.spec import SPEC
from bertkit.cli import options as o
from bertkit.cli.errors import BertkitCommand, BertkitGroup
from bertkit.formats import Format

app = typer.Typer(cls=BertkitGroup, help=SPEC.help, no_args_is_help=True)

TextCol = o.option(ClassifyConfig, "text_col")
PairCol = o.option(ClassifyConfig, "text_pair_col")
LabelCol = o.option(ClassifyConfig, "label_col")
Header = o.option(ClassifyConfig, "header")
Threshold = o.option(ClassifyUse, "threshold")
ModelDir = Annotated[str, typer.Option(
    "--model", "-m", help="A model folder trained by bertkit (or any HF classifier).")]

o.train_command(app, SPEC, "Fine-tune a sequence classifier and save a Hugging Face model folder.")


@app.command("eval", cls=BertkitCommand)
def eval_cmd(
    model: ModelDir,
    data: Annotated[str, typer.Option(
        "--data", "-d", help="Labelled data: CSV/TSV/JSON/JSONL/Parquet or NAME[:CONFIG]\\[#SPLIT].")],
    text_col: TextCol = None, text_pair_col: PairCol = None, label_col: LabelCol = None, header: Header = None,
    threshold: Threshold = None,
    limit: Annotated[Optional[int], typer.Option("--limit", help="Score only the first N rows.")] = None,
    batch_size: o.BatchSizePredict = None, fast: o.Fast = None, fmt: o.FormatOpt = Format.json,
    allow_pickle: o.AllowPickle = None, trust_remote_code: o.TrustRemoteCode = None, extra_metric: o.ExtraMetric = None,
) -> None:
    """Score a model on labelled data: metrics as JSON on stdout (--format table for people)."""
    from bertkit.classify.evaluate import evaluate_file
    from bertkit.formats import write_metrics

    res = evaluate_file(model, data, text_col=text_col, pair_col=text_pair_col, label_col=label_col, header=header,
                        threshold=threshold, limit=limit, batch_size=batch_size, fast=bool(fast),
                        allow_pickle=bool(allow_pickle), trust_remote_code=bool(trust_remote_code),
                        extra_metrics=extra_metric)
    write_metrics(res, fmt, title=f"classify eval: {data}")


@app.command("predict", cls=BertkitCommand)
def predict_cmd(
    model: ModelDir,
    input: Annotated[str, typer.Argument(help="Plain text lines, JSONL (a text field) or CSV; '-' for stdin.")] = "-",
    input_format: Annotated[Optional[str], typer.Option(
        "--input-format", help="text | jsonl | csv. \\[default: from the suffix, or sniffed on stdin]")] = None,
    text_col: Annotated[Optional[str], typer.Option(
        "--text-col", help="Field holding the text in JSONL/CSV: a name, a position (0, 1, ...) or names joined by "
        "commas. \\[default: the model's training column when present, else text, sentence, ...]")] = None,
    text_pair_col: Annotated[Optional[str], typer.Option(
        "--text-pair-col", help="Field holding the second text of a pair. \\[default: the model's training pair column "
        "when present]")] = None,
    threshold: Threshold = None,
    all_scores: Annotated[bool, typer.Option("--all-scores", help="Add the probability of every label.")] = False,
    batch_size: o.BatchSizePredict = None, bf16: o.Bf16 = None, fast: o.Fast = None, fmt: o.FormatOpt = Format.jsonl,
    allow_pickle: o.AllowPickle = None, trust_remote_code: o.TrustRemoteCode = None,
) -> None:
    """Classify texts; JSONL on stdout in input order (streams: `cat x.txt | bertkit classify predict -m D`)."""
    from bertkit.classify.predict import Classifier, predict_stream
    from bertkit.formats import write_records

    clf = Classifier(model, batch_size=batch_size, threshold=threshold, bf16=bool(bf16), fast=bool(fast),
                     allow_pickle=bool(allow_pickle), trust_remote_code=bool(trust_remote_code))
    records = predict_stream(clf, input, input_format=input_format, text_col=text_col, pair_col=text_pair_col,
                             all_scores=all_scores)
    write_records(records, fmt)
