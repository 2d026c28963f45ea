"""`bertkit classify`: sequence classification (train, eval, predict). Thin: logic lives in bertkit.classify."""

from __future__ import annotations

from typing import Annotated, Optional

import typer

from bertkit.classify.settings import ClassifyConfig
from bertkit.classify.spec import SPEC
from bertkit.cli import options as o
from bertkit.cli.errors import BertkitCommand, BertkitGroup
from bertkit.cli.options import dflt
from bertkit.formats import Format

app = typer.Typer(cls=BertkitGroup, help=SPEC.help, no_args_is_help=True)

_COLS = "A name, a position (0, 1, ...: headerless files name their columns col0, col1, ...)"
TextCol = Annotated[Optional[str], typer.Option("--text-col", help=f"Text column. {_COLS} or names joined by commas (title,body: the texts joined by a space). \\[default: detected: text, sentence, ...; for a model, the one it was trained on]", rich_help_panel="Data")]
PairCol = Annotated[Optional[str], typer.Option("--text-pair-col", help=f"Second text column for sentence pairs. {_COLS}. \\[default: detected: sentence2, hypothesis, ...]", rich_help_panel="Data")]
LabelCol = Annotated[Optional[str], typer.Option("--label-col", help=f"Label column. {_COLS}. \\[default: detected: label, labels, ...]", rich_help_panel="Data")]
Header = Annotated[Optional[bool], typer.Option("--header/--no-header", help="CSV/TSV has a header row. \\[default: detected]", rich_help_panel="Data")]
Threshold = Annotated[Optional[float], typer.Option("--threshold", help="Override the decision threshold, 0 to 1 (binary / every label). \\[default: the model's tuned threshold]")]
ModelDir = Annotated[str, typer.Option("--model", "-m", help="A model folder trained by bertkit (or any HF classifier).")]


@app.command("train", cls=BertkitCommand)
def train_cmd(
    model: o.Model = None, train: o.Train = None, dev: o.Dev = None, output_dir: o.OutputDir = None,
    config: o.Config = None,
    text_col: TextCol = None, text_pair_col: PairCol = None, label_col: LabelCol = None, header: Header = None,
    problem_type: Annotated[Optional[str], typer.Option("--problem-type", help="binary | multiclass | multilabel. \\[default: detected from the labels]", rich_help_panel="Data")] = None,
    label_sep: Annotated[Optional[str], typer.Option("--label-sep", help=f"Separator of multi-label strings such as '3,27'. {dflt(ClassifyConfig, 'label_sep')}", rich_help_panel="Data")] = None,
    label_names: Annotated[Optional[str], typer.Option("--label-names", help="Label names: 'neg,pos' (for labels 0, 1), a mapping '1=World,2=Sports', or a file with one name (or LABEL=NAME) per line. \\[default: the labels as written]", rich_help_panel="Data")] = None,
    class_weights: Annotated[Optional[str], typer.Option("--class-weights", help=f"auto (balanced) | none. {dflt(ClassifyConfig, 'class_weights')}", rich_help_panel="Training")] = None,
    tune_thresholds: Annotated[Optional[bool], typer.Option("--tune-thresholds/--no-tune-thresholds", help="Tune decision thresholds on dev (binary, multi-label). \\[default: --tune-thresholds]", rich_help_panel="Training")] = None,
    max_length: o.MaxLength = None, epochs: o.Epochs = None, batch_size: o.BatchSize = None, eval_batch_size: o.EvalBatchSize = None,
    lr: o.Lr = None, weight_decay: o.WeightDecay = None, warmup_ratio: o.WarmupRatio = None, grad_accum: o.GradAccum = None,
    max_grad_norm: o.MaxGradNorm = None, seed: o.Seed = None, mixed_precision: o.MixedPrecision = None,
    eval_steps: o.EvalSteps = None, patience: o.Patience = None, metric: o.Metric = None, limit: o.Limit = None,
    dev_limit: o.DevLimit = None, threads: o.Threads = None, compile: o.Compile = None, attn: o.Attn = None, overwrite: o.Overwrite = None,
    save_steps: o.SaveSteps = None, save_total_limit: o.SaveTotalLimit = None,
    keep_checkpoints: o.KeepCheckpoints = None, resume: o.Resume = None,
    report_to: o.ReportTo = None, log_every: o.LogEvery = None,
    trust_remote_code: o.TrustRemoteCode = None, allow_pickle: o.AllowPickle = None,
    cache_dir: o.CacheDir = None, no_cache: o.NoCache = None, num_proc: o.NumProc = None,
    long_text: Annotated[Optional[str], typer.Option("--long-text", help="Rows longer than --max-length: truncate (default), or window: windows of --max-length overlapping by --stride tokens; training labels every window, prediction and evaluation aggregate a row's windows (saved in bertkit.json).", rich_help_panel=o._S)] = None,
    stride: Annotated[Optional[int], typer.Option("--stride", help="Tokens shared by consecutive windows with --long-text window (default 32).", rich_help_panel=o._S)] = None,
    aggregate: Annotated[Optional[str], typer.Option("--aggregate", help="How a row's window logits combine with --long-text window: mean (default) or max.", rich_help_panel=o._S)] = None,
) -> None:
    """Fine-tune a sequence classifier and save a Hugging Face model folder."""
    given = o.overrides(locals())
    from bertkit.classify.train import train as run
    from bertkit.defaults import build_config
    from bertkit.formats import write_document

    cfg = build_config(ClassifyConfig, config, given)
    summary = run(cfg)
    if summary is not None:  # the main process prints; the others of a multi-process run return None
        write_document(summary, Format.json)


