"""Options shared by several commands, declared once.

Training options default to None ("not given") so that the real defaults live in
`bertkit.defaults` and a `--config` recipe can override them; `overrides(locals())`
keeps only what the user typed. Help texts show those defaults with `dflt`.
"""

from __future__ import annotations

from typing import Annotated, Any, List, Optional

import typer

from bertkit.defaults import PREDICT_BATCH_SIZE, SAVE_TOTAL_LIMIT, TrainConfig, default
from bertkit.formats import Format

_T = "Training"
_D = "Data"


def dflt(cls: type, name: str) -> str:
    """'(default: 5e-05)' for a config field, as the help texts show it."""
    v = default(cls, name)
    return f"\\[default: {v:g}]" if isinstance(v, float) else f"\\[default: {v}]"


def max_length(cls: type = TrainConfig):
    return Annotated[Optional[int], typer.Option("--max-length", help=f"Truncate inputs to this many tokens (at most the model's limit). {dflt(cls, 'max_length')}", rich_help_panel=_D)]


def epochs(cls: type = TrainConfig):
    return Annotated[Optional[float], typer.Option("--epochs", help=f"Training epochs (fractions allowed). {dflt(cls, 'epochs')}", rich_help_panel=_T)]


def batch_size(cls: type = TrainConfig):
    return Annotated[Optional[int], typer.Option("--batch-size", "-b", help=f"Training batch size per device. {dflt(cls, 'batch_size')}", rich_help_panel=_T)]


def eval_batch_size(cls: type = TrainConfig):
    return Annotated[Optional[int], typer.Option("--eval-batch-size", help=f"Batch size for evaluation. {dflt(cls, 'eval_batch_size')}", rich_help_panel=_T)]


_C = TrainConfig
Config = Annotated[Optional[str], typer.Option("--config", "-c", help="YAML recipe of overrides (`bertkit recipes list`); options given here win.", rich_help_panel=_T)]
Model = Annotated[Optional[str], typer.Option("--model", "-m", help="Local Hugging Face folder or hub id. \\[default: the packaged all-MiniLM-L6-v2]")]
Train = Annotated[Optional[str], typer.Option("--train", help="Training data: CSV/TSV/JSON/JSONL/Parquet file, or NAME[:CONFIG]\\[#SPLIT] of a Hugging Face dataset. \\[required, here or in --config]", rich_help_panel=_D)]
Dev = Annotated[Optional[str], typer.Option("--dev", help="Development data for evaluation each epoch, model selection and tuning.", rich_help_panel=_D)]
OutputDir = Annotated[Optional[str], typer.Option("--output-dir", "-o", help="Where to save the model (written whole at the end, or not at all). \\[required, here or in --config]")]
Lr = Annotated[Optional[float], typer.Option("--lr", help=f"Peak learning rate (AdamW). {dflt(_C, 'lr')}", rich_help_panel=_T)]
WeightDecay = Annotated[Optional[float], typer.Option("--weight-decay", help=f"AdamW weight decay (not on biases and norms). {dflt(_C, 'weight_decay')}", rich_help_panel=_T)]
WarmupRatio = Annotated[Optional[float], typer.Option("--warmup-ratio", help=f"Share of steps (0 to 1) with linear warmup, then linear decay. {dflt(_C, 'warmup_ratio')}", rich_help_panel=_T)]
GradAccum = Annotated[Optional[int], typer.Option("--grad-accum", help=f"Gradient accumulation steps. {dflt(_C, 'grad_accum')}", rich_help_panel=_T)]
MaxGradNorm = Annotated[Optional[float], typer.Option("--max-grad-norm", help=f"Gradient clipping norm (0: off). {dflt(_C, 'max_grad_norm')}", rich_help_panel=_T)]
Seed = Annotated[Optional[int], typer.Option("--seed", help=f"Random seed (runs on CPU are reproducible). {dflt(_C, 'seed')}", rich_help_panel=_T)]
MixedPrecision = Annotated[Optional[str], typer.Option("--mixed-precision", help=f"no | bf16 | fp16 | auto (bf16 where the hardware computes it natively: CPUs with avx512_bf16 or AMX, GPUs of compute capability >= 8.0; else no). fp16 needs a GPU. {dflt(_C, 'mixed_precision')}", rich_help_panel=_T)]
EvalSteps = Annotated[Optional[int], typer.Option("--eval-steps", help="Evaluate every N optimizer steps. \\[default: once per epoch]", rich_help_panel=_T)]
Patience = Annotated[Optional[int], typer.Option("--patience", help="Stop after N evaluations without improvement. \\[default: no early stopping]", rich_help_panel=_T)]
Metric = Annotated[Optional[str], typer.Option("--metric", help="Dev metric for model selection and threshold tuning. \\[default: accuracy; f1_macro for multi-label]", rich_help_panel=_T)]
Limit = Annotated[Optional[int], typer.Option("--limit", help="Use only the first N training rows.", rich_help_panel=_D)]
DevLimit = Annotated[Optional[int], typer.Option("--dev-limit", help="Use only the first N dev rows.", rich_help_panel=_D)]
Threads = Annotated[Optional[str], typer.Option("--threads", help="CPU threads for torch: a number, or auto (the physical cores free right now, load-aware). \\[default: the physical cores, shared by this machine's training processes, whatever the load: reproducible]", rich_help_panel=_T)]
_K = "Checkpoints and tracking"
LogEvery = Annotated[Optional[int], typer.Option("--log-every", help=f"Optimizer steps between logged training loss, learning rate and gradient norm (each costs one host sync). {dflt(_C, 'log_every')}", rich_help_panel=_K)]
SaveSteps = Annotated[Optional[int], typer.Option("--save-steps", help="Also save a checkpoint every N optimizer steps (one is saved at every epoch's end) in OUTPUT_DIR.run/.", rich_help_panel=_K)]
SaveTotalLimit = Annotated[Optional[int], typer.Option("--save-total-limit", help=f"Checkpoints kept, the newest; given, they are also kept when the run finishes. \\[default: {SAVE_TOTAL_LIMIT} while training, removed when the model folder is written]", rich_help_panel=_K)]
KeepCheckpoints = Annotated[Optional[bool], typer.Option("--keep-checkpoints", help="Keep the checkpoints in OUTPUT_DIR.run/ when the run finishes (by default they are removed once the model folder is written; interrupted or failed runs always keep them for --resume).", rich_help_panel=_K)]
Resume = Annotated[Optional[str], typer.Option("--resume", help="Continue a run: auto (the newest checkpoint in OUTPUT_DIR.run/, or start fresh) or a checkpoint folder.", rich_help_panel=_K)]
ReportTo = Annotated[Optional[str], typer.Option("--report-to", help=f"Tracker for loss, lr, gradient norm and dev metrics: tensorboard | wandb | mlflow | none. {dflt(_C, 'report_to')}", rich_help_panel=_K)]
Compile = Annotated[Optional[bool], typer.Option("--compile/--no-compile", help="torch.compile the model. \\[default: --no-compile]", rich_help_panel=_T)]
Attn = Annotated[Optional[str], typer.Option("--attn", help=f"Attention implementation: auto (SDPA where the architecture has it, else eager; said in the log) | sdpa | eager. {dflt(_C, 'attn')}", rich_help_panel=_T)]
Overwrite = Annotated[Optional[bool], typer.Option("--overwrite", help="Replace an existing, non-empty output folder.")]
TrustRemoteCode = Annotated[Optional[bool], typer.Option("--trust-remote-code", help="Allow code shipped with a model or tokenizer (folder or hub) to run. Off by default.")]
AllowPickle = Annotated[Optional[bool], typer.Option("--allow-pickle", help="Allow pickle (.bin) weights; safetensors only by default.")]

