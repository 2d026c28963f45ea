"""Tokenized-once features and length-aware batching.

Training batches come from shuffled length buckets: indices are shuffled, cut
into buckets of `bucket_size` batches, each bucket is sorted by length and cut
into batches, and the batch order is shuffled again. Padding stays small while
every epoch still sees a random order. Inference batches are simply sorted.
"""

from __future__ import annotations

from typing import Any, Iterable, Sequence

import numpy as np
import torch


class Features:
    """Columnar, unpadded features: `columns[name][i]` is row i (a list of ids, or a scalar/array)."""

    def __init__(self, columns: dict[str, list], lengths: Sequence[int] | None = None, meta: dict | None = None):
        sizes = {len(v) for v in columns.values()}
        if len(sizes) > 1:
            raise ValueError(f"feature columns differ in length: { {k: len(v) for k, v in columns.items()} }")
        self.columns = columns
        self.n = sizes.pop() if sizes else 0
        if lengths is None:
            lengths = [len(x) for x in columns["input_ids"]]
        self.lengths = np.asarray(lengths, dtype=np.int64)
        self.meta = meta or {}

    def __len__(self) -> int:
        return self.n

    def __getitem__(self, i: int) -> dict[str, Any]:
        return {k: v[i] for k, v in self.columns.items()}

    def rows(self, idx: Iterable[int]) -> list[dict[str, Any]]:
        return [self[i] for i in idx]

    def select(self, idx: Sequence[int]) -> "Features":
        return Features({k: [v[i] for i in idx] for k, v in self.columns.items()}, self.lengths[list(idx)], self.meta)


def bucket_batches(lengths: np.ndarray, batch_size: int, seed: int, epoch: int, bucket_size: int = 64) -> list[list[int]]:
    rng = np.random.default_rng([seed, epoch])
    idx = rng.permutation(len(lengths))
    span = max(1, batch_size * bucket_size)
    batches: list[list[int]] = []
    for s in range(0, len(idx), span):
        chunk = idx[s : s + span]
        chunk = chunk[np.argsort(-lengths[chunk], kind="stable")]
        batches += [chunk[b : b + batch_size].tolist() for b in range(0, len(chunk), batch_size)]
    order = rng.permutation(len(batches))
    return [batches[i] for i in order]


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


class BatchList(torch.utils.data.Sampler):
    """A batch sampler over precomputed batches; `set_epoch` reshuffles the buckets."""

    def __init__(self, lengths: np.ndarray, batch_size: int, seed: int = 0, bucket_size: int = 64, shuffle: bool = True):
        self.lengths, self.batch_size, self.seed, self.bucket_size, self.shuffle = lengths, batch_size, seed, bucket_size, shuffle
        self.epoch = 0
        self._batches = self._make()

    def _make(self) -> list[list[int]]:
        if self.shuffle:
            return bucket_batches(self.lengths, self.batch_size, self.seed, self.epoch, self.bucket_size)
        return sorted_batches(self.lengths, self.batch_size)

    def set_epoch(self, epoch: int) -> None:
        if epoch != self.epoch:
            self.epoch = epoch
            self._batches = self._make()

    def __iter__(self):
        return iter(self._batches)

    def __len__(self) -> int:
        return len(self._batches)


def pad_collate(rows: list[dict[str, Any]], pad_id: int, seq_keys: Sequence[str] = ("input_ids", "token_type_ids", "attention_mask")) -> dict[str, torch.Tensor]:
    """Pad sequence columns to the longest row in the batch; stack everything else.

    `attention_mask` is built from the lengths when absent. Keys whose value is None are dropped.
    """
    longest = max(len(r["input_ids"]) for r in rows)
    n = len(rows)
    out: dict[str, torch.Tensor] = {}
    ids = np.full((n, longest), pad_id, dtype=np.int64)
    mask = np.zeros((n, longest), dtype=np.int64)
    for i, r in enumerate(rows):
        L = len(r["input_ids"])
        ids[i, :L] = r["input_ids"]
        mask[i, :L] = 1
    out["input_ids"] = torch.from_numpy(ids)
    out["attention_mask"] = torch.from_numpy(mask)
    for k in rows[0]:
        if k in ("input_ids", "attention_mask") or rows[0][k] is None:
            continue
        if k in seq_keys:
            arr = np.zeros((n, longest), dtype=np.int64)
            for i, r in enumerate(rows):
                arr[i, : len(r[k])] = r[k]
            out[k] = torch.from_numpy(arr)
        else:
            vals = [r[k] for r in rows]
            out[k] = torch.as_tensor(np.asarray(vals))
    return out
