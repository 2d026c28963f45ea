"""`bertkit ner train | eval | predict` end to end on a tiny random BERT: a learnable toy set plus real WNUT-17
sentences; metrics equal seqeval on the predictions written in CoNLL; exact character offsets; windows; the
Hugging Face pipeline and --fast agree with bertkit."""

from __future__ import annotations

import json
import random
from pathlib import Path

import pytest
from helpers import invoke, jsonl

FAST = ["--epochs", "6", "--batch-size", "8", "--lr", "3e-3", "--seed", "1", "--mixed-precision", "no",
        "--max-length", "24", "--stride", "6"]
PEOPLE = ["john", "mary", "paul", "anna", "peter", "susan", "david", "laura"]
PLACES = ["paris", "london", "berlin", "madrid", "rome", "vienna", "dublin", "oslo"]
FILL = ["i", "met", "today", "in", "and", "we", "went", "to", "the", "park", "with", "my", "friend", "yesterday",
        "lunch", "city", "visited", "after", "work", "happy"]


def toy_sentences(n: int, seed: int) -> list[list[tuple[str, str]]]:
    """Sentences whose entities are known words: person names and places (one `new york`-like two-word place)."""
    rng = random.Random(seed)
    out = []
    for _ in range(n):
        sent = []
        for _ in range(rng.randint(4, 18 if rng.random() < 0.2 else 9)):  # some longer than one window
            r = rng.random()
            if r < 0.15:
                sent.append((rng.choice(PEOPLE), "B-person"))
            elif r < 0.25:
                sent.append((rng.choice(PLACES), "B-location"))
            elif r < 0.28:
                sent += [("new", "B-location"), ("york", "I-location")]
            else:
                sent.append((rng.choice(FILL), "O"))
        out.append(sent)
    return out


def write_conll(path: Path, sents) -> Path:
    path.write_text("".join("".join(f"{w}\t{t}\n" for w, t in s) + "\n" for s in sents))
    return path


@pytest.fixture(scope="module")
def trained(tiny_bert, tmp_path_factory, shared_data):
    d = tmp_path_factory.mktemp("ner")
    train = write_conll(d / "train.conll", toy_sentences(160, 0))
    dev = write_conll(d / "dev.conll", toy_sentences(40, 1))
    out = d / "model"
    r = invoke(["ner", "train", "-m", str(tiny_bert), "--train", str(train), "--dev", str(dev), "-o", str(out), *FAST])
    assert r.exit_code == 0, r.stderr[-3000:]
    return out, dev, json.loads(r.stdout), r.stderr


def test_train_writes_a_token_classification_folder(trained):
    out, _, summary, log = trained
    names = {p.name for p in out.iterdir()}
    assert {"config.json", "model.safetensors", "tokenizer.json", "bertkit.json", "metrics.json",
            "training_curves.png", "confusion_matrix.png"} <= names
    cfg = json.loads((out / "config.json").read_text())
    assert cfg["architectures"] == ["BertForTokenClassification"]
    assert cfg["id2label"]["0"] == "O" and set(cfg["id2label"].values()) == {
        "O", "B-location", "I-location", "B-person", "I-person"}
    meta = json.loads((out / "bertkit.json").read_text())
    assert meta["task"] == "ner" and meta["scheme"] == "IOB2" and meta["stride"] == 6
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["best"]["f1"] == max(h["f1"] for h in metrics["history"])
    assert set(metrics["dev"]["per_type"]) == {"location", "person"}
    assert summary["f1"] >= 0.8, summary  # entities are fixed words: learnable
    w = summary["windows"]["train"]
    assert w["windows"] > w["sentences"] and w["long_sentences"] > 0  # long sentences became windows
    assert "tag scheme IOB2 (detected)" in log and "windows of 160 sentences" in log


def test_eval_equals_seqeval_on_the_conll_predictions(trained):
    """`ner eval` F1 equals seqeval's on the tags `ner predict --format conll` writes (the submission format)."""
    seqeval = pytest.importorskip("seqeval.metrics")
    out, dev, _, _ = trained
    r = invoke(["ner", "eval", "-m", str(out), "--data", str(dev)])
    assert r.exit_code == 0, r.stderr[-2000:]
    res = json.loads(r.stdout)
    p = invoke(["ner", "predict", "-m", str(out), str(dev), "--format", "conll"])
    assert p.exit_code == 0, p.stderr[-2000:]
    blocks = [b for b in p.stdout.split("\n\n") if b.strip()]
    gold_blocks = [b for b in dev.read_text().split("\n\n") if b.strip()]
    assert len(blocks) == len(gold_blocks) == res["sentences"] == 40
    pred = [[ln.split("\t")[1] for ln in b.splitlines()] for b in blocks]
    gold = [[ln.split("\t")[1] for ln in b.splitlines()] for b in gold_blocks]
    toks = [[ln.split("\t")[0] for ln in b.splitlines()] for b in blocks]
    assert toks == [[ln.split("\t")[0] for ln in b.splitlines()] for b in gold_blocks]
    assert res["f1"] == pytest.approx(seqeval.f1_score(gold, pred), abs=1e-9)
    assert res["precision"] == pytest.approx(seqeval.precision_score(gold, pred), abs=1e-9)
    assert res["recall"] == pytest.approx(seqeval.recall_score(gold, pred), abs=1e-9)
    table = invoke(["ner", "eval", "-m", str(out), "--data", str(dev), "--format", "table"])
    assert table.exit_code == 0 and "f1" in table.stdout


