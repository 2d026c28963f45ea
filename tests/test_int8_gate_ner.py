"""`bertkit export --onnx --int8` on a token classifier: the gate scores entity micro F1 (as `ner eval` does) and the
share of words tagged as fp32 tags them, accepts / falls back / refuses as for classify (tests/test_int8_gate.py),
records the decision in bertkit.json, and refuses calibration tags the model does not know. Tiny models."""

from __future__ import annotations

import json
import shutil

import pytest
from helpers import invoke
from test_int8_gate import _gate, _sabotage
from test_ner_cli import FAST, toy_sentences, write_conll

pytest.importorskip("onnxruntime", reason="onnxruntime not installed: pip install 'bertkit[onnx]'")
pytest.importorskip("onnx", reason="onnx not installed: pip install 'bertkit[onnx]' (the test extra has it)")


@pytest.fixture(scope="module")
def trained(tiny_bert, tmp_path_factory):
    """A tiny tagger that learnt the toy person / location task, its dev file recorded in bertkit.json."""
    d = tmp_path_factory.mktemp("gate-ner")
    train = write_conll(d / "train.conll", toy_sentences(160, 0))
    dev = write_conll(d / "dev.conll", toy_sentences(40, 1))
    r = invoke(["ner", "train", "-m", str(tiny_bert), "--train", str(train), "--dev", str(dev), "-o", str(d / "m"),
                *FAST, "--threads", "1"])
    assert r.exit_code == 0, r.stderr[-3000:]
    assert json.loads(r.stdout)["f1"] >= 0.8
    return d / "m", dev


@pytest.fixture()
def model(trained, tmp_path, monkeypatch):
    """A copy of the trained folder (export writes into its bertkit.json), and an empty --fast cache."""
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    return shutil.copytree(trained[0], tmp_path / "m")


def _words(dev) -> list[list[str]]:
    from bertkit.ner.conll import read_conll

    return read_conll(dev).tokens


def test_gate_scores_f1_as_ner_eval_and_fast_runs_the_int8_graph(model, trained):
    from bertkit.ner.predict import Tagger

    dev = trained[1]
    r = invoke(["export", str(model), "--onnx", "--int8", "--calibration", str(dev), "--max-drop", "0.05"])
    assert r.exit_code == 0, r.output
    out = json.loads(r.stdout)
    assert out["task"] == "ner" and out["precision"] == "int8 (dynamic, gated)" and out["gate"]["accepted"] is True
    rec = _gate(model)
    assert rec["accepted"] and rec["metric"] == "f1" and rec["data"] == str(dev)
    assert rec["file"] == "onnx/model_quantized.onnx" and rec["relative_drop"] <= 0.05
    assert f"int8 gate: fp32 f1 {rec['fp32']:.4f}" in r.stderr and "int8 gate: accepted" in r.stderr
    ev = invoke(["ner", "eval", "-m", str(model), "--data", str(dev)])
    assert ev.exit_code == 0, ev.output
    assert rec["fp32"] == pytest.approx(json.loads(ev.stdout)["f1"], abs=1e-6)  # the fp32 graph scores as PyTorch
    fast = Tagger(str(model), fast=True)
    assert fast.backend.startswith("ONNX Runtime int8") and "passed the accuracy gate" in fast.backend
    ref_tags, _ = Tagger(str(model)).tag_words(_words(dev))
    int8_tags, _ = fast.tag_words(_words(dev))
    pairs = [(a, b) for s, t in zip(ref_tags, int8_tags) for a, b in zip(s, t)]
    assert rec["agreement"] == pytest.approx(sum(a == b for a, b in pairs) / len(pairs), abs=1e-6)  # per word
    assert rec["agreement"] >= 0.9


def test_gate_on_the_recorded_dev_falls_back_when_the_head_breaks(model, monkeypatch):
    from bertkit.ner.predict import Tagger

    _sabotage(monkeypatch, lambda name: name.startswith("/classifier/"))
    r = invoke(["export", str(model), "--onnx", "--int8"])  # no --calibration: the dev file bertkit.json records
    assert r.exit_code == 0, r.output
    rec = _gate(model)
    assert rec["data"].endswith("dev.conll") and rec["metric"] == "f1"
    first = rec["variants"][0]
    assert first["excluded"] == [] and not first["passed"] and first["relative_drop"] > 0.01
    assert rec["accepted"] and rec["excluded"] == ["head"] and "fails --max-drop" in r.stderr
    assert any(n.startswith("/classifier/") for n in rec["excluded_nodes"])
    assert Tagger(str(model), fast=True).backend.startswith("ONNX Runtime int8")


def test_gate_refuses_and_keeps_fp32(model, trained, monkeypatch):
    from bertkit.ner.predict import Tagger

    _sabotage(monkeypatch, lambda name: True, noise=True)
    r = invoke(["export", str(model), "--onnx", "--int8", "--calibration", str(trained[1])])
    assert r.exit_code == 0, r.output
    out = json.loads(r.stdout)
    assert out["onnx"] is None and out["precision"] == "fp32 kept (int8 refused)"
    rec = _gate(model)
    assert rec["accepted"] is False and "fp32 kept" in rec["why"] and "file" not in rec
    assert len(rec["variants"]) >= 3 and not any(v["passed"] for v in rec["variants"])
    assert not (model / "onnx" / "model_quantized.onnx").exists() and "no int8 graph written" in r.stderr
    fast = Tagger(str(model), fast=True)
    assert fast.backend.startswith("ONNX Runtime fp32") and "refused" in fast.backend


def test_calibration_tags_the_model_does_not_know_are_a_one_line_error(model, tmp_path):
    bad = write_conll(tmp_path / "bad.conll", [[("john", "B-person"), ("at", "O")],
                                               [("acme", "B-org"), ("corp", "I-org"), ("hired", "O")]])
    r = invoke(["export", str(model), "--onnx", "--int8", "--calibration", str(bad)])
    assert r.exit_code == 1
    last = r.stderr.strip().splitlines()[-1]
    assert last.startswith("bertkit: error: ") and str(bad) in last and "tags the model does not know" in last
    assert "'B-org' (sentence at line 4)" in last and "Traceback" not in r.output
    assert "int8_gate" not in (model / "bertkit.json").read_text()
    assert not (model / "onnx" / "model_quantized.onnx").exists()
    ok = invoke(["export", str(model), "--onnx", "--int8", "--calibration", str(bad), "--limit", "1", "--max-drop",
                 "1"])
    assert ok.exit_code == 0, ok.output  # --limit counts sentences: the first one's tags are all known
    assert _gate(model)["data"] == str(bad) and _gate(model)["accepted"]
