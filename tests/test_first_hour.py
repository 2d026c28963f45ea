"""What a new user meets in the first hour: the kept model among tied evaluations, and a finished run's
checkpoints removed (unless asked to keep them), on the tiny random BERT."""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pytest
from helpers import invoke, write_sentiment_csv

ARGS = ["--epochs", "5", "--batch-size", "8", "--lr", "3e-3", "--seed", "1", "--threads", "1",
        "--mixed-precision", "no"]


@pytest.fixture(scope="module")
def data(tmp_path_factory) -> Path:
    d = tmp_path_factory.mktemp("first-hour")
    write_sentiment_csv(d / "train.csv", 40, 0)
    write_sentiment_csv(d / "dev.csv", 12, 1)
    return d


def train(tiny_bert, d: Path, out: Path, *extra: str):
    r = invoke(["classify", "train", "-m", str(tiny_bert), "--train", str(d / "train.csv"), "--dev", str(d / "dev.csv"),
                "-o", str(out), *ARGS, *extra])
    assert r.exit_code == 0, r.output
    return r


@pytest.fixture(scope="module")
def finished(tiny_bert, data):
    out = data / "model"
    return out, train(tiny_bert, data, out)


def test_tied_evaluations_keep_the_one_with_the_lowest_dev_loss(finished):
    out, _ = finished
    m = json.loads((out / "metrics.json").read_text())
    hist, best = m["history"], m["best"]
    top = max(r["accuracy"] for r in hist)
    tied = [r for r in hist if r["accuracy"] == top]
    assert len(tied) >= 2, hist  # the situation of the quickstart: several epochs with the same dev accuracy
    assert tied[0]["dev_loss"] > min(r["dev_loss"] for r in tied)  # the first of them is not the best fitted
    assert best["dev_loss"] == min(r["dev_loss"] for r in tied) and best["accuracy"] == top
    assert all(isinstance(r["dev_loss"], float) for r in hist)


def test_a_finished_run_removes_its_checkpoints_and_says_how_much(finished):
    out, r = finished
    assert (out / "model.safetensors").is_file()
    assert not out.with_name(out.name + ".run").exists()  # nothing else was in the run folder
    line = [ln for ln in r.stderr.splitlines() if ln.startswith("removed ")]
    assert len(line) == 1 and "checkpoint-000020" in line[0] and "MB freed" in line[0], r.stderr[-2000:]
    freed = re.search(r"; ([0-9.]+) MB freed\)", line[0])
    assert freed and float(freed.group(1)) > 0, line[0]
    assert "removed 2 checkpoint(s)" in line[0] and "checkpoint-000015" in line[0]


def test_keep_checkpoints_and_an_explicit_save_total_limit_keep_them(tiny_bert, data, tmp_path):
    r = train(tiny_bert, data, tmp_path / "a", "--epochs", "2", "--keep-checkpoints")
    assert [p.name for p in (tmp_path / "a.run").iterdir()] == ["checkpoint-000005"]
    assert "checkpoints kept in" in r.stderr and "(--keep-checkpoints)" in r.stderr
    train(tiny_bert, data, tmp_path / "b", "--epochs", "3", "--save-total-limit", "1")
    assert sorted(p.name for p in (tmp_path / "b.run").iterdir()) == ["checkpoint-000010"]
    cfg = tmp_path / "keep.yaml"
    cfg.write_text("save_total_limit: 3\n")  # a recipe's limit is the user's too
    train(tiny_bert, data, tmp_path / "c", "--epochs", "3", "--config", str(cfg))
    assert sorted(p.name for p in (tmp_path / "c.run").iterdir()) == ["checkpoint-000005", "checkpoint-000010"]


def test_qa_train_removes_or_keeps_checkpoints_too(tiny_bert, tmp_path):
    from test_qa_cli import TRAIN_ARGS, squad_json

    f = tmp_path / "squad.json"
    f.write_text(json.dumps(squad_json()))
    base = ["qa", "train", "-m", str(tiny_bert), "--train", str(f), "--dev", str(f), *TRAIN_ARGS]
    r = invoke([*base, "-o", str(tmp_path / "q")])
    assert r.exit_code == 0, r.output
    assert not (tmp_path / "q.run").exists() and "removed 1 checkpoint(s)" in r.stderr
    r = invoke([*base, "-o", str(tmp_path / "k"), "--keep-checkpoints"])
    assert r.exit_code == 0, r.output
    assert [p.name for p in (tmp_path / "k.run").iterdir()] == ["checkpoint-000002"]
    hist = json.loads((tmp_path / "k" / "metrics.json").read_text())["history"]
    assert all(r["dev_loss"] > 0 for r in hist)  # dev windows are labelled: F1 ties break on dev loss too


