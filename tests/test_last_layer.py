"""The last encoder layer computed only at the loss's positions (bertkit/engine/last_layer.py): the same loss and
gradients as the whole layer, for every family with BERT's layer shape, and the whole layer wherever that would not
hold."""

from __future__ import annotations

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from bertkit.engine import last_layer

TINY = dict(vocab_size=100, hidden_size=32, num_hidden_layers=2, num_attention_heads=2, intermediate_size=37,
            hidden_dropout_prob=0.0, attention_probs_dropout_prob=0.0, max_position_embeddings=64, num_labels=5)


def tiny(family: str, head: str, attn: str = "sdpa"):
    import transformers as tf

    cfg = {"bert": tf.BertConfig, "roberta": tf.RobertaConfig, "electra": tf.ElectraConfig}[family](
        **TINY, **({"embedding_size": 32} if family == "electra" else {}))
    cls = getattr(tf, f"{cfg.model_type.capitalize()}For{head}Classification")
    torch.manual_seed(0)
    return cls._from_config(cfg, attn_implementation=attn).train()


def loss_and_grads(model, batch, positions):
    model.zero_grad(set_to_none=True)
    with last_layer.only(positions):
        loss = model(**batch).loss
    loss.backward()
    return loss.detach(), {n: p.grad.clone() for n, p in model.named_parameters() if p.grad is not None}


def assert_same(model, batch, positions):
    whole_loss, whole = loss_and_grads(model, batch, None)
    part_loss, part = loss_and_grads(model, batch, positions)
    assert torch.allclose(whole_loss, part_loss, rtol=1e-5, atol=1e-6)
    assert set(whole) == set(part)
    scale = max(g.abs().max().item() for g in whole.values())  # key biases have no true gradient: rounding only
    for name, g in whole.items():
        assert torch.allclose(g, part[name], rtol=1e-4, atol=1e-5 * scale), name


@st.composite
def token_batches(draw):
    rows, length = draw(st.integers(1, 5)), draw(st.integers(2, 12))
    lengths = [draw(st.integers(2, length)) for _ in range(rows)]
    ids = torch.tensor([[draw(st.integers(5, 99)) for _ in range(length)] for _ in range(rows)])
    mask = torch.tensor([[int(j < n) for j in range(length)] for n in lengths])
    labelled = torch.tensor([[j > 0 and j < n and draw(st.booleans()) for j in range(length)] for n in lengths])
    labels = torch.where(labelled, ids % 5, torch.full_like(ids, -100))
    return {"input_ids": ids, "attention_mask": mask, "labels": labels}, labelled


@settings(max_examples=25, deadline=None)
@given(batch=token_batches(), family=st.sampled_from(["bert", "roberta", "electra"]),
       attn=st.sampled_from(["sdpa", "eager"]))
def test_token_classification_loss_and_gradients_equal_the_whole_layer(batch, family, attn):
    batch, labelled = batch
    model = tiny(family, "Token", attn)
    assert last_layer.install(model)
    if not labelled.any():  # no position read: the loss is 0/0 either way
        return
    assert_same(model, batch, labelled)


@pytest.mark.parametrize("family", ["bert", "roberta", "electra"])
def test_sequence_classification_reads_position_zero_only(family):
    from bertkit.classify.task import ClassificationTask

    model = tiny(family, "Sequence")
    assert last_layer.install(model)
    ids = torch.randint(5, 100, (4, 9))
    mask = torch.ones_like(ids)
    mask[2:, 6:] = 0
    batch = {"input_ids": ids, "attention_mask": mask, "labels": torch.tensor([0, 1, 4, 2])}
    first = ClassificationTask.loss_positions(None, batch)
    assert first[:, 0].all() and not first[:, 1:].any()
    assert_same(model, batch, first)
    calls = []
    hook = model.base_model.encoder.layer[-1].attention.self.query.register_forward_hook(
        lambda mod, args, out: calls.append(tuple(args[0].shape)))
    loss_and_grads(model, batch, first)
    hook.remove()
    assert calls == [(4, 32)]  # one query a row, packed


def test_outside_training_positions_the_model_is_untouched():
    model, plain = tiny("bert", "Token").eval(), tiny("bert", "Token").eval()
    assert last_layer.install(model)
    ids = torch.randint(5, 100, (3, 7))
    with torch.no_grad():
        assert torch.equal(model(input_ids=ids).logits, plain(input_ids=ids).logits)
    last_layer.uninstall(model)
    assert "forward" not in vars(model.base_model.encoder.layer[-1])


def test_a_head_that_reads_more_keeps_the_whole_layer():
    class Task:  # the loss reads every labelled token, but names position 0 only
        def loss(self, model, batch):
            return model(**batch).loss[None]

        def loss_positions(self, batch):
            return torch.zeros_like(batch["input_ids"], dtype=torch.bool).index_fill_(1, torch.tensor([0]), True)

    model = tiny("bert", "Token")
    assert last_layer.install(model)
    ids = torch.randint(5, 100, (2, 6))
    batch = {"input_ids": ids, "labels": ids % 5}
    assert not last_layer.verify(Task(), model, batch)
    assert "forward" not in vars(model.base_model.encoder.layer[-1]) and model.training


def test_other_layer_shapes_and_the_switch_keep_the_whole_layer(monkeypatch):
    from transformers import DistilBertConfig, DistilBertForTokenClassification

    distil = DistilBertForTokenClassification(DistilBertConfig(vocab_size=100, dim=32, n_layers=2, n_heads=2,
                                                               hidden_dim=37))
    assert last_layer.find(distil) is None and not last_layer.install(distil)
    monkeypatch.setenv(last_layer.OFF_ENV, "1")
    assert not last_layer.install(tiny("bert", "Token"))


def test_the_read_rows_are_padded_to_a_grid_with_the_same_loss_and_gradients():
    model = tiny("bert", "Token")
    assert last_layer.install(model)
    ids = torch.randint(5, 100, (5, 12))
    labelled = torch.ones_like(ids, dtype=torch.bool)
    labelled[:, 0] = False  # 55 labelled tokens: 56 rows on the grid
    batch = {"input_ids": ids, "labels": torch.where(labelled, ids % 5, torch.full_like(ids, -100))}
    calls = []
    hook = model.base_model.encoder.layer[-1].attention.self.query.register_forward_hook(
        lambda mod, args, out: calls.append(tuple(args[0].shape)))
    loss_and_grads(model, batch, labelled)
    hook.remove()
    assert calls == [(56, 32)]
    assert_same(model, batch, labelled)
    padded = {n: last_layer._padded(torch.zeros(n, 1)).shape[0] for n in range(1, 4097)}
    assert all(n <= p <= n * 9 / 8 for n, p in padded.items())  # at most 1/8 more rows
    assert len({p for n, p in padded.items() if 512 <= n < 1024}) == last_layer.GRID + 1  # 512, 576, ..., 1024
