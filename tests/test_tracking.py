"""--report-to trackers (TensorBoard through Accelerate, for real), the clear error when a tracker package is missing,
and the figures every output folder gets."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from helpers import invoke, write_sentiment_csv

FAST = ["--epochs", "2", "--batch-size", "8", "--lr", "3e-3", "--seed", "1", "--threads", "1", "--log-every", "2"]


@pytest.fixture(scope="module")
def csvs(tmp_path_factory) -> tuple[Path, Path]:
    d = tmp_path_factory.mktemp("track")
    for name, n, seed in (("train.csv", 64, 0), ("dev.csv", 24, 1)):
        write_sentiment_csv(d / name, n, seed)
    return d / "train.csv", d / "dev.csv"


def scalars(run_dir: Path) -> dict[str, list[tuple[int, float]]]:
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    files = list(run_dir.rglob("events.out.tfevents.*"))
    assert files, f"no TensorBoard event file under {run_dir}"
    acc = EventAccumulator(str(files[0].parent))
    acc.Reload()
    return {tag: [(e.step, e.value) for e in acc.Scalars(tag)] for tag in acc.Tags()["scalars"]}


def test_tensorboard_gets_loss_lr_grad_norm_speed_and_dev_metrics(tiny_bert, csvs, tmp_path):
    pytest.importorskip("tensorboard", reason="the tensorboard extra: pip install 'bertkit[tensorboard]'")
    out = tmp_path / "m"
    r = invoke(["classify", "train", "-m", str(tiny_bert), "--train", str(csvs[0]), "--dev", str(csvs[1]), "-o",
                str(out),
                *FAST, "--report-to", "tensorboard"])
    assert r.exit_code == 0, r.output
    tags = scalars(tmp_path / "m.run")
    for tag in ("train/loss", "train/lr", "train/grad_norm", "train/samples_per_second", "eval/accuracy",
                "eval/train_loss"):
        assert tag in tags, sorted(tags)
    history = json.loads((out / "metrics.json").read_text())
    assert [s for s, _ in tags["eval/accuracy"]] == [rec["step"] for rec in history["history"]]
    assert [v for _, v in tags["eval/accuracy"]] == pytest.approx([rec["accuracy"] for rec in history["history"]])
    assert [v for _, v in tags["train/lr"]] == pytest.approx([rec["lr"] for rec in history["log_history"]])


@pytest.mark.parametrize("tracker", ["wandb", "mlflow", "tensorboard"])
def test_a_missing_tracker_package_is_one_clear_error_before_anything_loads(tracker, tmp_path, monkeypatch):
    import importlib.util

    real = importlib.util.find_spec
    trackers = ("wandb", "mlflow", "tensorboard", "tensorboardX")
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name in trackers else real(name, *a))
    r = invoke(["classify", "train", "--train", str(tmp_path / "does-not-exist.csv"), "-o", str(tmp_path / "m"),
                "--report-to", tracker])
    assert r.exit_code == 1
    assert r.stderr.strip().splitlines()[-1] == (f"bertkit: error: --report-to {tracker} needs the "
                                                f"{'tensorboard' if tracker == 'tensorboard' else tracker} package: "
                                                f"pip install 'bertkit[{tracker}]'")


def test_unknown_tracker_is_a_usage_error(tmp_path):
    r = invoke(["classify", "train", "--train", str(tmp_path / "x.csv"), "-o", str(tmp_path / "m"), "--report-to",
                "neptune"])
    assert r.exit_code == 2 and "--report-to" in r.stderr.strip().splitlines()[-1]


def test_every_output_folder_has_training_curves_and_a_confusion_matrix(tiny_bert, csvs, tmp_path):
    import matplotlib.image as mpimg

    out = tmp_path / "m"
    r = invoke(["classify", "train", "-m", str(tiny_bert), "--train", str(csvs[0]), "--dev", str(csvs[1]), "-o",
                str(out), *FAST])
    assert r.exit_code == 0, r.output
    for name in ("training_curves.png", "confusion_matrix.png"):
        img = mpimg.imread(out / name)
        assert img.shape[0] > 200 and img.shape[1] > 200 and img.std() > 0.01  # a real picture, not a blank one
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["log_history"] and all({"step", "loss", "lr", "grad_norm"} <= set(r) for r in metrics["log_history"])
