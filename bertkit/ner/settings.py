"""The settings of `bertkit ner` (on top of the shared TrainConfig), each declared once (bertkit.settings)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from bertkit.defaults import TrainConfig
from bertkit.settings import Check, Checked, SettingError, new_default, setting

NER_METRICS = ("f1", "precision", "recall", "f1_macro", "accuracy")
SCHEME_CHOICES = ("auto", "IOB2", "IOB1", "BIOES", "BILOU", "plain")
DECODES = ("viterbi", "argmax")  # bertkit.ner.decode
_D, _T = "Data", "Training"
_HIDDEN_STR = Check("str", optional=True)


@dataclass
class NERConfig(TrainConfig):
    TASK: ClassVar[str] = "ner"

    # chosen on WNUT-17 dev with the packaged MiniLM (docs/commands/ner.md#defaults): 3 epochs at 5e-5 (the Hugging
    # Face example's) gave entity F1 42.7, 5 epochs at 1e-4 gave 56.1 (seed 42; never measured on test)
    epochs: float = new_default(TrainConfig, "epochs", 5.0)
    lr: float = new_default(TrainConfig, "lr", 1e-4)
    train: str | None = setting(None, check=_HIDDEN_STR, panel=_D,
                                help="Training data: CoNLL columns (token ... tag; blank lines between sentences), "
                                     "JSON/JSONL with tokens + tags, Parquet/CSV with list columns, or "
                                     "NAME[:CONFIG]\\[#SPLIT] of a Hugging Face dataset (tokens, ner_tags). "
                                     "\\[required, here or in --config]")
    metric: str | None = setting(None, check=Check("str", choices=NER_METRICS, optional=True), panel=_T,
                                 help="Dev metric for model selection and early stopping: f1 | precision | recall | "
                                      "f1_macro | accuracy. \\[default: f1 (entity micro F1); accuracy for plain tags]")
    tag_col: int | None = setting(None, check=Check("int", lo=0, optional=True, hint="the tag's column, 0-based"),
                                  panel=_D, help="CoNLL column of the tag, 0-based. \\[default: the last column]")
    label_names: str | None = setting(None, check=_HIDDEN_STR, panel=_D,
                                      help="Names of integer tag ids (JSON/Parquet): 'O,B-PER,I-PER,...' or a file "
                                           "with one name a line. \\[default: a dataset's ClassLabel names]")
    scheme: str = setting("auto", check=Check("str", choices=SCHEME_CHOICES), panel=_D,
                          help="Tag scheme: auto (detected, said in the log) | IOB2 | IOB1 | BIOES | BILOU | plain "
                               "(scored by token accuracy); IOB1 trains as IOB2, BILOU as BIOES. {default}")
    label_all_subtokens: bool = setting(False, check=Check("bool"), panel=_T,
                                        flags=("--label-all-subtokens/--first-subtoken",),
                                        help="Train every sub-token of a word (B- continued as I-), not only the "
                                             "first. \\[default: --first-subtoken]")
    decode: str = setting("viterbi", check=Check("str", choices=DECODES), panel=_T,
                          help="Tags from the word probabilities: viterbi (the most likely sequence the tag scheme "
                               "allows: no I-X after O or after another type) or argmax (each word's most likely tag, "
                               "as transformers' pipeline). Used for dev scores and model selection, and by ner "
                               "eval/predict unless given there. {default}")
    strict: bool = setting(False, check=Check("bool"), panel=_T, flags=("--strict/--conlleval",),
                           help="Entity metrics in strict mode (well-formed spans only) instead of conlleval's "
                                "reading (an I- after O opens an entity). \\[default: --conlleval]")
    stride: int = setting(32, check=Check("int", lo=0, hint="sub-tokens shared by consecutive windows, below "
                                                            "--max-length (default 32)"), panel=_D, last=True,
                          help="Sub-tokens shared by consecutive windows of a sentence longer than --max-length "
                               "(training, evaluation and prediction; each word is scored in the window where it "
                               "has the most context). {default}")
    # the tokenization cache is classify's and qa's (Arrow files); ner tokenizes in memory: no options
    cache_dir: str | None = setting(None, check=_HIDDEN_STR)
    no_cache: bool = setting(False, check=Check("bool"))
    num_proc: int = setting(1, check=Check("int", lo=1))

    def check_together(self) -> None:
        if self.stride >= self.max_length - 2:
            raise SettingError("stride", f"{self.stride} must be below --max-length {self.max_length} minus the 2 "
                                         "special tokens; e.g. --stride 32 with --max-length 128")


@dataclass
class NERUse(Checked):
    """Settings of `ner eval` / `predict` only."""

    aggregate: str = setting("first", check=Check("str", choices=("first", "average", "max")),
                             help="A word's score from its sub-tokens: first | average | max. {default}")
