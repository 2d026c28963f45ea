"""`--fast` (Classifier / QA / CLI) and `--mixed-precision auto`, on tiny models."""

from __future__ import annotations

import json
import sys

import numpy as np
import pytest
from helpers import invoke, jsonl, sentiment_rows

FAST_TRAIN = ["--epochs", "3", "--batch-size", "8", "--lr", "3e-3", "--seed", "1", "--threads", "1"]


def _tsv(path, n, seed):
    path.write_text("sentence\tlabel\n" + "".join(f"{t}\t{y}\n" for t, y in sentiment_rows(n, seed)))
    return path


@pytest.fixture(scope="module")
def clf_dir(tiny_bert, tmp_path_factory):
    d = tmp_path_factory.mktemp("fast")
    r = invoke(["classify", "train", "--model", str(tiny_bert), "--train", str(_tsv(d / "t.tsv", 120, 0)),
                "--dev", str(_tsv(d / "d.tsv", 40, 1)), "-o", str(d / "m"), "--mixed-precision", "auto", *FAST_TRAIN])
    assert r.exit_code == 0, r.output
    return d / "m", r.stderr


@pytest.fixture()
def cache(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    return tmp_path / "cache"


def test_auto_precision_resolves_by_hardware(monkeypatch):
    from bertkit.engine import precision

    monkeypatch.setattr(precision, "cpu_flags", lambda: frozenset({"avx512f", "avx512_bf16"}))
    assert precision.resolve_mixed_precision("auto", "cpu") == ("bf16", "auto: the CPU has avx512_bf16")
    monkeypatch.setattr(precision, "cpu_flags", lambda: frozenset({"avx2", "amx_bf16"}))
    assert precision.resolve_mixed_precision("auto", "cpu")[0] == "bf16"
    monkeypatch.setattr(precision, "cpu_flags", lambda: frozenset({"avx2"}))
    mode, why = precision.resolve_mixed_precision("auto", "cpu")
    assert mode == "no" and "neither avx512_bf16 nor AMX" in why
    assert precision.resolve_mixed_precision("bf16", "cpu") == ("bf16", "as asked")


def test_env_says_what_fast_runs_here_and_why(monkeypatch):
    import platform

    from bertkit.engine import backends, precision

    env = json.loads(invoke(["env"]).stdout)
    assert env["fast"] == backends.fast_report(env["device"]) and env["fast"]["runs"] and env["fast"]["why"]
    monkeypatch.setattr(backends, "_has_onnx", lambda: False)
    monkeypatch.setattr(precision, "cpu_flags", lambda: frozenset({"avx2", "avx512_bf16"}))
    fast = backends.fast_report("cpu")
    assert fast["runs"] == "PyTorch, bf16 autocast" and "pip install 'bertkit[onnx]'" in fast["why"]
    monkeypatch.setattr(precision, "cpu_flags", lambda: frozenset({"avx2"}))
    assert backends.fast_report("cpu")["runs"] == "PyTorch, fp32"
    monkeypatch.setattr(backends, "_has_onnx", lambda: True)
    fast = backends.fast_report("cpu")
    assert fast["runs"].startswith("ONNX Runtime: the model's int8 graph") and "fast-backend.md" in fast["why"]
    if platform.machine().lower() in ("x86_64", "amd64"):  # elsewhere VNNI is taken as present
        assert fast["int8_weights"] == "8-bit or 7-bit: the CPU has no VNNI"
        monkeypatch.setattr(precision, "cpu_flags", lambda: frozenset({"avx2", "avx512_vnni"}))
        assert backends.fast_report("cpu")["int8_weights"] == "8-bit: the CPU has VNNI"


def test_cpu_training_paths_logged_and_the_saved_model_runs_sdpa(clf_dir):
    """The engine's CPU dropout masks and attention path are said in the log; what is saved names SDPA only."""
    out, log = clf_dir
    assert "dropout: bertkit's CPU masks on" in log and "attention dropout: bertkit's CPU path" in log, log
    assert "bertkit_cpu_sdpa" not in (out / "config.json").read_text() + (out / "bertkit.json").read_text()
    assert json.loads((out / "bertkit.json").read_text())["training_args"]["attn"] == "sdpa"


def test_auto_precision_logged_saved_and_in_env(clf_dir):
    from bertkit.engine.precision import resolve_mixed_precision

    out, log = clf_dir
    mode, why = resolve_mixed_precision("auto")
    assert f"mixed precision {mode} ({why})" in log
    saved = json.dumps(json.loads((out / "bertkit.json").read_text()))
    assert f'"mixed_precision": "{mode}"' in saved  # what ran, not "auto"
    env = json.loads(invoke(["env"]).stdout)
    auto = env["mixed_precision_auto"]
    assert (auto["resolves_to"], auto["why"]) == (mode, why.removeprefix("auto: "))


def test_default_is_the_model_itself(clf_dir):
    from bertkit.classify.predict import Classifier

    clf = Classifier(str(clf_dir[0]))
    assert clf.runner is None and clf.autocast_dtype is None and clf.backend == "fp32"  # clf.model runs


def test_fast_classifier_onnx_agrees_and_is_cached(clf_dir, cache):
    pytest.importorskip("onnxruntime", reason="onnxruntime not installed: pip install 'bertkit[onnx]'")
    from bertkit.classify.predict import Classifier

    texts = [t for t, _ in sentiment_rows(200, seed=7)]
    ref = Classifier(str(clf_dir[0]))
    fast = Classifier(str(clf_dir[0]), fast=True)
    assert fast.backend.startswith("ONNX Runtime fp32") and str(cache) in fast.backend
    p_ref, p_fast = ref.predict_proba(texts), fast.predict_proba(texts)
    assert np.abs(p_ref - p_fast).max() < 1e-4
    assert [a["label"] for a in ref.format(p_ref)] == [b["label"] for b in fast.format(p_fast)]
    files = list(cache.rglob("*.onnx"))
    assert len(files) == 1 and files[0].name == "model.onnx"
    assert (files[0].parent / "model.onnx_data").is_file()  # the weights beside it, memory-mapped by ONNX Runtime
    again = Classifier(str(clf_dir[0]), fast=True)  # the cached export, not a second one
    assert again.backend == fast.backend and list(cache.rglob("*.onnx")) == files


@pytest.fixture()
def loaded_models(monkeypatch):
    """Weak references to every PyTorch model bertkit.modeling.load_pretrained loads (inference and export)."""
    import weakref

    import bertkit.modeling as modeling

    refs, real = [], modeling.load_pretrained

    def spy(*a, **kw):
        model = real(*a, **kw)
        refs.append(weakref.ref(model))
        return model

    monkeypatch.setattr(modeling, "load_pretrained", spy)
    return refs


def _torch_modules_held(obj) -> list[str]:
    import torch

    return [k for k, v in vars(obj).items() if isinstance(v, torch.nn.Module) and any(True for _ in v.parameters())]


def test_fast_keeps_no_pytorch_weights(clf_dir, cache, loaded_models):
    """ONNX Runtime runs alone: the cold start exports from a model that is freed once the file is written, a warm
    start never loads the PyTorch model, and the Classifier holds no module with weights (issue 14: peak memory)."""
    pytest.importorskip("onnxruntime", reason="onnxruntime not installed: pip install 'bertkit[onnx]'")
    import gc

    from bertkit.classify.predict import Classifier
    from bertkit.engine.backends import OrtModel

    texts = [t for t, _ in sentiment_rows(60, seed=11)]
    cold = Classifier(str(clf_dir[0]), fast=True)
    assert len(loaded_models) == 1  # the export's model
    gc.collect()
    assert loaded_models[0]() is None, "the model exported to ONNX is still referenced"
    assert cold.model is None and isinstance(cold.runner, OrtModel) and _torch_modules_held(cold) == []
    warm = Classifier(str(clf_dir[0]), fast=True)
    assert len(loaded_models) == 1 and warm.model is None and _torch_modules_held(warm) == []
    ref = Classifier(str(clf_dir[0]))
    assert ref.model is not None and ref.config.id2label == warm.config.id2label
    assert [a["label"] for a in ref(texts)] == [b["label"] for b in warm(texts)]


def test_fast_without_onnxruntime_keeps_the_model_that_runs(clf_dir, cache, monkeypatch):
    from bertkit.classify.predict import Classifier

    monkeypatch.setitem(sys.modules, "onnxruntime", None)
    clf = Classifier(str(clf_dir[0]), fast=True)
    assert clf.model is not None and clf.runner is clf.model and not clf.backend.startswith("ONNX")


def test_fast_checks_pickle_weights_before_the_onnx_path(clf_dir, cache, tmp_path):
    """--fast on a folder with only pickle weights: refused without --allow-pickle (the ONNX path reads no weights
    itself but says the same as the PyTorch one), and exported and run with it."""
    pytest.importorskip("onnxruntime", reason="onnxruntime not installed: pip install 'bertkit[onnx]'")
    import shutil

    import torch
    from safetensors.torch import load_file

    from bertkit.classify.predict import Classifier
    from bertkit.errors import BertkitError

    folder = tmp_path / "pickled"
    shutil.copytree(clf_dir[0], folder)
    torch.save(load_file(folder / "model.safetensors"), folder / "pytorch_model.bin")
    (folder / "model.safetensors").unlink()
    with pytest.raises(BertkitError, match="--allow-pickle"):
        Classifier(str(folder), fast=True)
    texts = [t for t, _ in sentiment_rows(20, seed=5)]
    fast = Classifier(str(folder), fast=True, allow_pickle=True)
    assert fast.backend.startswith("ONNX Runtime fp32") and fast.model is None
    assert [a["label"] for a in Classifier(str(clf_dir[0]))(texts)] == [b["label"] for b in fast(texts)]


def test_fast_uses_bertkit_export_file_beside_the_model(clf_dir, cache, tmp_path):
    pytest.importorskip("onnxruntime", reason="onnxruntime not installed: pip install 'bertkit[onnx]'")
    import shutil

    from bertkit.classify.predict import Classifier

    folder = tmp_path / "m"
    shutil.copytree(clf_dir[0], folder)
    assert invoke(["export", str(folder), "--onnx"]).exit_code == 0
    clf = Classifier(str(folder), fast=True)
    assert str(folder / "onnx" / "model.onnx") in clf.backend and not list(cache.rglob("*.onnx"))


def test_fast_without_onnxruntime_falls_back_with_a_warning(clf_dir, cache, monkeypatch):
    from bertkit.classify.predict import Classifier

    monkeypatch.setitem(sys.modules, "onnxruntime", None)
    r = invoke(["classify", "predict", "-m", str(clf_dir[0]), "--fast"], input="the film was great\nawful plot\n")
    assert r.exit_code == 0, r.output
    assert "pip install 'bertkit[onnx]'" in r.stderr and len(jsonl(r.stdout)) == 2
    assert not Classifier(str(clf_dir[0]), fast=True).backend.startswith("ONNX")


def test_fast_cli_predict_and_eval(clf_dir, cache, tmp_path):
    pytest.importorskip("onnxruntime", reason="onnxruntime not installed: pip install 'bertkit[onnx]'")
    out = clf_dir[0]
    r = invoke(["classify", "predict", "-m", str(out), "--fast"], input="the film was great\nawful boring plot\n")
    assert r.exit_code == 0, r.output
    assert "--fast: ONNX Runtime fp32" in r.stderr
    assert [set(x) for x in jsonl(r.stdout)] == [{"text", "label", "score"}] * 2
    data = _tsv(tmp_path / "e.tsv", 40, 3)
    fp32 = json.loads(invoke(["classify", "eval", "-m", str(out), "-d", str(data)]).stdout)
    fast = json.loads(invoke(["classify", "eval", "-m", str(out), "-d", str(data), "--fast"]).stdout)
    assert fast["accuracy"] == fp32["accuracy"]


def test_fast_and_bf16_together_is_a_usage_error(clf_dir):
    r = invoke(["classify", "predict", "-m", str(clf_dir[0]), "--fast", "--bf16"], input="great\n")
    assert r.exit_code == 2 and "--fast or --bf16" in r.output


def test_fast_qa_matches_fp32(tiny_bert, tmp_path, cache):
    pytest.importorskip("onnxruntime", reason="onnxruntime not installed: pip install 'bertkit[onnx]'")
    import torch
    from transformers import AutoModelForQuestionAnswering, AutoTokenizer

    from bertkit.qa.api import QA

    torch.manual_seed(0)
    AutoModelForQuestionAnswering.from_pretrained(tiny_bert).save_pretrained(tmp_path / "qa")
    AutoTokenizer.from_pretrained(tiny_bert).save_pretrained(tmp_path / "qa")
    ctx = "jim henson was a nice puppet . paris is the capital of france . the moon was born at night ."
    qs = ["who was jim henson ?", "what is the capital of france ?", "when was the moon born ?", "where is paris ?"]
    ref = QA(str(tmp_path / "qa"), max_length=24, doc_stride=8)(question=qs, context=ctx)
    fast = QA(str(tmp_path / "qa"), max_length=24, doc_stride=8, fast=True)
    assert fast.backend.startswith("ONNX Runtime fp32")
    assert fast.model is None and _torch_modules_held(fast) == []  # ONNX Runtime alone: no PyTorch weights kept
    got = fast(question=qs, context=ctx)
    assert [a["answer"] for a in ref] == [b["answer"] for b in got]
    assert max(abs(a["score"] - b["score"]) for a, b in zip(ref, got)) < 1e-4
    r = invoke(["qa", "ask", "-m", str(tmp_path / "qa"), "-q", qs[0], "--context", ctx, "--fast"])
    assert r.exit_code == 0 and "--fast: ONNX Runtime fp32" in r.stderr and "answer" in jsonl(r.stdout)[0]


def test_serve_fast_sessions_do_not_spin(clf_dir, cache, monkeypatch):
    """`bertkit serve --fast` loads ONNX Runtime sessions whose threads sleep between ops (the event loop needs the
    core); a batch job's sessions keep ONNX Runtime's default (spinning), and both answer the same."""
    pytest.importorskip("fastapi")
    from bertkit import Classifier
    from bertkit.engine import backends
    from bertkit.serve.app import load_models

    monkeypatch.setattr(backends, "SPIN", True)
    batch = Classifier(str(clf_dir[0]), fast=True)
    [served] = load_models([str(clf_dir[0])], fast=True)
    assert backends.SPIN is False

    def spinning(clf) -> str:
        return clf.runner.session.get_session_options().get_session_config_entry("session.intra_op.allow_spinning")

    assert spinning(served.predictor) == "0"
    with pytest.raises(Exception):  # not set: ONNX Runtime's default
        spinning(batch)
    texts = [f"text number {i} " * (1 + i % 5) for i in range(12)]
    assert np.abs(batch.predict_proba(texts) - served.predictor.predict_proba(texts)).max() < 1e-5
