"""`bertkit export --onnx --int8`: the accuracy gate (accept, per-layer fallback, refusal), its record in
bertkit.json, `--fast` running the int8 graph only when it was accepted, and the options' errors. Tiny models."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest
from helpers import invoke, sentiment_rows

pytest.importorskip("onnxruntime", reason="onnxruntime not installed: pip install 'bertkit[onnx]'")
pytest.importorskip("onnx", reason="onnx not installed: pip install 'bertkit[onnx]' (the test extra has it)")

MATMULS = ("MatMul", "MatMulInteger", "Gemm")
TRAIN = ["--epochs", "10", "--batch-size", "8", "--lr", "1e-3", "--seed", "1", "--threads", "1"]


def _tsv(path, n, seed):
    path.write_text("sentence\tlabel\n" + "".join(f"{t}\t{y}\n" for t, y in sentiment_rows(n, seed)))
    return path


@pytest.fixture(scope="module")
def trained(tiny_bert, tmp_path_factory):
    """A tiny classifier that learnt the toy task (dev accuracy well above chance), its dev file recorded."""
    d = tmp_path_factory.mktemp("gate")
    dev = _tsv(d / "d.tsv", 40, 1)
    r = invoke(["classify", "train", "--model", str(tiny_bert), "--train", str(_tsv(d / "t.tsv", 120, 0)),
                "--dev", str(dev), "-o", str(d / "m"), *TRAIN])
    assert r.exit_code == 0, r.output
    assert json.loads((d / "m" / "metrics.json").read_text())["dev"]["accuracy"] >= 0.8
    return d / "m"


@pytest.fixture()
def model(trained, tmp_path, monkeypatch):
    """A copy of the trained folder (export writes into its bertkit.json), and an empty --fast cache."""
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    return shutil.copytree(trained, tmp_path / "m")


def _sabotage(monkeypatch, hit, noise: bool = False, widths=(8, 7)):
    """Quantization that breaks the int8 weights of the nodes whose name `hit` matches: negated (the classifier: its
    labels flip; the tiny model's pooled features are nearly one direction, so random weights might not hurt), or
    noise (every node: negating them all would cancel out, the pooler's and the classifier's flips through tanh),
    with the classifier's weights negated too, int8 or fp32, so that no variant passes: a 2-layer model that learnt
    the toy task keeps it with one layer in fp32 and random weights in the other. Only graphs with weights of a width
    in `widths` are broken."""
    import onnx
    from onnx import numpy_helper

    from bertkit import int8gate

    real = int8gate.quantize

    def broken(pre, dest, exclude=(), bits=None):
        real(pre, dest, exclude, bits=bits)
        if bits not in widths:
            return dest
        m = onnx.load(str(dest))
        inits = {i.name: i for i in m.graph.initializer}
        for node in m.graph.node:
            if node.op_type == "MatMulInteger" and hit(node.name) and node.input[1] in inits:
                w = inits[node.input[1]]
                if noise:
                    bad = np.random.default_rng(0).integers(-127, 128, size=tuple(w.dims)).astype(np.int8)
                    w.CopyFrom(numpy_helper.from_array(bad, w.name))
                else:
                    _negate(w)
            if noise and "classifier" in node.name and node.op_type in MATMULS and node.input[1] in inits:
                _negate(inits[node.input[1]])  # and the labels flip, whichever layers stay fp32
        onnx.save(m, str(dest))
        return dest

    monkeypatch.setattr(int8gate, "quantize", broken)


def _negate(w) -> None:
    from onnx import numpy_helper

    arr = numpy_helper.to_array(w)
    flipped = np.clip(-arr.astype(np.int16), -127, 127).astype(np.int8) if arr.dtype == np.int8 else -arr
    w.CopyFrom(numpy_helper.from_array(flipped, w.name))


def _gate(folder):
    return json.loads((folder / "bertkit.json").read_text())["int8_gate"]


def test_gate_accepts_and_fast_runs_the_int8_graph(model):
    from bertkit.classify.predict import Classifier

    r = invoke(["export", str(model), "--onnx", "--int8"])
    assert r.exit_code == 0, r.output
    out = json.loads(r.stdout)
    assert out["precision"] == "int8 (dynamic, gated)" and out["gate"]["accepted"] is True
    rec = _gate(model)
    assert rec["accepted"] and rec["metric"] == "accuracy" and rec["excluded"] == []
    assert rec["relative_drop"] <= 0.01 and rec["fp32"] >= 0.8 and rec["file"] == "onnx/model_quantized.onnx"
    lo, hi = rec["drop_interval_95"]  # the paired bootstrap over the 40 dev rows
    assert rec["examples"] == 40 and lo <= hi and rec["confidence"] is None and "drop_bound" not in rec
    assert all(len(v["drop_interval_95"]) == 2 for v in rec["variants"])
    assert "int8 gate: accepted" in r.stderr and f"fp32 accuracy {rec['fp32']:.4f}" in r.stderr
    texts = [t for t, _ in sentiment_rows(200, seed=7)]
    ref, fast = Classifier(str(model)), Classifier(str(model), fast=True)
    assert fast.backend.startswith("ONNX Runtime int8") and "passed the accuracy gate" in fast.backend
    p_ref, p_fast = ref.predict_proba(texts), fast.predict_proba(texts)
    assert np.abs(p_ref - p_fast).max() < 0.05  # int8 moves probabilities a little, never wildly
    agree = np.mean([a["label"] == b["label"] for a, b in zip(ref.format(p_ref), fast.format(p_fast))])
    assert agree >= 0.95


def test_gate_falls_back_per_layer_when_the_head_breaks(model, monkeypatch):
    from bertkit.classify.predict import Classifier

    _sabotage(monkeypatch, lambda name: name.startswith("/classifier/"))
    r = invoke(["export", str(model), "--onnx", "--int8"])
    assert r.exit_code == 0, r.output
    rec = _gate(model)
    assert rec["accepted"] and rec["excluded"] == ["head"]
    assert any(n.startswith("/classifier/") for n in rec["excluded_nodes"])
    first = rec["variants"][0]
    assert first["excluded"] == [] and not first["passed"] and first["relative_drop"] > 0.01
    assert len(rec["variants"]) >= 2 and "fails --max-drop" in r.stderr
    assert Classifier(str(model), fast=True).backend.startswith("ONNX Runtime int8")


@pytest.mark.parametrize("vnni", [False, True])
def test_gate_tries_7_bit_weights_where_the_cpu_has_no_vnni(model, monkeypatch, vnni):
    """Without VNNI, 8-bit weights may saturate ONNX Runtime's 16-bit sums: the 7-bit graph is scored too, before any
    layer is left in fp32, and the better one kept (the per-group fallback would use it); with VNNI only 8 bits."""
    from bertkit import int8gate

    monkeypatch.setattr(int8gate, "cpu_has_vnni", lambda: vnni)
    _sabotage(monkeypatch, lambda name: name.startswith("/classifier/"), widths=(8,))
    r = invoke(["export", str(model), "--onnx", "--int8"])
    assert r.exit_code == 0, r.output
    rec = _gate(model)
    first = rec["variants"][0]
    assert first["excluded"] == [] and first["weight_bits"] == 8 and not first["passed"]
    if vnni:
        assert rec["excluded"] == ["head"] and rec["weight_bits"] == 8
        assert all(v["weight_bits"] == 8 for v in rec["variants"])
    else:
        assert rec["variants"][1] == {**rec["variants"][1], "excluded": [], "weight_bits": 7, "passed": True}
        # then the smoothed graphs at the better width (the tiny model's LayerNorms feed its matrix products)
        assert [(v["excluded"], v["weight_bits"], v["smoothing_alpha"]) for v in rec["variants"][2:]] == [
            ([], 7, 0.5), ([], 7, 0.75)]
        assert len(rec["variants"]) == 4 and rec["accepted"] and rec["excluded"] == [] and rec["weight_bits"] == 7
        assert "7-bit weights" in rec["quantization"] and "(7-bit weights)" in r.stderr


def test_an_8_bit_graph_gated_with_vnni_is_not_run_without_it(model, monkeypatch):
    """The gate records whether its CPU had VNNI: an 8-bit graph it passed there is not trusted on a CPU without VNNI
    (ONNX Runtime's 16-bit sums may saturate), and --fast runs fp32, saying why; the other way round it runs."""
    from bertkit import int8gate
    from bertkit.classify.predict import Classifier

    monkeypatch.setattr(int8gate, "cpu_has_vnni", lambda: True)
    r = invoke(["export", str(model), "--onnx", "--int8"])
    assert r.exit_code == 0, r.output
    rec = _gate(model)
    assert rec["accepted"] and rec["weight_bits"] == 8 and rec["cpu_vnni"] is True
    assert Classifier(str(model), fast=True).backend.startswith("ONNX Runtime int8")
    monkeypatch.setattr(int8gate, "cpu_has_vnni", lambda: False)
    fast = Classifier(str(model), fast=True)
    assert fast.backend.startswith("ONNX Runtime fp32") and "without VNNI" in fast.backend
    rec.update(cpu_vnni=False)  # gated without VNNI (its 8-bit weights scored where they could saturate): trusted
    meta = json.loads((model / "bertkit.json").read_text())
    (model / "bertkit.json").write_text(json.dumps({**meta, "int8_gate": rec}))
    assert Classifier(str(model), fast=True).backend.startswith("ONNX Runtime int8")


def test_gate_refuses_keeps_fp32_and_fast_runs_fp32(model, monkeypatch):
    from bertkit.classify.predict import Classifier

    _sabotage(monkeypatch, lambda name: True, noise=True)
    r = invoke(["export", str(model), "--onnx", "--int8"])
    assert r.exit_code == 0, r.output
    out = json.loads(r.stdout)
    assert out["onnx"] is None and out["precision"] == "fp32 kept (int8 refused)"
    rec = _gate(model)
    assert rec["accepted"] is False and "fp32 kept" in rec["why"] and "file" not in rec
    assert len(rec["variants"]) >= 3 and not any(v["passed"] for v in rec["variants"])  # all, per group, greedy
    assert not (model / "onnx").exists()  # not even an empty folder that looks like an export
    assert "no int8 graph written" in r.stderr
    fast = Classifier(str(model), fast=True)
    assert fast.backend.startswith("ONNX Runtime fp32") and "refused" in fast.backend


def test_max_drop_zero_is_honoured(model):
    r = invoke(["export", str(model), "--onnx", "--int8", "--max-drop", "0"])
    assert r.exit_code == 0, r.output
    rec = _gate(model)
    assert rec["max_drop"] == 0.0
    # accepted only with no drop at all; otherwise refused or fallen back, and always recorded
    assert (rec["accepted"] and rec["relative_drop"] <= 0) or not rec["accepted"] or rec["excluded"]


def test_gate_confidence_is_recorded_and_bounds_what_passes(model):
    r = invoke(["export", str(model), "--onnx", "--int8", "--gate-confidence", "0.95"])
    assert r.exit_code == 0, r.output
    rec = _gate(model)
    assert rec["confidence"] == 0.95 and all("drop_bound" in v for v in rec["variants"])
    assert all(v["passed"] == (v["relative_drop"] <= 0.01 and v["drop_bound"] <= 0.01) for v in rec["variants"])
    assert "at 95% confidence (bound" in r.stderr


def test_a_stale_int8_file_is_not_used(model):
    import os

    from bertkit.classify.predict import Classifier

    assert invoke(["export", str(model), "--onnx", "--int8"]).exit_code == 0
    w = model / "model.safetensors"
    later = (model / "onnx" / "model_quantized.onnx").stat().st_mtime_ns + 10**9
    os.utime(w, ns=(later, later))  # weights newer than the gated graph: retrained since
    assert Classifier(str(model), fast=True).backend.startswith("ONNX Runtime fp32")


def test_calibration_file_and_qa(tiny_bert, tmp_path, monkeypatch):
    """A folder without bertkit.json: the gate scores --calibration data; QA scores F1 and --fast follows it."""
    import torch
    from transformers import AutoModelForQuestionAnswering, AutoTokenizer

    from bertkit.qa.api import QA

    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    torch.manual_seed(0)
    AutoModelForQuestionAnswering.from_pretrained(tiny_bert).save_pretrained(tmp_path / "qa")
    AutoTokenizer.from_pretrained(tiny_bert).save_pretrained(tmp_path / "qa")
    ctx = "jim henson was a nice puppet . paris is the capital of france ."
    rows = [{"question": q, "context": ctx, "answers": {"text": [a], "answer_start": [ctx.index(a)]}}
            for q, a in (("who was jim henson ?", "a nice puppet"), ("what is the capital of france ?", "paris"))]
    data = tmp_path / "dev.jsonl"
    data.write_text("".join(json.dumps(r) + "\n" for r in rows))
    r = invoke(["export", str(tmp_path / "qa"), "--onnx", "--int8", "--calibration", str(data), "--max-drop", "1"])
    assert r.exit_code == 0, r.output
    rec = _gate(tmp_path / "qa")
    assert rec["metric"] == "f1" and rec["accepted"] and rec["data"] == str(data)
    assert QA(str(tmp_path / "qa"), fast=True).backend.startswith("ONNX Runtime int8")


@pytest.mark.parametrize("args, code, needle", [
    (["--int8", "--max-drop", "2"], 2, "--max-drop 2.0: give the largest relative metric drop"),
    (["--int8", "--max-drop", "-0.1"], 2, "between 0 and 1"),
    (["--max-drop", "0.01"], 2, "--max-drop: only with --int8"),
    (["--calibration", "x.tsv"], 2, "--calibration: only with --int8"),
    (["--gate-confidence", "0.95"], 2, "--gate-confidence: only with --int8"),
    (["--int8", "--gate-confidence", "1"], 2, "--gate-confidence 1.0: give the one-sided confidence"),
    (["--int8", "--limit", "0"], 2, "--limit 0"),
    (["--int8", "--calibration", "missing.tsv"], 1, "--calibration missing.tsv: file not found"),
])
def test_bad_options_are_one_line_errors(model, args, code, needle):
    r = invoke(["export", str(model), "--onnx", *args])
    assert r.exit_code == code and needle in r.output
    assert "Traceback" not in r.output and "int8_gate" not in (model / "bertkit.json").read_text()


def test_no_dev_data_recorded_asks_for_calibration(tiny_bert, tmp_path):
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    AutoModelForSequenceClassification.from_pretrained(tiny_bert, num_labels=2).save_pretrained(tmp_path / "c")
    AutoTokenizer.from_pretrained(tiny_bert).save_pretrained(tmp_path / "c")
    r = invoke(["export", str(tmp_path / "c"), "--onnx", "--int8"])
    assert r.exit_code == 1 and "no dev data recorded" in r.output and "--calibration FILE" in r.output
    assert not (tmp_path / "c" / "onnx").exists()


def test_relative_drop_directions():
    from bertkit.int8gate import Score, relative_drop

    assert relative_drop(Score("accuracy", 0.9, True, []), Score("accuracy", 0.891, True, [])) == pytest.approx(0.01)
    assert relative_drop(Score("hamming_loss", 0.1, False, []),
                         Score("hamming_loss", 0.11, False, [])) == pytest.approx(0.1)
    assert relative_drop(Score("f1", 0.0, True, []), Score("f1", 0.0, True, [])) == 0.0


def _preprocessed(model, tmp_path):
    import onnx

    from bertkit import int8gate

    r = invoke(["export", str(model), "--onnx", "-o", str(tmp_path / "m.onnx")])
    assert r.exit_code == 0, r.output
    onnx.save(onnx.load(str(tmp_path / "m.onnx")), str(tmp_path / "single.onnx"))  # weights inside, as the gate's
    return int8gate.preprocess(tmp_path / "single.onnx", tmp_path / "pre.onnx")


def test_smoothing_keeps_the_fp32_function(model, tmp_path):
    """The LayerNorm outputs divided by s and the weights after them multiplied by s: the same outputs in fp32, for
    any measured maxima; the probe graph exposes every LayerNorm output that feeds a matrix product."""
    import onnxruntime as ort

    from bertkit import int8smooth

    pre = _preprocessed(model, tmp_path)
    names = int8smooth.probe(pre, tmp_path / "probe.onnx")
    assert len(names) == 4  # embeddings, then per layer the attention's and the output's LayerNorm (2 layers)
    rng = np.random.default_rng(0)
    maxima = {n: rng.uniform(0.05, 40.0, size=32) for n in names}
    smoothed = int8smooth.smooth(pre, tmp_path / "smoothed.onnx", maxima, alpha=0.75)
    ids = rng.integers(5, 40, size=(3, 11))
    feeds = {"input_ids": ids, "attention_mask": np.ones_like(ids), "token_type_ids": np.zeros_like(ids)}
    runs = [ort.InferenceSession(str(f)) for f in (pre, smoothed)]
    feeds = {k: v for k, v in feeds.items() if k in {i.name for i in runs[0].get_inputs()}}
    (a,), (b,) = (s.run(None, feeds) for s in runs)
    np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-5)
    probe = ort.InferenceSession(str(tmp_path / "probe.onnx")).run(names, feeds)
    assert all(x.shape == (3, 11, 32) for x in probe)


def test_calibration_measures_the_real_tokens_on_the_gate_data(model, tmp_path):
    from bertkit import int8gate, int8smooth
    from bertkit.taskspec import get

    pre = _preprocessed(model, tmp_path)
    dev = json.loads((model / "bertkit.json").read_text())
    data = int8gate.gate_data(str(model), dev, None)
    score = int8gate.scorer(get("classify"), str(model), data, None, False, False)
    names, maxima = int8smooth.probe(pre, tmp_path / "p.onnx"), {}
    ref = score(pre)
    got = score(tmp_path / "p.onnx", runner=int8smooth.observer(names, maxima))
    assert got.value == ref.value and list(got.keys) == list(ref.keys)  # the task sees its own outputs only
    assert set(maxima) == set(names) and all(m.shape == (32,) and (m > 0).all() for m in maxima.values())
    assert [(a, f.name) for a, f in int8smooth.calibrated(score, pre, tmp_path)] == [
        (a, f"smoothed-{a}.onnx") for a in int8smooth.ALPHAS]


def test_the_faithful_recipe_is_chosen_between_plain_and_smoothed():
    from bertkit.int8gate import Variant, _faithful

    def v(passed, agree):
        return Variant([], 0.9, 0.0, agree, passed)

    plain, smoothed = v(True, 0.80), v(False, 0.95)
    assert _faithful(plain, smoothed) is plain  # only one passes: that one
    assert _faithful(v(False, 0.8), s := v(True, 0.7)) is s
    assert _faithful(p := v(True, 0.80), s := v(True, 0.86)) is s  # both pass: the one closer to fp32
    assert _faithful(p := v(False, 0.80), s := v(False, 0.86)) is s  # both fail: the fallback starts from it
    assert _faithful(p := v(True, 0.9), v(True, 0.9)) is p  # a tie: the one kept so far


def test_gate_confidence_on_too_few_rows_is_one_line_and_leaves_no_folder(model, tmp_path):
    r = invoke(["export", str(model), "--onnx", "--int8", "--gate-confidence", "0.95", "--calibration",
                str(_tsv(tmp_path / "three.tsv", 3, 2))])
    assert r.exit_code == 1
    assert r.stderr.strip().splitlines()[-1] == (
        "bertkit: error: --gate-confidence: 3 examples cannot be split into a half to choose on and a half to "
        "confirm on; give a larger --calibration file")
    assert not (model / "onnx").exists() and "int8_gate" not in json.loads((model / "bertkit.json").read_text())
