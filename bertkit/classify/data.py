"""Classification data: finding the text/label columns and turning labels into ids.

Problem types:
- binary: two classes, one logit, sigmoid + BCE (saved as a two-logit softmax head);
- multiclass: softmax + cross-entropy;
- multilabel: one sigmoid per label + BCE; labels are lists or delimiter-separated strings ("3,27").

Labels are the set observed in the training data, sorted (numbers by value) and mapped to ids 0..K-1; their
names are the values as written unless --label-names names them ('neg,pos' for ids 0, 1 or '1=World,2=Sports').
Columns are found by name, by position (`--text-col 1`; headerless files name theirs col0, col1, ...) or joined
(`--text-col title,body`: the texts joined by defaults.TEXT_JOIN_SEPARATOR, a space).
"""

from __future__ import annotations

import ast
import math
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Sequence

import numpy as np

from bertkit.data.columns import column_list, find_column, resolve_column
from bertkit.defaults import LABEL_COLUMNS, PAIR_COLUMNS, TEXT_COLUMNS
from bertkit.errors import BertkitError, UsageError

if TYPE_CHECKING:  # pandas is imported by whoever reads tables; `classify predict` never needs it
    import pandas as pd

PROBLEM_TYPES = ("binary", "multiclass", "multilabel")


@dataclass
class LabelSpace:
    problem_type: str
    names: list[str]  # id -> name
    values: list[str] | None = None  # id -> the label as written in the data (None: the names are what is written)

    @property
    def num_labels(self) -> int:
        return len(self.names)

    @property
    def num_logits(self) -> int:
        return 1 if self.problem_type == "binary" else len(self.names)


def _is_number(x: Any) -> bool:
    try:
        float(x)
        return True
    except (TypeError, ValueError):
        return False


def detect_columns(df: pd.DataFrame, src: str, text_col=None, pair_col=None, label_col=None,
                   need_label=True) -> tuple[str, str | None, str | None]:
    """(text, pair, label) column names; headerless files fall back to shape-based guesses."""
    if df.empty:
        raise BertkitError(f"{src}: no rows")
    text = find_column(df, text_col, TEXT_COLUMNS, "--text-col", src)
    pair = find_column(df, pair_col, PAIR_COLUMNS, "--text-pair-col", src) if (pair_col or text) else None
    label = find_column(df, label_col, LABEL_COLUMNS, "--label-col", src)
    sample = df.head(2000)
    if text is None:  # the column with the longest non-numeric strings
        scores = {c: sample[c].astype(str).str.len().mean() for c in df.columns
                  if c not in (label, pair) and not sample[c].map(_is_number).all()}
        if not scores:
            raise BertkitError(f"{src}: could not find a text column; name it with --text-col (columns: "
                               f"{column_list(df.columns)})")
        text = max(scores, key=scores.get)
    if label is None and need_label:  # the remaining column with the fewest distinct values
        rest = [c for c in df.columns if c not in (text, pair) and "," not in str(c)]
        if not rest:
            raise BertkitError(f"{src}: could not find a label column; name it with --label-col (columns: "
                               f"{column_list(df.columns)})")
        varied = [c for c in rest if sample[c].astype(str).nunique() > 1] or rest  # a constant column labels nothing
        label = min(varied, key=lambda c: sample[c].astype(str).nunique())
    return text, pair, label


def _split(value: Any, sep: str) -> list[str]:
    if isinstance(value, (list, tuple, np.ndarray)):
        return [_canon(v) for v in value]
    s = str(value).strip()
    if s.startswith("[") and s.endswith("]"):
        try:
            parsed = ast.literal_eval(s)
            if isinstance(parsed, (list, tuple)):
                return [_canon(v) for v in parsed]
        except (ValueError, SyntaxError, TypeError, MemoryError, RecursionError):
            pass
    return [_canon(p) for p in s.split(sep) if p.strip()] if s else []


def _canon(v: Any) -> str:
    """A label as text: 3, 3.0 and ' 3' are all '3'."""
    if isinstance(v, (float, np.floating)) and math.isfinite(v) and float(v).is_integer():
        return str(int(v))
    s = str(v).strip()
    if s.lstrip("-").isdigit() and len(s.lstrip("-")) < 19:
        return str(int(s))
    return s


