"""Batched inference outside training: sorted by length, large batches, results in input order."""

from __future__ import annotations

from typing import Any, Callable

import numpy as np
import torch

from bertkit.engine.batching import Features, sorted_batches


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
) -> dict[str, list[np.ndarray]]:
    """Run `step` over `feats` in length-sorted batches; per-example numpy outputs in the order of `feats`.
    `max_tokens`: padded tokens per batch at most (None: the device's default cap, 0: no cap).
    `bf16`: run under bf16 autocast (opt-in: faster, scores move slightly)."""
    device = device or next(model.parameters()).device
    if max_tokens is None:
        max_tokens = inference_max_tokens(device)
    out: dict[str, list] = {}
    with torch.autocast(torch.device(device).type, dtype=torch.bfloat16, enabled=bf16):
        for idx in sorted_batches(feats.lengths, batch_size, max_tokens=max_tokens):
            batch = {k: v.to(device, non_blocking=True) for k, v in collate(feats.rows(idx)).items()}
            res = step(model, batch)
            for k, v in res.items():
                arr = v.float().cpu().numpy()
                col = out.setdefault(k, [None] * len(feats))
                for j, i in enumerate(idx):
                    col[i] = arr[j]
    return out
