"""Long documents: `--long-text window` against truncation on documents of ~1,000 tokens built from SST-2.

    nice -n 5 python bench/long_text.py [--train-docs 300] [--dev-docs 200] [--epochs 1] [--max-length 128]
        [--stride 32]

The set: SST-2 sentences of one label concatenated (shuffled, joined by spaces) until a document reaches ~1,000
MiniLM tokens. Training documents come from SST-2 train (each sentence used at most once); dev documents from
SST-2 dev (872 sentences, ~22k tokens, so sentences are drawn again for each document: the dev documents share
sentences, but never with a training document). Then `classify train` on the packaged MiniLM, once with
--long-text truncate (the first --max-length tokens of a document) and once with --long-text window, both with
the same settings; `classify eval` of each model on the dev documents, the window model with --aggregate mean and
max (the same weights; only bertkit.json's `aggregate` differs). One JSON line per run.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from common import SHARED, emit, packaged_model, parse_args, read_tsv


def documents(texts, labels, n_docs, tokens, tok, rng, reuse):
    by_label = {y: [t for t, lab in zip(texts, labels) if lab == y] for y in (0, 1)}
    counts = {t: len(tok(t, add_special_tokens=False)["input_ids"]) for t in texts}
    docs = []
    for k in range(n_docs):
        y = k % 2
        pool = by_label[y]
        if not reuse:
            rng.shuffle(pool)
        parts, n = [], 0
        while n < tokens:
            s = rng.choice(pool) if reuse else pool.pop()
            parts.append(s)
            n += counts[s]
        docs.append((" ".join(parts), y))
    return docs


def write(path: Path, docs) -> Path:
    path.write_text("sentence\tlabel\n" + "".join(f"{t}\t{y}\n" for t, y in docs))
    return path


def bertkit(*args: str) -> dict:
    t = time.perf_counter()
    r = subprocess.run([sys.executable, "-m", "bertkit", *args], capture_output=True, text=True)
    if r.returncode:
        raise SystemExit(r.stderr[-3000:])
    return {**json.loads(r.stdout), "_seconds": round(time.perf_counter() - t, 1)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--train-docs", type=int, default=300)
    ap.add_argument("--dev-docs", type=int, default=200)
    ap.add_argument("--tokens", type=int, default=1000)
    ap.add_argument("--epochs", type=float, default=1.0)
    ap.add_argument("--truncate-epochs", default="",
                    help="extra truncate runs with these epochs (e.g. as many steps as windows)")
    ap.add_argument("--max-length", type=int, default=128)
    ap.add_argument("--stride", type=int, default=32)
    ap.add_argument("--seed", type=int, default=0)
    a = parse_args(ap)
    from bertkit.modeling import load_tokenizer

    model = packaged_model()
    tok = load_tokenizer(model)
    rng = random.Random(a.seed)
    tmp = Path(tempfile.mkdtemp(prefix="bertkit-longtext-"))
    train = write(tmp / "train.tsv",
                  documents(*read_tsv(SHARED / "glue/SST-2/train.tsv"), a.train_docs, a.tokens, tok, rng, False))
    dev = write(tmp / "dev.tsv",
                documents(*read_tsv(SHARED / "glue/SST-2/dev.tsv"), a.dev_docs, a.tokens, tok, rng, True))
    common = ["--model", model, "--train", str(train), "--dev", str(dev), "--max-length",
              str(a.max_length), "--batch-size", "16", "--seed", str(a.seed), "--no-cache", "--no-tune-thresholds"]
    runs = [("window", a.epochs), ("truncate", a.epochs)]
    runs += [("truncate", float(e)) for e in a.truncate_epochs.split(",") if e]
    for mode, epochs in runs:
        out = tmp / f"{mode}-{epochs}"
        s = bertkit("classify", "train", *common, "-o", str(out), "--epochs", str(epochs), "--long-text", mode,
                    "--stride", str(a.stride))
        aggs = ("mean", "max") if mode == "window" else (None,)
        for agg in aggs:
            if agg:
                meta = json.loads((out / "bertkit.json").read_text())
                meta["aggregate"] = agg
                (out / "bertkit.json").write_text(json.dumps(meta))
            ev = bertkit("classify", "eval", "-m", str(out), "--data", str(dev))
            emit({"kind": "long_text", "long_text": mode, "aggregate": agg, "max_length": a.max_length,
                  "stride": a.stride if mode == "window" else None, "epochs": epochs, "steps": s["steps"],
                  "train_docs": a.train_docs,
                  "dev_docs": a.dev_docs, "train_rows": s["train_rows"], "train_windows": s.get("train_windows"),
                  "train_seconds": s["train_seconds"], "dev_accuracy": ev["accuracy"], "dev_f1": ev.get("f1"),
                  "eval_seconds": ev["seconds"]})


if __name__ == "__main__":
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    main()
