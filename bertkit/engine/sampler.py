"""Length-bucketed training batches, sharded by process so every process takes the same number of steps.

The design, with its measurements: docs/design/engine.md#batches.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from bertkit.engine.batching import EpochPlan, bucket_batches


@dataclass
class LocalBatch:
    rows: list[int]  # feature indices for this process
    weights: list[float]  # 1 for a real row, 0 for a filler
    global_rows: int  # real rows in the global batch (every process together)
    global_tokens: int  # their real (unpadded) tokens


class ShardedBucketSampler:
    def __init__(self, lengths: np.ndarray, batch_size: int, seed: int, bucket_size: int = 64,
                 num_processes: int = 1, process_index: int = 0, items: np.ndarray | None = None):
        self.lengths = np.asarray(lengths)
        self.items = None if items is None else np.asarray(items, dtype=np.float64)
        self.global_batch = batch_size * num_processes
        self._items_per_batch = None if self.items is None else float(self.items.sum()) / max(len(self), 1)
        self.seed, self.bucket_size = seed, bucket_size
        self.num_processes, self.process_index = num_processes, process_index
        self._cache: tuple[int, EpochPlan] | None = None

    def global_batches(self, epoch: int) -> EpochPlan:
        if self._cache is None or self._cache[0] != epoch:
            self._cache = (epoch, bucket_batches(self.lengths, self.global_batch, self.seed, epoch, self.bucket_size))
        return self._cache[1]

    def __len__(self) -> int:
        """Batches (steps before accumulation) per epoch; the same on every process."""
        n = len(self.lengths)
        return -(-n // self.global_batch) if n else 0

    def local(self, epoch: int, position: int) -> LocalBatch:
        """This process's part of global batch `position` of `epoch`."""
        gb = self.global_batches(epoch)[position]
        part = np.array_split(gb, self.num_processes)[self.process_index].tolist()
        tokens = int(self.lengths[gb].sum())
        if not part:
            return LocalBatch([int(gb[0])], [0.0], len(gb), tokens)
        return LocalBatch(part, [1.0] * len(part), len(gb), tokens)

    def window_items(self, epoch: int, start: int, end: int) -> float:
        """The loss's denominator for global batches start..end-1 of `epoch` (one accumulation window), the same on
        every process and computed without communication: the window's rows when the task counts no items (a row
        each), else the epoch's mean items a batch times the window's batches. So every item (a labelled token for
        token classification) weighs the same in every step of the epoch, whatever the lengths of the sentences its
        batch was grouped with: a batch's own count would make a token of a short-sentence batch weigh up to several
        times one of a long-sentence batch under length bucketing (docs/design/engine.md#the-loss-of-a-step)."""
        if self._items_per_batch is not None:
            return self._items_per_batch * (end - start)
        plan = self.global_batches(epoch)
        return float(sum(len(plan[b]) for b in range(start, end)))
