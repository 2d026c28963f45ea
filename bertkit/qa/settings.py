"""The settings of `bertkit qa` (on top of the shared TrainConfig), each declared once (bertkit.settings)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from bertkit.defaults import TrainConfig
from bertkit.settings import Check, Checked, SettingError, new_default, setting

_POS_INT = Check("int", lo=1)
_Q = "Question answering"


def saved_allow_no_answer(meta: dict) -> bool:
    """A model folder's bertkit.json: trained to answer "no answer"? (`version_2` in folders of bertkit 0.1.)"""
    return bool(meta.get("allow_no_answer", meta.get("version_2", False)))


def stride_problem(doc_stride: int, max_length: int) -> str | None:
    """Why a window overlap does not fit the window length (the one rule, for training and for inference)."""
    if doc_stride >= max_length:
        return f"{doc_stride} must be below the window length {max_length}"
    return None


@dataclass
class QAConfig(TrainConfig):
    TASK: ClassVar[str] = "qa"
    ALIASES: ClassVar[dict[str, str]] = {"version_2": "allow_no_answer"}  # a recipe key of SQuAD's scripts

    max_length: int = new_default(TrainConfig, "max_length", 384)
    batch_size: int = new_default(TrainConfig, "batch_size", 16)
    eval_batch_size: int = new_default(TrainConfig, "eval_batch_size", 64)
    epochs: float = new_default(TrainConfig, "epochs", 2.0)
    metric: str | None = setting(None, check=Check("str", choices=("f1",), optional=True))  # no option: always f1
    doc_stride: int = setting(128,
                              check=Check("int", lo=1, hint="an overlap in tokens, below --max-length (default 128)"),
                              panel=_Q, help="Overlap in tokens between the windows of a long context. {default}")
    n_best: int = setting(20, check=_POS_INT, panel=_Q, help="Start and end candidates per window. {default}")
    max_answer_length: int = setting(30, check=_POS_INT, panel=_Q, help="Longest answer in tokens. {default}")
    # may answer "no answer" (SQuAD v2.0); None: when the data has unanswerable questions
    allow_no_answer: bool | None = setting(None, check=Check("bool", optional=True), panel=_Q,
                                           flags=("--allow-no-answer/--always-answer",),
                                           help="Train a model that may answer 'no answer' (SQuAD v2.0), or one that "
                                                "always gives a span. \\[default: --allow-no-answer when the data has "
                                                "unanswerable questions]")
    skip_bad_rows: bool = setting(False, check=Check("bool"), panel=_Q,
                                  help="Skip (and count) rows whose answer_start does not match the answer text, "
                                       "instead of stopping.")

    def check_together(self) -> None:
        if stride_problem(self.doc_stride, self.max_length):
            raise SettingError("doc_stride", f"{self.doc_stride} must be below --max-length {self.max_length}: "
                               "it is the overlap between windows of a long context (e.g. --doc-stride 128)")


@dataclass
class QAUse(Checked):
    """Settings of `qa eval` / `qa ask` only (the others they share are QAConfig's)."""

    top_k: int = setting(1, check=_POS_INT, flags=("--top-k", "-k"),
                         help="Also give the next best answers (alternatives). {default}")
    null_threshold: float | None = setting(None, check=Check("float", optional=True), panel=_Q,
                                           help="Models that may answer 'no answer': answer '' when null score - best "
                                                "span score is above this. \\[default: the threshold tuned on dev, "
                                                "saved in bertkit.json]")
    # bertkit writes score differences, not probabilities
    na_prob_thresh: float = setting(1.0, check=Check("float"), help="With --predictions: no-answer score above which a "
                                                                    "prediction counts as no answer (the "
                                                                    "official script's default). {default}")
