"""Self-attention for CPU training with attention dropout: SDPA's math, with bertkit's dropout masks.

With dropout on the attention probabilities, torch's scaled_dot_product_attention has no fused CPU kernel and runs
its math path: q, k and v copied to fp32, torch's `bernoulli_` masks, and extra copies of the score matrix. Here the
same computation runs in fewer passes: the scores q·kᵀ in fp32 (as the math path computes them, so the precision is
the same), the mask, a softmax in fp32, the probabilities cast back to the value's dtype, bertkit's dropout masks
(bertkit/engine/dropout.py, drawn from torch's generator) and the product with v. A MiniLM training step in bf16
is 1.08x as fast as with SDPA's math path at 32 tokens, 1.12x at 128 (bench/dropout_step.py). Without dropout
(evaluation, or p = 0), off the CPU, and for what this path does not cover (causal or grouped-query attention,
position biases, soft-capping), transformers' own SDPA function runs.
The model is switched to it through transformers' attention registry, for training only: the design, with its
measurements, is in docs/design/engine.md#attention-dropout.
"""

from __future__ import annotations

import torch

from bertkit.engine.dropout import dropout as fast_dropout

NAME = "bertkit_cpu_sdpa"
_DROPOUT_KEYS = ("attention_probs_dropout_prob", "attention_dropout")  # the config fields families name it by
_registered = False


def _sdpa(*args, **kwargs):
    from transformers.integrations.sdpa_attention import sdpa_attention_forward

    return sdpa_attention_forward(*args, **kwargs)


def _delegate(module, query, attention_mask, dropout: float, is_causal, kwargs: dict) -> bool:
    """True where transformers' SDPA function should run instead of this path."""
    if not dropout or query.device.type != "cpu":
        return True
    causal = is_causal if is_causal is not None else getattr(module, "is_causal", False)
    grouped = getattr(module, "num_key_value_groups", 1) > 1
    mask_ok = attention_mask is None or isinstance(attention_mask, torch.Tensor)
    return bool(causal) or grouped or not mask_ok or any(
        kwargs.get(k) is not None for k in ("position_bias", "softcap", "sliding_window", "s_aux"))


def attention(module, query: torch.Tensor, key: torch.Tensor, value: torch.Tensor, attention_mask,
              dropout: float = 0.0, scaling: float | None = None, is_causal: bool | None = None, **kwargs):
    """transformers' attention-function signature: (batch, heads, length, head_dim) in, (batch, length, heads,
    head_dim) out, with no attention weights returned (as SDPA's function)."""
    if _delegate(module, query, attention_mask, dropout, is_causal, kwargs):
        return _sdpa(module, query, key, value, attention_mask, dropout=dropout, scaling=scaling,
                     is_causal=is_causal, **kwargs)
    scale = query.size(-1) ** -0.5 if scaling is None else scaling
    with torch.autocast("cpu", enabled=False):  # the scores and softmax in fp32, as SDPA's math path
        scores = torch.matmul(query.float() * scale, key.float().transpose(-1, -2))
        if attention_mask is not None:
            if attention_mask.dtype == torch.bool:  # True: attend. As an additive bias of the mask's own shape
                # (heads broadcast): masked_fill_ on the whole score matrix is not vectorised on the CPU
                attention_mask = torch.zeros(attention_mask.shape, dtype=scores.dtype).masked_fill_(
                    ~attention_mask, torch.finfo(scores.dtype).min)
            scores = scores + attention_mask
        probs = torch.softmax(scores, dim=-1).to(value.dtype)
        out = torch.matmul(fast_dropout(probs, dropout), value)
    return out.transpose(1, 2).contiguous(), None


def _register() -> None:
    global _registered
    if not _registered:
        from transformers import AttentionInterface
        from transformers.masking_utils import AttentionMaskInterface, sdpa_mask

        AttentionInterface.register(NAME, attention)
        AttentionMaskInterface.register(NAME, sdpa_mask)  # the masks SDPA gets: boolean, or None without padding
        _registered = True


def attention_dropout(config) -> float:
    """The attention-probability dropout `config` declares (0 when it declares none)."""
    return max((float(getattr(config, k, 0) or 0) for k in _DROPOUT_KEYS), default=0.0)


def install(model: torch.nn.Module) -> bool:
    """Switch a model that runs transformers' SDPA, with attention dropout, to this path; True when it did."""
    cfg = getattr(model, "config", None)
    if getattr(cfg, "_attn_implementation", None) != "sdpa" or not attention_dropout(cfg):
        return False
    if not getattr(model, "_supports_attention_backend", False):  # the architecture calls its own attention
        return False
    _register()
    try:
        model.set_attn_implementation(NAME)
    except (ValueError, ImportError, AttributeError):
        return False
    return True


def uninstall(model: torch.nn.Module) -> None:
    """Back to transformers' SDPA (after training: what the saved model and later predictions run)."""
    if getattr(getattr(model, "config", None), "_attn_implementation", None) == NAME:
        model.set_attn_implementation("sdpa")
