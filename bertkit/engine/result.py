"""What a training run gives back, and how it can stop early."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from bertkit.engine.inference import Outputs
from bertkit.errors import BertkitError


class NonFiniteLoss(BertkitError):
    """The loss or the gradient norm became NaN or infinite (the CLI adds which options to change)."""


class TrainingInterrupted(BertkitError):
    """SIGINT (exit 130) or SIGTERM (exit 143): a checkpoint was saved in `checkpoint`. The CLI adds the command
    that continues the run; `processes` > 1: the run was launched with several processes."""

    def __init__(self, message: str, signum: int, checkpoint: str | None, processes: int = 1):
        super().__init__(message)
        self.checkpoint, self.processes = checkpoint, processes
        self.exit_code = 128 + signum


@dataclass
class TrainResult:
    history: list[dict[str, Any]] = field(default_factory=list)  # evaluation records
    log_history: list[dict[str, Any]] = field(default_factory=list)  # loss / lr / grad-norm records
    best: dict[str, Any] | None = None  # the evaluation of the kept model
    best_outputs: Outputs | None = None  # its dev outputs (main process), for post-processing
    steps: int = 0
    epochs: float = 0.0
    train_seconds: float = 0.0
    train_samples: int = 0
    train_tokens: int = 0
    stopped_early: bool = False
    final_loss: float | None = None
    resumed_from: str | None = None

    @property
    def samples_per_second(self) -> float:
        return self.train_samples / self.train_seconds if self.train_seconds else 0.0

    def summary(self) -> dict[str, Any]:
        out = {
            "steps": self.steps,
            "epochs": round(self.epochs, 3),
            "train_seconds": round(self.train_seconds, 2),
            "train_samples_per_second": round(self.samples_per_second, 2),
            "train_tokens_per_second": round(self.train_tokens / self.train_seconds, 1) if self.train_seconds else 0.0,
            "final_loss": self.final_loss,
            "stopped_early": self.stopped_early,
        }
        if self.resumed_from:
            out["resumed_from"] = self.resumed_from
        return out
