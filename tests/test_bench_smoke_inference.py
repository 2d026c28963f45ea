"""The inference bench scripts run end to end (`--smoke`), apart from tests/test_bench_smoke.py so that the two
pytest-xdist workers (`--dist loadfile`: a file runs on one worker) share the slowest smoke runs."""

from __future__ import annotations

import json

import pytest
from test_bench_smoke import run_bench


def test_predict_ner_smoke(shared_data):
    """One run for every side: bertkit and the pipeline at its default, and with --bf16 their bf16 sides."""
    lines = run_bench("predict_ner.py", "--bf16", "--pipeline-batch-sizes", "4")
    (ratio,) = [ln for ln in lines if ln["kind"] == "ratio" and ln["side"] == "bertkit"]
    assert ratio["bertkit_sentences_per_s"] > 0 and ratio["x_vs_best"] > 0
    agree = ratio["agreement"]  # the same folder read as the pipeline reads it (argmax): the same entities wherever
    assert agree["comparable"] > 0 and agree["same"] == agree["comparable"]  # the word splitting is the same
    assert ratio["decode"] == "viterbi" and ratio["agreement_decode"]["comparable"] == agree["comparable"]
    assert {ln["side"] for ln in lines if ln["kind"] == "run"} == {"bertkit", "bertkit-bf16", "pipeline-default",
                                                                  "pipeline-bs4", "pipeline-bf16-bs4"}
    ratios = {ln["side"]: ln for ln in lines if ln["kind"] == "ratio"}
    assert set(ratios) == {"bertkit", "bertkit-bf16"}
    assert all(r["pipeline_best"] != "pipeline-bf16-bs4" and r["pipeline_bf16_best"] == "pipeline-bf16-bs4"
               and r["x_vs_pipeline_bf16_best"] > 0 for r in ratios.values())
    (same,) = [ln for ln in lines if ln["kind"] == "fast_vs_pytorch"]
    assert same["side"] == "bertkit-bf16" and 0 <= same["texts_with_equal_entities"] <= 40
    assert same["words"] > 40 and 0.5 <= same["words_with_equal_tags_share"] <= 1  # bf16 rounds: most, maybe not all
    assert "int8_gate" not in same and "bf16" in same["backend"]  # the tiny tagger was never exported
    assert all(len(json.dumps(ln)) < 2000 for ln in lines)  # per-text results stay out of the JSON lines


def test_predict_classify_smoke(shared_data):
    lines = run_bench("predict_classify.py", "--gate-confidence", "0.9")
    ratios = {ln["corpus"]: ln for ln in lines if ln["kind"] == "ratio"}
    assert set(ratios) == {"sst2-dev", "long"}
    for r in ratios.values():
        assert r["bertkit_sentences_per_s"] > 0 and r["pipeline_default_sentences_per_s"] > 0
        assert r["label_agreement"] == 1.0  # the same model: the same labels, batched or not
    fast = {ln["corpus"]: ln for ln in lines if ln["kind"] == "ratio-fast"}
    assert set(fast) == {"sst2-dev", "long"}
    (gate,) = [ln for ln in lines if ln["kind"] == "gate"]  # `export --int8` through the accuracy gate
    assert gate["metric"] == "accuracy" and isinstance(gate["accepted"], bool) and gate["variants"]
    assert gate["confidence"] == 0.9 and gate["examples"] == 40 and all("drop_bound" in v for v in gate["variants"])
    for r in fast.values():
        int8 = "int8" in r["fast_backend"]
        assert int8 == gate["accepted"] and r["gate"]["accepted"] == gate["accepted"]
        assert r["label_agreement_with_fp32"] >= (0.9 if int8 else 1.0)
        assert r["ort_fp32_label_agreement_with_fp32"] == 1.0
        assert r["x_vs_ort_fp32"] > 0 and "1.2x_ort_same_precision" in r["targets"]
        assert r["model_gflop_per_text"] > 0 and r["achieved_gflops"]["bertkit-fast"] > 0


def test_qa_smoke(shared_data):
    lines = run_bench("qa.py", "--gate-confidence", "0.9")
    sides = {ln["side"]: ln for ln in lines if ln["kind"] == "summary"}
    assert set(sides) == {"bertkit", "loop", "bertkit-fast", "ort-loop-fp32", "ort-loop-int8"}
    assert all(s["questions"] == 12 and s["questions_per_s"] > 0 for s in sides.values())
    (ratio,) = [ln for ln in lines if ln["kind"] == "ratio"]
    assert ratio["peer"] == "loop" and ratio["x"] > 0
    fast = {ln["peer"]: ln for ln in lines if ln["kind"] == "ratio-fast"}
    assert set(fast) == {"loop", "ort-loop-fp32", "ort-loop-int8"}
    (gate,) = [ln for ln in lines if ln["kind"] == "gate"]  # on 12 held-out questions
    assert gate["questions"] == gate["examples"] == 12 and gate["confidence"] == 0.9 and gate["metric"] == "f1"
    if not gate["accepted"]:  # ONNX Runtime fp32: the same answers
        assert fast["loop"]["exact_diff_vs_fp32"] == 0 and fast["loop"]["f1_diff_vs_fp32"] == 0


needs_ort = pytest.mark.skipif(__import__("importlib").util.find_spec("onnxruntime") is None,
                               reason="onnxruntime not installed: pip install 'bertkit[onnx]' (the test extra has it)")
test_predict_classify_smoke = needs_ort(test_predict_classify_smoke)
test_qa_smoke = needs_ort(test_qa_smoke)


def test_serve_load_smoke(shared_data):
    lines = run_bench("serve_load.py")
    (model,) = [ln for ln in lines if ln["kind"] == "model"]
    assert model["fast_runs"] in ("ONNX Runtime int8", "ONNX Runtime fp32") and "accepted" in model["gate"]
    loads = [ln for ln in lines if ln["kind"] == "load"]
    assert {(ln["side"], ln["concurrency"]) for ln in loads} == {(s, c) for s in ("bertkit", "bertkit-fast", "peer")
                                                                 for c in (1, 4)}
    assert all(ln["statuses"] == {"200": 12} for ln in loads)
    assert {(ln["side"], ln["concurrency"]) for ln in lines if ln["kind"] == "ratio"} == {
        (s, c) for s in ("bertkit", "bertkit-fast") for c in (1, 4)}
    (mem,) = [ln for ln in lines if ln["kind"] == "memory"]
    assert mem["side"] == "bertkit-fast" and mem["only_200_or_503"]
    (fault,) = [ln for ln in lines if ln["kind"] == "fault"]
    assert fault["ok"], fault
