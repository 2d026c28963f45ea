"""The encoder's last layer, in training, computed only at the positions the loss reads.

A token-classification loss reads the labelled tokens (a word's first sub-token), a sequence-classification head
reads position 0 ([CLS]). What the last layer gives the other positions goes nowhere, yet it costs what every other
layer costs. Here that layer computes keys and values at every position (every query attends to them) and the rest
only at the positions read (packed, their row count padded to a grid, `_padded`): the queries, the attention, its
output projection, both LayerNorms and the feed-forward block, which are 10 of a layer's 12 hidden x hidden matrix
products. The positions come from the task
(`loss_positions`); the other positions leave the layer as zeros, which the loss never reads. The loss and every
gradient are the same functions of the weights as with the whole layer (the same values to float rounding,
tests/test_last_layer.py); the dropout draws are fewer.

It applies where the last layer has BERT's shape (BERT, MiniLM, RoBERTa, ELECTRA, XLM-R: `attention.self.query /
key / value`, `attention.output`, `feed_forward_chunk`) and the task names positions (classification and token
classification; not QA, which reads every context token). The engine checks once, on a few training rows with
dropout off, that each row's loss is the same either way (`agrees`): a head that reads other positions (mean
pooling, say) would read those zeros, and keeps the whole layer. BERTKIT_FULL_LAST_LAYER=1 turns it off (for
measuring it).
The design, with its measurements: docs/design/engine.md#the-last-layer.
"""

from __future__ import annotations

import os
import sys
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Iterator

import torch

OFF_ENV = "BERTKIT_FULL_LAST_LAYER"
_LAYER_ONLY = ("encoder_hidden_states", "encoder_attention_mask", "cache", "past_key_values", "output_attentions")
GRID = 8  # padded row counts per doubling, a power of two (at most 1/8 more rows than read, ~3 % on average)
_positions: ContextVar[torch.Tensor | None] = ContextVar("bertkit_loss_positions", default=None)


def find(model: torch.nn.Module) -> torch.nn.Module | None:
    """The last encoder layer of `model` where it has BERT's shape, else None."""
    layers = getattr(getattr(getattr(model, "base_model", model), "encoder", None), "layer", None)
    if not isinstance(layers, torch.nn.ModuleList) or not len(layers):
        return None
    layer = layers[-1]
    attn = getattr(getattr(layer, "attention", None), "self", None)
    shaped = all(hasattr(attn, a) for a in ("query", "key", "value", "attention_head_size", "scaling", "dropout",
                                            "config"))
    plain = (hasattr(layer.attention, "output") and callable(getattr(layer, "feed_forward_chunk", None))
             and not getattr(layer, "is_decoder", False) and not getattr(layer, "chunk_size_feed_forward", 0))
    return layer if shaped and plain and _eager(attn) is not None else None


def _eager(attn):
    return getattr(sys.modules.get(type(attn).__module__), "eager_attention_forward", None)


def install(model: torch.nn.Module) -> bool:
    """Route the last layer's forward through `_forward` (until `uninstall`); False where it does not apply."""
    layer = find(model)
    if layer is None or os.environ.get(OFF_ENV, "") not in ("", "0"):
        return False
    whole = layer.forward

    def forward(hidden_states, attention_mask=None, *args, **kwargs):
        mask = _positions.get()
        if mask is None or any(a is not None for a in args) or any(kwargs.get(k) is not None for k in _LAYER_ONLY):
            return whole(hidden_states, attention_mask, *args, **kwargs)
        return _forward(layer, hidden_states, attention_mask, mask, {k: v for k, v in kwargs.items()
                                                                     if k not in _LAYER_ONLY})

    layer.forward = forward
    return True


def uninstall(model: torch.nn.Module) -> None:
    layer = find(model)
    if layer is not None and "forward" in vars(layer):
        del layer.forward


@contextmanager
def only(mask: torch.Tensor | None) -> Iterator[None]:
    """Within: the installed last layer computes only where `mask` ((rows, length) bool) is True."""
    token = _positions.set(mask)
    try:
        yield
    finally:
        _positions.reset(token)


