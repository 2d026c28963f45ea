"""`bertkit report DIR` on classify and QA output folders trained here on tiny models, and `--extra-metric`
on `classify eval` / `qa eval` with local metric scripts (no network)."""

from __future__ import annotations

import json
import re
import shutil
import sys
from pathlib import Path

import pytest
from helpers import invoke, sentiment_rows, train_multilabel, train_toy_qa
from page_checks import parse_self_contained
from test_qa_cli import squad_json

FAST = ["--epochs", "1", "--batch-size", "8", "--lr", "3e-3", "--threads", "1"]


def _tsv(path: Path, rows) -> Path:
    path.write_text("sentence\tlabel\n" + "".join(f"{t}\t{y}\n" for t, y in rows))
    return path


@pytest.fixture(scope="module")
def work(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("report")


@pytest.fixture(scope="module")
def clf(tiny_bert, work) -> Path:
    train, dev = _tsv(work / "train.tsv", sentiment_rows(24, 0)), _tsv(work / "dev.tsv", sentiment_rows(12, 1))
    out = work / "clf"
    r = invoke(["classify", "train", "--model", str(tiny_bert), "--train", str(train), "--dev", str(dev), "-o",
                str(out),
                "--label-names", "negative,positive", *FAST])
    assert r.exit_code == 0, r.output
    return out


@pytest.fixture(scope="module")
def qa(tiny_bert, work) -> Path:
    out = train_toy_qa(tiny_bert, work, work / "qa", FAST)
    return out


def _text(page) -> str:
    return " ".join(" ".join(page.text).split())


def test_classify_report(clf, work):
    out = work / "clf.html"
    r = invoke(["report", str(clf), "--output", str(out)])
    assert r.exit_code == 0, r.output
    assert f"wrote {out}" in r.stderr
    html = out.read_text()
    page = parse_self_contained(html)
    text = _text(page)
    for h in ("Settings", "Data", "Training", "Dev metrics", "Confusion matrix", "Threshold tuning on dev",
              "Worst mistakes"):
        assert h in page.text, h
    assert len(re.findall(r'src="data:image/png;base64,', html)) == 2  # training curves, confusion matrix
    assert "dev rows 12" in text and "train rows 24" in text and "negative 6 50.0%" in text
    ev = json.loads(invoke(["classify", "eval", "--model", str(clf), "--data", str(work / "dev.tsv")]).stdout)
    wrong = round((1 - ev["accuracy"]) * ev["n"])
    assert f"{wrong} of 12 dev rows are wrong" in text  # the same model run as classify eval
    assert f"accuracy {ev['accuracy']:.4f}" in text


def test_qa_report(qa, work):
    out = work / "sub" / "qa.html"
    r = invoke(["report", str(qa), "-o", str(out)])
    assert r.exit_code == 0, r.output
    html = out.read_text()
    page = parse_self_contained(html)
    text = _text(page)
    for h in ("Dev metrics", "Null-threshold curve", "Worst mistakes"):
        assert h in page.text, h
    ev = json.loads(invoke(["qa", "eval", "--model", str(qa), "--data", str(work / "squad.json")]).stdout)
    assert f"all {ev['exact']:.4f} {ev['f1']:.4f} 6" in text
    assert f"HasAns {ev['HasAns_exact']:.4f} {ev['HasAns_f1']:.4f} 5" in text and "NoAns" in text
    assert "dev questions 6 answerable 5 unanswerable 1" in text
    wrong = round(6 * (1 - ev["exact"] / 100))
    assert f"{wrong} of 6 dev questions are not exact matches" in text
    assert len(re.findall(r'src="data:image/png;base64,', html)) == 2  # training curves, null-threshold curve


def test_report_without_dev_data_says_so(clf, tmp_path):
    moved = tmp_path / "clf"
    shutil.copytree(clf, moved)
    meta = json.loads((moved / "bertkit.json").read_text())
    meta["training_args"]["dev"] = str(tmp_path / "gone.tsv")
    (moved / "bertkit.json").write_text(json.dumps(meta))
    r = invoke(["report", str(moved), "-o", str(tmp_path / "r.html")])
    assert r.exit_code == 0, r.output
    text = _text(parse_self_contained((tmp_path / "r.html").read_text()))
    assert "is not found from here; give it with --data" in text
    assert "no dev data, so no mistakes to show" in text
    assert "Dev metrics recorded at training (metrics.json)" in text


def test_report_data_override_and_errors(clf, work, tmp_path):
    other = _tsv(tmp_path / "other.tsv", sentiment_rows(8, 5))
    r = invoke(["report", str(clf), "--data", str(other), "-o", str(tmp_path / "o.html"), "--mistakes", "2"])
    assert r.exit_code == 0, r.output
    text = _text(parse_self_contained((tmp_path / "o.html").read_text()))
    assert "dev rows 8" in text and "(--data)" in text
    r = invoke(["report", str(work), "-o", str(tmp_path / "x.html")])
    assert r.exit_code == 1 and "no bertkit.json with a task" in r.stderr
    r = invoke(["report", str(clf), "-o", str(tmp_path / "x.pdf")])
    assert r.exit_code == 1 and "ending in .html" in r.stderr
    assert not (tmp_path / "x.html").exists() and not list(tmp_path.glob(".x.*"))


def test_multilabel_report_has_per_label_f1_with_thresholds(tiny_bert, tmp_path):
    out = train_multilabel(tiny_bert, tmp_path, tmp_path / "ml", FAST)
    r = invoke(["report", str(out), "-o", str(tmp_path / "ml.html")])
    assert r.exit_code == 0, r.output
    page = parse_self_contained((tmp_path / "ml.html").read_text())
    assert "tuned threshold" in page.text and "Per label" in page.text and "Confusion matrix" not in page.text


# -- --extra-metric ---------------------------------------------------------------------------------

EQUAL_IDS = '''
import datasets
import evaluate

class EqualIds(evaluate.Metric):
    def _info(self):
        return evaluate.MetricInfo(description="share of equal ids", citation="", inputs_description="",
            features=datasets.Features({"predictions": datasets.Value("int64"), "references": datasets.Value("int64")}))

    def _compute(self, predictions, references):
        return {"equal": sum(int(p == r) for p, r in zip(predictions, references)) / len(predictions),
                "n": len(predictions)}
'''

SAME_TEXT = '''
import datasets
import evaluate

class SameText(evaluate.Metric):
    def _info(self):
        return evaluate.MetricInfo(description="answer equals any gold", citation="", inputs_description="",
            features=datasets.Features({"predictions": datasets.Value("string"),
                                        "references": datasets.Sequence(datasets.Value("string"))}))

    def _compute(self, predictions, references):
        return {"same": sum(p in r for p, r in zip(predictions, references)) / len(predictions), "n": len(predictions)}
'''


@pytest.fixture(scope="module")
def metrics_dir(work) -> Path:
    pytest.importorskip("evaluate")
    d = work / "metrics"
    (d / "same_text").mkdir(parents=True)
    (d / "equal_ids.py").write_text(EQUAL_IDS)
    (d / "same_text" / "same_text.py").write_text(SAME_TEXT)  # a metric folder
    return d


def test_classify_eval_extra_metric_from_a_local_script(clf, work, metrics_dir):
    r = invoke(["classify", "eval", "--model", str(clf), "--data", str(work / "dev.tsv"),
                "--extra-metric", str(metrics_dir / "equal_ids.py")])
    assert r.exit_code == 0, r.output
    res = json.loads(r.stdout)
    assert res["extra_metrics"]["equal_ids"] == {"equal": pytest.approx(res["accuracy"]), "n": 12}


def test_qa_eval_extra_metric_from_a_local_folder(qa, work, metrics_dir):
    r = invoke(["qa", "eval", "--model", str(qa), "--data", str(work / "squad.json"), "-o", str(work / "qa-preds"),
                "--extra-metric", str(metrics_dir / "same_text")])
    assert r.exit_code == 0, r.output
    res = json.loads(r.stdout)
    preds = json.loads((work / "qa-preds" / "predictions.json").read_text())
    gold = {q["id"]: [a["text"] for a in q["answers"]] or [""] for q in
            (qa_ for p in squad_json()["data"][0]["paragraphs"] for qa_ in p["qas"])}
    same = sum(preds[k] in gold[k] for k in gold) / len(gold)
    assert res["extra_metrics"]["same_text"] == {"same": pytest.approx(same), "n": 6}
    # scoring a predictions file takes it too
    r = invoke(["qa", "eval", "--predictions", str(work / "qa-preds" / "predictions.json"), "--data",
                str(work / "squad.json"), "--extra-metric", str(metrics_dir / "same_text")])
    assert r.exit_code == 0, r.output
    assert json.loads(r.stdout)["extra_metrics"]["same_text"]["same"] == pytest.approx(same)


def test_extra_metric_errors(clf, work, metrics_dir, monkeypatch):
    r = invoke(["classify", "eval", "--model", str(clf), "--data", str(work / "dev.tsv"),
                "--extra-metric", str(metrics_dir / "nope.py")])
    assert r.exit_code == 1 and "no such metric script or folder" in r.stderr
    r = invoke(["qa", "eval", "--predictions", str(work / "x.json"), "--data", str(work / "squad.json"),
                "--extra-metric", str(metrics_dir / "nope")])
    assert r.exit_code == 1 and "--extra-metric" in r.stderr  # before any file is read
    from bertkit import extra_metrics

    monkeypatch.setitem(sys.modules, "evaluate", None)  # the optional package is not installed
    monkeypatch.setattr(extra_metrics, "_LOADED", {})
    r = invoke(["classify", "eval", "--model", str(clf), "--data", str(work / "dev.tsv"), "--extra-metric", "accuracy"])
    assert r.exit_code == 1 and "pip install 'bertkit[evaluate]'" in r.stderr


def test_report_when_the_recorded_dev_data_cannot_be_read(clf, tmp_path):
    moved = tmp_path / "clf"
    shutil.copytree(clf, moved)
    meta = json.loads((moved / "bertkit.json").read_text())
    meta["training_args"]["dev"] = "no_such_dataset_xyz#validation"  # a hub dataset, offline here
    (moved / "bertkit.json").write_text(json.dumps(meta))
    r = invoke(["report", str(moved), "-o", str(tmp_path / "r.html")])
    assert r.exit_code == 0, r.output
    text = _text(parse_self_contained((tmp_path / "r.html").read_text()))
    assert "could not be read here" in text and "give it with --data" in text
    r = invoke(["report", str(moved), "--data", "no_such_dataset_xyz#validation", "-o", str(tmp_path / "r2.html")])
    assert r.exit_code == 1 and not (tmp_path / "r2.html").exists()  # given explicitly: an error
