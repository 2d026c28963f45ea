"""Integration: fine-tune the real MiniLM briefly on a slice of XQuAD-en, evaluate, ask (slow: ~1-2 min on 2 cores)."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from bertkit.cli.main import app

pytestmark = pytest.mark.slow

N_TRAIN, N_EVAL = 160, 60


def _slice(squad: dict, lo: int, hi: int) -> dict:
    """Questions lo..hi-1 of a SQuAD file, as a SQuAD file."""
    out, n = {"version": squad.get("version"), "data": []}, 0
    for a in squad["data"]:
        paras = []
        for p in a["paragraphs"]:
            qas = []
            for q in p["qas"]:
                if lo <= n < hi:
                    qas.append(q)
                n += 1
            if qas:
                paras.append({"context": p["context"], "qas": qas})
        if paras:
            out["data"].append({"title": a["title"], "paragraphs": paras})
    return out


def test_minilm_squad_train_eval_ask(minilm, shared_data, tmp_path):
    from bertkit.qa.baseline import first_sentence_predictions
    from bertkit.qa.data import load_qa
    from bertkit.qa.squad_metrics import squad_evaluate

    squad = json.loads((shared_data / "squad" / "xquad.en.json").read_text())
    train, held = tmp_path / "train.json", tmp_path / "held.json"
    train.write_text(json.dumps(_slice(squad, 0, N_TRAIN)))
    held.write_text(json.dumps(_slice(squad, N_TRAIN, N_TRAIN + N_EVAL)))
    runner = CliRunner()
    out = tmp_path / "minilm-qa"
    r = runner.invoke(app, ["qa", "train", "--model", str(minilm), "--train", str(train), "-o", str(out),
                            "--max-length", "192", "--doc-stride", "64", "--epochs", "3", "--lr", "3e-4",
                            "--batch-size", "16", "--warmup-ratio", "0.1"])
    assert r.exit_code == 0, r.output
    r = runner.invoke(app, ["qa", "eval", "--model", str(out), "--data", str(held)])
    assert r.exit_code == 0, r.output
    scores = json.loads(r.stdout)
    base = squad_evaluate(json.loads(held.read_text()), first_sentence_predictions(load_qa(str(held)).examples))
    assert scores["total"] == N_EVAL
    # unseen questions and paragraphs, after 39 steps on a CPU: measured 13.6 F1 against the baseline's 6.6;
    # a broken pipeline (labels, windows, post-processing) stays at or below the baseline
    assert scores["f1"] > base["f1"] + 3, (scores, base)

    r = runner.invoke(app, ["qa", "ask", "--model", str(out), "-q", "Who was Jim Henson?",
                            "--context", "Jim Henson was a nice puppet.", "--top-k", "3"])
    assert r.exit_code == 0, r.output
    rec = json.loads(r.stdout)
    assert rec["answer"] and ("Henson" in rec["answer"] or "puppet" in rec["answer"]), rec
    assert all(a["score"] <= rec["score"] for a in rec["alternatives"])

    # a context of 3,000+ words (other paragraphs) with the answer near the end: ~25 windows with stride
    filler = " ".join(p["context"] for a in squad["data"][-12:] for p in a["paragraphs"])
    words = filler.split()[:3200]
    long_ctx = " ".join(words[:3100]) + " Jim Henson was a nice puppet. " + " ".join(words[3100:])
    f = tmp_path / "long.txt"
    f.write_text(long_ctx)
    r = runner.invoke(app, ["qa", "ask", "--model", str(out), "-q", "Who was Jim Henson?", "--context-file", str(f)])
    assert r.exit_code == 0, r.output
    rec = json.loads(r.stdout)
    # every window was scored and the answer maps back to the context; a model trained this briefly does not
    # reliably pick the right window among ~25
    assert rec["answer"] and long_ctx[rec["start"] : rec["end"]] == rec["answer"], rec
