"""`ner train` under the engine's guarantees: kill -9 then --resume is bit-identical, 2 processes train like 1
(DDP over gloo on CPU), and `bertkit export --onnx`, `attention show` and `report` take a ner folder."""

from __future__ import annotations

import json
import sys

import pytest
from helpers import invoke
from test_distributed import assert_same_run, assert_written_once, launch, no_dropout_model
from test_distributed import run as run_plain
from test_ner_cli import toy_sentences, write_conll
from test_resume import assert_identical
from test_resume import run as run_fault

NER = ["--epochs", "2", "--batch-size", "8", "--lr", "3e-3", "--seed", "1", "--threads", "1", "--log-every", "2",
       "--max-length", "16", "--stride", "4", "--mixed-precision", "no"]


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    d = tmp_path_factory.mktemp("ner-engine")
    return write_conll(d / "train.conll", toy_sentences(48, 0)), write_conll(d / "dev.conll", toy_sentences(20, 1))


def _args(model, data, out, *extra):
    return ["ner", "train", "-m", str(model), "--train", str(data[0]), "--dev", str(data[1]), "-o", str(out), *NER,
            *extra]


def test_ner_kill_9_then_resume_is_bit_identical(tiny_bert, data, tmp_path):
    ref = run_fault(_args(tiny_bert, data, tmp_path / "ref", "--save-steps", "3"))
    assert ref.returncode == 0, ref.stderr[-2000:]
    assert run_fault(_args(tiny_bert, data, tmp_path / "run", "--save-steps", "3"), fault="kill:7").returncode == -9
    assert not (tmp_path / "run").exists()
    resumed = run_fault(_args(tiny_bert, data, tmp_path / "run", "--save-steps", "3", "--resume", "auto"))
    assert resumed.returncode == 0, resumed.stderr[-2000:]
    assert "resumed from" in resumed.stderr
    assert_identical(tmp_path / "ref", tmp_path / "run")


def test_ner_two_processes_train_like_one(tiny_bert, data, tmp_path):
    model = no_dropout_model(tiny_bert, tmp_path / "model")
    r1 = run_plain([sys.executable, "-m", "bertkit", *_args(model, data, tmp_path / "one", "--batch-size", "8",
                                                             "--eval-steps", "3")])
    assert r1.returncode == 0, r1.stderr[-3000:]
    r2 = run_plain(launch(_args(model, data, tmp_path / "two", "--batch-size", "4", "--eval-steps", "3"),
                          "--num_processes", "2", "--num_machines", "1"))
    assert r2.returncode == 0, r2.stderr[-3000:]
    assert_written_once(r2, tmp_path / "two")
    assert_same_run(tmp_path / "one", tmp_path / "two", ("f1", "accuracy"))
    assert json.loads(r1.stdout)["f1"] == pytest.approx(json.loads(r2.stdout)["f1"], abs=1e-9)


@pytest.fixture(scope="module")
def model(tiny_bert, data, tmp_path_factory):
    out = tmp_path_factory.mktemp("ner-model") / "m"
    r = invoke(_args(tiny_bert, data, out))
    assert r.exit_code == 0, r.stderr[-2000:]
    return out


def test_export_onnx_and_fast_agree_with_pytorch(model, data, tmp_path, monkeypatch):
    pytest.importorskip("onnxruntime")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    r = invoke(["export", str(model), "--onnx", "-o", str(tmp_path / "m.onnx")])
    assert r.exit_code == 0, r.stderr[-2000:]
    import onnx

    graph = onnx.load(str(tmp_path / "m.onnx")).graph
    dims = [d.dim_param or d.dim_value for d in graph.output[0].type.tensor_type.shape.dim]
    assert graph.output[0].name == "logits" and dims[:2] == ["batch", "sequence"] and dims[2] == 5
    from bertkit.ner.conll import read_conll
    from bertkit.ner.predict import Tagger

    words = read_conll(data[1]).tokens
    ref, _ = Tagger(str(model)).tag_words(words)
    fast, _ = Tagger(str(model), fast=True).tag_words(words)
    pairs = [(a, b) for r_, f_ in zip(ref, fast) for a, b in zip(r_, f_)]
    assert sum(a == b for a, b in pairs) >= 0.995 * len(pairs)


def test_attention_show_and_report_on_a_ner_model(model, data, tmp_path):
    r = invoke(["attention", "show", "-m", str(model), "-t", "john went to paris", "--format", "json"])
    assert r.exit_code == 0, r.stderr[-2000:]
    assert json.loads(r.stdout)["shape"][0] == 2
    out = tmp_path / "report.html"
    r = invoke(["report", str(model), "--data", str(data[1]), "-o", str(out)])
    assert r.exit_code == 0, r.stderr[-2000:]
    html = out.read_text()
    for needle in ("Per entity type", "Entity types: gold × predicted", "Worst sentences", "person", "location"):
        assert needle in html, needle