def test_qa_dev_loss_by_hand():
    from bertkit.engine.batching import Features
    from bertkit.qa.task import QATask

    task = QATask(pad_id=0, allow_no_answer=False, gold=None)
    feats = Features({"input_ids": [[1, 2, 3], [1, 2]], "start_positions": [2, 0], "end_positions": [2, 1]})
    start = [np.array([0.0, 1.0, 2.0]), np.array([3.0, 0.0, 99.0])]  # the second is padded: 99 is not a candidate
    end = [np.array([0.0, 0.0, 0.0]), np.array([1.0, 1.0, 99.0])]

    def ce(z, i):
        z = np.asarray(z, dtype=np.float64)
        return float(np.log(np.exp(z).sum()) - z[i])

    want = ((ce([0, 1, 2], 2) + ce([0, 0, 0], 2)) / 2 + (ce([3, 0], 0) + ce([1, 1], 1)) / 2) / 2
    assert task.dev_loss({"start_logits": start, "end_logits": end}, feats) == pytest.approx(want, rel=1e-9)


# --mixed-precision auto and Accelerate's own setting
def test_auto_follows_what_accelerate_was_given(tmp_path):
    from bertkit.engine.precision import accelerate_choice, resolve_mixed_precision

    env = {"ACCELERATE_MIXED_PRECISION": "no"}
    assert accelerate_choice({}, launcher=None) is None  # a plain run: the hardware decides
    assert accelerate_choice(env, launcher=["--mixed_precision", "no", "-m", "bertkit"]) == (
        "no", "set by accelerate launch --mixed_precision no")
    assert accelerate_choice({"ACCELERATE_MIXED_PRECISION": "bf16"}, launcher=["--mixed_precision=bf16"])[0] == "bf16"
    assert accelerate_choice(env, launcher=None) == ("no", "set by ACCELERATE_MIXED_PRECISION")  # exported by hand
    cfg = tmp_path / "acc.yaml"
    cfg.write_text("compute_environment: LOCAL_MACHINE\nmixed_precision: 'no'\n")
    got = accelerate_choice(env, launcher=["--config_file", str(cfg), "-m", "bertkit"])
    assert got[0] == "no" and "accelerate config" in got[1] and str(cfg) in got[1]
    cfg.write_text("compute_environment: LOCAL_MACHINE\n")
    # the launcher's silent default "no" (no flag, no setting in its config) is not a choice
    assert accelerate_choice(env, launcher=["--config_file", str(cfg), "-m", "bertkit"]) is None
    assert resolve_mixed_precision("bf16", environ=env) == ("bf16", "as asked")  # explicit wins


def test_env_reports_the_auto_resolution_with_its_reason(monkeypatch):
    monkeypatch.setenv("ACCELERATE_MIXED_PRECISION", "no")
    auto = json.loads(invoke(["env"]).stdout)["mixed_precision_auto"]
    assert auto["resolves_to"] == "no" and auto["why"] == "set by ACCELERATE_MIXED_PRECISION"


def test_accelerate_launch_mixed_precision_no_is_followed(tiny_bert, data, tmp_path):
    import os
    import subprocess
    import sys

    out = tmp_path / "m"
    env = {**os.environ, "BERTKIT_NO_PROGRESS": "1", "HF_HUB_OFFLINE": "1", "OMP_NUM_THREADS": "1",
           "PYTHONPATH": os.pathsep.join([str(Path(__file__).parent.parent), os.environ.get("PYTHONPATH", "")])}
    cmd = [sys.executable, "-m", "accelerate.commands.launch", "--num_processes", "1", "--mixed_precision", "no",
           "--dynamo_backend", "no", "-m", "bertkit", "classify", "train", "-m", str(tiny_bert),
           "--train", str(data / "train.csv"), "-o", str(out), "--epochs", "1", "--batch-size", "8", "--threads", "1"]
    r = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=300)
    assert r.returncode == 0, r.stderr[-3000:]
    assert "mixed precision no (auto: set by accelerate launch --mixed_precision no)" in r.stderr, r.stderr[-2000:]
    assert json.loads((out / "bertkit.json").read_text())["training_args"]["mixed_precision"] == "no"
