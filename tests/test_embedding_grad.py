"""bertkit.engine.embedding_grad: the word-embedding gradient summed into a kept buffer equals torch's own, bit for
bit, step after step; the buffer is reused only when nothing else holds its memory."""

from __future__ import annotations

import copy

import pytest
import torch
from helpers import tiny_engine_settings
from hypothesis import given, settings
from hypothesis import strategies as st

from bertkit.engine import embedding_grad as eg


def _pair(vocab: int, width: int, padding_idx: int | None, seed: int = 0):
    torch.manual_seed(seed)
    ref = torch.nn.Embedding(vocab, width, padding_idx=padding_idx)
    mine = copy.deepcopy(ref)
    mine.__class__ = eg.BufferedEmbedding
    return ref, mine


def _step(ref, mine, ids, grad):
    ref(ids).backward(grad)
    mine(ids).backward(grad)


@settings(max_examples=30, deadline=None)
@given(vocab=st.integers(2, 300), width=st.integers(1, 48), rows=st.integers(1, 6), length=st.integers(1, 40),
       pad=st.booleans(), dtype=st.sampled_from([torch.float32, torch.bfloat16]), seed=st.integers(0, 2**31 - 1))
def test_equals_torchs_gradient_bit_for_bit_over_steps(vocab, width, rows, length, pad, dtype, seed):
    """fp32 through the buffer; a bf16 table (which torch sums in fp32 before rounding) through torch's own."""
    ref, mine = _pair(vocab, width, 0 if pad else None, seed)
    ref, mine = ref.to(dtype), mine.to(dtype)
    g = torch.Generator().manual_seed(seed)
    for _ in range(3):  # a few ids repeat many times: their rows are sums, in torch's order
        ids = torch.randint(0, min(vocab, 7), (rows, length), generator=g)
        grad = torch.randn(rows, length, width, generator=g).to(dtype)
        _step(ref, mine, ids, grad)
        assert torch.equal(ref.weight.grad, mine.weight.grad)
        ref.weight.grad = mine.weight.grad = None  # zero_grad(set_to_none=True)


def test_the_buffer_becomes_grad_without_a_copy_and_is_reused():
    ref, mine = _pair(500, 16, 0)
    ptrs = set()
    for seed in range(4):
        ids, grad = torch.randint(0, 500, (4, 9)), torch.randn(4, 9, 16)
        _step(ref, mine, ids, grad)
        assert torch.equal(ref.weight.grad, mine.weight.grad)
        ptrs.add(mine.weight.grad.data_ptr())
        ref.weight.grad = mine.weight.grad = None
    assert ptrs == {mine._bertkit_buffer.data_ptr()}


def test_accumulation_without_zeroing_sums_like_torch():
    ref, mine = _pair(200, 8, None)
    for _ in range(3):
        _step(ref, mine, torch.randint(0, 200, (3, 5)), torch.randn(3, 5, 8))
    assert torch.equal(ref.weight.grad, mine.weight.grad)


def test_a_gradient_someone_still_holds_is_never_overwritten():
    ref, mine = _pair(200, 8, None)
    _step(ref, mine, torch.randint(0, 200, (3, 5)), torch.randn(3, 5, 8))
    held, expect = mine.weight.grad, ref.weight.grad.clone()
    ref.weight.grad = mine.weight.grad = None
    _step(ref, mine, torch.randint(0, 200, (3, 5)), torch.randn(3, 5, 8))
    assert torch.equal(held, expect)  # the next step went to a new tensor
    assert torch.equal(ref.weight.grad, mine.weight.grad) and mine.weight.grad.data_ptr() != held.data_ptr()
    del held
    ref.weight.grad = mine.weight.grad = None
    _step(ref, mine, torch.randint(0, 200, (3, 5)), torch.randn(3, 5, 8))
    assert mine.weight.grad.data_ptr() == mine._bertkit_buffer.data_ptr()  # free again: reused


def test_eval_and_no_grad_run_torchs_own_lookup():
    _, mine = _pair(50, 4, None)
    with torch.no_grad():
        out = mine(torch.tensor([[1, 2]]))
    assert out.grad_fn is None and mine._bertkit_buffer is None
    assert mine.eval()(torch.tensor([[1]])).grad_fn is not None  # eval with grad: torch's embedding backward
    assert mine._bertkit_buffer is None


def test_install_switches_large_tables_only_keeps_ties_and_uninstall_restores(monkeypatch):
    monkeypatch.delenv(eg.MIN_ENV, raising=False)
    big, small = torch.nn.Embedding(eg.MIN_ELEMENTS // 4, 4), torch.nn.Embedding(10, 4)
    head = torch.nn.Linear(4, eg.MIN_ELEMENTS // 4, bias=False)
    head.weight = big.weight  # tied, as a language-model head
    model = torch.nn.ModuleDict({"big": big, "small": small, "head": head})
    assert eg.install(model) == 1
    assert type(big) is eg.BufferedEmbedding and type(small) is torch.nn.Embedding and head.weight is big.weight
    big(torch.tensor([[1, 2]])).sum().backward()
    assert big._bertkit_buffer is not None
    eg.uninstall(model)
    assert type(big) is torch.nn.Embedding and "_bertkit_buffer" not in vars(big) and head.weight is big.weight
    monkeypatch.setenv(eg.MIN_ENV, "1")
    assert eg.install(model) == 2


def test_engine_installs_on_cpu_unless_compiling(tiny_bert, monkeypatch):
    from transformers import AutoModelForSequenceClassification

    from bertkit.engine import Engine

    monkeypatch.setenv(eg.MIN_ENV, "1")
    for compile_, expect in ((False, True), (True, False)):
        model = AutoModelForSequenceClassification.from_pretrained(tiny_bert, num_labels=2)
        engine = Engine(None, model, tiny_engine_settings(compile_))
        kinds = {type(m) for m in model.modules()}
        assert (eg.BufferedEmbedding in kinds) is expect and bool(engine.buffered_embeddings) is expect


@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16])
def test_under_autocast_the_gradient_is_the_lookups_dtype(dtype):
    ref, mine = _pair(100, 8, 0)
    ids, grad = torch.randint(0, 100, (2, 6)), torch.randn(2, 6, 8)
    with torch.autocast("cpu", dtype=torch.bfloat16, enabled=dtype == torch.bfloat16):
        a, b = ref(ids), mine(ids)
    assert a.dtype == b.dtype
    a.backward(grad), b.backward(grad)
    assert torch.equal(ref.weight.grad, mine.weight.grad) and mine.weight.grad.dtype == torch.float32