def _plan(mask: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """(idx, pos, slots): idx (rows, S), each row's read positions first (S: the most in a row; the rest point at
    position 0); pos, the read positions in the flattened (rows x length) order; slots, where they sit in idx."""
    rows, length = mask.shape
    counts = mask.sum(dim=1)
    width = max(int(counts.max()), 1)
    order = torch.argsort((~mask).to(torch.int8), dim=1, stable=True)[:, :width]
    valid = torch.arange(width, device=mask.device)[None, :] < counts[:, None]
    idx = torch.where(valid, order, torch.zeros_like(order))
    pos = (idx + torch.arange(rows, device=mask.device)[:, None] * length)[valid]
    return idx, pos, torch.nonzero(valid.reshape(-1)).squeeze(1)


def _padded(x: torch.Tensor) -> torch.Tensor:
    """`x` with zero rows appended up to the next of GRID row counts per doubling (512, 576, ..., 960, 1024, 1152,
    ...). The row count is the batch's labelled tokens, new in nearly every batch, and oneDNN builds a kernel for
    each new shape of a matrix product (~0.6 ms each, ~12 of them a step for this layer): on a grid they repeat."""
    n = x.shape[0]
    extra = -n % (1 << max(n.bit_length() - GRID.bit_length(), 0))
    return torch.cat([x, x.new_zeros(extra, *x.shape[1:])]) if extra else x


def _forward(layer, hidden: torch.Tensor, attention_mask, mask: torch.Tensor, kwargs: dict) -> torch.Tensor:
    """BertLayer.forward at the read positions: the per-token parts on those tokens alone (packed), the attention
    with their queries padded to (rows, S) against every position's keys and values."""
    from transformers.modeling_utils import ALL_ATTENTION_FUNCTIONS

    at = layer.attention.self
    rows, length, width = hidden.shape
    idx, pos, slots = _plan(mask.to(hidden.device))
    flat = hidden.reshape(rows * length, width)
    n = pos.numel()
    picked = _padded(flat.index_select(0, pos))  # (read tokens, hidden), zero rows up to the grid
    q = at.query(picked)[:n]
    q = q.new_zeros(rows * idx.shape[1], q.shape[-1]).index_copy(0, slots, q)
    d = at.attention_head_size
    q = q.view(rows, idx.shape[1], -1, d).transpose(1, 2)
    k = at.key(hidden).view(rows, length, -1, d).transpose(1, 2)
    v = at.value(hidden).view(rows, length, -1, d).transpose(1, 2)
    m = attention_mask
    if isinstance(m, torch.Tensor) and m.dim() == 4 and m.shape[2] == length and length > 1:  # a row per query
        m = m.gather(2, idx[:, None, :, None].expand(rows, m.shape[1], idx.shape[1], m.shape[3]))
    fn = ALL_ATTENTION_FUNCTIONS.get_interface(at.config._attn_implementation, _eager(at))
    out, _ = fn(at, q, k, v, m, dropout=at.dropout.p if at.training else 0.0, scaling=at.scaling, **kwargs)
    out = _padded(out.reshape(rows * idx.shape[1], -1).index_select(0, slots))
    y = layer.feed_forward_chunk(layer.attention.output(out, picked))[:n]
    return flat.new_zeros(flat.shape).index_copy(0, pos, y.to(flat.dtype)).view(rows, length, width)


def verify(task, model: torch.nn.Module, batch: dict[str, torch.Tensor]) -> bool:
    """Keep the installed path only where the task names its loss's positions and `agrees` on `batch`."""
    positions = getattr(task, "loss_positions", None)
    ok = positions is not None and agrees(task, model, batch, positions(batch))
    if not ok:
        uninstall(model)
    return ok


def agrees(task, model: torch.nn.Module, batch: dict[str, torch.Tensor], positions: torch.Tensor) -> bool:
    """Whether each row's loss is the same with the last layer at `positions` only as with the whole layer (dropout
    off, no gradients): the task's head and loss read nothing else."""
    was = model.training
    model.eval()
    try:
        with torch.no_grad():
            whole = task.loss(model, batch).float()
            with only(positions):
                part = task.loss(model, batch).float()
    finally:
        model.train(was)
    return bool(torch.allclose(whole, part, rtol=1e-4, atol=1e-5))
