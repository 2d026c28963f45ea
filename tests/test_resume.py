"""Checkpoints and exact resume: a run killed mid-epoch and resumed ends bit-identical to an uninterrupted one;
SIGTERM/SIGINT save a checkpoint and exit 143/130; a NaN loss stops with exit 1 and keeps the last good checkpoint."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from helpers import write_sentiment_csv

HERE = Path(__file__).resolve().parent
CLASSIFY = ["--epochs", "2", "--batch-size", "8", "--lr", "3e-3", "--seed", "1", "--save-steps", "4", "--threads", "1",
            "--log-every", "2"]
QA = ["--epochs", "2", "--batch-size", "4", "--lr", "1e-3", "--max-length", "32", "--doc-stride", "8", "--save-steps",
      "3",
      "--threads", "1", "--log-every", "1"]


def run(args: list[str], fault: str | None = None) -> subprocess.CompletedProcess:
    env = {**os.environ, "BERTKIT_NO_PROGRESS": "1", "HF_HUB_OFFLINE": "1", "PYTHONPATH": os.pathsep.join(
        [str(HERE.parent), str(HERE), os.environ.get("PYTHONPATH", "")])}
    env.pop("BERTKIT_FAULT", None)
    if fault:
        env["BERTKIT_FAULT"] = fault
    return subprocess.run([sys.executable, str(HERE / "fault_driver.py"), *args], capture_output=True, text=True,
                          env=env, timeout=300)


@pytest.fixture(scope="module")
def cls_data(tmp_path_factory) -> tuple[Path, Path]:
    d = tmp_path_factory.mktemp("resume-data")
    for name, n, seed in (("train.csv", 120, 0), ("dev.csv", 40, 1)):
        write_sentiment_csv(d / name, n, seed)
    return d / "train.csv", d / "dev.csv"


def weights(folder: Path) -> dict:
    from safetensors.torch import load_file

    return load_file(str(folder / "model.safetensors"))


def assert_identical(a: Path, b: Path) -> None:
    """Weights bit for bit; dev metrics, evaluations and every logged loss / learning rate / gradient norm equal."""
    import torch

    wa, wb = weights(a), weights(b)
    assert wa.keys() == wb.keys()
    for k in wa:
        assert torch.equal(wa[k], wb[k]), k
    ma, mb = (json.loads((p / "metrics.json").read_text()) for p in (a, b))
    assert ma["dev"] == mb["dev"] and ma["history"] == mb["history"] and ma["best"] == mb["best"]
    timing = ("samples_per_second",)
    la = [{k: v for k, v in r.items() if k not in timing} for r in ma["log_history"]]
    lb = [{k: v for k, v in r.items() if k not in timing} for r in mb["log_history"]]
    assert la == lb and len(la) >= 3
    assert [r["lr"] for r in la] == [r["lr"] for r in lb]  # the schedule resumed, not restarted


def cls_args(tiny_bert, data, out: Path, *extra: str) -> list[str]:
    return ["classify", "train", "-m", str(tiny_bert), "--train", str(data[0]), "--dev", str(data[1]), "-o", str(out),
            *CLASSIFY, *extra]


def test_kill_9_mid_epoch_then_resume_is_bit_identical(tiny_bert, cls_data, tmp_path):
    ref = run(cls_args(tiny_bert, cls_data, tmp_path / "ref"))
    assert ref.returncode == 0, ref.stderr[-2000:]
    assert not (tmp_path / "ref.run").exists()  # a finished run removes its checkpoints
    out = tmp_path / "run"
    killed = run(cls_args(tiny_bert, cls_data, out), fault="kill:10")  # epoch 1 has 15 steps: mid-epoch
    assert killed.returncode == -9
    assert not out.exists()  # nothing that looks like a finished model
    ckpts = sorted(p.name for p in (tmp_path / "run.run").iterdir())
    assert ckpts == ["checkpoint-000004", "checkpoint-000008"], ckpts
    again = run(cls_args(tiny_bert, cls_data, out))  # the same command without --resume: refuses, says how
    assert again.returncode == 2 and "--resume auto" in again.stderr.strip().splitlines()[-1]
    resumed = run(cls_args(tiny_bert, cls_data, out, "--resume", "auto"))
    assert resumed.returncode == 0, resumed.stderr[-2000:]
    assert "resumed from" in resumed.stderr and "checkpoint-000008" in resumed.stderr
    assert json.loads(resumed.stdout)["resumed_from"].endswith("checkpoint-000008")
    # killed: the checkpoints stayed for --resume; finished: they are gone
    assert not (tmp_path / "run.run").exists() and "removed 2 checkpoint(s)" in resumed.stderr
    assert_identical(tmp_path / "ref", out)


def test_resume_from_a_named_checkpoint_and_settings_must_match(tiny_bert, cls_data, tmp_path):
    out = tmp_path / "run"
    assert run(cls_args(tiny_bert, cls_data, out), fault="kill:6").returncode == -9
    ck = tmp_path / "run.run" / "checkpoint-000004"
    bad = run(cls_args(tiny_bert, cls_data, out, "--resume", str(ck), "--lr", "1e-3"))
    assert bad.returncode == 2
    assert "lr: 0.003 then, 0.001 now" in bad.stderr.strip().splitlines()[-1]
    missing = run(cls_args(tiny_bert, cls_data, out, "--resume", str(tmp_path / "nope")))
    assert missing.returncode == 2 and "not a checkpoint folder" in missing.stderr
    ok = run(cls_args(tiny_bert, cls_data, out, "--resume", str(ck)))
    assert ok.returncode == 0, ok.stderr[-2000:]


@pytest.mark.parametrize("sig,code", [("term", 143), ("int", 130)])
def test_sigterm_and_sigint_save_a_checkpoint_and_say_how_to_resume(tiny_bert, cls_data, tmp_path, sig, code):
    out = tmp_path / "run"
    r = run(cls_args(tiny_bert, cls_data, out, "--save-steps", "100"), fault=f"{sig}:5")
    assert r.returncode == code, r.stderr[-2000:]
    last = r.stderr.strip().splitlines()[-1]
    assert last.startswith("bertkit: error: SIG") and "--resume auto" in last and "checkpoint-000006" in last
    assert (tmp_path / "run.run" / "checkpoint-000006" / "trainer_state.json").is_file()
    assert not out.exists()
    if sig == "term":  # and the printed way back works as printed, ending where an uninterrupted run ends
        import shlex

        printed = shlex.split(last.split("continue with: ", 1)[1])
        given = cls_args(tiny_bert, cls_data, out, "--save-steps", "100")
        assert printed[0] == "bertkit"  # the driver runs bertkit's own entry point (sys.argv[0] "bertkit")
        assert printed[1:] == [*given, "--resume", "auto"]  # complete: every option given, then --resume auto
        resumed = run(printed[1:])  # what `bertkit ...` runs, through the same driver
        assert resumed.returncode == 0, resumed.stderr[-2000:]
        assert "resumed from" in resumed.stderr and "checkpoint-000006" in resumed.stderr
        assert run(cls_args(tiny_bert, cls_data, tmp_path / "ref", "--save-steps", "100")).returncode == 0
        assert_identical(tmp_path / "ref", out)


def test_nan_loss_stops_with_the_step_and_keeps_the_last_good_checkpoint(tiny_bert, cls_data, tmp_path):
    out = tmp_path / "run"
    r = run(cls_args(tiny_bert, cls_data, out, "--save-steps", "2"), fault="nan:7")
    assert r.returncode == 1, r.stderr[-2000:]
    last = r.stderr.strip().splitlines()[-1]
    assert last.startswith("bertkit: error: step 7:") and "NaN or infinite" in last and "checkpoint-000006" in last
    assert "Traceback" not in r.stderr and not out.exists()
    ckpts = sorted(p.name for p in (tmp_path / "run.run").iterdir())
    assert ckpts[-1] == "checkpoint-000006"  # none written after the loss went bad
    import math

    saved = weights(tmp_path / "run.run" / "checkpoint-000006")
    assert all(math.isfinite(v.float().abs().max().item()) for v in saved.values())


def test_stale_partial_folders_are_removed_by_the_next_run(tiny_bert, cls_data, tmp_path):
    out = tmp_path / "m"
    dead = tmp_path / ".m.partial-999999-abc"  # a final save killed with SIGKILL (that pid does not exist)
    dead.mkdir()
    (dead / "config.json").write_text("{}")
    (tmp_path / "m.run").mkdir()
    half = tmp_path / "m.run" / ".checkpoint-000004.partial"
    half.mkdir()
    r = run(cls_args(tiny_bert, cls_data, out, "--epochs", "1"))
    assert r.returncode == 0, r.stderr[-2000:]
    assert not dead.exists() and not half.exists() and (out / "config.json").is_file()
    assert "left by an interrupted run" in r.stderr


@pytest.fixture(scope="module")
def squad(tmp_path_factory) -> Path:
    from test_qa_cli import squad_json  # the small SQuAD v2.0 set the QA CLI tests train on, three times over

    doc = squad_json()
    paras = doc["data"][0]["paragraphs"]
    doc["data"][0]["paragraphs"] = [{"context": p["context"], "qas": [{**q, "id": f"{q['id']}-{k}"} for q in p["qas"]]}
                                    for k in range(3) for p in paras]
    f = tmp_path_factory.mktemp("resume-qa") / "squad.json"
    f.write_text(json.dumps(doc))
    return f


def test_qa_kill_9_then_resume_is_bit_identical(tiny_bert, squad, tmp_path):
    def args(out, *extra):
        return ["qa", "train", "-m", str(tiny_bert), "--train", str(squad), "--dev", str(squad), "-o", str(out), *QA,
                *extra]

    ref = run(args(tmp_path / "ref"))
    assert ref.returncode == 0, ref.stderr[-2000:]
    assert run(args(tmp_path / "run"), fault="kill:4").returncode == -9
    resumed = run(args(tmp_path / "run", "--resume", "auto"))
    assert resumed.returncode == 0, resumed.stderr[-2000:]
    assert_identical(tmp_path / "ref", tmp_path / "run")


@pytest.mark.parametrize("argv,processes,expected", [
    (["bertkit", "classify", "train", "-o", "out dir", "--lr", "1e-3"], 1,
     "bertkit classify train -o 'out dir' --lr 1e-3 --resume auto"),
    (["/usr/bin/bertkit", "qa", "train", "--resume", "runs/x.run/checkpoint-000004"], 1,
     "bertkit qa train --resume runs/x.run/checkpoint-000004"),
    (["__main__.py", "classify", "train", "--resume=auto"], 1, "bertkit classify train --resume=auto"),
    (["bertkit", "classify", "train", "-c", "sst2-minilm"], 2,
     "accelerate launch … -m bertkit classify train -c sst2-minilm --resume auto"),
])
def test_the_resume_command_is_the_command_given_plus_resume(argv, processes, expected):
    """The CLI words the way back (the engine only says where the checkpoint is): every option kept, quoted."""
    from bertkit.cli.errors import resume_command

    assert resume_command(argv, processes) == expected
