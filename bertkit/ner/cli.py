"""`bertkit ner`: token classification (train, eval, predict). Thin: logic lives in bertkit.ner."""

from __future__ import annotations

from typing import Annotated, Optional

import typer

from bertkit.cli import options as o
from bertkit.cli.errors import BertkitCommand, BertkitGroup
from bertkit.cli.options import dflt
from bertkit.errors import UsageError
from bertkit.formats import Format
from bertkit.ner.settings import NERConfig
from bertkit.ner.spec import SPEC

app = typer.Typer(cls=BertkitGroup, help=SPEC.help, no_args_is_help=True)

_D, _T = "Data", "Training"
TagCol = Annotated[Optional[int], typer.Option("--tag-col", help="CoNLL column of the tag, 0-based. \\[default: the last column]", rich_help_panel=_D)]
LabelNames = Annotated[Optional[str], typer.Option("--label-names", help="Names of integer tag ids (JSON/Parquet): 'O,B-PER,I-PER,...' or a file with one name a line. \\[default: a dataset's ClassLabel names]", rich_help_panel=_D)]
ModelDir = Annotated[str, typer.Option("--model", "-m", help="A model folder trained by bertkit (or any HF token classifier).")]
Aggregate = Annotated[Optional[str], typer.Option("--aggregate", help="A word's score from its sub-tokens: first | average | max. \\[default: first]")]
_DATA = "Tagged data: CoNLL columns (token ... tag), JSON/JSONL with tokens + tags, Parquet/CSV with list columns, or NAME[:CONFIG]\\[#SPLIT] of a Hugging Face dataset."
FORMATS = ("jsonl", "json", "table", "conll")


@app.command("train", cls=BertkitCommand)
def train_cmd(
    model: o.Model = None,
    train: Annotated[Optional[str], typer.Option("--train", help=f"Training data. {_DATA} \\[required, here or in --config]", rich_help_panel=_D)] = None,
    dev: o.Dev = None, output_dir: o.OutputDir = None, config: o.Config = None,
    tag_col: TagCol = None, label_names: LabelNames = None,
    scheme: Annotated[Optional[str], typer.Option("--scheme", help=f"Tag scheme: auto (detected, said in the log) | IOB2 | IOB1 | BIOES | BILOU | plain (scored by token accuracy); IOB1 trains as IOB2, BILOU as BIOES. {dflt(NERConfig, 'scheme')}", rich_help_panel=_D)] = None,
    label_all_subtokens: Annotated[Optional[bool], typer.Option("--label-all-subtokens/--first-subtoken", help="Train every sub-token of a word (B- continued as I-), not only the first. \\[default: --first-subtoken]", rich_help_panel=_T)] = None,
    stride: Annotated[Optional[int], typer.Option("--stride", help=f"Sub-tokens shared by consecutive windows of a sentence longer than --max-length (training, evaluation and prediction; each word is scored in the window where it has the most context). {dflt(NERConfig, 'stride')}", rich_help_panel=_D)] = None,
    strict: Annotated[Optional[bool], typer.Option("--strict/--conlleval", help="Entity metrics in strict mode (well-formed spans only) instead of conlleval's reading (an I- after O opens an entity). \\[default: --conlleval]", rich_help_panel=_T)] = None,
    max_length: o.MaxLength = None, epochs: o.Epochs = None, batch_size: o.BatchSize = None, eval_batch_size: o.EvalBatchSize = None,
    lr: o.Lr = None, weight_decay: o.WeightDecay = None, warmup_ratio: o.WarmupRatio = None, grad_accum: o.GradAccum = None,
    max_grad_norm: o.MaxGradNorm = None, seed: o.Seed = None, mixed_precision: o.MixedPrecision = None,
    eval_steps: o.EvalSteps = None, patience: o.Patience = None,
    metric: Annotated[Optional[str], typer.Option("--metric", help="Dev metric for model selection and early stopping: f1 | precision | recall | f1_macro | accuracy. \\[default: f1 (entity micro F1); accuracy for plain tags]", rich_help_panel=_T)] = None,
    limit: Annotated[Optional[int], typer.Option("--limit", help="Use only the first N training sentences.", rich_help_panel=_D)] = None,
    dev_limit: Annotated[Optional[int], typer.Option("--dev-limit", help="Use only the first N dev sentences.", rich_help_panel=_D)] = None,
    threads: o.Threads = None, compile: o.Compile = None, attn: o.Attn = None, overwrite: o.Overwrite = None,
    save_steps: o.SaveSteps = None, save_total_limit: o.SaveTotalLimit = None,
    keep_checkpoints: o.KeepCheckpoints = None, resume: o.Resume = None,
    report_to: o.ReportTo = None, log_every: o.LogEvery = None,
    trust_remote_code: o.TrustRemoteCode = None, allow_pickle: o.AllowPickle = None,
) -> None:
    """Fine-tune a token classifier (NER, POS) and save a Hugging Face *ForTokenClassification folder."""
    given = o.overrides(locals())
    from bertkit.defaults import build_config
    from bertkit.formats import write_document
    from bertkit.ner.train import train as run

    cfg = build_config(NERConfig, config, given)
    summary = run(cfg)
    if summary is not None:  # the main process prints; the others of a multi-process run return None
        write_document(summary, Format.json)


