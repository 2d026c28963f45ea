"""Real 2-process runs (accelerate launch, DDP over gloo on CPU): 2 processes × batch 8 train exactly like
1 process × batch 16, evaluation is gathered without duplicates, and the output and stdout are written once.
Also 2 "machines" (two launchers, one process each) on 127.0.0.1."""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from helpers import write_sentiment_csv

HERE = Path(__file__).resolve().parent
# dropout off: each process draws its own dropout masks (as in any DDP run), which no batch split can reproduce
# fp32 (not the default `auto`, bf16 on CPUs that have it): 1 process and 2 agree to float32 rounding
SAME = ["--seed", "3", "--lr", "5e-3", "--epochs", "3", "--eval-batch-size", "8", "--threads", "1", "--log-every", "2",
        "--eval-steps", "4", "--mixed-precision", "no"]
QA_SAME = ["--seed", "3", "--lr", "1e-3", "--epochs", "2", "--eval-batch-size", "4", "--threads", "1", "--log-every",
           "1",
           "--max-length", "32", "--doc-stride", "8", "--mixed-precision", "no"]
WEIGHT_TOL = 1e-6  # measured: 1.2e-7 (float32 sums in another order), see test output


def env() -> dict[str, str]:
    e = {**os.environ, "BERTKIT_NO_PROGRESS": "1", "HF_HUB_OFFLINE": "1", "OMP_NUM_THREADS": "1",
         "PYTHONPATH": os.pathsep.join([str(HERE.parent), os.environ.get("PYTHONPATH", "")])}
    e.pop("BERTKIT_FAULT", None)
    return e


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def launch(args: list[str], *extra_launch: str) -> list[str]:
    """`accelerate launch` on a free port of its own (test processes run side by side under pytest -n)."""
    port = [] if "--main_process_port" in extra_launch else ["--main_process_port", str(free_port())]
    return [sys.executable, "-m", "accelerate.commands.launch", "--multi_gpu", "--mixed_precision", "no",
            "--dynamo_backend", "no", *port, *extra_launch, "-m", "bertkit", *args]


def run(cmd: list[str], **extra_env: str) -> subprocess.CompletedProcess:
    return subprocess.run(cmd, capture_output=True, text=True, env={**env(), **extra_env}, timeout=400)


def no_dropout_model(tiny_bert: Path, dest: Path) -> Path:
    shutil.copytree(tiny_bert, dest)
    cfg = json.loads((dest / "config.json").read_text())
    cfg.update(hidden_dropout_prob=0.0, attention_probs_dropout_prob=0.0)
    (dest / "config.json").write_text(json.dumps(cfg))
    return dest


# QA only: a constant added to every position's start (or end) logit does not change the softmax over positions,
# so the exact gradient of qa_outputs.bias and of the last LayerNorm's bias (which shifts every position alike) is
# 0; what they get is float rounding noise, which Adam normalises into steps of up to ~lr. They are compared to
# lr × steps; every other tensor to WEIGHT_TOL.
SHIFT_INVARIANT = ("qa_outputs.bias", "bert.encoder.layer.1.output.LayerNorm.bias")


def weight_diffs(a: Path, b: Path) -> dict[str, float]:
    from safetensors.torch import load_file

    wa, wb = load_file(str(a / "model.safetensors")), load_file(str(b / "model.safetensors"))
    assert wa.keys() == wb.keys()
    return {k: float((wa[k].float() - wb[k].float()).abs().max()) for k in wa}


def assert_same_run(one: Path, two: Path, metric_keys: tuple[str, ...], lr_steps: float | None = None) -> float:
    diffs = weight_diffs(one, two)
    loose = SHIFT_INVARIANT if lr_steps is not None else ()
    diff = max(v for k, v in diffs.items() if k not in loose)
    print(f"max |weight difference| 1 process vs 2 processes: {diff:.3g}"
          + "".join(f"; {k} {diffs[k]:.3g}" for k in loose))
    assert diff <= WEIGHT_TOL
    assert all(diffs[k] <= lr_steps for k in loose)
    m1, m2 = (json.loads((p / "metrics.json").read_text()) for p in (one, two))
    assert len(m1["history"]) == len(m2["history"]) >= 2
    for r1, r2 in zip(m1["history"], m2["history"]):
        assert r1["step"] == r2["step"]
        for k in metric_keys:
            assert r1[k] == pytest.approx(r2[k], abs=1e-6), (k, r1, r2)
        assert r1["train_loss"] == pytest.approx(r2["train_loss"], abs=1e-6)
    assert m1["train"]["steps"] == m2["train"]["steps"] and m2["train"]["processes"] == 2
    return diff


def assert_written_once(r: subprocess.CompletedProcess, out: Path) -> None:
    json.loads(r.stdout)  # exactly one JSON document on stdout: the main process's
    assert r.stdout.count('"output_dir"') == 1
    assert r.stderr.count("training Bert") == 1 and "× 2 process(es)" in r.stderr
    assert (out / "config.json").is_file()
    assert not [p for p in out.parent.iterdir() if ".partial" in p.name]


@pytest.fixture(scope="module")
def setup(tiny_bert, tmp_path_factory):
    d = tmp_path_factory.mktemp("dist")
    model = no_dropout_model(tiny_bert, d / "model")
    for name, n, seed in (("train.csv", 100, 0), ("dev.csv", 37, 1)):
        write_sentiment_csv(d / name, n, seed)
    one = d / "one"
    r = run([sys.executable, "-m", "bertkit", *cls_args(model, d, one, 16)])
    assert r.returncode == 0, r.stderr[-3000:]
    return d, model, one


