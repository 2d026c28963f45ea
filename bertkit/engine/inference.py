"""The one inference loop: `Classifier`, `QA` and the engine's evaluation all run `batched_forward`.

Batches are sorted by length (little padding) and capped in padded tokens on CPU. In a multi-process run each
process takes every `num_processes`-th batch and the outputs are gathered by example index on every process, so
nothing is counted twice or dropped, whatever the split.
"""

from __future__ import annotations

from typing import Any, Callable

import numpy as np
import torch

from bertkit.engine.batching import Features, sorted_batches

Outputs = dict[str, list[np.ndarray]]


def inference_max_tokens(device: torch.device | str) -> int | None:
    """The padded-token cap per inference batch: defaults.INFERENCE_MAX_TOKENS_CPU on CPU, none on accelerators."""
    from bertkit.defaults import INFERENCE_MAX_TOKENS_CPU

    return INFERENCE_MAX_TOKENS_CPU if torch.device(device).type == "cpu" else None


def pick_device(device: str | int | torch.device | None = None) -> torch.device:
    """None: the GPU when there is one, else the CPU; an int as pipelines take it (-1: CPU, n: cuda:n)."""
    if device is None or device == "":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if isinstance(device, int):
        return torch.device(f"cuda:{device}" if device >= 0 else "cpu")
    return torch.device(device)


def _autocast(device: torch.device, dtype: torch.dtype | None):
    return torch.autocast(device.type, dtype=dtype or torch.bfloat16, enabled=dtype is not None)


@torch.inference_mode()
def batched_forward(
    model: torch.nn.Module,
    feats: Features,
    collate: Callable[[list[dict[str, Any]]], dict[str, torch.Tensor]],
    step: Callable[[torch.nn.Module, dict[str, torch.Tensor]], dict[str, torch.Tensor]],
    batch_size: int,
    device: torch.device | None = None,
    max_tokens: int | None = None,
    bf16: bool = False,
    autocast_dtype: torch.dtype | None = None,
    num_processes: int = 1,
    process_index: int = 0,
    same_steps: bool = False,
) -> Outputs:
    """Run `step` over `feats` in length-sorted batches; per-example numpy outputs in the order of `feats`.
    `max_tokens`: padded tokens per batch at most (None: the device's default cap, 0: no cap).
    `bf16`: run under bf16 autocast (opt-in: faster, scores move slightly); `autocast_dtype` names another.
    With `num_processes` > 1 (call it on every process): this process runs its share and every process
    gets the outputs of all examples. `same_steps`: every process runs as many forward passes (a model sharded
    with FSDP / DeepSpeed gathers its weights in each one); the extra passes repeat a batch and are dropped."""
    device = torch.device(device or next(model.parameters()).device)
    if max_tokens is None:
        max_tokens = inference_max_tokens(device)
    dtype = autocast_dtype or (torch.bfloat16 if bf16 else None)
    was_training = model.training
    model.eval()
    every = sorted_batches(feats.lengths, batch_size, max_tokens=max_tokens)
    batches = every[process_index::num_processes]
    rounds = -(-len(every) // num_processes) if same_steps else len(batches)
    local: list[tuple[list[int], dict[str, np.ndarray]]] = []
    with _autocast(device, dtype):
        for k in range(rounds):
            idx = batches[k] if k < len(batches) else every[0]
            batch = {name: v.to(device, non_blocking=True) for name, v in collate(feats.rows(idx)).items()}
            res = step(model, batch)
            if k < len(batches):
                local.append((idx, {name: v.float().cpu().numpy() for name, v in res.items()}))
    if was_training:
        model.train()
    if num_processes > 1:
        from accelerate.utils import gather_object

        local = gather_object(local)
    return _by_index(local, len(feats))


def _by_index(parts: list[tuple[list[int], dict[str, np.ndarray]]], n: int) -> Outputs:
    out: dict[str, list] = {}
    for idx, res in parts:
        for k, arr in res.items():
            col = out.setdefault(k, [None] * n)
            for j, i in enumerate(idx):
                col[i] = arr[j]
    return out
