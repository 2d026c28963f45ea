"""What the training engine is told: its own settings, and errors that name settings without naming options.

The engine knows no command line and no task. `EngineSettings` holds what the loop needs (optimizer, schedule,
precision, batching, evaluation and checkpoint cadence); the training skeleton (`bertkit.train.engine_settings`)
fills it from the declared settings, where every default lives. `identity` is the part of the run the engine does
not use but a checkpoint must match to be resumed (model, data, limits...).

`SettingHint` is an error whose message names settings as `{name}`; it reads "`name`" in Python, and the CLI
words each as its option (`bertkit.cli.errors.worded`: "--name").
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any, Callable

from bertkit.errors import BertkitError, UsageError


@dataclass
class EngineSettings:
    epochs: float
    batch_size: int
    eval_batch_size: int
    lr: float
    weight_decay: float
    warmup_ratio: float
    grad_accum: int
    max_grad_norm: float  # 0: no clipping
    seed: int
    mixed_precision: str  # no | bf16 | fp16 | auto (resolved when the Accelerator is made)
    eval_steps: int | None  # None: at every epoch's end
    patience: int | None  # evaluations without improvement before stopping; None: never
    compile: bool
    bucket_size: int
    log_every: int
    save_steps: int | None  # a checkpoint every N steps (and at every epoch's end)
    keep: int  # checkpoints kept while training (the newest)
    report_to: str = "none"
    identity: dict[str, Any] = field(default_factory=dict)

    # settings that must be the same to continue a run exactly (others, such as save_steps or report_to, may change)
    RESUME_KEYS = ("epochs", "batch_size", "lr", "weight_decay", "warmup_ratio", "grad_accum", "max_grad_norm", "seed",
                   "mixed_precision", "bucket_size", "eval_steps", "patience")

    def fingerprint(self) -> dict[str, Any]:
        return {**self.identity, **{k: getattr(self, k) for k in self.RESUME_KEYS}}


_NAME = re.compile(r"\{([a-z_]+)\}")


class SettingHint(BertkitError):
    """An error whose message names settings as `{name}` (see the module doc)."""

    def __init__(self, template: str):
        self.template = template
        super().__init__(self.words(lambda n: f"`{n}`"))

    def words(self, word: Callable[[str], str]) -> str:
        return _NAME.sub(lambda m: word(m.group(1)), self.template)


class SettingUsageHint(SettingHint, UsageError):
    """A `SettingHint` about settings that do not fit together (exit code 2)."""
