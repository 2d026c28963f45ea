"""`bertkit classify train | eval | predict` end to end on a tiny random BERT."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from helpers import invoke, jsonl, sentiment_rows

# fp32 on every CPU: numbers are compared
FAST = ["--epochs", "2", "--batch-size", "8", "--lr", "3e-3", "--seed", "1", "--mixed-precision", "no"]


def write_sentiment_tsv(path: Path, n: int, seed: int = 0) -> Path:
    rows = sentiment_rows(n, seed)
    path.write_text("sentence\tlabel\n" + "".join(f"{t}\t{y}\n" for t, y in rows))
    return path


@pytest.fixture(scope="module")
def binary_model(tiny_bert, tmp_path_factory):
    d = tmp_path_factory.mktemp("bin")
    train = write_sentiment_tsv(d / "train.tsv", 160, seed=0)
    dev = write_sentiment_tsv(d / "dev.tsv", 60, seed=1)
    out = d / "model"
    r = invoke(["classify", "train", "--model", str(tiny_bert), "--train", str(train), "--dev", str(dev), "-o",
                str(out),
                "--label-names", "negative,positive", *FAST, "--epochs", "4"])
    assert r.exit_code == 0, r.output
    return out, dev, json.loads(r.stdout)


def test_binary_train_writes_hf_folder(binary_model):
    out, _, summary = binary_model
    files = {p.name for p in out.iterdir()}
    assert {"config.json", "model.safetensors", "tokenizer.json", "bertkit.json", "metrics.json"} <= files
    cfg = json.loads((out / "config.json").read_text())
    assert cfg["id2label"] == {"0": "negative", "1": "positive"}
    assert cfg["problem_type"] == "single_label_classification"
    meta = json.loads((out / "bertkit.json").read_text())
    assert meta["problem_type"] == "binary" and meta["labels"] == ["negative", "positive"]
    assert meta["threshold"] == 0.5 and len(meta["tuned_thresholds"]) == 1
    metrics = json.loads((out / "metrics.json").read_text())
    assert len(metrics["history"]) == 4
    assert metrics["best"]["accuracy"] == max(h["accuracy"] for h in metrics["history"])
    assert summary["accuracy"] >= 0.9, summary  # the toy task is separable by one keyword
    assert not list(out.parent.glob(".model.partial-*"))


def test_binary_head_is_two_logit_softmax_equal_to_sigmoid(binary_model):
    """The saved 2-logit head gives logits (0, z): softmax p1 == sigmoid(z)."""
    import torch
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    out, _, _ = binary_model
    m = AutoModelForSequenceClassification.from_pretrained(out).eval()
    tok = AutoTokenizer.from_pretrained(out)
    with torch.no_grad():
        logits = m(**tok(["the film was good", "the plot was awful"], return_tensors="pt", padding=True)).logits
    assert m.config.num_labels == 2
    assert torch.allclose(logits[:, 0], torch.zeros(2), atol=1e-6)
    assert torch.allclose(torch.softmax(logits, -1)[:, 1], torch.sigmoid(logits[:, 1] - logits[:, 0]), atol=1e-6)


def test_pipeline_agrees_with_predict(binary_model):
    from transformers import pipeline

    out, dev, _ = binary_model
    texts = pd.read_csv(dev, sep="\t")["sentence"].tolist()
    r = invoke(["classify", "predict", "--model", str(out)], input="\n".join(texts) + "\n")
    assert r.exit_code == 0
    ours = jsonl(r.stdout)
    pipe = pipeline("text-classification", model=str(out), device="cpu")(texts)
    assert [o["label"] for o in ours] == [p["label"] for p in pipe]
    assert np.allclose([o["score"] for o in ours], [p["score"] for p in pipe], atol=1e-4)
    assert [o["text"] for o in ours] == texts  # input order kept although batches are sorted by length


def test_predict_jsonl_passthrough_all_scores_and_threshold(binary_model, tmp_path):
    out, _, _ = binary_model
    lines = [json.dumps({"id": i, "text": t, "extra": [i]}) for i, (t, _) in enumerate(sentiment_rows(12, 5))]
    f = tmp_path / "in.jsonl"
    f.write_text("\n".join(lines) + "\n")
    r = invoke(["classify", "predict", "--model", str(out), str(f), "--all-scores"])
    recs = jsonl(r.stdout)
    assert [x["id"] for x in recs] == list(range(12)) and recs[3]["extra"] == [3]
    for x in recs:
        assert set(x["scores"]) == {"negative", "positive"}
        assert abs(sum(x["scores"].values()) - 1) < 1e-4
        assert x["label"] == ("positive" if x["scores"]["positive"] > 0.5 else "negative")
    # no probability is above 1: at --threshold 1 every row is negative
    r = invoke(["classify", "predict", "--model", str(out), str(f), "--threshold", "1"])
    assert r.exit_code == 0 and {x["label"] for x in jsonl(r.stdout)} == {"negative"}


def test_predict_bf16_is_close_to_fp32_but_not_the_same_computation(binary_model, tmp_path):
    out, _, _ = binary_model
    f = tmp_path / "in.txt"
    f.write_text("\n".join(t for t, _ in sentiment_rows(24, 7)) + "\n")
    fp32 = jsonl(invoke(["classify", "predict", "--model", str(out), str(f), "--all-scores"]).stdout)
    bf16 = jsonl(invoke(["classify", "predict", "--model", str(out), str(f), "--all-scores", "--bf16"]).stdout)
    assert len(fp32) == len(bf16) == 24
    diffs = [abs(a["scores"]["positive"] - b["scores"]["positive"]) for a, b in zip(fp32, bf16)]
    assert max(diffs) < 0.02 and max(diffs) > 0  # bf16 autocast really ran, and stayed close


def test_predict_csv_and_formats(binary_model, tmp_path):
    out, _, _ = binary_model
    f = tmp_path / "in.csv"
    pd.DataFrame({"review": ["good fun", "awful plot"], "k": [1, 2]}).to_csv(f, index=False)
    r = invoke(["classify", "predict", "--model", str(out), str(f), "--text-col", "review", "--format", "csv"])
    assert r.exit_code == 0
    head, *rows = r.stdout.strip().splitlines()
    assert head.split(",")[:4] == ["review", "k", "label", "score"] and len(rows) == 2
    r = invoke(["classify", "predict", "--model", str(out), "--format", "json"], input="good\nbad\n")
    assert [x["text"] for x in json.loads(r.stdout)] == ["good", "bad"]


def test_predict_csv_on_stdin_reads_as_the_file_does(binary_model, tmp_path):
    """stdin CSV goes through the one table reader: quoted commas and newlines, cells as text, one-line errors."""
    out, _, _ = binary_model
    body = 'review,k\n"good, fun film",01\n"awful\nplot",2\nplain,\n'
    f = tmp_path / "in.csv"
    f.write_text(body)
    by_file = invoke(["classify", "predict", "--model", str(out), str(f), "--text-col", "review"])
    by_stdin = invoke(["classify", "predict", "--model", str(out), "-", "--input-format", "csv", "--text-col",
                       "review"], input=body)
    assert by_file.exit_code == by_stdin.exit_code == 0
    rows = jsonl(by_stdin.stdout)
    assert rows == jsonl(by_file.stdout)
    assert [r["review"] for r in rows] == ["good, fun film", "awful\nplot", "plain"] and rows[0]["k"] == "01"
    bad = invoke(["classify", "predict", "--model", str(out), "-", "--input-format", "csv"],
                 input='review\n"never closed\n')
    last = bad.output.strip().splitlines()[-1]
    assert bad.exit_code == 1 and last.startswith("bertkit: error: stdin: could not read")


def test_eval_metrics_json_and_table(binary_model):
    out, dev, summary = binary_model
    r = invoke(["classify", "eval", "--model", str(out), "--data", str(dev)])
    assert r.exit_code == 0
    m = json.loads(r.stdout)
    for k in ("accuracy", "f1_macro", "f1_micro", "f1_weighted", "precision_macro", "recall_macro", "roc_auc",
              "per_class", "confusion_matrix"):
        assert k in m
    assert m["accuracy"] == pytest.approx(summary["accuracy"], abs=1e-9)  # folded threshold reproduces the tuned one
    assert np.array(m["confusion_matrix"]["matrix"]).sum() == 60
    r = invoke(["classify", "eval", "--model", str(out), "--data", str(dev), "--format", "table"])
    assert r.exit_code == 0 and "accuracy" in r.stdout and "{" not in r.stdout


def test_multiclass_string_labels_csv(tiny_bert, tmp_path):
    rows = sentiment_rows(90, 2)
    labels = ["pos" if y else ("neg" if i % 3 else "neutral") for i, (_, y) in enumerate(rows)]
    df = pd.DataFrame({"text": [t for t, _ in rows], "category": labels})
    df.to_csv(tmp_path / "train.csv", index=False)
    r = invoke(["classify", "train", "--model", str(tiny_bert), "--train", str(tmp_path / "train.csv"), "--dev",
                str(tmp_path / "train.csv"),
                "-o", str(tmp_path / "m"), *FAST, "--epochs", "1"])
    assert r.exit_code == 0, r.output
    meta = json.loads((tmp_path / "m" / "bertkit.json").read_text())
    assert meta["problem_type"] == "multiclass" and meta["labels"] == ["neg", "neutral", "pos"]
    assert meta["label_col"] == "category"
    r = invoke(["classify", "predict", "--model", str(tmp_path / "m"), "--all-scores"], input="good fun\n")
    rec = jsonl(r.stdout)[0]
    assert rec["label"] in meta["labels"] and rec["score"] == pytest.approx(max(rec["scores"].values()), abs=1e-6)


def test_multilabel_headerless_tsv_and_jsonl_lists(tiny_bert, tmp_path):
    rows = sentiment_rows(80, 3)
    tsv = tmp_path / "ml.tsv"  # GoEmotions layout: text, "id,id", comment id; no header
    tsv.write_text("".join(f"{t}\t{'0,2' if y else '1'}\tc{i}\n" for i, (t, y) in enumerate(rows)))
    r = invoke(["classify", "train", "--model", str(tiny_bert), "--train", str(tsv), "--dev", str(tsv), "-o",
                str(tmp_path / "m"),
                "--label-names", "a,b,c", *FAST, "--epochs", "1"])
    assert r.exit_code == 0, r.output
    meta = json.loads((tmp_path / "m" / "bertkit.json").read_text())
    assert meta["problem_type"] == "multilabel" and meta["labels"] == ["a", "b", "c"]
    assert len(meta["tuned_thresholds"]) == 3
    cfg = json.loads((tmp_path / "m" / "config.json").read_text())
    assert cfg["problem_type"] == "multi_label_classification"
    metrics = json.loads((tmp_path / "m" / "metrics.json").read_text())
    assert metrics["threshold_tuning"]["tuned"] >= metrics["threshold_tuning"]["at_0.5"]
    r = invoke(["classify", "predict", "--model", str(tmp_path / "m")], input="good fun\n")
    rec = jsonl(r.stdout)[0]
    assert set(rec["labels"]) <= {"a", "b", "c"} and set(rec["label_scores"]) == set(rec["labels"])
    # the same data as JSONL with label lists
    jl = tmp_path / "ml.jsonl"
    jl.write_text("".join(json.dumps({"text": t, "labels": ["a", "c"] if y else ["b"]}) + "\n" for t, y in rows))
    r = invoke(["classify", "train", "--model", str(tiny_bert), "--train", str(jl), "-o", str(tmp_path / "m2"), *FAST,
                "--epochs", "1"])
    assert r.exit_code == 0, r.output
    assert json.loads((tmp_path / "m2" / "bertkit.json").read_text())["problem_type"] == "multilabel"
    r = invoke(["classify", "eval", "--model", str(tmp_path / "m2"), "--data", str(jl)])
    m = json.loads(r.stdout)
    assert {"f1_micro", "f1_macro", "subset_accuracy", "hamming_loss"} <= set(m)


def test_parquet_and_pairs(tiny_bert, tmp_path):
    rows = sentiment_rows(40, 4)
    pd.DataFrame({"sentence1": [t for t, _ in rows], "sentence2": ["the movie"] * 40,
                  "label": [y for _, y in rows]}).to_parquet(tmp_path / "p.parquet")
    r = invoke(["classify", "train", "--model", str(tiny_bert), "--train", str(tmp_path / "p.parquet"), "-o",
                str(tmp_path / "m"),
                "--text-pair-col", "sentence2", *FAST, "--epochs", "1"])
    assert r.exit_code == 0, r.output
    meta = json.loads((tmp_path / "m" / "bertkit.json").read_text())
    assert meta["text_col"] == "sentence1" and meta["text_pair_col"] == "sentence2"


def test_same_seed_same_model(tiny_bert, tmp_path):
    from safetensors.numpy import load_file

    train = write_sentiment_tsv(tmp_path / "t.tsv", 40)
    for name in ("a", "b"):
        r = invoke(["classify", "train", "--model", str(tiny_bert), "--train", str(train), "-o", str(tmp_path / name),
                    *FAST, "--epochs", "1"])
        assert r.exit_code == 0
    a, b = load_file(tmp_path / "a" / "model.safetensors"), load_file(tmp_path / "b" / "model.safetensors")
    assert all(np.array_equal(a[k], b[k]) for k in a)


def test_recipe_overrides_and_cli_wins(tiny_bert, tmp_path):
    train = write_sentiment_tsv(tmp_path / "t.tsv", 40)
    (tmp_path / "r.yaml").write_text(f"task: classify\ntrain: {train}\nepochs: 1\nbatch_size: 4\nmax_length: 16\n")
    r = invoke(["classify", "train", "--model", str(tiny_bert), "-c", str(tmp_path / "r.yaml"), "-o",
                str(tmp_path / "m"), "--batch-size", "8"])
    assert r.exit_code == 0, r.output
    args = json.loads((tmp_path / "m" / "bertkit.json").read_text())["training_args"]
    assert args["batch_size"] == 8 and args["max_length"] == 16 and args["epochs"] == 1


@pytest.mark.parametrize(
    "extra, code, needle",
    [
        (["--train", "nope/missing.csv"], 1, "missing.csv: file not found"),
        (["--label-col", "nope"], 1, "no column 'nope' (--label-col)"),
        (["--max-length", "4096"], 2, "above this model's limit of 512"),
        (["--problem-type", "regression"], 2, "--problem-type must be one of"),
        (["--class-weights", "sometimes"], 2, "--class-weights must be one of auto, none"),
        (["--metric", "bleu"], 2, "--metric must be one of accuracy"),
        (["--metric", "hamming_loss"], 1, "--metric 'hamming_loss' is not available for binary"),
    ],
)
def test_train_errors_are_one_line(tiny_bert, tmp_path, extra, code, needle):
    train = write_sentiment_tsv(tmp_path / "t.tsv", 20)
    args = ["classify", "train", "--model", str(tiny_bert), "--train", str(train), "-o", str(tmp_path / "m"),
            "--epochs", "1", *extra]
    r = invoke(args)
    assert r.exit_code == code
    errors = [ln for ln in r.stderr.splitlines() if ln.startswith("bertkit: error:")]
    assert len(errors) == 1 and needle in errors[0] and "Traceback" not in r.stderr
    assert not (tmp_path / "m").exists()


def test_unknown_recipe_key_and_nonempty_output(tiny_bert, tmp_path):
    train = write_sentiment_tsv(tmp_path / "t.tsv", 20)
    (tmp_path / "r.yaml").write_text("epochs: 1\nlearning_rate: 0.1\n")
    r = invoke(["classify", "train", "--model", str(tiny_bert), "--train", str(train), "-o", str(tmp_path / "m"), "-c",
                str(tmp_path / "r.yaml")])
    assert r.exit_code == 2 and "unknown key(s) learning_rate" in r.stderr
    (tmp_path / "busy").mkdir()
    (tmp_path / "busy" / "x").write_text("keep me")
    r = invoke(["classify", "train", "--model", str(tiny_bert), "--train", str(train), "-o", str(tmp_path / "busy")])
    assert r.exit_code == 1 and "--overwrite" in r.stderr
    assert (tmp_path / "busy" / "x").read_text() == "keep me"


@pytest.mark.parametrize("overwrite", [False, True])
def test_crash_while_saving_leaves_no_output(tiny_bert, tmp_path, monkeypatch, overwrite):
    """A crash inside the atomic output block (the model half-written) leaves no folder that looks complete and no
    .partial folder; with --overwrite the old folder stays as it was."""
    from transformers import PreTrainedModel

    def save_half(self, path, *a, **k):
        (Path(path) / "model.safetensors").write_bytes(b"half")
        raise RuntimeError("simulated crash while saving")

    train = write_sentiment_tsv(tmp_path / "t.tsv", 20)
    out = tmp_path / "m"
    if overwrite:
        out.mkdir()
        (out / "old.txt").write_text("the previous model")
    monkeypatch.setattr(PreTrainedModel, "save_pretrained", save_half)
    args = ["classify", "train", "--model", str(tiny_bert), "--train", str(train), "-o", str(out), *FAST, "--epochs",
            "1"]
    r = invoke(args + (["--overwrite"] if overwrite else []))
    assert r.exit_code == 1 and "simulated crash while saving" in r.stderr and "--debug" in r.stderr
    if overwrite:
        assert [p.name for p in out.iterdir()] == ["old.txt"]
    else:
        assert not out.exists()
    assert not list(tmp_path.glob(".m.*"))


def test_output_folder_follows_the_umask(tiny_bert, tmp_path):
    import os
    import stat

    train = write_sentiment_tsv(tmp_path / "t.tsv", 20)
    old = os.umask(0o022)
    try:
        r = invoke(["classify", "train", "--model", str(tiny_bert), "--train", str(train), "-o", str(tmp_path / "m"),
                    *FAST, "--epochs", "1"])
    finally:
        os.umask(old)
    assert r.exit_code == 0, r.stderr
    assert stat.S_IMODE((tmp_path / "m").stat().st_mode) == 0o755
    assert all(stat.S_IMODE(p.stat().st_mode) == 0o644 for p in (tmp_path / "m").iterdir()), \
        {p.name: oct(p.stat().st_mode) for p in (tmp_path / "m").iterdir()}


def test_eval_steps_patience_bf16_and_class_weights(tiny_bert, tmp_path):
    """--eval-steps evaluates mid-epoch, --patience stops early, bf16 autocast and class weights run on CPU."""
    train = write_sentiment_tsv(tmp_path / "t.tsv", 64)
    r = invoke(["classify", "train", "--model", str(tiny_bert), "--train", str(train), "--dev", str(train), "-o",
                str(tmp_path / "m"),
                "--epochs", "20", "--batch-size", "8", "--lr", "1e-7", "--eval-steps", "2", "--patience", "2",
                "--mixed-precision", "bf16", "--class-weights", "auto"])
    assert r.exit_code == 0, r.output
    metrics = json.loads((tmp_path / "m" / "metrics.json").read_text())
    steps = [h["step"] for h in metrics["history"]]
    assert steps[:3] == [2, 4, 6]
    assert metrics["train"]["stopped_early"] is True and metrics["train"]["steps"] < 20 * 8
    # stopped exactly `patience` evaluations after the last improvement (a better accuracy, or at a tied accuracy a
    # lower dev loss: with --lr 1e-7 the accuracy stays put and the dev loss moves); the kept one is the rule's
    from bertkit.engine.selection import judge

    kept = last_improved = None
    for i, h in enumerate(metrics["history"]):
        prev = metrics["history"][kept] if kept is not None else {}
        verdict = judge(h["accuracy"], h["dev_loss"], prev.get("accuracy"), prev.get("dev_loss"))
        kept = i if verdict.replace else kept
        last_improved = i if verdict.improved else last_improved
    assert len(steps) - 1 - last_improved == 2
    assert metrics["best"]["step"] == steps[kept]
    args = json.loads((tmp_path / "m" / "bertkit.json").read_text())["training_args"]
    assert args["mixed_precision"] == "bf16" and args["class_weights"] == "auto"


def test_final_loss_reported_without_dev(tiny_bert, tmp_path):
    train = write_sentiment_tsv(tmp_path / "t.tsv", 32)
    r = invoke(["classify", "train", "--model", str(tiny_bert), "--train", str(train), "-o", str(tmp_path / "m"),
                *FAST])
    assert r.exit_code == 0, r.output
    summary = json.loads(r.stdout)
    assert summary["final_loss"] is not None and summary["final_loss"] > 0 and summary["epochs"] == 2.0
