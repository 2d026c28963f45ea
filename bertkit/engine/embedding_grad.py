"""The word-embedding gradient for CPU training, written into one buffer that is kept from step to step.

torch computes an embedding's gradient into a freshly allocated, zero-filled tensor of the whole table each step
(30522 × 384 floats, 47 MB, for MiniLM; 94 MB for BERT-base), and the optimizer's `zero_grad(set_to_none=True)` frees
it again. Above glibc's largest mmap threshold (32 MB) every such allocation is a new mapping, so the zero fill
touches fresh pages: 15.6 ms for MiniLM's table against 1.2 ms to zero memory already mapped (Xeon with AMX,
2 threads), ~7 % of a bf16 MiniLM step at batch 32 × 32. Here an fp32 gradient (fp32 weights, under autocast too) is
summed into a buffer the module keeps: zeroed in place, the rows added with `index_add_` in the order torch's own
backward adds them (the same values, bit for bit), and handed to autograd as a new tensor on the same memory, which
autograd takes as `.grad` without a copy.
The buffer is reused only when nothing else holds its memory (the last step's `.grad` was freed); otherwise this
step's gradient goes to a new tensor, as torch's own backward would. The design, with its measurements:
docs/design/engine.md#embedding-gradients.
"""

from __future__ import annotations

import os

import torch

MIN_ELEMENTS = 1 << 22  # tables below 16 MB (fp32) come from reused heap memory anyway: torch's own backward runs
MIN_ENV = "BERTKIT_EMBEDDING_BUFFER_MIN"  # the tests' knob: a smaller minimum (elements), so tiny models take it too


def _use_count(t: torch.Tensor) -> int | None:
    """How many tensors hold `t`'s memory (None where this torch cannot say)."""
    count = getattr(torch._C, "_storage_Use_Count", None)
    return None if count is None else int(count(t.untyped_storage()._cdata))


class _Lookup(torch.autograd.Function):
    @staticmethod
    def forward(ctx, ids: torch.Tensor, weight: torch.Tensor, module: "BufferedEmbedding") -> torch.Tensor:
        ctx.save_for_backward(ids)
        ctx.module = module
        return torch.nn.functional.embedding(ids, weight, module.padding_idx)

    @staticmethod
    def backward(ctx, grad: torch.Tensor):
        (ids,) = ctx.saved_tensors
        return None, ctx.module._gradient(ids, grad), None


class BufferedEmbedding(torch.nn.Embedding):
    """nn.Embedding whose training-time weight gradient is summed into a kept buffer (see the module docstring).
    Installed by switching an existing module's class, so parameters, ties and names stay as they are."""

    _bertkit_buffer: torch.Tensor | None = None
    _bertkit_free_count: int | None = None

    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        if not (self.training and torch.is_grad_enabled() and self.weight.requires_grad):
            return super().forward(ids)
        return _Lookup.apply(ids, self.weight, self)

    def _gradient(self, ids: torch.Tensor, grad: torch.Tensor) -> torch.Tensor:
        pad = -1 if self.padding_idx is None else self.padding_idx
        if grad.dtype != torch.float32:  # torch sums low-precision rows in fp32 before rounding: its own backward
            return torch.ops.aten.embedding_dense_backward(grad, ids, self.weight.shape[0], pad, False)
        buf = self._bertkit_buffer
        reuse = buf is not None and _use_count(buf) == self._bertkit_free_count
        if reuse:
            buf.zero_()
        else:
            buf = torch.zeros(self.weight.shape, dtype=grad.dtype, device=grad.device)
        buf.index_add_(0, ids.reshape(-1), grad.reshape(-1, self.weight.shape[1]))
        if pad >= 0:
            buf[pad].zero_()
        if self._bertkit_buffer is None:
            count = _use_count(buf)  # None: this torch cannot tell when the memory is free, so nothing is kept
            self._bertkit_buffer, self._bertkit_free_count = (buf, count) if count is not None else (None, None)
        return buf.detach()  # a new tensor on the buffer's memory: autograd keeps it as .grad without copying


def _eligible(module: torch.nn.Module, minimum: int) -> bool:
    return (type(module) is torch.nn.Embedding and module.weight.device.type == "cpu" and not module.sparse
            and module.max_norm is None and not module.scale_grad_by_freq
            and module.weight.numel() >= minimum and module.weight.dtype == torch.float32)


def install(model: torch.nn.Module) -> int:
    """Switch every large CPU nn.Embedding of `model` to BufferedEmbedding; returns how many were switched."""
    n, minimum = 0, int(os.environ.get(MIN_ENV) or MIN_ELEMENTS)
    for module in model.modules():
        if _eligible(module, minimum):
            module.__class__ = BufferedEmbedding
            n += 1
    return n


def uninstall(model: torch.nn.Module) -> None:
    """Back to nn.Embedding, the buffers released (after training)."""
    for module in model.modules():
        if type(module) is BufferedEmbedding:
            module.__class__ = torch.nn.Embedding
            for name in ("_bertkit_buffer", "_bertkit_free_count"):
                module.__dict__.pop(name, None)
