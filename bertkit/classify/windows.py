"""Long documents: `--long-text window` cuts a row into windows of `--max-length` tokens that overlap by `--stride`
tokens (as question answering does with its contexts); training labels every window with its row's label, and
prediction and evaluation aggregate a row's window logits (`--aggregate mean|max`).

With a text pair, the first text is windowed and the pair is repeated whole in every window. For a binary model the
aggregated score is the margin (one logit while training; logit 1 - logit 0 of the saved two-logit head: the same
number), so training-time evaluation, `classify predict` and `Classifier` decide alike.
"""

from __future__ import annotations

from typing import Any, Sequence

import numpy as np

from bertkit.engine.batching import Features
from bertkit.errors import BertkitError

AGGREGATES = ("mean", "max")


def check_stride(tokenizer, pairs: Sequence[str] | None, max_length: int, stride: int) -> None:
    """A window must advance: the stride has to be below the tokens left for the (first) text."""
    specials = int(tokenizer.num_special_tokens_to_add(pair=pairs is not None))
    longest_pair = max((len(x) for x in tokenizer(list(pairs), add_special_tokens=False)["input_ids"]),
                       default=0) if pairs else 0
    room = max_length - specials - longest_pair
    if stride >= room:
        raise BertkitError(f"--stride {stride} does not fit: windows of --max-length {max_length} leave "
                           f"{max(room, 0)} tokens "
                           f"for the text{' after the longest text pair' if pairs else ''}; use a --stride "
                           f"below {max(room, 1)}")


def featurize_windows(tokenizer, texts: Sequence[str], pairs: Sequence[str] | None, max_length: int, stride: int,
                      labels: np.ndarray | None = None, row_ids: Sequence[int] | None = None) -> tuple[Features, int]:
    """Windows of every row (columns input_ids, [token_type_ids], row, [labels]); and how many rows needed more than
    one window. `row_ids`: the row number of each text (default 0..n-1)."""
    if not getattr(tokenizer, "is_fast", False):
        raise BertkitError("--long-text window needs a fast tokenizer")
    check_stride(tokenizer, pairs, max_length, stride)
    use_tt = "token_type_ids" in tokenizer.model_input_names
    cols: dict[str, list] = {"input_ids": [], "row": []}
    if use_tt:
        cols["token_type_ids"] = []
    if labels is not None:
        cols["labels"] = []
    if len(texts) == 0:
        return Features(cols), 0
    enc = tokenizer(list(texts), list(pairs) if pairs is not None else None,
                    truncation="only_first" if pairs is not None else True,
                    max_length=max_length, stride=stride, return_overflowing_tokens=True, return_attention_mask=False,
                    return_token_type_ids=use_tt)
    mapping = list(enc["overflow_to_sample_mapping"])
    rows = list(row_ids) if row_ids is not None else list(range(len(texts)))
    cols["input_ids"] = list(enc["input_ids"])
    cols["row"] = [int(rows[m]) for m in mapping]
    if use_tt:
        cols["token_type_ids"] = list(enc["token_type_ids"])
    if labels is not None:
        cols["labels"] = [labels[m] for m in mapping]
    split = int((np.bincount(mapping, minlength=len(texts)) > 1).sum())
    return Features(cols), split


def aggregate_logits(logits: Any, rows: Any, how: str = "mean") -> tuple[np.ndarray, np.ndarray]:
    """(row ids in increasing order, one aggregated logit vector per row). Exactly order-independent: each row's
    values are sorted before they are summed, so any order of the windows gives the same bits."""
    if how not in AGGREGATES:
        raise BertkitError(f"--aggregate must be one of {', '.join(AGGREGATES)}, not {how!r}")
    x = np.asarray(logits, dtype=np.float64)
    x = x[:, None] if x.ndim == 1 else x
    rows = np.asarray(rows)
    uniq, inv = np.unique(rows, return_inverse=True)
    out = np.empty((len(uniq), x.shape[1]), dtype=np.float64)
    for j in range(x.shape[1]):
        order = np.lexsort((x[:, j], inv))
        vals, grp = x[order, j], inv[order]
        starts = np.flatnonzero(np.r_[True, grp[1:] != grp[:-1]])
        if how == "max":
            out[:, j] = np.maximum.reduceat(vals, starts)
        else:
            out[:, j] = np.add.reduceat(vals, starts) / np.diff(np.r_[starts, len(vals)])
    return uniq, out


def row_labels(labels: Sequence, rows: Sequence[int]) -> np.ndarray:
    """Each row's label (from its first window), in increasing row order."""
    rows = np.asarray(rows)
    _, first = np.unique(rows, return_index=True)
    return np.stack([np.asarray(labels[i]) for i in first]) if len(first) else np.zeros((0,))
