"""bertkit's training loop and the Hugging Face Trainer's make the same updates: from the same weights, on the same
data in one full batch (so the batch order cannot differ), without dropout (so no random masks differ), 3 steps of
AdamW with weight decay, clipping and the linear schedule give the same model to fp32 rounding. What the two runs may
then differ in on real data is only what is drawn at random: batch order and dropout masks."""

from __future__ import annotations

import json

import numpy as np
import pytest


def _toy(n: int = 24):
    rng = np.random.default_rng(0)
    words, tags = [], []
    for _ in range(n):
        w, t = [], []
        for _ in range(int(rng.integers(3, 9))):
            r = rng.random()
            if r < 0.2:
                w += ["john", "smith"]
                t += ["B-person", "I-person"]
            elif r < 0.3:
                w.append("paris")
                t.append("B-location")
            else:
                w.append(str(rng.choice(["i", "met", "in", "the", "park", "today", "we", "went"])))
                t.append("O")
        words.append(w)
        tags.append(t)
    return words, tags


def _trainer(init, words, tags, ids, epochs: int, tmp_path):
    from datasets import Dataset
    from transformers import (
        AutoModelForTokenClassification,
        AutoTokenizer,
        DataCollatorForTokenClassification,
        Trainer,
        TrainingArguments,
    )

    tok = AutoTokenizer.from_pretrained(init)

    def enc(b):  # run_ner.py's tokenize_and_align_labels: the label on each word's first sub-token
        e = tok(b["tokens"], truncation=True, max_length=64, is_split_into_words=True)
        e["labels"] = [[-100 if w is None or (j and e.word_ids(i)[j - 1] == w) else ids[b["tags"][i][w]]
                        for j, w in enumerate(e.word_ids(i))] for i in range(len(b["tokens"]))]
        return e

    ds = Dataset.from_dict({"tokens": words, "tags": tags}).map(enc, batched=True, remove_columns=["tokens", "tags"])
    model = AutoModelForTokenClassification.from_pretrained(init)
    args = TrainingArguments(output_dir=str(tmp_path / "hf"), per_device_train_batch_size=len(words),
                             learning_rate=1e-3, num_train_epochs=epochs, seed=1, warmup_steps=0, weight_decay=0.01,
                             max_grad_norm=1.0, report_to=[], use_cpu=True, save_strategy="no",
                             logging_strategy="no", disable_tqdm=True)
    Trainer(model=model, args=args, train_dataset=ds, data_collator=DataCollatorForTokenClassification(tok)).train()
    return {k: v.detach().float() for k, v in model.state_dict().items()}


def test_one_full_batch_without_dropout_gives_the_trainers_weights(tiny_bert, tmp_path):
    pytest.importorskip("datasets")
    from safetensors.torch import load_file
    from transformers import AutoConfig, AutoModelForTokenClassification, AutoTokenizer

    from bertkit.ner.data import label_list
    from bertkit.ner.settings import NERConfig
    from bertkit.ner.train import train

    words, tags = _toy()
    labels = label_list(tags, "IOB2")
    ids = {n: i for i, n in enumerate(labels)}
    init = tmp_path / "init"
    cfg = AutoConfig.from_pretrained(tiny_bert, num_labels=len(labels), id2label=dict(enumerate(labels)),
                                     label2id=ids, hidden_dropout_prob=0.0, attention_probs_dropout_prob=0.0)
    AutoModelForTokenClassification.from_pretrained(tiny_bert, config=cfg).save_pretrained(init)
    AutoTokenizer.from_pretrained(tiny_bert).save_pretrained(init)
    data = tmp_path / "train.conll"
    data.write_text("".join("".join(f"{w}\t{t}\n" for w, t in zip(ws, ts)) + "\n" for ws, ts in zip(words, tags)))

    theirs = _trainer(str(init), words, tags, ids, 3, tmp_path)
    out = tmp_path / "bk"
    summary = train(NERConfig(model=str(init), train=str(data), output_dir=str(out), epochs=3, batch_size=len(words),
                              lr=1e-3, seed=1, warmup_ratio=0.0, weight_decay=0.01, max_grad_norm=1.0,
                              max_length=64, mixed_precision="no", overwrite=True))
    assert summary["steps"] == 3 and json.loads((out / "bertkit.json").read_text())["labels"] == labels
    ours, start = load_file(str(out / "model.safetensors")), load_file(str(init / "model.safetensors"))
    for name, w in ours.items():
        moved = float((theirs[name] - start[name].float()).abs().max())
        apart = float((theirs[name] - w.float()).abs().max())
        assert apart <= 1e-3 * moved + 1e-6, (name, apart, moved)  # AdamW moved it ~3e-3; rounding apart
