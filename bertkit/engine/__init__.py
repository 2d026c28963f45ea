"""The one training engine (an Accelerate loop) that every task plugs into.

Names load on first use, so inference paths (`engine.inference`, `engine.batching`) do not import Accelerate.
"""

from __future__ import annotations

import importlib
from typing import Any

_WHERE = {
    "Features": "batching", "EpochPlan": "batching", "bucket_batches": "batching", "pad_collate": "batching",
    "sorted_batches": "batching",
    "Engine": "engine", "EngineSettings": "settings", "TrainResult": "result", "seed_everything": "setup",
    "Task": "task",
}
__all__ = list(_WHERE)


def __getattr__(name: str) -> Any:
    if name not in _WHERE:
        raise AttributeError(f"module 'bertkit.engine' has no attribute {name!r}")
    return getattr(importlib.import_module(f"bertkit.engine.{_WHERE[name]}"), name)
