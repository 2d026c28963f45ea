"""The settings of `bertkit qa train` (on top of the shared TrainConfig) and their checks."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from bertkit.defaults import Check, SettingError, TrainConfig

_POS_INT = Check("int", lo=1)

RULES: dict[str, Check] = {
    "metric": Check("str", choices=("f1",), optional=True),
    "doc_stride": Check("int", lo=1, hint="an overlap in tokens, below --max-length (default 128)"),
    "n_best": _POS_INT, "max_answer_length": _POS_INT,
    "allow_no_answer": Check("bool", optional=True), "skip_bad_rows": Check("bool"),
    # inference only
    "top_k": _POS_INT,
    "null_threshold": Check("float", optional=True),
    "na_prob_thresh": Check("float"),  # bertkit writes score differences, not probabilities
}


@dataclass
class QAConfig(TrainConfig):
    TASK: ClassVar[str] = "qa"
    TASK_RULES: ClassVar[dict[str, Check]] = RULES
    ALIASES: ClassVar[dict[str, str]] = {"version_2": "allow_no_answer"}  # a recipe key of SQuAD's scripts

    max_length: int = 384
    batch_size: int = 16
    eval_batch_size: int = 64
    epochs: float = 2.0
    doc_stride: int = 128
    n_best: int = 20
    max_answer_length: int = 30
    allow_no_answer: bool | None = None  # may answer "no answer" (SQuAD v2.0); None: when the data has unanswerable questions
    skip_bad_rows: bool = False

    def check_together(self) -> None:
        if self.doc_stride >= self.max_length:
            raise SettingError("doc_stride", f"{self.doc_stride} must be below --max-length {self.max_length}: "
                               "it is the overlap between windows of a long context (e.g. --doc-stride 128)")
