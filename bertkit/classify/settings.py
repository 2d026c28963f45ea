"""The settings of `bertkit classify train` (on top of the shared TrainConfig) and their checks."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from bertkit.defaults import Check, TrainConfig

CLASSIFY_METRICS = ("accuracy", "f1", "f1_macro", "f1_micro", "f1_weighted", "precision", "recall", "roc_auc",
                    "subset_accuracy", "hamming_loss")

RULES: dict[str, Check] = {
    "metric": Check("str", choices=CLASSIFY_METRICS, optional=True),
    "text_col": Check("str", optional=True), "text_pair_col": Check("str", optional=True),
    "label_col": Check("str", optional=True),
    "problem_type": Check("str", choices=("binary", "multiclass", "multilabel"), optional=True),
    "label_sep": Check("str"),
    "label_names": Check("str", optional=True),
    "class_weights": Check("str", choices=("auto", "none")),
    "tune_thresholds": Check("bool"),
    "header": Check("bool", optional=True),
    "long_text": Check("str", choices=("truncate", "window")),
    "stride": Check("int", lo=0, hint="tokens shared by consecutive windows, below --max-length (default 32)"),
    "aggregate": Check("str", choices=("mean", "max")),
    # inference only
    "threshold": Check("float", lo=0, hi=1, optional=True),
}


@dataclass
class ClassifyConfig(TrainConfig):
    TASK: ClassVar[str] = "classify"
    TASK_RULES: ClassVar[dict[str, Check]] = RULES

    text_col: str | None = None  # a name, a position (0, 1, ...) or names joined by commas (title,body)
    text_pair_col: str | None = None
    label_col: str | None = None
    problem_type: str | None = None  # binary | multiclass | multilabel; None: detect from labels
    label_sep: str = ","
    label_names: str | None = None  # 'neg,pos', '1=World,2=Sports', or a file with one name (or value=name) per line
    class_weights: str = "none"  # auto | none
    tune_thresholds: bool = True
    header: bool | None = None  # CSV/TSV header row; None: detect
    long_text: str = "truncate"  # truncate | window (windows of max_length overlapping by stride)
    stride: int = 32  # tokens shared by consecutive windows (--long-text window)
    aggregate: str = "mean"  # mean | max of a row's window logits
