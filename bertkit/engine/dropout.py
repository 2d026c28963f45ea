"""Dropout for CPU training: the same Bernoulli masks, drawn ~5x faster than torch's CPU `bernoulli_`.

torch's CPU dropout draws one random float per element; a MiniLM step (batch 32 × 32, bf16) spends ~40 ms of ~300
in its 14 hidden dropouts. Here one 64-bit draw of the torch generator gives four 16-bit uniforms; an element is
dropped when its uniform falls below p (p rounded to a multiple of 1/65536, an error of at most 7.6e-6), the others
are scaled by 1 / (1 - p), and backward applies the same saved mask. The generator is torch's own, so seeds,
checkpoints and exact resume hold as before. The design, with its measurements: docs/design/engine.md#dropout.
"""

from __future__ import annotations

import math

import torch

_LEVELS = 1 << 16  # 16-bit uniforms
_MIN_P = 1 / 256  # below this (or at p >= 1) torch's own dropout runs: the rounding would matter


class _Dropout(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x: torch.Tensor, p: float) -> torch.Tensor:
        keep = keep_mask(x.shape, p)
        ctx.save_for_backward(keep)
        ctx.scale = 1.0 / (1.0 - p)
        return (x * keep).mul_(ctx.scale)

    @staticmethod
    def backward(ctx, grad: torch.Tensor):
        (keep,) = ctx.saved_tensors
        return (grad * keep).mul_(ctx.scale), None


def _uniforms(shape: torch.Size | tuple[int, ...]) -> torch.Tensor:
    """Signed 16-bit uniforms of `shape`, four from each 64-bit draw of torch's generator."""
    n = math.prod(shape)
    words = torch.empty((n + 3) // 4, dtype=torch.int64).random_(-(1 << 63), None)  # the full 64-bit range
    return words.view(torch.int16)[:n].view(shape)


def _threshold(p: float) -> int:
    return round(p * _LEVELS) - (_LEVELS // 2)


def drop_mask(shape: torch.Size | tuple[int, ...], p: float) -> torch.Tensor:
    """A bool tensor of `shape`, each element True with probability round(p * 65536) / 65536."""
    return _uniforms(shape) < _threshold(p)


def keep_mask(shape: torch.Size | tuple[int, ...], p: float) -> torch.Tensor:
    """The complement of `drop_mask` from the same draws, as uint8 (1: kept). A tensor times a uint8 mask is one
    vectorised multiply on the CPU; `masked_fill_` with a bool mask (what this module did before) is not: on a bf16
    batch of 32 x 32 x 384, 126 against 445 us (Xeon with AMX, 2 threads), 1.46 against 2.27 ms for a dropout's
    forward and backward with its draw, the same values (a dropped element may read -0.0 instead of 0)."""
    return (_uniforms(shape) >= _threshold(p)).view(torch.uint8)


class FastDropout(torch.nn.Dropout):
    """nn.Dropout with bertkit's CPU masks; torch's own where it is not the CPU or p is outside [1/256, 1)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not self.training or self.p == 0:
            return x
        if self.inplace:
            return super().forward(x)
        return dropout(x, self.p)


def dropout(x: torch.Tensor, p: float) -> torch.Tensor:
    """Training-mode dropout of `x`: bertkit's masks on the CPU for p in [1/256, 1), torch's own otherwise."""
    if p == 0:
        return x
    if x.device.type != "cpu" or not (_MIN_P <= p < 1.0):
        return torch.nn.functional.dropout(x, p, training=True)
    return _Dropout.apply(x, p)


def install(model: torch.nn.Module) -> int:
    """Replace every plain nn.Dropout in `model` by FastDropout (same p); returns how many were replaced."""
    n = 0
    for module in list(model.modules()):
        for name, child in list(module.named_children()):
            if type(child) is torch.nn.Dropout:
                setattr(module, name, FastDropout(child.p, child.inplace))
                n += 1
    return n
