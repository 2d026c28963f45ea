"""Training FLOPs, counted on what the model was given: the training benches' "x % of what this machine can do".

`count_training_tokens(model)` hooks the task model's forward (`BertForTokenClassification`, ...) and adds up, over
its training calls, each row's real tokens (the attention mask) and its padded length; `hook_bertkit_models()` does it
for the model `bertkit`'s training skeleton loads. `figures` turns them into:
    model_gflop_per_sample   forward + backward FLOPs a training sample needs on its real tokens (3 x the forward)
    achieved_gflops          those model FLOPs per training second: the useful work rate
    executed_gflops          the same on the padded rows the model ran: how busy the matrix units were
    padded_per_real          padded tokens / real tokens (1.0: no padding)
and, with a bench/peak.py result for this machine, each as a share of the matmul peak in the side's precision.
Forward FLOPs per row of T tokens: 2 x the Linear weights x T (Q, K, V, attention output, the two FFN matrices)
+ 4 x T^2 x hidden per layer (attention scores and their use); the head, LayerNorm, GELU and softmax are left out
(< 2 % for MiniLM). Backward is twice the forward, so a training step is 3x.
"""

from __future__ import annotations

from typing import Any

FLOP_KEYS = ("achieved_gflops", "executed_gflops", "padded_per_real", "achieved_share_of_peak",
             "executed_share_of_peak")
_COUNT = {"rows": 0, "real": 0, "padded": 0, "real_sq": 0, "padded_sq": 0}


def _hook(module, args, kwargs) -> None:
    if not module.training:
        return
    ids = kwargs.get("input_ids", args[0] if args else None)
    if ids is None:
        return
    mask = kwargs.get("attention_mask")
    n, t = ids.shape[0], ids.shape[1]
    real = mask.sum(dim=1).tolist() if mask is not None else [t] * n
    _COUNT["rows"] += n
    _COUNT["real"] += int(sum(real))
    _COUNT["padded"] += n * t
    _COUNT["real_sq"] += int(sum(r * r for r in real))
    _COUNT["padded_sq"] += n * t * t


def count_training_tokens(model) -> dict[str, int]:
    """Count `model`'s training forwards from now on; the returned dict fills as training runs."""
    model.register_forward_pre_hook(_hook, with_kwargs=True)
    return _COUNT


def hook_bertkit_models() -> dict[str, int]:
    """Count the training forwards of the model that bertkit's training skeleton loads (it imports
    `bertkit.modeling.load_pretrained` when a run starts)."""
    import bertkit.modeling as modeling

    load = modeling.load_pretrained

    def counted(*args, **kwargs):
        model = load(*args, **kwargs)
        count_training_tokens(model)
        return model

    modeling.load_pretrained = counted
    return _COUNT


def model_shape(model: str) -> tuple[int, int, int]:
    from transformers import AutoConfig

    c = AutoConfig.from_pretrained(model)
    return c.hidden_size, c.intermediate_size, c.num_hidden_layers


def linear_weights(shape: tuple[int, int, int]) -> int:
    """The encoder's Linear weights: Q, K, V, the attention output and the two FFN matrices of every layer."""
    h, f, layers = shape
    return layers * (4 * h * h + 2 * h * f)


def forward_flops(shape: tuple[int, int, int], tokens: float, tokens_sq: float) -> float:
    """Forward FLOPs of rows with `tokens` tokens in all and `tokens_sq` the sum of their squares: 2 x the Linear
    layers' weights per token (Q, K, V, attention output, the two FFN matrices) plus 2 x 2 x T^2 x hidden per layer
    for the attention scores and their use (softmax, LayerNorm, GELU and the head left out: < 2 %). The one formula
    of bench/: the inference benches (fast_sides) and bench/gpu.py use it too."""
    h, _, layers = shape
    return 2 * linear_weights(shape) * tokens + layers * 4 * h * tokens_sq


def training_flops(shape: tuple[int, int, int], tokens: float, tokens_sq: float) -> float:
    """Forward + backward FLOPs (the backward twice the forward) of rows as in `forward_flops`."""
    return 3.0 * forward_flops(shape, tokens, tokens_sq)


def figures(count: dict[str, int], shape: tuple[int, int, int], train_s: float, samples: int) -> dict[str, Any]:
    """The child's FLOP figures (see the module docstring); the parent adds the shares of the peak."""
    if not count["rows"] or train_s <= 0:
        return {}
    real = training_flops(shape, count["real"], count["real_sq"])
    padded = training_flops(shape, count["padded"], count["padded_sq"])
    return {"model_gflop_per_sample": sig(real / 1e9 / max(samples, 1)),
            "achieved_gflops": sig(real / 1e9 / train_s), "executed_gflops": sig(padded / 1e9 / train_s),
            "padded_per_real": round(count["padded"] / max(count["real"], 1), 3)}


def sig(x: float) -> float:
    return float(f"{x:.4g}")  # four significant digits: 99.12 for MiniLM, 0.01234 for the tests' tiny model


def peak_share(run: dict[str, Any], peak: dict | None, precision: str) -> dict[str, Any]:
    """achieved / executed GFLOP/s as shares of the measured matmul peak in `precision` (bf16 or fp32)."""
    if not peak or "achieved_gflops" not in run:
        return {}
    prec = "bf16" if precision == "bf16" else "fp32"
    top = peak["gflops"].get(prec)
    if not top:
        return {}
    return {"peak_precision": prec, "peak_gflops": top,
            "achieved_share_of_peak": sig(run["achieved_gflops"] / top),
            "executed_share_of_peak": sig(run["executed_gflops"] / top)}


def ceiling(t: dict | None, runs: list | None, peak: dict | None) -> dict:
    """The most any side could train faster than the Trainer's defaults on this machine at the Trainer's precision: the
    matmul peak in that precision over the Trainer's useful (real-token) FLOP/s."""
    if not (t and runs and peak and t.get("achieved_gflops")):
        return {}
    top = peak["gflops"].get("bf16" if runs[0].get("precision") == "bf16" else "fp32")
    return {"ceiling_x_vs_trainer": round(top / t["achieved_gflops"], 2)} if top else {}
