"""Benchmark `bertkit classify predict` against `transformers.pipeline("text-classification")`.

    nice -n 5 python bench/predict_classify.py [--model DIR] [--long-texts 200] [--join 6] [--repeats 1] [--bertkit-bf16]

Model: --model (any sequence-classification folder, e.g. one from `bertkit classify train`), by default the
packaged all-MiniLM-L6-v2 with a freshly initialised 2-label head (seed 0) saved to a temporary folder; speed
does not depend on the head's weights, and both sides load the same folder. Data:
- sst2-dev: the 872 SST-2 dev sentences (≈ 25 tokens each);
- long: --long-texts texts, each --join consecutive dev sentences joined by spaces (≈ 150 tokens each).

Each side runs in a fresh child process (alternated: bertkit, pipeline default, pipeline bs=8, ..., and with
--repeats 2 then the reverse order), loads the model (load_s, not in the rates), warms up on 16 texts, then answers each corpus once:
- bertkit: the code path of `bertkit classify predict -m DIR FILE` (Classifier + predict_stream + JSONL
  writer into /dev/null), reading the corpus from a text file, one line per text;
- pipeline: `pipe(texts, batch_size=bs)` and each result written as a JSON line into /dev/null; bs=None is
  its default (1), --pipeline-batch-sizes are swept to find its best.
One JSON line per child run (kind=run: sentences_per_s per corpus, peak_rss_mb), then kind=summary per side and
corpus (median over the repeats), and kind=ratio per corpus: bertkit / pipeline at its default batch size and at
its best one, with the agreement of their predicted labels.
"""

from __future__ import annotations

import os
import sys

_HERE = os.path.dirname(os.path.abspath(__file__))
sys.path[:] = [p for p in sys.path if os.path.abspath(p or ".") != _HERE]  # bench/tokenize.py shadows the stdlib
sys.path.insert(0, os.path.dirname(_HERE))

import argparse  # noqa: E402
import json  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

from bench.common import SHARED, emit, environment, median, order, packaged_model, read_tsv, run_child, tiny_model, add_child_options, run_as_child  # noqa: E402

WARMUP = 16


def make_classifier(base: str, out: Path) -> str:
    import torch
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    if not (out / "config.json").is_file():
        torch.manual_seed(0)
        model = AutoModelForSequenceClassification.from_pretrained(base, num_labels=2)
        model.save_pretrained(out)
        AutoTokenizer.from_pretrained(base).save_pretrained(out)
    return str(out)


def child_bertkit(p: dict) -> dict:
    from bertkit import console
    from bertkit.classify.predict import Classifier, predict_stream
    from bertkit.formats import Format, write_records

    t0 = time.perf_counter()
    clf = Classifier(p["model"], batch_size=p.get("batch_size"), bf16=bool(p.get("bf16")))
    load = time.perf_counter() - t0
    clf.predict_proba(Path(p["corpora"][0]["file"]).read_text(encoding="utf-8").splitlines()[:WARMUP])
    import torch

    out: dict = {"load_s": round(load, 2), "threads": torch.get_num_threads(), "corpora": {}}
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
        out["corpora"][c["name"]] = {"seconds": round(s, 3), "n": len(labels), "sentences_per_s": round(len(labels) / s, 1),
                                     "labels": labels}
    return out