def cls_args(model: Path, d: Path, out: Path, batch: int) -> list[str]:
    return ["classify", "train", "-m", str(model), "--train", str(d / "train.csv"), "--dev", str(d / "dev.csv"),
            "-o", str(out), "--batch-size", str(batch), *SAME]


def test_classify_two_processes_train_like_one(setup):
    d, model, one = setup
    two = d / "two"
    r = run(launch(cls_args(model, d, two, 8), "--num_processes", "2", "--num_machines", "1"))
    assert r.returncode == 0, r.stderr[-3000:]
    assert_written_once(r, two)
    assert not (d / "two.run").exists() and r.stderr.count("removed 2 checkpoint(s)") == 1  # the main process deletes
    assert_same_run(one, two, ("accuracy", "f1", "roc_auc"))
    dev = json.loads((two / "metrics.json").read_text())["dev"]
    assert dev["n"] == 37  # gathered without duplicates or drops (37 rows over 2 processes)
    ref = json.loads((one / "metrics.json").read_text())["dev"]
    assert {k: v for k, v in dev.items() if isinstance(v, float)} == pytest.approx(
        {k: v for k, v in ref.items() if isinstance(v, float)}, abs=1e-6)
    assert dev["confusion_matrix"] == ref["confusion_matrix"]


def test_buffered_embedding_gradients_train_the_same_model_in_one_and_two_processes(setup):
    """bertkit.engine.embedding_grad on the tiny model's tables (its knob lowers the minimum size): one process gives
    the unbuffered run's weights bit for bit, and two processes (DDP reads the gradients autograd took from the
    buffer) train like one."""
    from safetensors.torch import load_file

    d, model, one = setup
    knob = {"BERTKIT_EMBEDDING_BUFFER_MIN": "1"}
    for out, cmd in ((d / "buf1", [sys.executable, "-m", "bertkit", *cls_args(model, d, d / "buf1", 16)]),
                     (d / "buf2", launch(cls_args(model, d, d / "buf2", 8), "--num_processes", "2"))):
        r = run(cmd, **knob)
        assert r.returncode == 0, r.stderr[-3000:]
        assert "embedding gradients: a kept buffer on 3 table(s)" in r.stderr  # word, position, token type
    ref, buffered = load_file(str(one / "model.safetensors")), load_file(str(d / "buf1" / "model.safetensors"))
    assert all(torch.equal(ref[k], buffered[k]) for k in ref)
    assert_same_run(d / "buf1", d / "buf2", ("accuracy",))


def test_two_machines_on_loopback(setup):
    d, model, one = setup
    out, port = d / "nodes", free_port()
    cmds = [launch([*cls_args(model, d, out, 8), "--keep-checkpoints"], "--num_processes", "2", "--num_machines", "2",
                   "--machine_rank", str(rank),
                   "--main_process_ip", "127.0.0.1", "--main_process_port", str(port)) for rank in (0, 1)]
    procs = [subprocess.Popen(c, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env()) for c in cmds]
    outs = [p.communicate(timeout=400) for p in procs]
    assert [p.returncode for p in procs] == [0, 0], outs[0][1][-2000:] + outs[1][1][-2000:]
    assert outs[1][0].strip() == ""  # machine 1 prints nothing on stdout
    assert_written_once(subprocess.CompletedProcess(cmds[0], 0, outs[0][0], outs[0][1]), out)
    assert_same_run(one, out, ("accuracy",))
    run_dir = d / "nodes.run"  # each checkpoint is renamed into place only once both ranks' RNG states are in it
    kept = sorted(p.name for p in run_dir.iterdir())
    assert kept and all(k.startswith("checkpoint-") for k in kept), kept
    for k in kept:
        assert {"random_states_0.pkl", "random_states_1.pkl"} <= {f.name for f in (run_dir / k).iterdir()}, k


def test_qa_two_processes_train_like_one(tiny_bert, setup):
    from test_qa_cli import squad_json

    d, model, _ = setup
    squad = d / "squad.json"
    doc = squad_json()
    paras = doc["data"][0]["paragraphs"]
    doc["data"][0]["paragraphs"] = [{"context": p["context"], "qas": [{**q, "id": f"{q['id']}-{k}"} for q in p["qas"]]}
                                    for k in range(3) for p in paras]
    squad.write_text(json.dumps(doc))

    def args(out: Path, batch: int) -> list[str]:
        return ["qa", "train", "-m", str(model), "--train", str(squad), "--dev", str(squad), "-o", str(out),
                "--batch-size", str(batch), *QA_SAME]

    r1 = run([sys.executable, "-m", "bertkit", *args(d / "qa1", 8)])
    assert r1.returncode == 0, r1.stderr[-3000:]
    r2 = run(launch(args(d / "qa2", 4), "--num_processes", "2", "--num_machines", "1"))
    assert r2.returncode == 0, r2.stderr[-3000:]
    assert_written_once(r2, d / "qa2")
    assert_same_run(d / "qa1", d / "qa2", ("exact", "f1", "null_threshold"), lr_steps=1e-3 * 6)
    s1, s2 = json.loads(r1.stdout), json.loads(r2.stdout)
    assert s1["f1"] == pytest.approx(s2["f1"], abs=1e-6) and s1["exact"] == pytest.approx(s2["exact"], abs=1e-6)