def _missing(v: Any) -> bool:
    if v is None or (isinstance(v, (float, np.floating)) and not math.isfinite(v)):
        return True
    return isinstance(v, str) and v.strip().lower() in ("nan", "")


def _int_like(values: Sequence[str]) -> bool:
    return bool(values) and all(v.lstrip("-").isdigit() for v in values)


def _int_sorted(values: set[str]) -> list[str]:
    return sorted(values, key=int) if _int_like(list(values)) else sorted(values)


def read_label_names(spec: str | None) -> list[str] | dict[str, str] | None:
    """--label-names: 'neg,pos' (names of ids 0, 1, ... or of string labels), '1=World,2=Sports' (label = name),
    or a file with one name (or label=name) per line. A dict (label → name) for the mapping form."""
    if not spec:
        return None
    p = Path(spec)
    if p.is_file():
        try:
            items = [ln.strip() for ln in p.read_text(encoding="utf-8").splitlines() if ln.strip()]
        except UnicodeDecodeError:
            raise BertkitError(f"--label-names {spec}: not UTF-8 text; save it as UTF-8") from None
    else:
        items = [n.strip() for n in spec.split(",") if n.strip()]
    if not items:
        raise BertkitError(f"--label-names {spec!r}: no names; give 'neg,pos', '1=World,2=Sports' or a file")
    pairs = [x.partition("=") for x in items]
    if any(eq for _, eq, _ in pairs):
        bad = [x for x, (k, eq, v) in zip(items, pairs) if not (eq and k.strip() and v.strip())]
        if bad:
            raise BertkitError(f"--label-names: {bad[0]!r} is not LABEL=NAME; give every entry as LABEL=NAME "
                               "(1=World,2=Sports) or none")
        mapping = {_canon(k): v.strip() for k, _, v in pairs}
        names = list(mapping.values())
        if len(mapping) != len(pairs):
            raise BertkitError(f"--label-names: a label is named twice ({spec})")
    else:
        names, mapping = items, None
    if len(set(names)) != len(names):
        raise BertkitError(f"--label-names: names must be unique ({spec})")
    return mapping if mapping is not None else names


def _observed(raw: pd.Series, src: str, ptype: str | None, sep: str) -> list[str]:
    values: set[str] = set()
    for row, v in enumerate(raw.tolist()):
        if not isinstance(v, (list, tuple, np.ndarray)) and _missing(v):
            raise BertkitError(f"{src}: row {row + 1}: missing label ({v!r}); fill it in or remove the row")
        if ptype == "multilabel":
            values.update(_split(v, sep))
        elif isinstance(v, (list, tuple, np.ndarray)):
            raise BertkitError(f"{src}: row {row + 1}: a list label for a single-label problem; use "
                               "--problem-type multilabel")
        else:
            values.add(_canon(v))
    return _int_sorted(values)


def _names_for(values: list[str], label_names: list[str] | dict[str, str] | None,
               src: str) -> tuple[list[str], list[str]]:
    """(names, values) by id: the labels as observed unless --label-names names them."""
    if label_names is None:
        return list(values), list(values)
    if isinstance(label_names, dict):
        missing = [v for v in values if v not in label_names]
        if missing:
            raise BertkitError(f"{src}: label(s) {', '.join(missing[:5])} have no name in --label-names; "
                               "add them (LABEL=NAME)")
        return list(label_names.values()), list(label_names)
    names = list(label_names)
    if _int_like(values) and not set(values) <= set(names):
        ints = sorted(int(v) for v in values)
        if ints[0] < 0 or ints[-1] >= len(names):
            raise BertkitError(f"{src}: labels are "
                               f"{', '.join(values[:6])}{'...' if len(values) > 6 else ''} but --label-names "
                               f"gives {len(names)} names for ids 0..{len(names) - 1}; name each label instead, e.g. "
                               f"--label-names {','.join(f'{v}={n}' for v, n in zip(values, names))}")
        return names, [str(i) for i in range(len(names))]
    missing = [v for v in values if v not in names]
    if missing:
        raise BertkitError(f"{src}: labels {', '.join(missing[:5])} are not in --label-names; "
                           "is the label column right? (name it with --label-col)")
    return names, names


