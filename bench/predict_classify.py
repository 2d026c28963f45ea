"""Benchmark `bertkit classify predict` against `transformers.pipeline("text-classification")`.

    nice -n 5 python bench/predict_classify.py [--model DIR] [--long-texts 200] [--join 6] [--repeats 1]
        [--bertkit-bf16]

Model: --model (any sequence-classification folder, e.g. one from `bertkit classify train`), by default the
packaged all-MiniLM-L6-v2 with a freshly initialised 2-label head (seed 0) saved to a temporary folder; speed
does not depend on the head's weights, and both sides load the same folder. Data:
- sst2-dev: the 872 SST-2 dev sentences (≈ 25 tokens each);
- long: --long-texts texts, each --join consecutive dev sentences joined by spaces (≈ 150 tokens each).
Every side reads a text up to the same length: the model's max_length in bertkit.json when the folder has one (the
length bertkit reads it at; the pipeline and the ONNX Runtime peer get truncation=True, max_length=that), else the
tokenizer's own limit.

Each side runs in a fresh child process (alternated: bertkit, pipeline default, pipeline bs=8, ..., and with
--repeats 2 then the reverse order), loads the model (load_s, not in the rates), warms up on 16 texts, then answers
each corpus once:
- bertkit: the code path of `bertkit classify predict -m DIR FILE` (Classifier + predict_stream + JSONL
  writer into /dev/null), reading the corpus from a text file, one line per text;
- pipeline: `pipe(texts, batch_size=bs)` and each result written as a JSON line into /dev/null; bs=None is
  its default (1), --pipeline-batch-sizes are swept to find its best.
With --fast sides (unless --no-fast): bertkit-fast (`classify predict --fast`, its ONNX file exported beforehand
with `bertkit export --onnx --int8`, untimed) and the ONNX Runtime peer as its docs use it (ort-fp32, ort-int8: an
InferenceSession on the exported file, the tokenizer's padded batches in input order at each --ort-batch-sizes, best
kept; bench/fast_sides.py); kind=ratio-fast per corpus: bertkit --fast against the pipeline and the ONNX Runtime
int8 peer.
One JSON line per child run (kind=run: sentences_per_s per corpus, peak_rss_mb), then kind=summary per side and
corpus (median over the repeats), and kind=ratio per corpus: bertkit / pipeline at its default batch size and at
its best one, with the agreement of their predicted labels.
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import time
from pathlib import Path

from common import (
    SHARED,
    emit,
    environment,
    median,
    order,
    packaged_model,
    parent_args,
    read_tsv,
    run_child,
    tiny_model,
    trained_max_length,
)
from fast_sides import agreement, export_for_fast, fast_ratio, forward_flops, limit_share, read_peak

WARMUP = 16
GATE_SHOWN = ("accepted", "metric", "fp32", "int8", "relative_drop", "agreement", "excluded", "error")


def make_classifier(base: str, out: Path) -> str:
    """The base model with a seeded 2-label head, saved by a child: loading it here would raise this parent's RSS,
    and every child's ru_maxrss counts its parent's RSS at spawn (Linux keeps the high-water mark across exec)."""
    if not (out / "config.json").is_file():
        run_child([__file__, "--child", "make-classifier", "--params", json.dumps({"base": base, "out": str(out)})])
    return str(out)


def child_make_classifier(p: dict) -> dict:
    import torch
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    torch.manual_seed(0)
    AutoModelForSequenceClassification.from_pretrained(p["base"], num_labels=2).save_pretrained(p["out"])
    AutoTokenizer.from_pretrained(p["base"]).save_pretrained(p["out"])
    return {"model": p["out"]}


def child_bertkit(p: dict) -> dict:
    from bertkit import console
    from bertkit.classify.predict import Classifier, predict_stream
    from bertkit.formats import Format, write_records

    t0 = time.perf_counter()
    clf = Classifier(p["model"], batch_size=p.get("batch_size"), bf16=bool(p.get("bf16")), fast=bool(p.get("fast")))
    load = time.perf_counter() - t0
    clf.predict_proba(Path(p["corpora"][0]["file"]).read_text(encoding="utf-8").splitlines()[:WARMUP])
    import torch

    out: dict = {"load_s": round(load, 2), "threads": torch.get_num_threads(), "backend": clf.backend, "corpora": {}}
    for c in p["corpora"]:
        labels: list[str] = []

        def records():
            for r in predict_stream(clf, c["file"]):
                labels.append(r["label"])
                yield r

        console.quiet_libraries()
        with open(os.devnull, "w") as sink:
            t0 = time.perf_counter()
            write_records(records(), Format.jsonl, out=sink)
            s = time.perf_counter() - t0
        out["corpora"][c["name"]] = {"seconds": round(s, 3), "n": len(labels),
                                     "sentences_per_s": round(len(labels) / s, 1),
                                     "labels": labels}
    return out


def child_pipeline(p: dict) -> dict:
    from transformers import pipeline

    t0 = time.perf_counter()
    pipe = pipeline("text-classification", model=p["model"], tokenizer=p["model"], device=-1)
    load = time.perf_counter() - t0
    import torch

    kw = {} if p["batch_size"] is None else {"batch_size": p["batch_size"]}
    if p.get("max_length"):  # the length bertkit reads the model at (bertkit.json): the same tokens on every side
        kw.update(truncation=True, max_length=p["max_length"])
    first = Path(p["corpora"][0]["file"]).read_text(encoding="utf-8").splitlines()[:WARMUP]
    pipe(first, **kw)
    out: dict = {"load_s": round(load, 2), "threads": torch.get_num_threads(), "corpora": {}}
    for c in p["corpora"]:
        with open(os.devnull, "w") as sink:
            t0 = time.perf_counter()
            texts = Path(c["file"]).read_text(encoding="utf-8").splitlines()
            res = pipe(texts, **kw)
            for t, r in zip(texts, res):
                sink.write(json.dumps({"text": t, **r}) + "\n")
            s = time.perf_counter() - t0
        out["corpora"][c["name"]] = {"seconds": round(s, 3), "n": len(res), "sentences_per_s": round(len(res) / s, 1),
                                     "labels": [r["label"] for r in res]}
    return out


def child_ort(p: dict) -> dict:
    """ONNX Runtime as its docs use it: an InferenceSession on the exported file, the tokenizer's padded batches in
    input order, argmax of the logits; each of --ort-batch-sizes timed, the best kept."""
    import numpy as np
    import onnxruntime as ort
    from transformers import AutoConfig, AutoTokenizer

    t0 = time.perf_counter()
    tok = AutoTokenizer.from_pretrained(p["model"])
    id2label = AutoConfig.from_pretrained(p["model"]).id2label
    sess = ort.InferenceSession(p["onnx"], providers=["CPUExecutionProvider"])
    names = [i.name for i in sess.get_inputs()]
    load = time.perf_counter() - t0

    def labels_of(texts: list[str], bs: int, sink) -> list[str]:
        out: list[str] = []
        for i in range(0, len(texts), bs):
            enc = tok(texts[i:i + bs], padding=True, truncation=True, max_length=p.get("max_length"),
                      return_tensors="np")
            logits = sess.run(["logits"], {k: enc[k].astype(np.int64) for k in names})[0]
            for t, k in zip(texts[i:i + bs], logits.argmax(-1)):
                out.append(id2label[int(k)])
                sink.write(json.dumps({"text": t, "label": out[-1]}) + "\n")
        return out

    with open(os.devnull, "w") as sink:
        warm = Path(p["corpora"][0]["file"]).read_text(encoding="utf-8").splitlines()[:WARMUP]
        labels_of(warm, p["batch_sizes"][0], sink)
        res: dict = {"load_s": round(load, 2), "threads": sess.get_session_options().intra_op_num_threads,
                     "corpora": {}}
        for c in p["corpora"]:
            best = None
            for bs in p["batch_sizes"]:
                t0 = time.perf_counter()
                texts = Path(c["file"]).read_text(encoding="utf-8").splitlines()
                labels = labels_of(texts, bs, sink)
                s = time.perf_counter() - t0
                if best is None or s < best["seconds"]:
                    best = {"seconds": round(s, 3), "n": len(labels), "sentences_per_s": round(len(labels) / s, 1),
                            "labels": labels, "batch_size": bs}
            res["corpora"][c["name"]] = best
    return res


def parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--dev", default=str(SHARED / "glue" / "SST-2" / "dev.tsv"))
    ap.add_argument("--model", default=None,
                    help="a sequence-classification folder (default: MiniLM + a seeded 2-label head)")
    ap.add_argument("--long-texts", type=int, default=200, help="how many long texts")
    ap.add_argument("--join", type=int, default=6, help="dev sentences per long text")
    ap.add_argument("--batch-size", type=int, default=None, help="bertkit's --batch-size (default: its own, 64)")
    ap.add_argument("--pipeline-batch-sizes", default="8,32", help="pipeline batch sizes to sweep for its best")
    ap.add_argument("--repeats", type=int, default=1)
    ap.add_argument("--bertkit-bf16", action="store_true",
                    help="also run bertkit with Classifier(bf16=True) (side bertkit-bf16)")
    ap.add_argument("--no-fast", action="store_true", help="leave out bertkit --fast and the ONNX Runtime peers")
    ap.add_argument("--ort-batch-sizes", default="8,32", help="ONNX Runtime peer batch sizes, the best kept")
    ap.add_argument("--sides", default=None, help="run only these sides (comma-separated names as in the output; "
                    "bertkit and one pipeline side are needed for the ratios)")
    ap.add_argument("--no-gate", action="store_true", help="no `export --int8` gate: --fast runs ONNX Runtime fp32")
    ap.add_argument("--gate-confidence", type=float, default=None,
                    help="the gate's `export --gate-confidence`: the drop's bootstrap bound must pass too")
    ap.add_argument("--peak", default=None, help="a bench/peak.py result (.json): rates as a share of its peak")
    ap.add_argument("--smoke", action="store_true",
                    help="tiny random model, 40 sentences, the pipeline at its default batch size only")
    return ap


def main() -> None:
    ap = parser()
    children = {"bertkit": child_bertkit, "pipeline": child_pipeline, "ort": child_ort,
                "make-classifier": child_make_classifier}
    args = parent_args(ap, children)
    if args is None:
        return
    with tempfile.TemporaryDirectory(prefix="bertkit-bench-predict-") as tmp:
        tmp_p = Path(tmp)
        if args.smoke:
            base = tiny_model(tmp_p / "tiny")
            args.repeats, args.pipeline_batch_sizes, args.long_texts, args.ort_batch_sizes = 1, "", 10, "8"
        else:
            base = packaged_model()
        model = make_classifier(base, tmp_p / "classifier") if not args.model else args.model
        onnx_files = {} if args.no_fast else export_for_fast(model, tmp_p, None if args.no_gate else args.dev,
                                                           40 if args.smoke else None, args.gate_confidence)
        gate = onnx_files.pop("gate", None)
        if onnx_files:
            model = onnx_files.pop("model")
        corpora, texts = write_corpora(args, tmp_p)
        from transformers import AutoTokenizer

        tok = AutoTokenizer.from_pretrained(model)
        lengths = {c["name"]: list(map(len, tok(t)["input_ids"])) for c, t in zip(corpora, texts)}
        if gate is not None:
            emit({"kind": "gate", "bench": "predict_classify", "data": args.dev, **gate})
        common = {"bench": "predict_classify",
                  "model": "tiny" if args.smoke else (args.model or "all-MiniLM-L6-v2 + seeded head"),
                  "max_length": trained_max_length(model)}  # the peers get it too (the pipeline would read 512)
        runs = run_sides(args, sides_of(args), model, corpora, onnx_files, common)
        ctx = {"common": common, "gate": gate, "peak": read_peak(args.peak), "lengths": lengths, "model": model,
               "sizes": {c["name"]: len(t) for c, t in zip(corpora, texts)}}
        report(runs, corpora, ctx)


def write_corpora(args: argparse.Namespace, tmp: Path) -> tuple[list[dict], list[list[str]]]:
    """The SST-2 dev sentences and the long texts (--join sentences each), one text a line: ([{name, file}], texts)."""
    sents, _ = read_tsv(args.dev)
    if args.smoke:
        sents = sents[:40]
    n = len(sents)
    long = [" ".join(sents[(i * 2 + k) % n] for k in range(args.join)) for i in range(args.long_texts)]
    corpora = []
    for name, texts in (("sst2-dev", sents), ("long", long)):
        f = tmp / f"{name}.txt"
        f.write_text("\n".join(texts) + "\n", encoding="utf-8")
        corpora.append({"name": name, "file": str(f)})
    return corpora, [sents, long]


def sides_of(args: argparse.Namespace) -> list[str]:
    sides = (["bertkit"] + (["bertkit-bf16"] if args.bertkit_bf16 else [])
             + ([] if args.no_fast else ["bertkit-fast"])
             + ["pipeline-default"] + [f"pipeline-bs{b}" for b in args.pipeline_batch_sizes.split(",") if b]
             + ([] if args.no_fast else ["ort-fp32", "ort-int8"]))
    return [x for x in sides if x in args.sides.split(",")] if args.sides else sides


def run_sides(args: argparse.Namespace, sides: list[str], model: str, corpora: list[dict], onnx_files: dict,
              common: dict) -> dict[str, list[dict]]:
    """Each side in a fresh child, alternated over the repeats; one kind=run line each."""
    env = environment()
    runs: dict[str, list[dict]] = {}
    for i, side in enumerate(order(sides, args.repeats)):
        if side.startswith("bertkit"):
            p = {"model": model, "corpora": corpora, "batch_size": args.batch_size, "bf16": side == "bertkit-bf16",
                 "fast": side == "bertkit-fast"}
            res = run_child([__file__, "--child", "bertkit", "--params", json.dumps(p)])
        elif side.startswith("ort-"):
            p = {"model": model, "corpora": corpora, "onnx": onnx_files[side],
                 "batch_sizes": [int(b) for b in args.ort_batch_sizes.split(",")], "max_length": common["max_length"]}
            res = run_child([__file__, "--child", "ort", "--params", json.dumps(p)])
        else:
            bs = None if side == "pipeline-default" else int(side.split("bs")[1])
            p = {"model": model, "corpora": corpora, "batch_size": bs, "max_length": common["max_length"]}
            res = run_child([__file__, "--child", "pipeline", "--params", json.dumps(p)])
        runs.setdefault(side, []).append(res)
        emit({"kind": "run", **common, "side": side, "run": i, "load_s": res["load_s"], "threads": res["threads"],
              "peak_rss_mb": res["peak_rss_mb"],
              "sentences_per_s": {k: v["sentences_per_s"] for k, v in res["corpora"].items()},
              "seconds": {k: v["seconds"] for k, v in res["corpora"].items()}, **env})
    return runs


def report(runs: dict[str, list[dict]], corpora: list[dict], ctx: dict) -> None:
    """kind=summary per side (medians), then per corpus the --fast ratio and kind=ratio with the targets."""
    common, gate, sizes = ctx["common"], ctx["gate"], ctx["sizes"]
    med: dict[str, dict[str, float]] = {}
    for side, rs in runs.items():
        med[side] = {c["name"]: median([r["corpora"][c["name"]]["sentences_per_s"] for r in rs]) for c in corpora}
        emit({"kind": "summary", **common, "side": side, "runs": len(rs), "sentences_per_s": med[side],
              "peak_rss_mb": median([r["peak_rss_mb"] for r in rs])})
    for name in (c["name"] for c in corpora):
        pipes = {s: v[name] for s, v in med.items() if s.startswith("pipeline")}
        if "bertkit-fast" in med:
            flops = forward_flops(ctx["model"], ctx["lengths"][name])
            emit({**fast_ratio(common, name, med, runs, pipes, sizes[name]),
                  **limit_share(flops, med, ctx["peak"], runs["bertkit-fast"][0]["backend"], name),
                  "gate": {k: v for k, v in (gate or {}).items() if k in GATE_SHOWN}})
        emit(corpus_ratio(runs, med, pipes, name, ctx))


def corpus_ratio(runs: dict[str, list[dict]], med: dict[str, dict[str, float]], pipes: dict[str, float], name: str,
                 ctx: dict) -> dict:
    """kind=ratio for one corpus: bertkit (PyTorch) against the pipeline's default and best batch size."""
    sizes, lengths = ctx["sizes"], ctx["lengths"]
    extra = {}
    if "bertkit-bf16" in med:
        extra = {"bertkit_bf16_sentences_per_s": med["bertkit-bf16"][name],
                 "bf16_label_agreement": round(agreement(runs["bertkit-bf16"][0]["corpora"][name]["labels"],
                                                         runs["bertkit"][0]["corpora"][name]["labels"],
                                                         sizes[name]), 4),
                 "bf16_x_vs_best": round(med["bertkit-bf16"][name] / max(pipes.values()), 2)}
    best = max(pipes, key=pipes.get)
    b = med["bertkit"][name]
    lab_b = runs["bertkit"][0]["corpora"][name]["labels"]
    if "pipeline-default" not in pipes:  # --sides without it: ratios to the best pipeline side only
        pipes["pipeline-default"] = float("nan")
    lab_p = runs["pipeline-default" if "pipeline-default" in runs else best][0]["corpora"][name]["labels"]
    agree = sum(x == y for x, y in zip(lab_b, lab_p)) / max(1, len(lab_b))
    rss_b = median([r["peak_rss_mb"] for r in runs["bertkit"]])
    rss_best = median([r["peak_rss_mb"] for r in runs[best]])
    return {"kind": "ratio", **ctx["common"], "corpus": name, "texts": sizes[name],
            "mean_tokens": round(sum(lengths[name]) / len(lengths[name]), 1),
            "bertkit_sentences_per_s": b, "pipeline_default_sentences_per_s": pipes["pipeline-default"],
            "pipeline_best": best, "pipeline_best_sentences_per_s": pipes[best],
            "x_vs_default": round(b / pipes["pipeline-default"], 2), "x_vs_best": round(b / pipes[best], 2),
            "label_agreement": round(agree, 4), **extra, "peak_rss_mb": {"bertkit": rss_b, best: rss_best},
            "targets": {"5x_default": b >= 5 * pipes["pipeline-default"], "1.5x_best": b >= 1.5 * pipes[best],
                        "rss_not_above": rss_b <= rss_best}}

if __name__ == "__main__":
    main()
