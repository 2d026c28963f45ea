"""The one training engine (an Accelerate loop) that every task plugs into."""

from bertkit.engine.batching import Features, bucket_batches, pad_collate, sorted_batches
from bertkit.engine.engine import Engine, TrainResult, seed_everything
from bertkit.engine.task import Task

__all__ = ["Engine", "TrainResult", "Task", "Features", "bucket_batches", "sorted_batches", "pad_collate", "seed_everything"]
