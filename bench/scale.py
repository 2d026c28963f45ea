"""Data at scale: memory and start-up of a training run as the rows grow, bertkit against Trainer + datasets.map;
and `classify predict` memory over many input lines.

    nice -n 5 python bench/scale.py [--sizes 67349,673490,3367450] [--steps 20] [--predict-lines 100000,10000000]
                                    [--skip-trainer] [--smoke]

Training (kind=train): SST-2 train repeated to --sizes rows (one TSV per size), the packaged MiniLM, batch 32,
max length 128, `--epochs 0.01`, each run in a fresh child process (peak RSS = that child's ru_maxrss):
    bertkit     `classify train` through its Python entry point with an empty --cache-dir (cold), then again with
                the same cache (warm: nothing read or tokenized, the log says so)
    trainer     `datasets.load_dataset("csv")` + `Dataset.map(tokenizer, batched=True)` + `transformers.Trainer`
                with `DataCollatorWithPadding` (its default random sampler), its own empty datasets cache
Both runs stop after --steps optimizer steps (the measurements are about what happens before and around the first
steps, not about training speed; bench/train_classify.py measures that). Fields:
    read_s / tokenize_s   reading the file into Arrow / tokenizing it into Arrow (bertkit: stage 1 / stage 2 of
                          bertkit.classify.prepare; trainer: load_dataset / map)
    rows_per_s            rows / (read_s + tokenize_s)
    startup_s             child start (imports excluded) to the first training step
    peak_rss_mb           the child's peak resident memory, start to end (training steps and saving included)
Predict (kind=predict): a model trained by bertkit on the tests' tiny random BERT (the streaming pipeline is what is
measured, not the model), `classify predict`'s Python path (`predict_stream` over a generator of lines, results
written to /dev/null) for each --predict-lines; peak RSS of each child.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

from common import (
    SHARED,
    add_child_options,
    emit,
    environment,
    packaged_model,
    parse_args,
    run_as_child,
    run_child,
    tiny_model,
)

T0 = time.perf_counter()


class _StopAfter:
    """Records when training starts and stops the run after `steps` optimizer steps."""

    def __init__(self, steps: int, marks: dict):
        self.steps, self.marks = steps, marks

    def __getattr__(self, name):  # every other callback event: nothing
        return lambda *a, **k: None

    def on_train_begin(self, engine):
        self.marks["startup_s"] = time.perf_counter() - T0

    def on_batch(self, engine):
        if engine.state.step + 1 >= self.steps:
            engine._stop = True


def child_bertkit(p: dict) -> dict:
    import bertkit.train as skeleton
    from bertkit.classify import prepare
    from bertkit.classify.settings import ClassifyConfig
    from bertkit.classify.train import train

    marks: dict = {"read_s": 0.0, "tokenize_s": 0.0}

    def timed(name, fn):
        def wrapper(*a, **k):
            t = time.perf_counter()
            try:
                return fn(*a, **k)
            finally:
                marks[name] += time.perf_counter() - t
        return wrapper

    prepare.read_split = timed("read_s", prepare.read_split)
    prepare.tokenize_split = timed("tokenize_s", prepare.tokenize_split)
    import bertkit.engine.callbacks as cbs

    stop = _StopAfter(p["steps"], marks)
    cbs.ProgressCallback = lambda: stop  # the skeleton builds [ProgressCallback(), EvalLogCallback(...)]
    with tempfile.TemporaryDirectory(prefix="bertkit-scale-out-") as tmp:
        cfg = ClassifyConfig(model=p["model"], train=p["train"], output_dir=str(Path(tmp) / "out"), epochs=0.01,
                             batch_size=32, max_length=128, cache_dir=p["cache_dir"], num_proc=p.get("num_proc", 1),
                             tune_thresholds=False)
        summary = train(cfg)
    assert skeleton  # the module stays imported for the patch above
    return {**{k: round(v, 3) for k, v in marks.items()}, "steps": summary["steps"]}


def child_trainer(p: dict) -> dict:
    import datasets
    import numpy as np
    from transformers import (
        AutoModelForSequenceClassification,
        AutoTokenizer,
        DataCollatorWithPadding,
        Trainer,
        TrainerCallback,
        TrainingArguments,
    )

    marks: dict = {}
    t = time.perf_counter()
    ds = datasets.load_dataset("csv", data_files=p["train"], delimiter="\t", quoting=3, split="train",
                               cache_dir=p["cache_dir"])
    marks["read_s"] = time.perf_counter() - t
    tok = AutoTokenizer.from_pretrained(p["model"])
    t = time.perf_counter()
    ds = ds.map(lambda b: tok(b["sentence"], truncation=True, max_length=128), batched=True,
                remove_columns=["sentence"])
    marks["tokenize_s"] = time.perf_counter() - t
    model = AutoModelForSequenceClassification.from_pretrained(p["model"], num_labels=2)

    class Marks(TrainerCallback):
        def on_train_begin(self, args, state, control, **kw):
            marks["startup_s"] = time.perf_counter() - T0

        def on_step_end(self, args, state, control, **kw):
            if state.global_step >= p["steps"]:
                control.should_training_stop = True

    with tempfile.TemporaryDirectory(prefix="bertkit-scale-trainer-") as tmp:
        args = TrainingArguments(output_dir=tmp, per_device_train_batch_size=32, num_train_epochs=0.01, report_to=[],
                                 save_strategy="no", logging_strategy="no", use_cpu=True,
                                 disable_tqdm=True, seed=42)
        tr = Trainer(model=model, args=args, train_dataset=ds.rename_column("label", "labels"),
                     data_collator=DataCollatorWithPadding(tok), callbacks=[Marks()])
        out = tr.train()
    assert np
    return {**{k: round(v, 3) for k, v in marks.items()}, "steps": out.global_step}


def child_predict(p: dict) -> dict:
    import random

    from bertkit.classify.predict import Classifier, predict_stream

    words = "the a film movie good bad great awful plot acting was very fun boring".split()
    rng = random.Random(0)
    lines = (" ".join(rng.choice(words) for _ in range(6)) for _ in range(p["lines"]))
    clf = Classifier(p["model_dir"])
    if p.get("threads"):
        import torch

        torch.set_num_threads(p["threads"])
    t, n = time.perf_counter(), 0
    import bertkit.classify.predict as pr

    pr.read_inputs = lambda path, fmt: ("text", lines)  # a generator piping lines, as `cat big.txt |` would
    with open(os.devnull, "w") as sink:
        for rec in predict_stream(clf, "-"):
            sink.write(rec["label"])
            n += 1
    return {"lines": n, "seconds": round(time.perf_counter() - t, 1)}


def repeated(src: Path, rows: int, dest: Path) -> Path:
    lines = src.read_text(encoding="utf-8").splitlines(keepends=True)
    head, body = lines[0], lines[1:]
    with open(dest, "w", encoding="utf-8") as f:
        f.write(head)
        left = rows
        while left > 0:
            f.writelines(body[:left])
            left -= len(body[:left])
    return dest


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sizes", default="67349,673490,3367450")
    ap.add_argument("--steps", type=int, default=20)
    ap.add_argument("--predict-lines", default="100000,10000000")
    ap.add_argument("--skip-trainer", action="store_true")
    ap.add_argument("--skip-train", action="store_true")
    ap.add_argument("--num-proc", type=int, default=1)
    ap.add_argument("--predict-threads", type=int, default=None,
                    help="torch threads for the predict runs (default: bertkit's, one per physical core)")
    ap.add_argument("--smoke", action="store_true", help="tiny model, 2,000 rows, 3 steps, 2,000 predict lines")
    add_child_options(ap, ("bertkit", "trainer", "predict"))
    a = parse_args(ap)
    if run_as_child(a, {"bertkit": child_bertkit, "trainer": child_trainer, "predict": child_predict}):
        return
    work = Path(tempfile.mkdtemp(prefix="bertkit-scale-"))
    model = tiny_model(work / "tiny") if a.smoke else packaged_model()
    sizes = [2000] if a.smoke else [int(s) for s in a.sizes.split(",") if s]
    steps = 3 if a.smoke else a.steps
    emit({"kind": "environment", **environment()})
    me = [os.path.abspath(__file__)]  # run_child adds the interpreter
    try:
        for rows in ([] if a.skip_train else sizes):
            data = repeated(SHARED / "glue/SST-2/train.tsv", rows, work / f"train-{rows}.tsv")
            cache = work / f"cache-{rows}"
            base = {"model": model, "train": str(data), "steps": steps}
            for run in ("cold", "warm"):
                r = run_child([*me, "--child", "bertkit", "--params",
                               _json({**base, "cache_dir": str(cache), "num_proc": a.num_proc})])
                emit({"kind": "train", "side": "bertkit", "cache": run, "rows": rows, "num_proc": a.num_proc,
                      **_rates(r, rows)})
            if not a.skip_trainer:
                r = run_child([*me, "--child", "trainer", "--params",
                               _json({**base, "cache_dir": str(work / f"hf-{rows}")})])
                emit({"kind": "train", "side": "trainer", "cache": "cold", "rows": rows, **_rates(r, rows)})
            shutil.rmtree(cache, ignore_errors=True)
            shutil.rmtree(work / f"hf-{rows}", ignore_errors=True)
            data.unlink()
        lines = [2000] if a.smoke else [int(s) for s in a.predict_lines.split(",") if s]
        if lines:
            model_dir = _predict_model(work)
            for n in lines:
                params = _json({"model_dir": model_dir, "lines": n, "threads": a.predict_threads})
                r = run_child([*me, "--child", "predict", "--params", params])
                emit({"kind": "predict", "model": "tiny random BERT (bertkit-trained)", "threads": a.predict_threads,
                      **r})
    finally:
        shutil.rmtree(work, ignore_errors=True)


def _rates(r: dict, rows: int) -> dict:
    secs = r.get("read_s", 0) + r.get("tokenize_s", 0)
    return {**r, "rows_per_s": round(rows / secs) if secs else None}


def _json(d: dict) -> str:
    import json

    return json.dumps(d)


def _predict_model(work: Path) -> str:
    import subprocess

    tiny = tiny_model(work / "tiny-predict")
    train = work / "p.tsv"
    rows = "".join(f"{'good film' if i % 2 else 'bad film'}\t{i % 2}\n" for i in range(64))
    train.write_text("sentence\tlabel\n" + rows)
    out = work / "predict-model"
    subprocess.run([sys.executable, "-m", "bertkit", "classify", "train", "--model", tiny, "--train", str(train), "-o",
                    str(out),
                    "--epochs", "1", "--no-cache"], check=True, capture_output=True)
    return str(out)


if __name__ == "__main__":
    main()
