"""The settings of `bertkit ner train` (on top of the shared TrainConfig) and their checks."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from bertkit.defaults import Check, TrainConfig, UsageError

NER_METRICS = ("f1", "precision", "recall", "f1_macro", "accuracy")
SCHEME_CHOICES = ("auto", "IOB2", "IOB1", "BIOES", "BILOU", "plain")

RULES: dict[str, Check] = {
    "metric": Check("str", choices=NER_METRICS, optional=True),
    "stride": Check("int", lo=0, hint="tokens shared by consecutive windows, below --max-length (default 32)"),
    "label_all_subtokens": Check("bool"),
    "tag_col": Check("int", lo=0, optional=True, hint="the tag's column, 0-based (default: the last)"),
    "label_names": Check("str", optional=True),
    "scheme": Check("str", choices=SCHEME_CHOICES),
    "strict": Check("bool"),
    # inference only
    "aggregate": Check("str", choices=("first", "average", "max")),
}


@dataclass
class NERConfig(TrainConfig):
    TASK: ClassVar[str] = "ner"
    TASK_RULES: ClassVar[dict[str, Check]] = RULES

    stride: int = 32  # sub-tokens shared by consecutive windows of a sentence longer than max_length
    label_all_subtokens: bool = False  # train every sub-token (B- continued as I-), not only a word's first
    tag_col: int | None = None  # the tag's column in CoNLL files (0-based); None: the last
    label_names: str | None = None  # names of integer tag ids (JSON): 'O,B-PER,I-PER' or a file, one a line
    scheme: str = "auto"  # auto (detected and logged) | IOB2 | IOB1 | BIOES | BILOU | plain
    strict: bool = False  # entity metrics in strict mode (well-formed spans only) instead of conlleval's

    def check_together(self) -> None:
        if self.stride >= self.max_length - 2:
            raise UsageError(f"--stride {self.stride} must be below --max-length {self.max_length} minus the 2 "
                             "special tokens; e.g. --stride 32 with --max-length 128")
