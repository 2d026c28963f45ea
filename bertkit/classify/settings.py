"""The settings of `bertkit classify` (on top of the shared TrainConfig), each declared once (bertkit.settings)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from bertkit.defaults import TrainConfig
from bertkit.settings import Check, Checked, setting

CLASSIFY_METRICS = ("accuracy", "f1", "f1_macro", "f1_micro", "f1_weighted", "precision", "recall", "roc_auc",
                    "subset_accuracy", "hamming_loss")

_COLS = "A name, a position (0, 1, ...: headerless files name their columns col0, col1, ...)"
_D, _T, _S = "Data", "Training", "Data at scale"
_OPT_STR = Check("str", optional=True)


@dataclass
class ClassifyConfig(TrainConfig):
    TASK: ClassVar[str] = "classify"

    metric: str | None = setting(None, check=Check("str", choices=CLASSIFY_METRICS, optional=True), panel=_T,
                                 help="Dev metric for model selection and threshold tuning. \\[default: accuracy; "
                                      "f1_macro for multi-label]")
    text_col: str | None = setting(None, check=_OPT_STR, panel=_D, help=f"Text column. {_COLS} or names joined by "
                                                                        "commas (title,body: the texts joined by a "
                                                                        "space). \\[default: detected: text, sentence, "
                                                                        "...; for a model, the one it was trained on]")
    text_pair_col: str | None = setting(None, check=_OPT_STR, panel=_D,
                                        help=f"Second text column for sentence pairs. {_COLS}. \\[default: detected: "
                                             "sentence2, hypothesis, ...]")
    label_col: str | None = setting(None, check=_OPT_STR, panel=_D,
                                    help=f"Label column. {_COLS}. \\[default: detected: label, labels, ...]")
    header: bool | None = setting(None, check=Check("bool", optional=True), panel=_D, flags=("--header/--no-header",),
                                  help="CSV/TSV has a header row. \\[default: detected]")
    problem_type: str | None = setting(None, check=Check("str", choices=("binary", "multiclass", "multilabel"),
                                                         optional=True),
                                       panel=_D, help="binary | multiclass | multilabel. \\[default: "
                                                      "detected from the labels]")
    label_sep: str = setting(",", check=Check("str"), panel=_D,
                             help="Separator of multi-label strings such as '3,27'. {default}")
    label_names: str | None = setting(None, check=_OPT_STR, panel=_D, help="Label names: 'neg,pos' (for labels 0, 1), "
                                                                           "a mapping '1=World,2=Sports', or a file "
                                                                           "with one name (or LABEL=NAME) per line. "
                                                                           "\\[default: the labels as written]")
    class_weights: str = setting("none", check=Check("str", choices=("auto", "none")), panel=_T,
                                 help="auto (balanced) | none. {default}")
    tune_thresholds: bool = setting(True, check=Check("bool"), panel=_T,
                                    flags=("--tune-thresholds/--no-tune-thresholds",),
                                    help="Tune decision thresholds on dev (binary, multi-label). "
                                         "\\[default: --tune-thresholds]")
    long_text: str = setting("truncate", check=Check("str", choices=("truncate", "window")), panel=_S, last=True,
                             help="Rows longer than --max-length: truncate (default), or window: windows of "
                                  "--max-length overlapping by --stride tokens; training labels every window, "
                                  "prediction and evaluation aggregate a row's windows (saved in bertkit.json).")
    stride: int = setting(32, check=Check("int", lo=0,
                                          hint="tokens shared by consecutive windows, below --max-length (default 32)"),
                          panel=_S, last=True,
                          help="Tokens shared by consecutive windows with --long-text window (default 32).")
    aggregate: str = setting("mean", check=Check("str", choices=("mean", "max")), panel=_S, last=True,
                             help="How a row's window logits combine with --long-text window: mean (default) or max.")


@dataclass
class ClassifyUse(Checked):
    """Settings of `classify eval` / `predict` only (the others they share are ClassifyConfig's)."""

    threshold: float | None = setting(None, check=Check("float", lo=0, hi=1, optional=True),
                                      help="Override the decision threshold, 0 to 1 (binary / every label). "
                                           "\\[default: the model's tuned threshold]")
