"""Classification data: finding the text/label columns and turning labels into ids.

Problem types:
- binary: two classes, one logit, sigmoid + BCE (saved as a two-logit softmax head);
- multiclass: softmax + cross-entropy;
- multilabel: one sigmoid per label + BCE; labels are lists or delimiter-separated strings ("3,27").
"""

from __future__ import annotations

import ast
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Sequence

import numpy as np

from bertkit.defaults import LABEL_COLUMNS, PAIR_COLUMNS, TEXT_COLUMNS
from bertkit.errors import BertkitError

if TYPE_CHECKING:  # pandas is imported by whoever reads tables; `classify predict` never needs it
    import pandas as pd

PROBLEM_TYPES = ("binary", "multiclass", "multilabel")


@dataclass
class LabelSpace:
    problem_type: str
    names: list[str]  # id -> name

    @property
    def num_labels(self) -> int:
        return len(self.names)

    @property
    def num_logits(self) -> int:
        return 1 if self.problem_type == "binary" else len(self.names)


def _find(df: pd.DataFrame, given: str | None, candidates: Sequence[str], what: str, option: str, src: str) -> str | None:
    if given:
        if given not in df.columns:
            raise BertkitError(f"{src}: no column {given!r} ({option}); columns are: {', '.join(df.columns)}")
        return given
    lower = {c.lower(): c for c in df.columns}
    for c in candidates:
        if c in lower:
            return lower[c]
    return None


def _is_number(x: Any) -> bool:
    try:
        float(x)
        return True
    except (TypeError, ValueError):
        return False


def detect_columns(df: pd.DataFrame, src: str, text_col=None, pair_col=None, label_col=None, need_label=True) -> tuple[str, str | None, str | None]:
    """(text, pair, label) column names; headerless files fall back to shape-based guesses."""
    if df.empty:
        raise BertkitError(f"{src}: no rows")
    text = _find(df, text_col, TEXT_COLUMNS, "text", "--text-col", src)
    pair = _find(df, pair_col, PAIR_COLUMNS, "text pair", "--text-pair-col", src) if (pair_col or text) else None
    label = _find(df, label_col, LABEL_COLUMNS, "label", "--label-col", src)
    sample = df.head(2000)
    if text is None:  # the column with the longest non-numeric strings
        scores = {c: sample[c].astype(str).str.len().mean() for c in df.columns
                  if c not in (label, pair) and not sample[c].map(_is_number).all()}
        if not scores:
            raise BertkitError(f"{src}: could not find a text column; name it with --text-col (columns: {', '.join(df.columns)})")
        text = max(scores, key=scores.get)
    if label is None and need_label:  # the remaining column with the fewest distinct values
        rest = [c for c in df.columns if c not in (text, pair)]
        if not rest:
            raise BertkitError(f"{src}: could not find a label column; name it with --label-col (columns: {', '.join(df.columns)})")
        label = min(rest, key=lambda c: sample[c].astype(str).nunique())
    return text, pair, label


def _split(value: Any, sep: str) -> list[str]:
    if isinstance(value, (list, tuple, np.ndarray)):
        return [str(v).strip() for v in value]
    s = str(value).strip()
    if s.startswith("[") and s.endswith("]"):
        try:
            return [str(v).strip() for v in ast.literal_eval(s)]
        except (ValueError, SyntaxError):
            pass
    return [p.strip() for p in s.split(sep) if p.strip()] if s else []


def _int_like(values: Sequence[str]) -> bool:
    return all(v.lstrip("-").isdigit() for v in values)


def read_label_names(spec: str | None) -> list[str] | None:
    if not spec:
        return None
    p = Path(spec)
    if p.is_file():
        names = [ln.strip() for ln in p.read_text(encoding="utf-8").splitlines() if ln.strip()]
    else:
        names = [n.strip() for n in spec.split(",") if n.strip()]
    if len(set(names)) != len(names):
        raise BertkitError(f"--label-names: names must be unique ({spec})")
    return names


def infer_label_space(raw: pd.Series, src: str, problem_type: str | None, sep: str, label_names: list[str] | None) -> LabelSpace:
    """Decide problem type and label names from the training labels."""
    if problem_type and problem_type not in PROBLEM_TYPES:
        raise BertkitError(f"--problem-type must be one of {', '.join(PROBLEM_TYPES)}, not {problem_type!r}")
    is_list = raw.map(lambda v: isinstance(v, (list, tuple, np.ndarray))).any()
    as_str = raw.map(lambda v: v if isinstance(v, (list, tuple, np.ndarray)) else str(v).strip())
    multi = is_list or as_str.map(lambda v: not isinstance(v, (list, tuple, np.ndarray)) and sep in v).any()
    ptype = problem_type or ("multilabel" if multi else None)
    if ptype == "multilabel":
        values = sorted({x for v in raw for x in _split(v, sep)})
    else:
        bad = as_str[as_str.map(lambda v: isinstance(v, (list, tuple, np.ndarray)) or v == "")]
        if len(bad):
            raise BertkitError(f"{src}: row {bad.index[0] + 1}: empty or list label for a single-label problem")
        values = sorted(set(as_str))
    if not values:
        raise BertkitError(f"{src}: no labels found")
    if label_names:
        names = list(label_names)
        if _int_like(values):
            hi = max(int(v) for v in values)
            if hi >= len(names) or min(int(v) for v in values) < 0:
                raise BertkitError(f"{src}: label id {hi} has no name in --label-names ({len(names)} names)")
        else:
            missing = [v for v in values if v not in names]
            if missing:
                raise BertkitError(f"{src}: labels {missing[:5]} are not in --label-names")
    elif _int_like(values):
        ints = sorted(int(v) for v in values)
        if ints[0] < 0:
            raise BertkitError(f"{src}: negative label id {ints[0]}; use ids 0..K-1 or string labels")
        names = [str(i) for i in range(ints[-1] + 1)]
    else:
        names = values
    if ptype is None:
        ptype = "binary" if len(names) == 2 else "multiclass"
    if len(names) < 2:
        raise BertkitError(f"{src}: only one label ({names[0]!r}) in the data; classification needs at least two")
    if ptype == "binary" and len(names) != 2:
        raise BertkitError(f"{src}: --problem-type binary needs exactly 2 labels, found {len(names)}")
    return LabelSpace(ptype, names)


def encode_labels(raw: pd.Series, space: LabelSpace, src: str, sep: str) -> np.ndarray:
    """int ids (binary/multiclass) or a 0/1 matrix (multilabel)."""
    index = {n: i for i, n in enumerate(space.names)}

    def one(v: Any, row: int) -> int:
        s = str(v).strip()
        if s in index:
            return index[s]
        if s.lstrip("-").isdigit() and 0 <= int(s) < space.num_labels:
            return int(s)
        raise BertkitError(f"{src}: row {row + 1}: unknown label {s!r}; known labels: {', '.join(space.names[:20])}")

    if space.problem_type == "multilabel":
        y = np.zeros((len(raw), space.num_labels), dtype=np.float32)
        for r, v in enumerate(raw):
            for x in _split(v, sep):
                y[r, one(x, r)] = 1.0
        return y
    return np.asarray([one(v, r) for r, v in enumerate(raw)], dtype=np.int64)


def texts(df: pd.DataFrame, col: str, src: str) -> list[str]:
    s = df[col]
    empty = s.isna() | (s.astype(str).str.strip() == "")
    if empty.any():
        raise BertkitError(f"{src}: row {int(np.argmax(empty.values)) + 1}: empty text in column {col!r}; remove the row or fill it")
    return s.astype(str).tolist()