def infer_label_space(raw: pd.Series, src: str, problem_type: str | None, sep: str,
                      label_names: list[str] | dict[str, str] | None) -> LabelSpace:
    """Problem type and labels from the training labels: the set observed, sorted (numbers by value) and mapped to
    ids 0..K-1, named by the values themselves unless --label-names names them."""
    if problem_type and problem_type not in PROBLEM_TYPES:
        raise UsageError(f"--problem-type must be one of {', '.join(PROBLEM_TYPES)}, not {problem_type!r}")
    is_list = raw.map(lambda v: isinstance(v, (list, tuple, np.ndarray))).any()
    multi = is_list or raw.map(lambda v: isinstance(v, str) and sep in v).any()
    ptype = problem_type or ("multilabel" if multi else None)
    values = _observed(raw, src, ptype, sep)
    if not values:
        raise BertkitError(f"{src}: no labels found")
    if len(values) < 2 and ptype != "multilabel":
        raise BertkitError(f"{src}: every row has the label {values[0]!r}; classification needs at least two classes "
                           "in the training data")
    names, ids = _names_for(values, label_names, src)
    if len(names) < 2:
        raise BertkitError(f"{src}: only one label ({names[0]!r}); classification needs at least two")
    if ptype is None:
        ptype = "binary" if len(names) == 2 else "multiclass"
    if ptype == "binary" and len(names) != 2:
        raise UsageError(f"{src}: --problem-type binary needs exactly 2 labels, found {len(names)}")
    return LabelSpace(ptype, names, ids)


def values_from_metadata(meta: dict, names: list[str]) -> list[str] | None:
    """The labels as written in the training data, by id, for a model folder (see LabelSpace.values)."""
    if meta.get("label_values"):
        return [str(v) for v in meta["label_values"]]
    if meta.get("task") != "classify":
        return None
    spec = (meta.get("training_args") or {}).get("label_names")
    if not spec:
        return list(names)  # trained without --label-names: the names are the labels
    try:
        given = read_label_names(spec)
    except BertkitError:
        return None
    if isinstance(given, dict) and list(given.values()) == list(names):
        return list(given)
    return None  # a list of names: ids or the names themselves (see encode_labels)


def encode_labels(raw: pd.Series, space: LabelSpace, src: str, sep: str) -> np.ndarray:
    """int ids (binary/multiclass) or a 0/1 matrix (multilabel)."""
    index = {n: i for i, n in enumerate(space.names)}
    if space.values is not None:
        index.update({v: i for i, v in enumerate(space.values)})
    positional = space.values is None and not _int_like(space.names)

    def one(v: Any, row: int) -> int:
        if _missing(v):
            raise BertkitError(f"{src}: row {row + 1}: missing label ({v!r}); fill it in or remove the row")
        s = _canon(v)
        if s in index:
            return index[s]
        if positional and s.lstrip("-").isdigit() and 0 <= int(s) < space.num_labels:
            return int(s)
        raise BertkitError(f"{src}: row {row + 1}: unknown label {s!r}; known labels: "
                           f"{', '.join((space.values or space.names)[:20])}")

    if space.problem_type == "multilabel":
        y = np.zeros((len(raw), space.num_labels), dtype=np.float32)
        for r, v in enumerate(raw.tolist()):
            for x in _split(v, sep):
                y[r, one(x, r)] = 1.0
        return y
    return np.asarray([one(v, r) for r, v in enumerate(raw.tolist())], dtype=np.int64)


def texts(df: pd.DataFrame, col: str, src: str) -> list[str]:
    if col not in df.columns:
        col = resolve_column(df, col, "--text-col", src)
    s = df[col]
    empty = s.isna() | (s.astype(str).str.strip() == "")
    if empty.any():
        raise BertkitError(f"{src}: row {int(np.argmax(empty.values)) + 1}: empty text in column {col!r}; "
                           "remove the row or fill it")
    return s.astype(str).tolist()
