"""bertkit.engine.dropout: CPU dropout masks with nn.Dropout's semantics, drawn from torch's generator."""

from __future__ import annotations

import math

import pytest
import torch
from helpers import tiny_engine_settings
from hypothesis import given, settings
from hypothesis import strategies as st

from bertkit.engine.dropout import FastDropout, drop_mask, install, keep_mask


def _fast(p: float) -> FastDropout:
    return FastDropout(p).train()


@settings(max_examples=30, deadline=None)
@given(p=st.floats(1 / 256, 0.95), n=st.integers(1, 4000), seed=st.integers(0, 2**31 - 1))
def test_drop_rate_is_p_within_binomial_bounds(p, n, seed):
    torch.manual_seed(seed)
    drops = int(drop_mask((n,), p).sum())
    p_used = round(p * 65536) / 65536
    assert abs(p_used - p) <= 0.5 / 65536
    sd = math.sqrt(n * p_used * (1 - p_used))
    assert abs(drops - n * p_used) <= 6 * sd + 1  # a 6-sigma bound: fails by chance about once in 10^9 runs


def test_large_sample_rate_and_independence_of_the_four_lanes():
    torch.manual_seed(0)
    mask = drop_mask((400_000,), 0.1)
    assert abs(mask.float().mean().item() - 0.1) < 0.003
    lanes = mask.view(-1, 4).float().mean(0)  # the four 16-bit lanes of each 64-bit draw
    assert torch.all((lanes - 0.1).abs() < 0.005), lanes
    a, b = mask.view(-1, 4)[:, 0].float(), mask.view(-1, 4)[:, 3].float()
    assert abs(((a * b).mean() - a.mean() * b.mean()).item()) < 0.003  # no correlation between lanes


@settings(max_examples=20, deadline=None)
@given(p=st.sampled_from([0.05, 0.1, 0.3, 0.5]), shape=st.lists(st.integers(1, 9), min_size=1, max_size=3),
       dtype=st.sampled_from([torch.float32, torch.bfloat16]))
def test_forward_scales_kept_and_zeroes_dropped_and_backward_uses_the_same_mask(p, shape, dtype):
    x = (torch.rand(shape) + 0.5).to(dtype).requires_grad_()  # no zeros, so a zero output means "dropped"
    y = _fast(p)(x)
    kept = y != 0
    torch.testing.assert_close(y[kept], (x * (1 / (1 - p)))[kept], rtol=0, atol=0)
    y.backward(torch.ones_like(y))
    expect = torch.where(kept, torch.tensor(1 / (1 - p), dtype=dtype), torch.zeros((), dtype=dtype))
    torch.testing.assert_close(x.grad, expect, rtol=0, atol=0)


@settings(max_examples=25, deadline=None)
@given(p=st.floats(1 / 256, 0.95), shape=st.lists(st.integers(1, 33), min_size=1, max_size=3),
       dtype=st.sampled_from([torch.float32, torch.bfloat16]), seed=st.integers(0, 2**31 - 1))
def test_forward_and_backward_equal_the_masked_fill_formulation_value_for_value(p, shape, dtype, seed):
    """The uint8 keep mask is drop_mask's complement from the same draws, and x * keep * scale equals the
    x * scale with dropped elements set to zero (the formulation it replaced) value for value, gradients too
    (torch.equal: a dropped element may now be -0.0)."""
    x = torch.randn(shape).to(dtype).requires_grad_()
    torch.manual_seed(seed)
    drop = drop_mask(tuple(shape), p)
    torch.manual_seed(seed)
    keep = keep_mask(tuple(shape), p)
    assert keep.dtype == torch.uint8 and torch.equal(keep.bool(), ~drop)
    torch.manual_seed(seed)
    y = _fast(p)(x)
    scale = 1 / (1 - p)
    assert torch.equal(y, x.detach().mul(scale).masked_fill_(drop, 0))
    g = torch.randn(shape).to(dtype)
    y.backward(g)
    assert torch.equal(x.grad, g.mul(scale).masked_fill_(drop, 0))


def test_same_seed_same_mask_and_generator_state_advances():
    x = torch.ones(64, 64)
    torch.manual_seed(7)
    a, b = _fast(0.1)(x), _fast(0.1)(x)
    torch.manual_seed(7)
    assert torch.equal(_fast(0.1)(x), a)
    assert not torch.equal(a, b)


def test_eval_mode_and_p_zero_are_the_identity():
    x = torch.randn(10, 10)
    assert _fast(0.1).eval()(x) is x
    assert _fast(0.0)(x) is x


@pytest.mark.parametrize("p", [1e-4, 1.0])
def test_p_outside_the_exact_range_runs_torchs_own_dropout(p):
    x = torch.ones(1000)
    torch.manual_seed(3)
    ours = _fast(p)(x)
    torch.manual_seed(3)
    torch.testing.assert_close(ours, torch.nn.functional.dropout(x, p, training=True))


def test_install_replaces_plain_dropouts_only_and_keeps_p():
    class Custom(torch.nn.Dropout):
        pass

    model = torch.nn.Sequential(torch.nn.Linear(3, 3), torch.nn.Dropout(0.2),
                                torch.nn.Sequential(torch.nn.Dropout(0.3), Custom(0.4)))
    assert install(model) == 2
    assert [type(m).__name__ for m in model.modules() if isinstance(m, torch.nn.Dropout)] == \
        ["FastDropout", "FastDropout", "Custom"]
    assert model[1].p == 0.2 and model[2][0].p == 0.3
    assert install(model) == 0  # already installed


def test_engine_installs_on_cpu_unless_compiling(tiny_bert):
    from transformers import AutoModelForTokenClassification

    from bertkit.engine import Engine

    def engine(compile_: bool) -> Engine:
        model = AutoModelForTokenClassification.from_pretrained(tiny_bert, num_labels=3)
        cfg = tiny_engine_settings(compile_)
        return Engine(None, model, cfg)

    eager = engine(False)
    assert eager.fast_dropouts > 0
    assert all(type(m) is not torch.nn.Dropout for m in eager.model.modules())
    assert engine(True).fast_dropouts == 0
