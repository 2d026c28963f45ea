"""The bench scripts run end to end (`--smoke`: the tiny random BERT, a few rows, one repeat) and print
well-formed JSON lines with a ratio for every comparison. Speed is not checked here."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


def run_bench(script: str, *args: str) -> list[dict]:
    env = {**os.environ, "BERTKIT_NO_PROGRESS": "1", "TOKENIZERS_PARALLELISM": "false", "HF_HUB_OFFLINE": "1"}
    r = subprocess.run([sys.executable, str(REPO / "bench" / script), "--smoke", *args], cwd=str(REPO), env=env,
                       capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr[-3000:]
    lines = [json.loads(ln) for ln in r.stdout.splitlines() if ln.strip()]
    assert lines and all("loadavg" in ln and "kind" in ln for ln in lines), r.stdout
    return lines


def test_train_classify_smoke(shared_data):
    lines = run_bench("train_classify.py", "--peak", str(REPO / "bench" / "results" / "peak-epyc.json"))
    runs = [ln for ln in lines if ln["kind"] == "run"]
    assert {r["side"] for r in runs} == {"bertkit", "trainer", "trainer-grouped"}
    assert [r["group_by_length"] for r in runs if r["side"] == "trainer-grouped"] == [True]
    for r in runs:
        assert r["train_rows"] == 64 and r["train_samples_per_s"] > 0 and r["peak_rss_mb"] > 0
        assert 0.0 <= r["dev_accuracy"] <= 1.0
        assert 0 < r["achieved_gflops"] <= r["executed_gflops"] and r["padded_per_real"] >= 1.0
        assert 0 < r["achieved_share_of_peak"] <= r["executed_share_of_peak"]
    (ratio,) = [ln for ln in lines if ln["kind"] == "ratio"]
    assert ratio["train_samples_per_s_x"] > 0 and ratio["x_vs_trainer_grouped"] > 0
    assert len(ratio["rounds_x_vs_trainer_grouped"]) == 1 and ratio["geomean_x_vs_trainer_grouped"] > 0
    assert ratio["ceiling_x_vs_trainer"] > 0
    assert set(ratio["targets"]) == {"train_3.5x", "same_precision_1.5x_grouped", "accuracy_within_0.3",
                                     "rss_not_above"}


def test_train_ner_smoke(shared_data):
    peak = REPO / "bench" / "results" / "peak-epyc.json"
    lines = run_bench("train_ner.py", "--bertkit-set", "bucket_size=1", "--bertkit-set", "log-every=5",
                      "--trainer-patches", "dropout,attention,embedding", "--peak", str(peak))
    runs = [ln for ln in lines if ln["kind"] == "run"]
    assert {r["side"] for r in runs} == {"bertkit", "trainer", "trainer-grouped"}
    for r in runs:
        assert r["train_samples_per_s"] > 0 and r["peak_rss_mb"] > 0 and 0.0 <= r["dev_f1"] <= 1.0
        assert r["bertkit_settings"] == {"bucket_size": 1, "log_every": 5}  # said on every line
        assert r["trainer_patches"] == "dropout,attention,embedding"
        assert 0 < r["achieved_gflops"] <= r["executed_gflops"] and r["padded_per_real"] >= 1.0
        assert r["peak_precision"] in ("fp32", "bf16")
        assert 0 < r["achieved_share_of_peak"] <= r["executed_share_of_peak"]
        assert r["model_gflop_per_sample"] > 0
        if r["side"] == "bertkit":  # its tags read with viterbi, and the same model's argmax F1 beside
            assert r["decode"] == "viterbi" and 0.0 <= r["dev_f1_argmax"] <= 1.0
    (ratio,) = [ln for ln in lines if ln["kind"] == "ratio"]
    assert ratio["train_samples_per_s_x"] > 0 and ratio["x_vs_trainer_grouped"] > 0
    assert len(ratio["rounds_x_vs_trainer_grouped"]) == 1 and ratio["geomean_x_vs_trainer_grouped"] > 0
    assert ratio["ceiling_x_vs_trainer"] > 0


def test_training_flops_count_the_training_forwards_real_and_padded(tiny_bert):
    import torch
    from transformers import AutoModelForTokenClassification

    sys.path.insert(0, str(REPO / "bench"))
    import train_flops

    train_flops._COUNT.update(dict.fromkeys(train_flops._COUNT, 0))
    model = AutoModelForTokenClassification.from_pretrained(str(tiny_bert), num_labels=3)
    count = train_flops.count_training_tokens(model)
    ids, mask = torch.ones(2, 5, dtype=torch.long), torch.tensor([[1, 1, 1, 0, 0], [1, 1, 1, 1, 1]])
    model.train()
    model(input_ids=ids, attention_mask=mask)
    model.eval()
    model(input_ids=ids, attention_mask=mask)  # evaluation is not training: not counted
    assert count == {"rows": 2, "real": 8, "padded": 10, "real_sq": 9 + 25, "padded_sq": 50}
    shape = train_flops.model_shape(str(tiny_bert))
    rep = train_flops.figures(count, shape, train_s=2.0, samples=2)
    h, f, layers = shape
    real = 3 * (2 * layers * (4 * h * h + 2 * h * f) * 8 + layers * 4 * h * 34)
    assert rep["achieved_gflops"] == float(f"{real / 1e9 / 2.0:.4g}") and rep["padded_per_real"] == 1.25
    assert train_flops.peak_share(rep | {"achieved_gflops": 50.0, "executed_gflops": 80.0},
                                  {"gflops": {"fp32": 100.0, "bf16": 400.0}}, "bf16") == {
        "peak_precision": "bf16", "peak_gflops": 400.0, "achieved_share_of_peak": 0.125, "executed_share_of_peak": 0.2}


def test_train_ner_alternates_the_sides_from_seed_to_seed_and_pairs_the_rounds(monkeypatch):
    import argparse

    sys.path.insert(0, str(REPO / "bench"))
    import common
    import train_ner

    calls = []

    def child(argv):  # [script, "--child", side, "--params", json]
        calls.append((argv[2], json.loads(argv[4])["seed"]))
        return {"train_samples_per_s": {"bertkit": 3.0, "trainer-grouped": 2.0}[argv[2]] * len(calls)}

    monkeypatch.setattr(train_ner, "run_child", child)
    args = argparse.Namespace(sides="bertkit,trainer-grouped", seeds="1,2,3", repeats=1, keep_model=None)
    runs = train_ner.run_sides(args, {}, {}, "bf16")
    assert calls == [("bertkit", 1), ("trainer-grouped", 1), ("trainer-grouped", 2), ("bertkit", 2),
                     ("bertkit", 3), ("trainer-grouped", 3)]
    # each seed's runs paired, whichever ran first: 3*1 / 2*2, 3*4 / 2*3, 3*5 / 2*6
    got = common.paired(runs["bertkit"], runs["trainer-grouped"], "train_samples_per_s", "peer")
    assert got == {"rounds_x_vs_peer": [0.75, 2.0, 1.25], "geomean_x_vs_peer": round((0.75 * 2.0 * 1.25) ** (1 / 3), 3)}
    assert common.paired([], [], "train_samples_per_s", "peer") == {}


def test_train_ner_bertkit_set_refuses_a_malformed_pair():
    cmd = [sys.executable, str(REPO / "bench" / "train_ner.py"), "--smoke", "--bertkit-set", "bucket_size"]
    r = subprocess.run(cmd, cwd=str(REPO), capture_output=True, text=True, timeout=120)
    assert r.returncode != 0 and "expected KEY=VALUE" in r.stderr
    r = subprocess.run([*cmd[:3], "--trainer-patches", "dropout,fused"], cwd=str(REPO), capture_output=True, text=True,
                       timeout=120)
    assert r.returncode == 2 and "unknown fused" in r.stderr


def test_qa_gate_questions_are_held_out_from_training(tmp_path):
    sys.path.insert(0, str(REPO / "bench"))
    from qa import train_questions_file

    def para(ctx, ids):
        return {"context": ctx, "qas": [{"id": i, "question": "q?", "answers": [{"text": ctx[:3], "answer_start": 0}],
                                         "is_impossible": False} for i in ids]}

    src = tmp_path / "src.json"
    src.write_text(json.dumps({"data": [{"title": "t", "paragraphs": [para("alpha text", ["a1", "a2", "a3"]),
                                                                       para("beta text", ["b1", "b2"]),
                                                                       para("in eval", ["e1"])]}]}))
    excl = tmp_path / "eval.json"
    excl.write_text(json.dumps({"data": [{"title": "x", "paragraphs": [para("in eval", ["z"])]}]}))

    def ids(f):
        return [q["id"] for a in json.loads(f.read_text())["data"] for p in a["paragraphs"] for q in p["qas"]]

    assert ids(train_questions_file(str(src), str(excl), 2, tmp_path / "tr.json")) == ["a1", "a2"]
    assert ids(train_questions_file(str(src), str(excl), 2, tmp_path / "g.json", skip=2)) == ["a3", "b1"]
    assert ids(train_questions_file(str(src), str(excl), 9, tmp_path / "g2.json", skip=4)) == ["b2"]


def test_gpu_bench_skips_without_a_gpu():
    import torch

    if torch.cuda.is_available():
        pytest.skip("a GPU is present: bench/gpu.py would measure, not skip")
    r = subprocess.run([sys.executable, str(REPO / "bench" / "gpu.py")], capture_output=True, text=True, timeout=120)
    (line,) = [json.loads(ln) for ln in r.stdout.splitlines() if ln.strip()]
    assert r.returncode == 0 and line["kind"] == "skip" and "no CUDA device" in line["reason"]


def test_peak_smoke():
    pytest.importorskip("onnxruntime", reason="onnxruntime not installed: pip install 'bertkit[onnx]'")
    lines = run_bench("peak.py")
    rates = {ln["backend"]: ln["gflops"] for ln in lines if ln["kind"] == "matmul"}
    (peak,) = [ln for ln in lines if ln["kind"] == "peak"]
    assert set(rates) == {"fp32", "fp32-ort", "bf16", "int8"} and all(r > 0 for r in rates.values())
    assert peak["by_backend"] == rates
    fp32 = max(rates["fp32"], rates["fp32-ort"])  # each precision's best backend
    assert peak["gflops"] == {"fp32": fp32, "bf16": rates["bf16"], "int8": rates["int8"]}


def test_peak_refuses_an_unknown_backend_before_measuring():
    r = subprocess.run([sys.executable, str(REPO / "bench" / "peak.py"), "--backends", "fp32,bf17"],
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 2 and not r.stdout and "--backends: unknown bf17" in r.stderr.splitlines()[-1]


@pytest.mark.parametrize("script", ["train_classify.py", "train_ner.py", "predict_ner.py", "predict_classify.py",
                                    "qa.py", "gpu.py", "fast_backends.py", "peak.py", "compile_train.py",
                                    "dropout_step.py", "memory_step.py", "last_layer_step.py",
                                    "step_profile.py"])
def test_help_documents_the_command(script):
    r = subprocess.run([sys.executable, str(REPO / "bench" / script), "--help"], capture_output=True, text=True,
                       timeout=60)
    assert r.returncode == 0 and f"python bench/{script}" in r.stdout


def test_dropout_step_smoke():
    lines = run_bench("dropout_step.py")
    sides = {ln["side"]: ln for ln in lines if ln["kind"] == "side"}
    assert set(sides) == {"torch", "bertkit", "bertkit-attention", "none"}
    assert all(s["step_ms"] > 0 and s["timed_steps"] == 1 for s in sides.values())
    (ratio,) = [ln for ln in lines if ln["kind"] == "ratio"]
    assert all(ratio[k] > 0 for k in ("x_bertkit_vs_torch", "x_bertkit_attention_vs_torch", "x_none_vs_torch"))


@pytest.mark.parametrize("task", ["token", "sequence"])
def test_last_layer_step_smoke(task):
    lines = run_bench("last_layer_step.py", "--task", task)
    sides = {ln["side"]: ln for ln in lines if ln["kind"] == "side"}
    assert set(sides) == {"whole", "last-layer"}
    assert all(s["step_ms"] > 0 and s["timed_steps"] == 1 and s["task"] == task for s in sides.values())
    (ratio,) = [ln for ln in lines if ln["kind"] == "ratio"]
    assert ratio["x_last_layer_vs_whole"] > 0 and 0 < ratio["labelled_share"] < 1


def test_step_profile_smoke():
    lines = run_bench("step_profile.py", "--peak", str(REPO / "bench" / "results" / "peak-zen4.json"))
    (step,) = [ln for ln in lines if ln["kind"] == "step"]
    assert step["step_ms"] > 0 and step["timed_steps"] == 2 and step["precision"] == "bf16"
    ops = {ln["ops"]: ln for ln in lines if ln["kind"] == "ops"}
    assert {"matmul", "attention", "optimizer"} <= set(ops)
    assert abs(sum(o["share"] for o in ops.values()) - 1) < 0.01
    assert ops["matmul"]["gflops"] > 0 and 0 < ops["matmul"]["share_of_peak"]


def test_memory_step_smoke():
    lines = run_bench("memory_step.py")
    sides = {ln["side"]: ln for ln in lines if ln["kind"] == "side"}
    assert set(sides) == {"before", "embedding", "both"}
    assert all(s["step_ms"] > 0 and s["timed_steps"] == 1 and s["length"] == 8 for s in sides.values())
    (ratio,) = [ln for ln in lines if ln["kind"] == "ratio"]
    assert ratio["x_embedding_vs_before"] > 0 and ratio["x_both_vs_before"] > 0


def test_fast_backends_smoke_scores_static_int8_and_bf16_weights(shared_data):
    backends = ("fp32", "bf16-weights", "ort-int8", "ort-int8-static", "ort-int8-static-pct")
    lines = run_bench("fast_backends.py", "--backends", ",".join(backends))
    got = {(ln["backend"], ln["corpus"]): ln for ln in lines if ln["kind"] == "backend"}
    assert set(got) == {(b, c) for b in backends for c in ("sst2-dev", "long")}
    for (backend, corpus), ln in got.items():
        assert ln["sentences_per_s"] > 0 and ln["first_pass_sentences_per_s"] > 0 and 0 <= ln["label_agreement"] <= 1
        assert ("accuracy" in ln) == (corpus == "sst2-dev")
        assert ("calibration_rows" in ln) == backend.startswith("ort-int8-static")
    assert got[("fp32", "sst2-dev")]["label_agreement"] == 1


def test_fast_backends_refuses_an_unknown_backend():
    r = subprocess.run([sys.executable, str(REPO / "bench" / "fast_backends.py"), "--model", "x", "--backends",
                        "fp32,int4"], capture_output=True, text=True, timeout=60)
    assert r.returncode == 2 and not r.stdout and "--backends: unknown int4" in r.stderr.splitlines()[-1]