@app.command("eval", cls=BertkitCommand)
def eval_cmd(
    model: ModelDir,
    data: Annotated[str, typer.Option("--data", "-d", help="Labelled data: CSV/TSV/JSON/JSONL/Parquet or NAME[:CONFIG]\\[#SPLIT].")],
    text_col: TextCol = None, text_pair_col: PairCol = None, label_col: LabelCol = None, header: Header = None,
    threshold: Threshold = None,
    limit: Annotated[Optional[int], typer.Option("--limit", help="Score only the first N rows.")] = None, batch_size: o.BatchSizePredict = None, fast: o.Fast = None, fmt: o.FormatOpt = Format.json,
    allow_pickle: o.AllowPickle = None, trust_remote_code: o.TrustRemoteCode = None, extra_metric: o.ExtraMetric = None,
) -> None:
    """Score a model on labelled data: metrics as JSON on stdout (--format table for people)."""
    from bertkit.classify.evaluate import evaluate_file
    from bertkit.formats import write_document

    res = evaluate_file(model, data, text_col=text_col, pair_col=text_pair_col, label_col=label_col, header=header,
                        threshold=threshold, limit=limit, batch_size=batch_size, fast=bool(fast),
                        allow_pickle=bool(allow_pickle), trust_remote_code=bool(trust_remote_code), extra_metrics=extra_metric)
    if fmt == Format.table:
        res = {k: v for k, v in res.items() if not isinstance(v, (dict, list)) or k == "extra_metrics"}
    write_document(res, fmt, title=f"classify eval: {data}")


@app.command("predict", cls=BertkitCommand)
def predict_cmd(
    model: ModelDir,
    input: Annotated[str, typer.Argument(help="Plain text lines, JSONL (a text field) or CSV; '-' for stdin.")] = "-",
    input_format: Annotated[Optional[str], typer.Option("--input-format", help="text | jsonl | csv. \\[default: from the suffix, or sniffed on stdin]")] = None,
    text_col: Annotated[Optional[str], typer.Option("--text-col", help="Field holding the text in JSONL/CSV: a name, a position (0, 1, ...) or names joined by commas. \\[default: the model's training column when present, else text, sentence, ...]")] = None,
    text_pair_col: Annotated[Optional[str], typer.Option("--text-pair-col", help="Field holding the second text of a pair. \\[default: the model's training pair column when present]")] = None,
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