# the training options with the TrainConfig defaults (classify); qa passes QAConfig to the factories
MaxLength = max_length()
Epochs = epochs()
BatchSize = batch_size()
EvalBatchSize = eval_batch_size()
_S = "Data at scale"
CacheDir = Annotated[Optional[str], typer.Option("--cache-dir", help="Tokenization cache (default: $BERTKIT_CACHE_DIR, else $XDG_CACHE_HOME/bertkit or ~/.cache/bertkit). A second run on the same file, tokenizer and settings tokenizes nothing.", rich_help_panel=_S)]
NoCache = Annotated[Optional[bool], typer.Option("--no-cache", help="Tokenize into a temporary folder, removed at exit (the cache is neither read nor written).", rich_help_panel=_S)]
NumProc = Annotated[Optional[int], typer.Option("--num-proc", help="Processes tokenizing in parallel (default 1).", rich_help_panel=_S)]

# inference / output
FormatOpt = Annotated[Format, typer.Option("--format", "-f", help="Output format on stdout.")]
Bf16 = Annotated[Optional[bool], typer.Option("--bf16", help="Run the model under bf16 autocast: 1.4-1.7x faster measured on a CPU with avx512_bf16 (also AMX CPUs, recent GPUs); scores move by ~2e-4, so a label or answer near its threshold can change.")]
Fast = Annotated[Optional[bool], typer.Option("--fast", help="Run the fastest backend whose labels stay within 0.5 % of fp32 (CPU: ONNX Runtime with pip install 'bertkit[onnx]', the model exported once and cached, else bf16 autocast; GPU: bf16 autocast). Scores may move slightly; the default stays the PyTorch model in fp32.")]
ExtraMetric = Annotated[Optional[List[str]], typer.Option("--extra-metric", help="Also compute a Hugging Face `evaluate` metric: a hub name, or a local metric script or folder (offline). Repeatable. Needs pip install 'bertkit[evaluate]'.")]
BatchSizePredict = Annotated[Optional[int], typer.Option("--batch-size", "-b", help=f"Inference batch size. \\[default: {PREDICT_BATCH_SIZE}]")]


def overrides(params: dict[str, Any], exclude: tuple[str, ...] = ("config",)) -> dict[str, Any]:
    """The options the user actually gave (not None), ready for `defaults.build_config`."""
    return {k: v for k, v in params.items() if v is not None and k not in exclude}