def _check_offsets(records, texts):
    n = 0
    for rec, text in zip(records, texts):
        assert rec["text"] == text
        for e in rec["entities"]:
            assert text[e["start"]:e["end"]] == e["text"], (e, text)
            assert e["type"] in ("person", "location") and 0 <= e["score"] <= 1
            n += 1
    return n


def test_predict_text_gives_exact_offsets_with_emoji_cjk_and_repeats(trained):
    out = trained[0]
    texts = ["i met john in paris 😀 and john again in paris",
             "東京 and paris , mary 🎉🎉 mary mary went to new york",
             "  leading spaces then anna\tand a tab with rome  ",
             "john's friend, (mary), went to london!!"]
    r = invoke(["ner", "predict", "-m", str(out)], input="\n".join(texts) + "\n")
    assert r.exit_code == 0, r.stderr[-2000:]
    recs = jsonl(r.stdout)
    assert len(recs) == len(texts) and _check_offsets(recs, texts) >= 8
    found = {(e["text"], e["type"]) for e in recs[0]["entities"]}
    assert ("john", "person") in found and ("paris", "location") in found
    assert [e["start"] for e in recs[0]["entities"] if e["text"] == "john"] == [6, 26]  # repeated words kept apart
    assert any(e["text"] == "new york" and e["type"] == "location" for e in recs[1]["entities"])


def test_predict_offsets_on_wnut17_dev(trained, shared_data):
    from bertkit.ner.conll import read_conll

    out = trained[0]
    sents = read_conll(shared_data / "ner" / "wnut17" / "dev.conll")
    texts = [" ".join(t) for t in sents.tokens[:300]]
    from bertkit.ner.predict import Tagger

    recs = Tagger(str(out))(texts)
    _check_offsets(recs, texts)
    assert len(recs) == 300


def test_predict_jsonl_tokens_and_json_format(trained):
    out = trained[0]
    d = out.parent
    (d / "in.jsonl").write_text(json.dumps({"tokens": ["i", "met", "john", "in", "new", "york"]}) + "\n"
                                + json.dumps({"text": "mary went to rome"}) + "\n")
    r = invoke(["ner", "predict", "-m", str(out), str(d / "in.jsonl"), "--format", "json"])
    assert r.exit_code == 0, r.stderr[-2000:]
    recs = json.loads(r.stdout)
    assert recs[0]["tokens"][2] == "john" and len(recs[0]["tags"]) == 6
    assert recs[0]["text"] == "i met john in new york" and "tags" not in recs[1]
    for agg in ("average", "max"):
        r = invoke(["ner", "predict", "-m", str(out), str(d / "in.jsonl"), "--aggregate", agg])
        assert r.exit_code == 0 and len(jsonl(r.stdout)) == 2


def test_tagger_api_and_windows_cover_every_word(trained):
    from bertkit import Tagger

    out = trained[0]
    t = Tagger(str(out), max_length=12, stride=3)
    words = ["i", "met", "john"] * 20 + ["in", "paris"]
    tags, scores = t.tag_words([words, ["\u200b", "john"]])
    assert len(tags[0]) == len(words) and len(scores[0]) == len(words)
    assert t.last_counts["long_sentences"] == 1 and t.last_counts["windows"] > 3
    assert t.last_counts["dropped_words"] == 1 and tags[1][0] == "O"  # a zero-width word still gets a tag
    assert tags[0][2] == "B-person" and tags[0][-1] == "B-location"
    one = t("mary went to rome")
    assert one["text"] == "mary went to rome" and isinstance(one["entities"], list)


def test_hf_pipeline_loads_the_folder_and_agrees(trained, shared_data):
    """transformers' token-classification pipeline (aggregation "first") on the folder as saved: its entities equal
    bertkit's (type, start, end) with --decode argmax on every text where its word splitting matches ours."""
    from transformers import pipeline

    from bertkit.ner.predict import Tagger
    from bertkit.ner.spans import split_words

    out = trained[0]
    texts = [" ".join(w for w, _ in s) for s in toy_sentences(60, 7)]
    pipe = pipeline("token-classification", model=str(out), aggregation_strategy="first", device="cpu")
    ours = Tagger(str(out), max_length=512, decode="argmax")(texts)  # the pipeline's reading of the same tags
    same = comparable = 0
    for text, rec in zip(texts, ours):
        pre = pipe.tokenizer.backend_tokenizer.pre_tokenizer.pre_tokenize_str(text)
        if [w for w, _ in pre] != split_words(text)[0]:
            continue
        comparable += 1
        theirs = {(e["entity_group"], e["start"], e["end"]) for e in pipe(text)}
        same += theirs == {(e["type"], e["start"], e["end"]) for e in rec["entities"]}
    print(f"pipeline agreement: {same}/{comparable} comparable texts of {len(texts)}")
    assert comparable >= 50 and same == comparable
