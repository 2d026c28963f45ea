"""Tokenized-once features and length-aware batching.

The design, with its measurements: docs/design/engine.md#batches.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Iterable

import numpy as np
import torch


class Features:
    """Columnar, unpadded features: `columns[name][i]` is row i (a list of ids, or a scalar/array).

    `items`: what each row adds to the training loss's denominator, when that is not one per row (token
    classification: its labelled tokens); the engine divides a step's summed loss by the epoch's mean items a global
    batch (`ShardedBucketSampler.window_items`)."""

    def __init__(self, columns: dict[str, list], lengths: Sequence[int] | None = None, meta: dict | None = None,
                 items: Sequence[float] | None = None):
        sizes = {len(v) for v in columns.values()}
        if len(sizes) > 1:
            raise ValueError(f"feature columns differ in length: { {k: len(v) for k, v in columns.items()} }")
        self.columns = columns
        self.n = sizes.pop() if sizes else 0
        if lengths is None:
            lengths = [len(x) for x in columns["input_ids"]]
        self.lengths = np.asarray(lengths, dtype=np.int64)
        self.meta = meta or {}
        self.items = None if items is None else np.asarray(items, dtype=np.float64)

    def __len__(self) -> int:
        return self.n

    def __getitem__(self, i: int) -> dict[str, Any]:
        return {k: v[i] for k, v in self.columns.items()}

    def rows(self, idx: Iterable[int]) -> list[dict[str, Any]]:
        return [self[i] for i in idx]

    def select(self, idx: Sequence[int]) -> "Features":
        items = None if self.items is None else self.items[list(idx)]
        return Features({k: [v[i] for i in idx] for k, v in self.columns.items()}, self.lengths[list(idx)], self.meta,
                        items)


class EpochPlan(Sequence):
    """An epoch's batches as two arrays: the row order (int32, 4 bytes a row) and where each batch starts.

    `plan[b]` is batch b's rows (an int32 array view); a Python list of lists would cost ~36 bytes a row.
    """

    def __init__(self, order: np.ndarray, starts: np.ndarray):
        self.order, self.starts = order, starts  # starts has one more entry than there are batches

    def __len__(self) -> int:
        return len(self.starts) - 1

    def __getitem__(self, b):
        if isinstance(b, slice):
            return [self[i] for i in range(*b.indices(len(self)))]
        if b < 0:
            b += len(self)
        if not 0 <= b < len(self):
            raise IndexError(b)
        return self.order[self.starts[b] : self.starts[b + 1]]

    def tolist(self) -> list[list[int]]:
        return [self[b].tolist() for b in range(len(self))]

    def __eq__(self, other) -> bool:
        other = other.tolist() if isinstance(other, EpochPlan) else other
        return self.tolist() == other


def bucket_batches(lengths: np.ndarray, batch_size: int, seed: int, epoch: int, bucket_size: int = 64) -> EpochPlan:
    """Shuffle, cut into buckets of `bucket_size` batches, sort each bucket by length (longest first), cut into
    batches, shuffle the batch order, and put the batch with the longest row first (as the Trainer's length-grouped
    sampler does: the peak memory of the epoch is reached at its first step, not hours in). Vectorised: the memory
    is two int arrays whatever the number of rows."""
    lengths = np.asarray(lengths)
    n = len(lengths)
    rng = np.random.default_rng([seed, epoch])
    idx = rng.permutation(np.arange(n, dtype=np.int32))  # the same draws as permutation(n), 4 bytes a row
    span = max(1, batch_size * bucket_size)
    for s in range(0, n, span):  # within each bucket: longest first, ties in shuffled order
        chunk = idx[s : s + span]
        idx[s : s + span] = chunk[np.argsort(-lengths[chunk], kind="stable")]
    starts = [np.arange(s, min(s + span, n), batch_size) for s in range(0, n, span)]
    starts = np.concatenate(starts or [np.zeros(0, np.int64)])
    ends = np.append(starts[1:], n)
    order = rng.permutation(len(starts))
    if len(order):  # the batch holding the longest row goes first: peak memory is reached (or OOM shows) at step 1
        first = int(np.flatnonzero(order == int(np.argmax(lengths[idx[starts]])))[0])
        order[[0, first]] = order[[first, 0]]
    out_starts = np.concatenate([[0], np.cumsum(ends[order] - starts[order])]).astype(np.int64)
    plan = np.empty(n, dtype=np.int32)
    for k, b in enumerate(order.tolist()):
        plan[out_starts[k] : out_starts[k + 1]] = idx[starts[b] : ends[b]]
    return EpochPlan(plan, out_starts)


def sorted_batches(lengths: np.ndarray, batch_size: int, max_tokens: int | None = None) -> list[list[int]]:
    """Longest first, so a memory problem shows at once; optionally capped by padded tokens per batch."""
    idx = np.argsort(-np.asarray(lengths), kind="stable")
    if not max_tokens:
        return [idx[s : s + batch_size].tolist() for s in range(0, len(idx), batch_size)]
    batches, cur, cur_max = [], [], 0
    for i in idx.tolist():
        m = max(cur_max, int(lengths[i]))
        if cur and (len(cur) >= batch_size or m * (len(cur) + 1) > max_tokens):
            batches.append(cur)
            cur, m = [], int(lengths[i])
        cur.append(i)
        cur_max = m
    if cur:
        batches.append(cur)
    return batches


def pad_collate(rows: list[dict[str, Any]], pads: Mapping[str, int]) -> dict[str, torch.Tensor]:
    """Pad the sequence columns to the longest row in the batch; stack everything else.

    `pads`: the pad value of each sequence column (e.g. {"input_ids": tokenizer.pad_token_id, "token_type_ids": 0,
    "labels": -100} for per-token labels); a column not named there is stacked as is. `attention_mask` is built
    from the lengths of `input_ids`. Keys whose value is None are dropped.
    """
    longest = max(len(r["input_ids"]) for r in rows)
    n = len(rows)
    out: dict[str, torch.Tensor] = {}
    mask = np.zeros((n, longest), dtype=np.int64)
    for i, r in enumerate(rows):
        mask[i, : len(r["input_ids"])] = 1
    out["attention_mask"] = torch.from_numpy(mask)
    for k in ("input_ids", *(k for k in rows[0] if k != "input_ids")):
        if k == "attention_mask" or rows[0][k] is None:
            continue
        if k in pads:
            arr = np.full((n, longest), pads[k], dtype=np.int64)
            for i, r in enumerate(rows):
                arr[i, : len(r[k])] = r[k]
            out[k] = torch.from_numpy(arr)
        else:
            out[k] = torch.as_tensor(np.asarray([r[k] for r in rows]))
    return {"input_ids": out.pop("input_ids"), **out}
