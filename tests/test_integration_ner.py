"""Slow: fine-tune the real packaged MiniLM on a slice of WNUT-17; dev entity F1 above chance, offsets exact on the
whole dev set, and the Hugging Face pipeline's entities equal bertkit's where its word splitting matches."""

from __future__ import annotations

import json

import pytest
from helpers import invoke

pytestmark = pytest.mark.slow


@pytest.mark.xfail(reason="known gap of issue 21: on this WNUT-17 slice the MiniLM tagger underfits "
                          "(dev F1 0.005 after "
                          "2 epochs at the recipe's lr 5e-5 in the first CI run); the defaults still "
                          "have to be chosen on "
                          "dev", strict=False)
def test_minilm_wnut17_slice_learns_and_pipeline_agrees(shared_data, minilm, tmp_path):
    from transformers import pipeline

    from bertkit.ner.conll import read_conll
    from bertkit.ner.predict import Tagger
    from bertkit.ner.spans import split_words

    wnut = shared_data / "ner" / "wnut17"
    out = tmp_path / "wnut"
    r = invoke(["ner", "train", "--train", str(wnut / "train.conll"), "--dev", str(wnut / "dev.conll"),
                "--limit", "1200", "--dev-limit", "400", "--epochs", "2", "--lr", "2e-4", "-o", str(out)])
    assert r.exit_code == 0, r.stderr[-3000:]
    summary = json.loads(r.stdout)
    assert summary["scheme"] == "IOB2" and summary["f1"] > 0.15, summary  # an untrained head scores about 0

    texts = [" ".join(t) for t in read_conll(wnut / "dev.conll").tokens]
    ours = Tagger(str(out))(texts)
    assert len(ours) == 1009
    assert all(t[e["start"]:e["end"]] == e["text"] for t, rec in zip(texts, ours) for e in rec["entities"])
    pipe = pipeline("token-classification", model=str(out), aggregation_strategy="first", device="cpu")
    same = comparable = 0
    for text, rec in zip(texts, ours):
        pre = [w for w, _ in pipe.tokenizer.backend_tokenizer.pre_tokenizer.pre_tokenize_str(text)]
        if pre != split_words(text)[0]:
            continue
        comparable += 1
        theirs = {(e["entity_group"], e["start"], e["end"]) for e in pipe(text)}
        same += theirs == {(e["type"], e["start"], e["end"]) for e in rec["entities"]}
    print(f"pipeline agreement on WNUT-17 dev: {same}/{comparable} comparable sentences of {len(texts)}")
    assert comparable >= 300 and same >= 0.99 * comparable
