"""Benchmark `bertkit classify train` against `transformers.Trainer` + `DataCollatorWithPadding` on SST-2.

    nice -n 5 python bench/train_classify.py [--rows 2000] [--epochs 1] [--repeats 1] [--threads N] [--train F]
        [--dev F] [--peak bench/results/peak-epyc.json]

Both sides: the packaged all-MiniLM-L6-v2, the first --rows rows of SST-2 train, the same seed (set before
the classification head is initialised), batch size 32, lr 5e-5, linear schedule with 6% warmup, weight decay
0.01, gradient clipping at 1.0, --max-length 128 (truncation). Precision: each side's default (bertkit: `auto`, bf16
where the hardware computes it natively, else fp32; the Trainer: fp32); --fp32 or --bf16 sets it on every side.
Threads: each side's default (bertkit: the free physical cores; torch/Trainer: every core) unless --threads N sets
OMP_NUM_THREADS for both.
Dev accuracy on the whole SST-2 dev set (872 rows). Each run is a fresh child process, sides alternated
(bertkit, trainer, trainer, bertkit, ...); peak RSS is that child's own ru_maxrss.

Tokenization is excluded from the training figures of both sides (bertkit tokenizes once before the loop;
for the Trainer it is done with `Dataset.map(batched=True)` before `Trainer.train`), and included in wall_s.

Sides: bertkit (its defaults); trainer (the Trainer's defaults: fp32 unless --bf16); trainer-grouped (the Trainer at
its best: its own length grouping, group_by_length=True (in transformers 5:
train_sampling_strategy="group_by_length"), at the precision the bertkit side runs, `auto` resolved as bertkit does).

One JSON line per run (kind=run), then one per side (kind=summary, medians) and one kind=ratio:
    train_samples_per_s   training samples / training seconds, evaluation excluded: bertkit's own
                          train_samples_per_second (metrics.json) and the Trainer's train_samples_per_second
    train_s               those training seconds (bertkit train_seconds, Trainer train_runtime)
    wall_s                the child's work end to end: model + data load, tokenization, training, dev
                          predictions (and, for bertkit, saving the model folder); interpreter start excluded
    dev_accuracy          on SST-2 dev at the 0.5 decision threshold (Trainer: argmax, against the label_ids
                          trainer.predict returns with the predictions: grouped, it predicts in its sampler's order)
    dev_accuracy_tuned    bertkit only: at the threshold bertkit tunes on dev (what `classify train` reports)
    peak_rss_mb           the child's peak resident memory
    achieved_gflops       model FLOPs on real tokens (forward + backward) per training second; executed_gflops: on
                          the padded rows; padded_per_real; with --peak (a bench/peak.py result of this machine),
                          shares of its matmul peak in the side's precision, and ceiling_x_vs_trainer in the ratio
                          line (bench/train_flops.py)
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

import train_flops as flops
from common import (
    SHARED,
    emit,
    environment,
    median,
    order,
    packaged_model,
    paired,
    parent_args,
    read_tsv,
    run_child,
    tiny_model,
)

SIDES = ("bertkit", "trainer", "trainer-grouped")


# -- children ------------------------------------------------------------------------------------

def child_bertkit(p: dict) -> dict:
    from bertkit.classify.settings import ClassifyConfig
    from bertkit.classify.train import train

    t0 = time.perf_counter()
    count = flops.hook_bertkit_models()
    with tempfile.TemporaryDirectory(prefix="bertkit-bench-out-") as tmp:
        kw = dict(model=p["model"], train=p["train"], dev=p["dev"], output_dir=str(Path(tmp) / "out"),
                  epochs=p["epochs"], batch_size=p["batch_size"], lr=p["lr"], seed=p["seed"],
                  max_length=p["max_length"], warmup_ratio=p["warmup_ratio"], weight_decay=p["weight_decay"],
                  overwrite=True, **({"mixed_precision": p["precision"]} if p.get("precision") else {}))
        cfg = ClassifyConfig(**{**kw, **p.get("extra", {})})  # --bertkit-option wins (e.g. mixed_precision="bf16")
        summary = train(cfg)
        import torch

        threads = torch.get_num_threads()
        metrics = json.loads((Path(tmp) / "out" / "metrics.json").read_text())
    wall = time.perf_counter() - t0
    tuning = metrics.get("threshold_tuning") or {}
    return {"train_samples_per_s": summary["train_samples_per_second"], "train_s": summary["train_seconds"],
            "train_tokens_per_s": summary["train_tokens_per_second"], "steps": summary["steps"],
            "wall_s": round(wall, 2), "dev_accuracy": tuning.get("at_0.5", metrics["dev"]["accuracy"]),
            "dev_accuracy_tuned": metrics["dev"]["accuracy"], "train_rows": summary["train_rows"],
            "final_loss": summary["final_loss"], "threads": threads, "precision": cfg.mixed_precision,
            **flops.figures(count, flops.model_shape(p["model"]), summary["train_seconds"], count["rows"])}


def child_trainer(p: dict) -> dict:
    """What a user writes with the Hugging Face Trainer."""
    import numpy as np
    import torch
    from datasets import Dataset
    from transformers import (
        AutoModelForSequenceClassification,
        AutoTokenizer,
        DataCollatorWithPadding,
        Trainer,
        TrainingArguments,
        set_seed,
    )

    t0 = time.perf_counter()
    tr_x, tr_y = read_tsv(p["train"])
    dv_x, dv_y = read_tsv(p["dev"])
    tok = AutoTokenizer.from_pretrained(p["model"])
    set_seed(p["seed"])
    model = AutoModelForSequenceClassification.from_pretrained(p["model"], num_labels=2)
    count = flops.count_training_tokens(model)

    def enc(b):
        return tok(b["sentence"], truncation=True, max_length=p["max_length"])

    train_ds = Dataset.from_dict({"sentence": tr_x, "label": tr_y}).map(enc, batched=True, remove_columns=["sentence"])
    dev_ds = Dataset.from_dict({"sentence": dv_x, "label": dv_y}).map(enc, batched=True, remove_columns=["sentence"])
    with tempfile.TemporaryDirectory(prefix="bertkit-bench-trainer-") as tmp:
        args = TrainingArguments(output_dir=tmp, per_device_train_batch_size=p["batch_size"],
                                 per_device_eval_batch_size=p["eval_batch_size"], learning_rate=p["lr"],
                                 num_train_epochs=p["epochs"], seed=p["seed"], warmup_steps=p["warmup_ratio"],
                                 weight_decay=p["weight_decay"], bf16=p.get("trainer_bf16", p["bf16"]), report_to=[],
                                 use_cpu=not torch.cuda.is_available(),  # the Trainer wants it for bf16 on CPU
                                 save_strategy="no", logging_strategy="no", disable_tqdm=True,
                                 # transformers 5's name for group_by_length=True
                                 **({"train_sampling_strategy": "group_by_length"} if p.get("group_by_length") else {}))
        trainer = Trainer(model=model, args=args, train_dataset=train_ds, data_collator=DataCollatorWithPadding(tok),
                          processing_class=tok)
        out = trainer.train()
        pred = trainer.predict(dev_ds)
    wall = time.perf_counter() - t0
    # Scored against pred.label_ids, in the order the predictions come in, as the Trainer's compute_metrics is: in
    # transformers 5 train_sampling_strategy="group_by_length" also applies to evaluation and prediction
    # (Trainer._get_eval_sampler returns a LengthGroupedSampler), so the predictions are not in dev-file order.
    gold = np.asarray(pred.label_ids)
    assert sorted(gold.tolist()) == sorted(dv_y), "the Trainer's predictions are not the dev set"
    acc = float((np.argmax(pred.predictions, axis=-1) == gold).mean())
    m = out.metrics
    return {"train_samples_per_s": round(m["train_samples_per_second"], 2), "train_s": round(m["train_runtime"], 2),
            "steps": out.global_step, "wall_s": round(wall, 2), "dev_accuracy": acc, "train_rows": len(train_ds),
            "final_loss": round(float(out.training_loss), 4), "threads": torch.get_num_threads(),
            "precision": "bf16" if p.get("trainer_bf16", p["bf16"]) else "no",
            **flops.figures(count, flops.model_shape(p["model"]), m["train_runtime"], count["rows"])}


# -- parent ---------------------------------------------------------------------------------------

def parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--train", default=str(SHARED / "glue" / "SST-2" / "train.tsv"))
    ap.add_argument("--dev", default=str(SHARED / "glue" / "SST-2" / "dev.tsv"))
    ap.add_argument("--model", default=None, help="default: the packaged all-MiniLM-L6-v2")
    ap.add_argument("--rows", type=int, default=2000, help="first N training rows (both sides)")
    ap.add_argument("--epochs", type=float, default=1.0)
    ap.add_argument("--batch-size", type=int, default=32)
    ap.add_argument("--eval-batch-size", type=int, default=128)
    ap.add_argument("--lr", type=float, default=5e-5)
    ap.add_argument("--warmup-ratio", type=float, default=0.06)
    ap.add_argument("--weight-decay", type=float, default=0.01)
    ap.add_argument("--max-length", type=int, default=128)
    ap.add_argument("--seed", type=int, default=42)
    ap.add_argument("--bf16", action="store_true", help="bf16 mixed precision on every side")
    ap.add_argument("--fp32", action="store_true", help="fp32 on every side (bertkit's default is auto)")
    ap.add_argument("--threads", type=int, default=None,
                    help="OMP_NUM_THREADS for both sides (default: unset: bertkit picks the free "
                         "cores, torch all cores)")
    ap.add_argument("--repeats", type=int, default=1, help="runs per side, alternated (A B, B A, ...)")
    ap.add_argument("--sides", default=",".join(SIDES))
    ap.add_argument("--bertkit-option", action="append", default=[], metavar="KEY=VALUE",
                    help="ClassifyConfig setting for the bertkit side only (A/B experiments), e.g. bucket_size=16 or "
                         "mixed_precision=bf16 (JSON values; anything else is a string)")
    ap.add_argument("--peak", default=None, help="a bench/peak.py result (.json) of this machine: FLOP/s as shares "
                                                 "of its matmul peak")
    ap.add_argument("--smoke", action="store_true", help="tiny random model, 64 rows, 1 repeat (for the tests)")
    return ap


def main() -> None:
    ap = parser()
    children = {"bertkit": child_bertkit, "trainer": child_trainer, "trainer-grouped": child_trainer}
    args = parent_args(ap, children)
    if args is None:
        return
    with tempfile.TemporaryDirectory(prefix="bertkit-bench-train-") as tmp:
        if args.smoke:
            model = tiny_model(Path(tmp) / "tiny")
            args.rows, args.repeats = 64, 1
        else:
            model = args.model or packaged_model()
        train_file, dev_file, rows = write_data(args, Path(tmp))
        extra = bertkit_options(args.bertkit_option)
        params = {"model": model, "train": str(train_file), "dev": dev_file, "epochs": args.epochs,
                  "batch_size": args.batch_size, "eval_batch_size": args.eval_batch_size, "lr": args.lr,
                  "warmup_ratio": args.warmup_ratio, "weight_decay": args.weight_decay, "max_length": args.max_length,
                  "seed": args.seed, "bf16": args.bf16, "extra": extra,
                  "precision": "bf16" if args.bf16 else ("no" if args.fp32 else None)}
        # trainer-grouped: the Trainer at its best, group_by_length=True at bertkit's precision (auto resolved here)
        from bertkit.classify.settings import ClassifyConfig
        from bertkit.engine.precision import resolve_mixed_precision

        bertkit_precision = resolve_mixed_precision(extra.get("mixed_precision",
                                                              params["precision"] or ClassifyConfig.mixed_precision))[0]
        params_grouped = {**params, "group_by_length": True, "trainer_bf16": bertkit_precision == "bf16"}
        common = {"bench": "train_classify", "model": Path(model).name if args.smoke else "all-MiniLM-L6-v2",
                  "rows": rows, "epochs": args.epochs, "batch_size": args.batch_size, "lr": args.lr,
                  "max_length": args.max_length, "seed": args.seed, "bf16": args.bf16, "fp32": args.fp32,
                  "bertkit_precision": bertkit_precision, "threads_option": args.threads,
                  **({"bertkit_options": extra} if extra else {})}
        from fast_sides import read_peak

        peak = read_peak(args.peak)
        report(run_sides(args, params, params_grouped, common, peak), common, bertkit_precision, peak)


def write_data(args: argparse.Namespace, tmp: Path) -> tuple[Path, str, int]:
    """(the first --rows training rows as a TSV, the dev file: the first 32 rows with --smoke, their row count)."""
    texts, labels = read_tsv(args.train)
    texts, labels = texts[: args.rows], labels[: args.rows]
    train_file = tmp / "train.tsv"
    train_file.write_text("sentence\tlabel\n" + "".join(f"{t}\t{y}\n" for t, y in zip(texts, labels)),
                          encoding="utf-8")
    dev_file = args.dev
    if args.smoke:
        dx, dy = read_tsv(args.dev)
        dev_file = str(tmp / "dev.tsv")
        Path(dev_file).write_text("sentence\tlabel\n" + "".join(f"{t}\t{y}\n" for t, y in zip(dx[:32], dy[:32])),
                                  encoding="utf-8")
    return train_file, dev_file, len(texts)


def bertkit_options(pairs: list[str]) -> dict:
    """--bertkit-option KEY=VALUE pairs: JSON values (numbers, true/false), anything else a string."""
    extra = {}
    for kv in pairs:
        k, v = kv.split("=", 1)
        try:
            extra[k] = json.loads(v)
        except json.JSONDecodeError:
            extra[k] = v  # plain strings: mixed_precision=bf16
    return extra


def run_sides(args: argparse.Namespace, params: dict, params_grouped: dict, common: dict,
              peak: dict | None = None) -> dict[str, list[dict]]:
    """Each side in a fresh child, alternated over the repeats; one kind=run line each."""
    env = environment()
    runs: dict[str, list[dict]] = {}
    sides = [s for s in args.sides.split(",") if s]
    for i, side in enumerate(order(sides, args.repeats)):
        res = run_child([__file__, "--child", side, "--params",
                         json.dumps(params_grouped if side == "trainer-grouped" else params)],
                        env={"OMP_NUM_THREADS": str(args.threads)} if args.threads else None)
        res.update(flops.peak_share(res, peak, res.get("precision", "no")))
        runs.setdefault(side, []).append(res)
        emit({"kind": "run", **common, "side": side, "run": i, **env, **res,
              **({"group_by_length": True, "trainer_bf16": params_grouped["trainer_bf16"]}
                 if side == "trainer-grouped" else {})})
    return runs


def report(runs: dict[str, list[dict]], common: dict, bertkit_precision: str, peak: dict | None = None) -> None:
    """kind=summary per side (medians), then kind=ratio with the targets."""
    summ = {}
    for side, rs in runs.items():
        summ[side] = {k: round(median([r[k] for r in rs]), 4) for k in
                      ("train_samples_per_s", "train_s", "wall_s", "dev_accuracy", "peak_rss_mb", *flops.FLOP_KEYS)
                      if k in rs[0]}
        if side == "bertkit":
            summ[side]["dev_accuracy_tuned"] = round(median([r["dev_accuracy_tuned"] for r in rs]), 4)
        emit({"kind": "summary", **common, "side": side, "runs": len(rs), **summ[side]})
    b, t, g = summ.get("bertkit"), summ.get("trainer"), summ.get("trainer-grouped")
    if not b or not (t or g):  # a ratio against whichever Trainer sides ran
        return
    grouped = {"x_vs_trainer_grouped": round(b["train_samples_per_s"] / g["train_samples_per_s"], 2),
               "bertkit_precision": bertkit_precision,
               "dev_accuracy_diff_points_vs_grouped": round(100 * (b["dev_accuracy"] - g["dev_accuracy"]), 2),
               **paired(runs["bertkit"], runs["trainer-grouped"], "train_samples_per_s", "trainer_grouped"),
               } if g else {}
    defaults = {"train_samples_per_s_x": round(b["train_samples_per_s"] / t["train_samples_per_s"], 2),
                "wall_x": round(t["wall_s"] / b["wall_s"], 2),
                "dev_accuracy_diff_points": round(100 * (b["dev_accuracy"] - t["dev_accuracy"]), 2),
                "peak_rss_ratio": round(b["peak_rss_mb"] / t["peak_rss_mb"], 2)} if t else {}
    targets = {**({"train_3.5x": b["train_samples_per_s"] >= 3.5 * t["train_samples_per_s"]} if t else {}),
               **({"same_precision_1.5x_grouped": b["train_samples_per_s"] >= 1.5 * g["train_samples_per_s"]}
                  if g else {}),
               **({"accuracy_within_0.3": b["dev_accuracy"] >= t["dev_accuracy"] - 0.003,
                   "rss_not_above": b["peak_rss_mb"] <= t["peak_rss_mb"]} if t else {})}
    emit({"kind": "ratio", **common, **grouped, **defaults, **flops.ceiling(t, runs.get("trainer"), peak),
          "targets": targets})

if __name__ == "__main__":
    main()
