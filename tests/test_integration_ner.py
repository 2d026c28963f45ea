"""Slow: fine-tune the real packaged MiniLM on WNUT-17 (its first 2,400 sentences, 2 epochs); dev entity F1 above
chance, offsets exact on the whole dev set, and, on the first 450 dev sentences, the Hugging Face pipeline's entities
equal bertkit's `--decode argmax` (the pipeline's reading) where its word splitting matches; the default viterbi
reading changes only sentences whose argmax tags are ill formed. (bench/predict_ner.py reports the pipeline's
agreement on the whole dev set.)"""

from __future__ import annotations

import json

import pytest
from helpers import invoke

pytestmark = pytest.mark.slow


def test_minilm_wnut17_learns_and_pipeline_agrees(shared_data, minilm, tmp_path):
    from transformers import pipeline

    from bertkit.ner.conll import read_conll
    from bertkit.ner.predict import Tagger
    from bertkit.ner.schemes import invalid_continuations
    from bertkit.ner.spans import split_words

    wnut = shared_data / "ner" / "wnut17"
    out = tmp_path / "wnut"
    r = invoke(["ner", "train", "--train", str(wnut / "train.conll"), "--dev", str(wnut / "dev.conll"),
                "--limit", "2400", "--dev-limit", "400", "--epochs", "2", "--lr", "1e-4", "-o", str(out)])
    assert r.exit_code == 0, r.stderr[-3000:]
    summary = json.loads(r.stdout)
    assert summary["scheme"] == "IOB2" and summary["f1"] > 0.3, summary  # an untrained head scores 0

    texts = [" ".join(t) for t in read_conll(wnut / "dev.conll").tokens]
    ours = Tagger(str(out))(texts)  # viterbi, as trained
    alone = Tagger(str(out), decode="argmax")
    assert len(ours) == 1009
    assert all(t[e["start"]:e["end"]] == e["text"] for t, rec in zip(texts, ours) for e in rec["entities"])
    pipe = pipeline("token-classification", model=str(out), aggregation_strategy="first", device="cpu")
    same = {"argmax": 0, "viterbi": 0}
    comparable = 0
    texts, ours = texts[:450], ours[:450]
    words = [split_words(t)[0] for t in texts]
    for text, w, rec, rec_alone, tags in zip(texts, words, ours, alone(texts), alone.tag_words(words)[0]):
        spans = {how: {(e["type"], e["start"], e["end"]) for e in r["entities"]}
                 for how, r in (("viterbi", rec), ("argmax", rec_alone))}
        if not invalid_continuations(tags):  # the argmax tags are well formed: viterbi changes nothing
            assert spans["viterbi"] == spans["argmax"], text
        pre = [p for p, _ in pipe.tokenizer.backend_tokenizer.pre_tokenizer.pre_tokenize_str(text)]
        if pre != w:
            continue
        comparable += 1
        theirs = {(e["entity_group"], e["start"], e["end"]) for e in pipe(text)}
        for how in same:
            same[how] += theirs == spans[how]
    print(f"pipeline agreement on WNUT-17 dev, of {comparable} comparable sentences of {len(texts)}: "
          f"{same['argmax']} with --decode argmax (the pipeline's reading), {same['viterbi']} with viterbi")
    assert comparable >= 300 and same["argmax"] >= 0.99 * comparable