@app.command("eval", cls=BertkitCommand)
def eval_cmd(
    model: ModelDir,
    data: Annotated[str, typer.Option("--data", "-d", help=_DATA)],
    tag_col: TagCol = None, label_names: LabelNames = None,
    limit: Annotated[Optional[int], typer.Option("--limit", help="Score only the first N sentences.")] = None,
    strict: Annotated[Optional[bool], typer.Option("--strict/--conlleval", help="Strict entity matching instead of conlleval's. \\[default: as the model was trained]")] = None,
    aggregate: Aggregate = None, batch_size: o.BatchSizePredict = None, fast: o.Fast = None,
    fmt: o.FormatOpt = Format.json,
    allow_pickle: o.AllowPickle = None, trust_remote_code: o.TrustRemoteCode = None, extra_metric: o.ExtraMetric = None,
) -> None:
    """Score a model on tagged data: entity P/R/F1 (micro, macro, per type) or token accuracy, as JSON on stdout."""
    from bertkit.formats import write_document
    from bertkit.ner.evaluate import evaluate_file

    res = evaluate_file(model, data, tag_col=tag_col, label_names=label_names, limit=limit, batch_size=batch_size,
                        aggregate=aggregate or "first", fast=bool(fast), allow_pickle=bool(allow_pickle),
                        trust_remote_code=bool(trust_remote_code), strict=strict, extra_metrics=extra_metric)
    if fmt == Format.table:
        res = {k: v for k, v in res.items() if not isinstance(v, (dict, list)) or k == "extra_metrics"}
    write_document(res, fmt, title=f"ner eval: {data}")


@app.command("predict", cls=BertkitCommand)
def predict_cmd(
    model: ModelDir,
    input: Annotated[str, typer.Argument(help="Plain text (one text a line), JSONL (a text or tokens field) or CoNLL (tokens in the first column); '-' for stdin.")] = "-",
    input_format: Annotated[Optional[str], typer.Option("--input-format", help="text | jsonl | conll. \\[default: from the suffix (.conll, .iob, .tsv ...: conll), else text]")] = None,
    aggregate: Aggregate = None, batch_size: o.BatchSizePredict = None, bf16: o.Bf16 = None, fast: o.Fast = None,
    fmt: Annotated[str, typer.Option("--format", "-f", help="jsonl | json | table | conll (token<TAB>tag lines, blank line between sentences; needs CoNLL or JSONL tokens input).")] = "jsonl",
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
                    allow_pickle=bool(allow_pickle), trust_remote_code=bool(trust_remote_code))
    records = predict_stream(tagger, input, input_format=input_format)
    if fmt == "conll":
        write_conll(records)
    else:
        write_records(records, Format(fmt))