def child_pipeline(p: dict) -> dict:
    from transformers import pipeline

    t0 = time.perf_counter()
    pipe = pipeline("text-classification", model=p["model"], tokenizer=p["model"], device=-1)
    load = time.perf_counter() - t0
    import torch

    kw = {} if p["batch_size"] is None else {"batch_size": p["batch_size"]}
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


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--dev", default=str(SHARED / "glue" / "SST-2" / "dev.tsv"))
    ap.add_argument("--model", default=None, help="a sequence-classification folder (default: MiniLM + a seeded 2-label head)")
    ap.add_argument("--long-texts", type=int, default=200, help="how many long texts")
    ap.add_argument("--join", type=int, default=6, help="dev sentences per long text")
    ap.add_argument("--batch-size", type=int, default=None, help="bertkit's --batch-size (default: its own, 64)")
    ap.add_argument("--pipeline-batch-sizes", default="8,32", help="pipeline batch sizes to sweep for its best")
    ap.add_argument("--repeats", type=int, default=1)
    ap.add_argument("--bertkit-bf16", action="store_true", help="also run bertkit with Classifier(bf16=True) (side bertkit-bf16)")
    ap.add_argument("--smoke", action="store_true", help="tiny random model, 40 sentences, the pipeline at its default batch size only")
    children = {"bertkit": child_bertkit, "pipeline": child_pipeline}
    add_child_options(ap, children)
    args = ap.parse_args()
    if run_as_child(args, children):
        return

    with tempfile.TemporaryDirectory(prefix="bertkit-bench-predict-") as tmp:
        tmp_p = Path(tmp)
        if args.smoke:
            base = tiny_model(tmp_p / "tiny")
            args.repeats, args.pipeline_batch_sizes, args.long_texts = 1, "", 10
        else:
            base = packaged_model()
        model = args.model or make_classifier(base, tmp_p / "classifier")
        sents, _ = read_tsv(args.dev)
        if args.smoke:
            sents = sents[:40]
        n = len(sents)
        long = [" ".join(sents[(i * 2 + k) % n] for k in range(args.join)) for i in range(args.long_texts)]
        corpora = []
        for name, texts in (("sst2-dev", sents), ("long", long)):
            f = tmp_p / f"{name}.txt"
            f.write_text("\n".join(texts) + "\n", encoding="utf-8")
            corpora.append({"name": name, "file": str(f)})
        from transformers import AutoTokenizer

        tok = AutoTokenizer.from_pretrained(model)
        mean_tokens = {c["name"]: round(sum(map(len, tok(t)["input_ids"])) / len(t), 1) for c, t in zip(corpora, (sents, long))}
        sizes = {c["name"]: n_ for c, n_ in zip(corpora, (len(sents), len(long)))}
        sides = ["bertkit"] + (["bertkit-bf16"] if args.bertkit_bf16 else []) + ["pipeline-default"] + [f"pipeline-bs{b}" for b in args.pipeline_batch_sizes.split(",") if b]
        env = environment()
        common = {"bench": "predict_classify", "model": "tiny" if args.smoke else (args.model or "all-MiniLM-L6-v2 + seeded head")}
        runs: dict[str, list[dict]] = {}
        for i, side in enumerate(order(sides, args.repeats)):
            if side.startswith("bertkit"):
                p = {"model": model, "corpora": corpora, "batch_size": args.batch_size, "bf16": side == "bertkit-bf16"}
                res = run_child([__file__, "--child", "bertkit", "--params", json.dumps(p)])
            else:
                bs = None if side == "pipeline-default" else int(side.split("bs")[1])
                p = {"model": model, "corpora": corpora, "batch_size": bs}
                res = run_child([__file__, "--child", "pipeline", "--params", json.dumps(p)])
            runs.setdefault(side, []).append(res)
            emit({"kind": "run", **common, "side": side, "run": i, "load_s": res["load_s"], "threads": res["threads"], "peak_rss_mb": res["peak_rss_mb"],
                  "sentences_per_s": {k: v["sentences_per_s"] for k, v in res["corpora"].items()},
                  "seconds": {k: v["seconds"] for k, v in res["corpora"].items()}, **env})
        med: dict[str, dict[str, float]] = {}
        for side, rs in runs.items():
            med[side] = {c["name"]: median([r["corpora"][c["name"]]["sentences_per_s"] for r in rs]) for c in corpora}
            emit({"kind": "summary", **common, "side": side, "runs": len(rs), "sentences_per_s": med[side],
                  "peak_rss_mb": median([r["peak_rss_mb"] for r in rs])})
        rss_b = median([r["peak_rss_mb"] for r in runs["bertkit"]])
        for c in corpora:
            name = c["name"]
            pipes = {s: v[name] for s, v in med.items() if s.startswith("pipeline")}
            extra = {"bertkit_bf16_sentences_per_s": med["bertkit-bf16"][name],
                     "bf16_label_agreement": round(sum(x == y for x, y in zip(runs["bertkit-bf16"][0]["corpora"][name]["labels"],
                                                                             runs["bertkit"][0]["corpora"][name]["labels"])) / sizes[name], 4),
                     "bf16_x_vs_best": round(med["bertkit-bf16"][name] / max(pipes.values()), 2)} if "bertkit-bf16" in med else {}
            best = max(pipes, key=pipes.get)
            b = med["bertkit"][name]
            lab_b = runs["bertkit"][0]["corpora"][name]["labels"]
            lab_p = runs["pipeline-default"][0]["corpora"][name]["labels"]
            agree = sum(x == y for x, y in zip(lab_b, lab_p)) / max(1, len(lab_b))
            rss_best = median([r["peak_rss_mb"] for r in runs[best]])
            emit({"kind": "ratio", **common, "corpus": name, "texts": sizes[name], "mean_tokens": mean_tokens[name],
                  "bertkit_sentences_per_s": b, "pipeline_default_sentences_per_s": pipes["pipeline-default"],
                  "pipeline_best": best, "pipeline_best_sentences_per_s": pipes[best],
                  "x_vs_default": round(b / pipes["pipeline-default"], 2), "x_vs_best": round(b / pipes[best], 2),
                  "label_agreement": round(agree, 4), **extra, "peak_rss_mb": {"bertkit": rss_b, best: rss_best},
                  "targets": {"5x_default": b >= 5 * pipes["pipeline-default"], "1.5x_best": b >= 1.5 * pipes[best],
                              "rss_not_above": rss_b <= rss_best}})


if __name__ == "__main__":
    main()
