"""Benchmark `bertkit ner train` against the Hugging Face token-classification example (run_ner.py) on WNUT-17.

    nice -n 10 python bench/train_ner.py [--rows N] [--epochs 5] [--lr 1e-4] [--seeds 42] [--save-results ner-wnut17]
        [--bertkit-set KEY=VALUE ...]   # a recipe setting for bertkit's side only, e.g. bucket_size=1
        [--trainer-patches dropout,attention,embedding]   # bertkit's CPU training pieces on the Trainer's model
        [--peak bench/results/peak-epyc.json]   # this machine's matmul peak (bench/peak.py): shares of it

Every side: the packaged all-MiniLM-L6-v2, the first --rows sentences of WNUT-17 train (default: all 3,394), the whole
dev split (1,009 sentences), the same seed, batch 32, 6 % warmup, weight decay 0.01, clipping at 1.0, --max-length 128,
and `bertkit ner train`'s default epochs and lr (5 and 1e-4, chosen on dev; the Hugging Face example's are 3 and 5e-5).
The peer is the Trainer set up as transformers' examples/pytorch/token-classification/run_ner.py does it: a fast
tokenizer with is_split_into_words, the label on each word's first sub-token (-100 on the others),
DataCollatorForTokenClassification, truncation at max_length, seqeval (default mode) on the dev predictions.
Sides: bertkit (its defaults: windows instead of truncation, mixed precision auto), trainer (the example's
defaults: fp32), trainer-grouped (the Trainer with length grouping at the precision bertkit runs).
Each run is a fresh child process, sides alternated; one JSON line per run, per side (medians) and a ratio line:
    train_samples_per_s   training windows (bertkit) / sentences (Trainer) per training second, eval excluded
    dev_f1                entity micro F1 on WNUT-17 dev (bertkit: its own metrics, tags read with its --decode,
                          viterbi by default; Trainer: seqeval on each word's argmax, as the example does)
    dev_f1_argmax         bertkit only: the same model's dev F1 with each word's argmax (the Trainer's reading)
    achieved_gflops       model FLOPs on real tokens (forward + backward) per training second; executed_gflops: on
                          the padded rows the model ran; padded_per_real; with --peak, each as a share of the matmul
                          peak in the side's precision (bench/train_flops.py), and in the ratio line
                          ceiling_x_vs_trainer: the most any side could gain on the Trainer at this machine's peak
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
    run_child,
    tiny_model,
)

SIDES = ("bertkit", "trainer", "trainer-grouped")


def child_bertkit(p: dict) -> dict:
    from bertkit.ner.settings import NERConfig
    from bertkit.ner.train import train

    t0 = time.perf_counter()
    count = flops.hook_bertkit_models()
    with tempfile.TemporaryDirectory(prefix="bertkit-bench-ner-") as tmp:
        cfg = NERConfig(model=p["model"], train=p["train"], dev=p["dev"], output_dir=str(Path(tmp) / "out"),
                        epochs=p["epochs"], batch_size=p["batch_size"], lr=p["lr"], seed=p["seed"],
                        max_length=p["max_length"], warmup_ratio=p["warmup_ratio"], weight_decay=p["weight_decay"],
                        overwrite=True, **p.get("extra", {}))
        summary = train(cfg)
        metrics = json.loads((Path(tmp) / "out" / "metrics.json").read_text())
        if p.get("keep_model"):  # the first bertkit run's model, for bench/predict_ner.py
            import shutil

            shutil.copytree(Path(tmp) / "out", p["keep_model"], dirs_exist_ok=True)
    import torch

    return {"train_samples_per_s": summary["train_samples_per_second"], "train_s": summary["train_seconds"],
            "steps": summary["steps"], "wall_s": round(time.perf_counter() - t0, 2), "dev_f1": metrics["dev"]["f1"],
            "decode": metrics["dev"].get("decode"), "dev_f1_argmax": metrics["dev"].get("argmax", {}).get("f1"),
            "dev_loss": round(metrics["history"][-1].get("dev_loss", float("nan")), 4),
            "final_loss": summary["final_loss"], "threads": torch.get_num_threads(),
            "precision": cfg.mixed_precision,
            **flops.figures(count, flops.model_shape(p["model"]), summary["train_seconds"], count["rows"])}


def _read(path: str, limit: int | None):
    from bertkit.ner.conll import read_conll

    s = read_conll(path)
    return s.tokens[:limit], s.tags[:limit]


def _example_encoder(tok, ids: dict[str, int], max_length: int):
    """run_ner.py's tokenize_and_align_labels: truncation, the label on each word's first sub-token, -100 after."""
    def enc(b):
        e = tok(b["tokens"], truncation=True, max_length=max_length, is_split_into_words=True)
        out = []
        for i, tags in enumerate(b["tags"]):
            prev, row = None, []
            for w in e.word_ids(i):
                row.append(-100 if w is None or w == prev else ids.get(tags[w], ids.get("O", 0)))
                prev = w
            out.append(row)
        e["labels"] = out
        return e

    return enc


PATCHES = ("dropout", "attention", "embedding")


def _bertkit_patches(model, which: str) -> None:
    """--trainer-patches: bertkit's CPU training pieces (its dropout masks, its attention path, the kept embedding
    gradient) installed on the Trainer's model, to tell what they do to F1 from what bertkit's loop does."""
    from bertkit.engine import cpu_attention, dropout, embedding_grad

    install = {"dropout": dropout.install, "attention": cpu_attention.install, "embedding": embedding_grad.install}
    for name in filter(None, which.split(",")):
        install[name](model)


def child_trainer(p: dict) -> dict:
    """What run_ner.py does (the parts that matter for speed and F1)."""
    import numpy as np
    import torch
    from datasets import Dataset
    from seqeval.metrics import f1_score
    from transformers import (
        AutoModelForTokenClassification,
        AutoTokenizer,
        DataCollatorForTokenClassification,
        Trainer,
        TrainingArguments,
        set_seed,
    )

    t0 = time.perf_counter()
    tr_w, tr_t = _read(p["train"], None)
    dv_w, dv_t = _read(p["dev"], None)
    labels = sorted({t for s in tr_t for t in s})
    ids = {n: i for i, n in enumerate(labels)}
    tok = AutoTokenizer.from_pretrained(p["model"])
    set_seed(p["seed"])
    model = AutoModelForTokenClassification.from_pretrained(p["model"], num_labels=len(labels),
                                                            id2label=dict(enumerate(labels)), label2id=ids)

    _bertkit_patches(model, p.get("trainer_patches", ""))
    count = flops.count_training_tokens(model)
    enc = _example_encoder(tok, ids, p["max_length"])
    train_ds = Dataset.from_dict({"tokens": tr_w, "tags": tr_t}).map(enc, batched=True,
                                                                     remove_columns=["tokens", "tags"])
    dev_ds = Dataset.from_dict({"tokens": dv_w, "tags": dv_t}).map(enc, batched=True, remove_columns=["tokens", "tags"])
    with tempfile.TemporaryDirectory(prefix="bertkit-bench-trainer-") as tmp:
        args = TrainingArguments(output_dir=tmp, per_device_train_batch_size=p["batch_size"],
                                 per_device_eval_batch_size=p["eval_batch_size"], learning_rate=p["lr"],
                                 num_train_epochs=p["epochs"], seed=p["seed"], warmup_steps=p["warmup_ratio"],
                                 weight_decay=p["weight_decay"], bf16=p.get("trainer_bf16", False), report_to=[],
                                 use_cpu=not torch.cuda.is_available(), save_strategy="no", logging_strategy="no",
                                 disable_tqdm=True,
                                 **({"train_sampling_strategy": "group_by_length"} if p.get("group_by_length") else {}))
        trainer = Trainer(model=model, args=args, train_dataset=train_ds, processing_class=tok,
                          data_collator=DataCollatorForTokenClassification(tok))
        out = trainer.train()
        pred = trainer.predict(dev_ds)
    preds, gold_ids = np.argmax(pred.predictions, axis=-1), pred.label_ids
    true = [[labels[g] for g in row if g != -100] for row in gold_ids]
    guess = [[labels[q] for q, g in zip(prow, grow) if g != -100] for prow, grow in zip(preds, gold_ids)]
    m = out.metrics
    return {"train_samples_per_s": round(m["train_samples_per_second"], 2), "train_s": round(m["train_runtime"], 2),
            "steps": out.global_step, "wall_s": round(time.perf_counter() - t0, 2), "dev_f1": f1_score(true, guess),
            "dev_loss": round(float(pred.metrics.get("test_loss", float("nan"))), 4),
            "final_loss": round(float(out.training_loss), 4), "threads": torch.get_num_threads(),
            "precision": "bf16" if p.get("trainer_bf16") else "no",
            **flops.figures(count, flops.model_shape(p["model"]), m["train_runtime"], count["rows"])}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--train", default=str(SHARED / "ner" / "wnut17" / "train.conll"))
    ap.add_argument("--dev", default=str(SHARED / "ner" / "wnut17" / "dev.conll"))
    ap.add_argument("--model", default=None, help="default: the packaged all-MiniLM-L6-v2")
    ap.add_argument("--rows", type=int, default=None, help="first N training sentences (every side; default: all)")
    ap.add_argument("--dev-rows", type=int, default=None, help="first N dev sentences (default: all)")
    from bertkit.ner.settings import NERConfig

    ap.add_argument("--epochs", type=float, default=NERConfig.epochs)
    ap.add_argument("--batch-size", type=int, default=32)
    ap.add_argument("--eval-batch-size", type=int, default=128)
    ap.add_argument("--lr", type=float, default=NERConfig.lr)
    ap.add_argument("--warmup-ratio", type=float, default=0.06)
    ap.add_argument("--weight-decay", type=float, default=0.01)
    ap.add_argument("--max-length", type=int, default=128)
    ap.add_argument("--seeds", default="42", help="comma-separated seeds (each runs every side)")
    ap.add_argument("--repeats", type=int, default=1)
    ap.add_argument("--sides", default=",".join(SIDES))
    ap.add_argument("--keep-model", default=None, help="save the first bertkit run's model folder here")
    ap.add_argument("--bertkit-set", action="append", default=[], metavar="KEY=VALUE",
                    help="a recipe setting for bertkit's side (repeatable; e.g. bucket_size=1); the value is YAML")
    ap.add_argument("--trainer-patches", default="", type=_patch_list, metavar="NAMES",
                    help=f"bertkit's CPU training pieces on the Trainer sides' model: comma-separated of {PATCHES}")
    ap.add_argument("--peak", default=None, help="a bench/peak.py result (.json) of this machine: FLOP/s as shares "
                                                 "of its matmul peak")
    ap.add_argument("--smoke", action="store_true", help="tiny random model, 48 sentences (for the tests)")
    children = {"bertkit": child_bertkit, "trainer": child_trainer, "trainer-grouped": child_trainer}
    args = parent_args(ap, children)
    if args is None:
        return
    extra = bertkit_settings(args.bertkit_set)
    with tempfile.TemporaryDirectory(prefix="bertkit-bench-ner-") as tmp:
        model = tiny_model(Path(tmp) / "tiny") if args.smoke else (args.model or packaged_model())
        if args.smoke:
            args.rows, args.dev_rows, args.repeats = 48, 24, 1
        train_file, dev_file = Path(tmp) / "train.conll", Path(tmp) / "dev.conll"
        counts = [write_conll(src, dst, n) for src, dst, n in ((args.train, train_file, args.rows),
                                                                (args.dev, dev_file, args.dev_rows))]
        from bertkit.engine.precision import resolve_mixed_precision
        from bertkit.ner.settings import NERConfig

        bertkit_precision = resolve_mixed_precision(NERConfig.mixed_precision)[0]
        common = {"bench": "train_ner", "model": "tiny" if args.smoke else "all-MiniLM-L6-v2", "rows": counts[0],
                  "dev_rows": counts[1],
                  "epochs": args.epochs, "batch_size": args.batch_size, "lr": args.lr, "max_length": args.max_length,
                  "bertkit_precision": bertkit_precision}
        params = {"model": model, "train": str(train_file), "dev": str(dev_file), "epochs": args.epochs,
                  "batch_size": args.batch_size, "eval_batch_size": args.eval_batch_size, "lr": args.lr,
                  "warmup_ratio": args.warmup_ratio, "weight_decay": args.weight_decay,
                  "max_length": args.max_length, "extra": extra, "trainer_patches": args.trainer_patches}
        if extra:
            common["bertkit_settings"] = extra
        if args.trainer_patches:
            common["trainer_patches"] = args.trainer_patches
        from fast_sides import read_peak

        peak = read_peak(args.peak)
        runs = run_sides(args, params, common, bertkit_precision, peak)
        report(runs, common, peak)


def _patch_list(value: str) -> str:
    bad = [n for n in value.split(",") if n and n not in PATCHES]
    if bad:
        raise argparse.ArgumentTypeError(f"unknown {', '.join(bad)}; choose from {', '.join(PATCHES)}")
    return value


def bertkit_settings(pairs: list[str]) -> dict:
    """--bertkit-set KEY=VALUE pairs as NERConfig keyword arguments (values parsed as YAML: 1, 0.5, true, text)."""
    import yaml

    out = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise SystemExit(f"--bertkit-set: expected KEY=VALUE, got {pair!r}")
        out[key.strip().replace("-", "_")] = yaml.safe_load(value)
    return out


def write_conll(src: str, dst: Path, limit: int | None) -> int:
    """The first `limit` sentences of `src` as two-column CoNLL in `dst`; their count."""
    w, t = _read(src, limit)
    dst.write_text("".join("".join(f"{a}\t{b}\n" for a, b in zip(ws, ts)) + "\n" for ws, ts in zip(w, t)),
                   encoding="utf-8")
    return len(w)


def run_sides(args: argparse.Namespace, params: dict, common: dict, bertkit_precision: str,
              peak: dict | None = None) -> dict[str, list]:
    """Every side for every seed, each in a fresh child, alternated (within a seed's repeats and from seed to seed);
    one kind=run line each."""
    env, runs = environment(), {}
    sides = [s for s in args.sides.split(",") if s]
    for k, seed in enumerate(int(s) for s in args.seeds.split(",")):
        seeded = {**params, "seed": seed}
        grouped = {**seeded, "group_by_length": True, "trainer_bf16": bertkit_precision == "bf16"}
        # the order alternates from seed to seed as well (A B, B A, ...), so neither side always runs first
        for i, side in enumerate(order(sides if k % 2 == 0 else sides[::-1], args.repeats)):
            side_params = grouped if side == "trainer-grouped" else dict(seeded)
            if side == "bertkit" and args.keep_model and "bertkit" not in runs:
                side_params["keep_model"] = args.keep_model
            res = run_child([__file__, "--child", side, "--params", json.dumps(side_params)])
            res.update(flops.peak_share(res, peak, res.get("precision", "no")))
            runs.setdefault(side, []).append(res)
            emit({"kind": "run", **common, "side": side, "seed": seed, "run": i, **env, **res})
    return runs


def report(runs: dict[str, list], common: dict, peak: dict | None = None) -> None:
    """kind=summary per side (medians; the F1 mean and range over seeds), then kind=ratio."""
    summ = {}
    for side, rs in runs.items():
        summ[side] = {k: round(median([r[k] for r in rs]), 4) for k in
                      ("train_samples_per_s", "train_s", "wall_s", "dev_f1", "peak_rss_mb", *flops.FLOP_KEYS)
                      if k in rs[0]}
        f1s = [r["dev_f1"] for r in rs]
        alone = [r["dev_f1_argmax"] for r in rs if r.get("dev_f1_argmax") is not None]
        emit({"kind": "summary", **common, "side": side, "runs": len(rs), **summ[side],
              "dev_f1_mean": round(sum(f1s) / len(f1s), 4), "dev_f1_min": round(min(f1s), 4),
              "dev_f1_max": round(max(f1s), 4),
              **({"dev_f1_argmax_mean": round(sum(alone) / len(alone), 4)} if alone else {})})
    b, t, g = summ.get("bertkit"), summ.get("trainer"), summ.get("trainer-grouped")
    if b and (t or g):  # against whichever Trainer sides ran
        emit({"kind": "ratio", **common, **flops.ceiling(t, runs.get("trainer"), peak),
              **({"train_samples_per_s_x": round(b["train_samples_per_s"] / t["train_samples_per_s"], 2),
                  "dev_f1_diff_points": round(100 * (b["dev_f1"] - t["dev_f1"]), 2)} if t else {}),
              **({"x_vs_trainer_grouped": round(b["train_samples_per_s"] / g["train_samples_per_s"], 2),
                  "dev_f1_diff_points_vs_grouped": round(100 * (b["dev_f1"] - g["dev_f1"]), 2),
                  **paired(runs["bertkit"], runs["trainer-grouped"], "train_samples_per_s", "trainer_grouped")}
                 if g else {})})

if __name__ == "__main__":
    main()
