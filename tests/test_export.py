"""`bertkit export DIR --onnx [--int8]`: the ONNX file runs in ONNX Runtime and agrees with PyTorch (tiny models)."""

from __future__ import annotations

import json
import os
import sys

import numpy as np
import pytest
import torch
from helpers import invoke

pytest.importorskip("onnxruntime",
                    reason="onnxruntime not installed: pip install 'bertkit[onnx]' (the test extra has it)")
pytest.importorskip("onnx", reason="onnx not installed: pip install 'bertkit[onnx]' (the test extra has it)")


def _save(auto, src, dest, **kw):
    from transformers import AutoTokenizer

    torch.manual_seed(0)
    auto.from_pretrained(src, **kw).save_pretrained(dest)
    AutoTokenizer.from_pretrained(src).save_pretrained(dest)
    return dest


@pytest.fixture(scope="module")
def tiny_clf(tiny_bert, tmp_path_factory):
    from transformers import AutoModelForSequenceClassification

    return _save(AutoModelForSequenceClassification, tiny_bert, tmp_path_factory.mktemp("clf"), num_labels=3)


@pytest.fixture(scope="module")
def tiny_qa(tiny_bert, tmp_path_factory):
    from transformers import AutoModelForQuestionAnswering

    return _save(AutoModelForQuestionAnswering, tiny_bert, tmp_path_factory.mktemp("qa"))


def _umask() -> int:
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def _random_batch(seed: int, batch: int, length: int) -> dict[str, torch.Tensor]:
    """Shapes other than the traced probe's, with padding: the axes must be dynamic and the mask honoured."""
    g = torch.Generator().manual_seed(seed)
    ids = torch.randint(5, 90, (batch, length), generator=g)
    mask = torch.ones_like(ids)
    for i in range(batch):
        mask[i, int(torch.randint(2, length + 1, (1,), generator=g)):] = 0
    ids[mask == 0] = 0
    return {"input_ids": ids, "attention_mask": mask, "token_type_ids": torch.zeros_like(ids)}


def _compare(folder, onnx_file, auto, names):
    from bertkit.engine.backends import session

    model = auto.from_pretrained(folder).eval()
    sess = session(onnx_file, threads=1)
    worst = 0.0
    for seed, (b, n) in enumerate([(1, 5), (4, 23), (7, 61)]):
        batch = _random_batch(seed, b, n)
        got = sess.run(names, {k: v.numpy() for k, v in batch.items()})
        with torch.no_grad():
            ref = model(**batch)
        for name, arr in zip(names, got):
            r = getattr(ref, name).numpy()
            assert arr.shape == r.shape
            m = batch["attention_mask"].numpy().astype(bool)
            d = np.abs(arr - r)
            worst = max(worst, float((d[m] if d.ndim == 2 and name != "logits" else d).max()))
    return worst


def test_classifier_fp32_agrees_with_pytorch(tiny_clf):
    from transformers import AutoModelForSequenceClassification

    r = invoke(["export", str(tiny_clf), "--onnx"])
    assert r.exit_code == 0, r.output
    summary = json.loads(r.stdout)
    assert summary["onnx"] == str(tiny_clf / "onnx" / "model.onnx") and summary["task"] == "classify"
    # the weights sit beside the graph as ONNX external data, with the umask's mode (onnx writes 0600)
    data = tiny_clf / "onnx" / "model.onnx_data"
    assert summary["weights"] == str(data) and data.stat().st_size > (tiny_clf / "onnx" / "model.onnx").stat().st_size
    assert data.stat().st_mode & 0o777 == 0o666 & ~_umask()
    assert sorted(p.name for p in (tiny_clf / "onnx").iterdir()) == ["model.onnx",
                                                                     "model.onnx_data"]  # no temporary left
    assert summary["max_abs_diff_vs_pytorch"] <= 1e-4
    assert _compare(tiny_clf, summary["onnx"], AutoModelForSequenceClassification, ["logits"]) <= 1e-4


def test_qa_fp32_agrees_with_pytorch(tiny_qa, tmp_path):
    from transformers import AutoModelForQuestionAnswering

    out = tmp_path / "qa.onnx"
    r = invoke(["export", str(tiny_qa), "--onnx", "-o", str(out)])
    assert r.exit_code == 0, r.output
    assert json.loads(r.stdout)["outputs"] == ["start_logits", "end_logits"]
    assert _compare(tiny_qa, out, AutoModelForQuestionAnswering, ["start_logits", "end_logits"]) <= 1e-4


def test_int8_is_smaller_and_close(tiny_clf, tmp_path):
    from transformers import AutoModelForSequenceClassification

    from bertkit.export import data_file

    fp32, int8 = tmp_path / "a.onnx", tmp_path / "b.onnx"
    assert invoke(["export", str(tiny_clf), "--onnx", "-o", str(fp32)]).exit_code == 0
    data = tmp_path / "dev.tsv"  # the accuracy gate's data (this folder records none); --max-drop 1: any drop
    rows = "".join(f"{t}\tLABEL_{i % 3}\n" for i, t in enumerate(["good", "bad", "fun", "dull"]))
    data.write_text("sentence\tlabel\n" + rows)
    r = invoke(["export", str(tiny_clf), "--onnx", "--int8", "-o", str(int8), "--calibration", str(data), "--max-drop",
                "1"])
    assert r.exit_code == 0, r.output
    assert json.loads(r.stdout)["precision"] == "int8 (dynamic, gated)"
    sizes = [f.stat().st_size + data_file(f).stat().st_size for f in (fp32, int8)]
    assert sizes[1] < sizes[0] and json.loads(r.stdout)["size_mb"] == round(sizes[1] / 2**20, 2)
    # int8 weights move the logits a little, never wildly (this tiny model's logits are ~0.1-1 in size)
    assert _compare(tiny_clf, int8, AutoModelForSequenceClassification, ["logits"]) < 0.05


@pytest.mark.parametrize("args, code, needle", [
    ([], 2, "--onnx"),
    (["--onnx", "-o", "model.bin"], 2, "ending in .onnx"),
])
def test_usage_errors(tiny_clf, tmp_path, args, code, needle):
    r = invoke(["export", str(tiny_clf), *args])
    assert r.exit_code == code and needle in r.output


def test_existing_file_needs_overwrite_and_base_model_refused(tiny_clf, tiny_bert, tmp_path):
    out = tmp_path / "m.onnx"
    out.write_text("keep me")
    r = invoke(["export", str(tiny_clf), "--onnx", "-o", str(out)])
    assert r.exit_code == 1 and "--overwrite" in r.output and out.read_text() == "keep me"
    r = invoke(["export", str(tiny_clf), "--onnx", "-o", str(out), "--overwrite"])
    assert r.exit_code == 0 and (tmp_path / "m.onnx_data").is_file() and out.stat().st_size > 7
    r = invoke(["export", str(tiny_bert), "--onnx", "-o", str(tmp_path / "x.onnx")])
    assert r.exit_code == 1 and "neither a classifier nor a question-answering model" in r.output
    assert not (tmp_path / "x.onnx").exists()


def test_missing_extra_is_a_clear_error(tiny_clf, tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "onnxruntime", None)  # import fails as when it is not installed
    r = invoke(["export", str(tiny_clf), "--onnx", "-o", str(tmp_path / "m.onnx")])
    assert r.exit_code == 1 and "pip install 'bertkit[onnx]'" in r.output
