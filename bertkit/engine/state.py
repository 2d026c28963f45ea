"""The explicit training state: everything the loop needs to continue exactly where it stopped.

Saved as `trainer_state.json` in every checkpoint (beside Accelerate's model, optimizer, scheduler and RNG
files); `TrainState.from_dict(state.to_dict())` round-trips.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

STATE_FILE = "trainer_state.json"


@dataclass
class TrainState:
    step: int = 0  # optimizer steps taken
    epoch: int = 0  # epochs completed
    batch_in_epoch: int = 0  # micro-batches of the current epoch already trained on
    batches_done: int = 0  # micro-batches over the whole run
    samples: int = 0  # training rows seen (every process together)
    tokens: int = 0  # real (non-pad) training tokens seen (every process together)
    train_seconds: float = 0.0
    best_metric: float | None = None
    best_loss: float | None = None  # the kept evaluation's dev loss (ties: bertkit.engine.selection)
    best_step: int | None = None
    bad_evals: int = 0  # evaluations since the best one (patience)
    loss_sum: float = 0.0  # training loss since the last evaluation: sum of batch means ...
    loss_count: int = 0  # ... and how many
    history: list[dict[str, Any]] = field(default_factory=list)  # log and evaluation records
    stopped_early: bool = False
    config: dict[str, Any] = field(default_factory=dict)  # the settings that must match on resume

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "TrainState":
        known = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in d.items() if k in known})

    def save(self, folder: Path) -> None:
        (folder / STATE_FILE).write_text(json.dumps(self.to_dict(), indent=1) + "\n")

    @classmethod
    def load(cls, folder: Path) -> "TrainState":
        return cls.from_dict(json.loads((folder / STATE_FILE).read_text()))

    @property
    def evaluations(self) -> list[dict[str, Any]]:
        return [r for r in self.history if r.get("kind") == "eval"]
