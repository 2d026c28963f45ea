"""bertkit.engine.cpu_attention: SDPA's attention with bertkit's dropout masks, for CPU training."""

from __future__ import annotations

import json

import pytest
import torch
from helpers import tiny_engine_settings
from hypothesis import given, settings
from hypothesis import strategies as st
from torch.nn.attention import SDPBackend, sdpa_kernel

from bertkit.engine import cpu_attention as ca
from bertkit.engine.dropout import drop_mask


class _Module(torch.nn.Module):
    is_causal = False


def _qkv(b: int, h: int, length: int, d: int, dtype=torch.float64, seed: int = 0):
    g = torch.Generator().manual_seed(seed)
    return [(torch.randn(b, h, length, d, generator=g, dtype=torch.float64) * 2).to(dtype) for _ in range(3)]


def _mask(b: int, length: int, seed: int) -> torch.Tensor:
    """SDPA's boolean key-padding mask (True: attend), every row keeping its first key."""
    g = torch.Generator().manual_seed(seed)
    keep = torch.randint(1, length + 1, (b,), generator=g)
    return (torch.arange(length)[None, :] < keep[:, None])[:, None, None, :].expand(b, 1, length, length)


def _reference(q, k, v, mask, drop: torch.Tensor | None, p: float) -> torch.Tensor:
    """Attention in float64 with a given dropout mask, as (batch, length, heads, head_dim)."""
    q, k, v = (t.double() for t in (q, k, v))
    scores = q @ k.transpose(-1, -2) * q.size(-1) ** -0.5
    probs = torch.softmax(scores.masked_fill(~mask, float("-inf")), -1)
    if drop is not None:
        probs = probs.masked_fill(drop, 0) / (1 - p)
    return (probs @ v).transpose(1, 2)


@settings(max_examples=25, deadline=None)
@given(b=st.integers(1, 4), h=st.integers(1, 3), length=st.integers(1, 12), d=st.sampled_from([4, 8, 16]),
       p=st.sampled_from([0.1, 0.25, 0.5]), seed=st.integers(0, 10_000))
def test_equals_attention_with_the_same_dropout_mask_in_fp32(b, h, length, d, p, seed):
    q, k, v = _qkv(b, h, length, d, torch.float32, seed)
    mask = _mask(b, length, seed)
    torch.manual_seed(seed)
    out, weights = ca.attention(_Module(), q, k, v, mask, dropout=p)
    torch.manual_seed(seed)
    drop = drop_mask((b, h, length, length), p)  # the mask the path draws, from the same generator state
    assert weights is None and out.shape == (b, length, h, d) and out.is_contiguous()
    torch.testing.assert_close(out.double(), _reference(q, k, v, mask, drop, p), rtol=1e-5, atol=1e-5)


def test_bf16_error_is_sdpa_math_paths():
    """With bf16 inputs the scores and softmax run in fp32, as in SDPA's math path: the same error against fp64."""
    q64, k64, v64 = _qkv(8, 4, 24, 16)
    mask = _mask(8, 24, 1)
    ref = _reference(q64, k64, v64, mask, None, 0.0)
    q, k, v = (t.to(torch.bfloat16) for t in (q64, k64, v64))
    with sdpa_kernel(SDPBackend.MATH):
        math_out = torch.nn.functional.scaled_dot_product_attention(q, k, v, attn_mask=mask).transpose(1, 2)
    ours = ca.attention(_Module(), q, k, v, mask, dropout=1e-30)  # below 1/256: torch's dropout, no element dropped
    ours = ours[0]

    def rel(x: torch.Tensor) -> float:
        return ((x.double() - ref).norm() / ref.norm()).item()

    assert ours.dtype == torch.bfloat16
    assert rel(ours) <= 1.1 * rel(math_out), (rel(ours), rel(math_out))


def test_gradients_match_the_reference():
    q, k, v = (t.requires_grad_() for t in _qkv(2, 2, 7, 8, torch.float32, 3))
    mask = _mask(2, 7, 3)
    torch.manual_seed(5)
    out = ca.attention(_Module(), q, k, v, mask, dropout=0.2)[0]
    out.square().sum().backward()
    grads = [t.grad.clone() for t in (q, k, v)]
    torch.manual_seed(5)
    drop = drop_mask((2, 2, 7, 7), 0.2)
    q2, k2, v2 = (t.detach().double().requires_grad_() for t in (q, k, v))
    _reference(q2, k2, v2, mask, drop, 0.2).square().sum().backward()
    for ours, ref in zip(grads, (q2.grad, k2.grad, v2.grad)):
        torch.testing.assert_close(ours.double(), ref, rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize("case", ["no dropout", "causal", "position bias"])
def test_delegates_to_transformers_sdpa(case, monkeypatch):
    calls = []
    monkeypatch.setattr(ca, "_sdpa", lambda *a, **kw: calls.append(kw) or ("sdpa", None))
    q, k, v = _qkv(1, 1, 4, 4, torch.float32)
    kw = {"no dropout": {"dropout": 0.0}, "causal": {"dropout": 0.1, "is_causal": True},
          "position bias": {"dropout": 0.1, "position_bias": torch.zeros(1, 1, 4, 4)}}[case]
    assert ca.attention(_Module(), q, k, v, None, **kw)[0] == "sdpa"
    assert len(calls) == 1


def _tiny(tiny_bert, **kw):
    from transformers import AutoModelForTokenClassification

    return AutoModelForTokenClassification.from_pretrained(tiny_bert, num_labels=3, attn_implementation="sdpa", **kw)


def test_install_switches_training_only_and_saves_a_plain_config(tiny_bert, tmp_path):
    model = _tiny(tiny_bert)
    ids = torch.randint(5, 90, (3, 9), generator=torch.Generator().manual_seed(0))
    mask = torch.ones_like(ids)
    mask[0, -4:] = 0
    before = model.eval()(input_ids=ids, attention_mask=mask).logits
    assert ca.install(model) and model.config._attn_implementation == ca.NAME
    torch.testing.assert_close(model(input_ids=ids, attention_mask=mask).logits, before, rtol=0, atol=0)  # eval: SDPA
    model.train()(input_ids=ids, attention_mask=mask, labels=torch.zeros_like(ids)).loss.backward()
    model.save_pretrained(tmp_path)
    assert ca.NAME not in json.dumps(json.loads((tmp_path / "config.json").read_text()))
    ca.uninstall(model)
    assert model.config._attn_implementation == "sdpa"


def test_install_skips_what_it_does_not_cover(tiny_bert):
    assert not ca.install(_tiny(tiny_bert, attention_probs_dropout_prob=0.0))  # nothing to drop
    from transformers import AutoModelForTokenClassification

    eager = AutoModelForTokenClassification.from_pretrained(tiny_bert, num_labels=3, attn_implementation="eager")
    assert not ca.install(eager) and eager.config._attn_implementation == "eager"  # --attn eager stays eager


def test_engine_uses_it_on_cpu_unless_compiling_and_restores_sdpa(tiny_bert):
    from bertkit.engine import Engine

    def engine(compile_: bool) -> Engine:
        cfg = tiny_engine_settings(compile_)
        return Engine(None, _tiny(tiny_bert), cfg)

    eager = engine(False)
    assert eager.fast_attention and eager.model.config._attn_implementation == ca.NAME
    compiled = engine(True)
    assert not compiled.fast_attention and compiled.model.config._attn_implementation == "sdpa"
