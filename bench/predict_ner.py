"""Benchmark `bertkit ner predict` against `transformers.pipeline("token-classification")` on WNUT-17 dev.

    nice -n 5 python bench/predict_ner.py --model DIR [--fast] [--bf16] [--repeats 1] [--pipeline-batch-sizes 8,32]
        [--save-results N]

Model: --model, a token-classification folder (e.g. from `bertkit ner train -c wnut17-minilm`); both sides load it.
Without --model (or with --smoke): a tiny random BERT with a fresh 13-label head, for the tests.
Texts: the 1,009 WNUT-17 dev sentences, each its tokens joined by spaces (one text a line).
Each side runs in a fresh child process (alternated), loads the model (load_s, not in the rate), warms up on 16
texts, then answers every text once:
- bertkit: the code path of `bertkit ner predict -m DIR FILE` (Tagger + predict_stream + the JSONL writer into
  /dev/null), reading the texts from a file; bertkit-fast (with --fast): the same with `--fast` (ONNX Runtime);
  bertkit-bf16 (with --bf16): the same with `--bf16` (bf16 autocast);
- pipeline: `pipe(texts, batch_size=bs)` with aggregation_strategy="first", each result written as a JSON line into
  /dev/null; bs=None is its default (1); --pipeline-batch-sizes are swept to find its best.
One JSON line per child run (kind=run), then kind=summary per side (median over the repeats) and kind=ratio: bertkit /
pipeline at its default and at its best batch size (in fp32; with --bf16 also against the best bf16 pipeline), with
the agreement of their entities: on the texts where the pipeline's own word splitting (its pre-tokenizer) equals
bertkit's, the share whose (type, start, end) sets are equal, with bertkit's tags read as the pipeline reads them
(`--decode argmax`, untimed: `agreement`) and as bertkit predicts by default (the model's decode, viterbi unless
trained otherwise: `agreement_decode`, which differs where the argmax tags are ill formed).
kind=fast_vs_pytorch (with --fast / --bf16): the texts whose entities equal PyTorch fp32's, the share of words tagged
the same, the backend, and the int8 accuracy gate's decision from the model's bertkit.json (`int8_gate`).
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import time
from pathlib import Path

from common import SHARED, emit, environment, median, order, parent_args, run_child

WARMUP = 16


def _texts(path: str, limit: int | None) -> list[str]:
    from bertkit.ner.conll import read_conll

    return [" ".join(t) for t in read_conll(path).tokens[:limit]]


def child_bertkit(p: dict) -> dict:
    import torch

    from bertkit.formats import write_records
    from bertkit.ner.predict import Tagger, predict_stream
    from bertkit.ner.spans import split_words

    t0 = time.perf_counter()
    tagger = Tagger(p["model"], threads=p.get("threads"), fast=p.get("fast", False), bf16=p.get("bf16", False))
    load_s = time.perf_counter() - t0
    texts = Path(p["texts"]).read_text(encoding="utf-8").splitlines()
    tagger.predict_records(texts[:WARMUP])
    recs: list[dict] = []

    def keep(it):
        for r in it:
            recs.append(r)
            yield r

    t0 = time.perf_counter()
    with open(os.devnull, "w") as sink:
        write_records(keep(predict_stream(tagger, p["texts"], input_format="text")), "jsonl", out=sink)
    dt = time.perf_counter() - t0
    words = [split_words(t)[0] for t in texts]
    tags = tagger.tag_words(words)[0]  # untimed: each word's tag, to compare --fast with PyTorch word by word
    decode, tagger.decode = tagger.decode, "argmax"  # untimed: the same model read as the pipeline reads it

    def spans(rs: list[dict]) -> list:
        return [[[e["type"], e["start"], e["end"]] for e in r["entities"]] for r in rs]

    return {"load_s": round(load_s, 2), "seconds": round(dt, 3), "sentences_per_s": round(len(texts) / dt, 2),
            "threads": torch.get_num_threads(), "backend": tagger.backend, "decode": decode, "entities": spans(recs),
            "tags": tags,
            "entities_argmax": spans(tagger.predict_records(texts))}


def child_pipeline(p: dict) -> dict:
    import torch
    from transformers import pipeline

    t0 = time.perf_counter()
    pipe = pipeline("token-classification", model=p["model"], aggregation_strategy="first", device=-1,
                    **({"dtype": torch.bfloat16} if p.get("bf16") else {}))
    load_s = time.perf_counter() - t0
    texts = Path(p["texts"]).read_text(encoding="utf-8").splitlines()
    pipe(texts[:WARMUP], batch_size=p["bs"] or 1)
    t0 = time.perf_counter()
    out = pipe(texts, **({"batch_size": p["bs"]} if p["bs"] else {}))
    with open(os.devnull, "w") as sink:
        for r in out:
            sink.write(json.dumps([{**e, "score": float(e["score"])} for e in r]) + "\n")
    dt = time.perf_counter() - t0
    pre = pipe.tokenizer.backend_tokenizer.pre_tokenizer
    return {"load_s": round(load_s, 2), "seconds": round(dt, 3), "sentences_per_s": round(len(texts) / dt, 2),
            "threads": torch.get_num_threads(),
            "entities": [[[e["entity_group"], e["start"], e["end"]] for e in r] for r in out],
            "pre_words": [[w for w, _ in pre.pre_tokenize_str(t)] for t in texts]}


def agreement(texts: list[str], ours: list, theirs: list, pre_words: list) -> dict:
    from bertkit.ner.spans import split_words

    comparable = same = 0
    for text, a, b, pw in zip(texts, ours, theirs, pre_words):
        if pw != split_words(text)[0]:
            continue
        comparable += 1
        same += {tuple(e) for e in a} == {tuple(e) for e in b}
    return {"texts": len(texts), "comparable": comparable, "comparable_share": round(comparable / len(texts), 4),
            "same": same, "same_share_of_comparable": round(same / comparable, 4) if comparable else None}


def tiny_tagger(path: Path) -> str:
    from common import tiny_model
    from transformers import AutoModelForTokenClassification

    base = tiny_model(path / "base")
    labels = ["O"] + [f"{b}-{t}" for t in ("corporation", "creative-work", "group", "location", "person", "product")
                      for b in "BI"]
    m = AutoModelForTokenClassification.from_pretrained(base, num_labels=len(labels), id2label=dict(enumerate(labels)),
                                                        label2id={n: i for i, n in enumerate(labels)})
    m.save_pretrained(path / "tagger")
    from transformers import AutoTokenizer

    AutoTokenizer.from_pretrained(base).save_pretrained(path / "tagger")
    return str(path / "tagger")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", default=None, help="a token-classification folder (default: --smoke's tiny tagger)")
    ap.add_argument("--dev", default=str(SHARED / "ner" / "wnut17" / "dev.conll"))
    ap.add_argument("--limit", type=int, default=None, help="first N dev sentences (default: all 1,009)")
    ap.add_argument("--pipeline-batch-sizes", default=None,
                    help="pipeline batch sizes to sweep for its best [default: 8,32; none with --smoke]")
    ap.add_argument("--fast", action="store_true",
                    help="also time `ner predict --fast` (the folder's ONNX export: `bertkit export DIR --onnx`)")
    ap.add_argument("--bf16", action="store_true", help="also time `ner predict --bf16` (bf16 autocast) and the "
                    "pipeline with its weights in bf16 (dtype=torch.bfloat16) at each swept batch size")
    ap.add_argument("--repeats", type=int, default=1)
    ap.add_argument("--smoke", action="store_true", help="tiny random model, 40 sentences (for the tests)")
    args = parent_args(ap, {"bertkit": child_bertkit, "pipeline": child_pipeline})
    if args is None:
        return
    with tempfile.TemporaryDirectory(prefix="bertkit-bench-ner-predict-") as tmp:
        if args.smoke or not args.model:
            args.model, args.limit = tiny_tagger(Path(tmp)), 40
        if args.pipeline_batch_sizes is None:
            args.pipeline_batch_sizes = "" if args.smoke else "8,32"
        texts = _texts(args.dev, args.limit)
        tfile = Path(tmp) / "texts.txt"
        tfile.write_text("\n".join(texts) + "\n", encoding="utf-8")
        common = {"bench": "predict_ner", "model": Path(args.model).name, "texts": len(texts)}
        sides = ["bertkit"] + (["bertkit-fast"] if args.fast else []) + (["bertkit-bf16"] if args.bf16 else [])
        sides += ["pipeline-default"]
        sides += [f"pipeline-bs{b}" for b in args.pipeline_batch_sizes.split(",") if b]
        sides += [f"pipeline-bf16-bs{b}" for b in args.pipeline_batch_sizes.split(",") if b and args.bf16]
        runs = run_sides(sides, args, tfile, common)
        report(runs, texts, common, args.model)


def run_sides(sides: list[str], args: argparse.Namespace, tfile: Path, common: dict) -> dict[str, list[dict]]:
    """Each side in a fresh child, alternated over the repeats; one kind=run line each."""
    env, runs = environment(), {}
    for i, side in enumerate(order(sides, args.repeats)):
        p = {"model": args.model, "texts": str(tfile), "bs": None, "fast": side == "bertkit-fast",
             "bf16": side == "bertkit-bf16"}
        if side.startswith("pipeline"):
            p["bs"] = None if side == "pipeline-default" else int(side.split("bs")[1])
            p["bf16"] = "-bf16-" in side
        res = run_child([__file__, "--child", "pipeline" if side.startswith("pipeline") else "bertkit", "--params",
                         json.dumps(p)])
        runs.setdefault(side, []).append(res)
        emit({"kind": "run", **common, "side": side, "run": i, **env,
              **{k: v for k, v in res.items() if k not in ("entities", "entities_argmax", "tags", "pre_words")}})
    return runs


def report(runs: dict[str, list[dict]], texts: list[str], common: dict, model_dir: str) -> None:
    """kind=summary per side (the median), then kind=ratio for each bertkit side against the pipeline."""
    med = {s: median([r["sentences_per_s"] for r in rs]) for s, rs in runs.items()}
    for s, v in med.items():
        emit({"kind": "summary", **common, "side": s, "runs": len(runs[s]), "sentences_per_s": round(v, 2),
              "peak_rss_mb": median([r["peak_rss_mb"] for r in runs[s]])})
    pipes = {s: v for s, v in med.items() if s.startswith("pipeline") and "-bf16-" not in s}
    best = max(pipes, key=pipes.get)
    bf16 = {s: v for s, v in med.items() if "-bf16-" in s}  # the pipeline at bertkit --bf16's precision
    best16 = max(bf16, key=bf16.get) if bf16 else None
    ref = runs["pipeline-default"][0]
    for side in (s for s in med if s.startswith("bertkit")):
        emit({"kind": "ratio", **common, "side": side, "pipeline_best": best,
              "bertkit_sentences_per_s": round(med[side], 2),
              "pipeline_default_sentences_per_s": round(pipes["pipeline-default"], 2),
              "pipeline_best_sentences_per_s": round(pipes[best], 2),
              "x_vs_default": round(med[side] / pipes["pipeline-default"], 2),
              "x_vs_best": round(med[side] / pipes[best], 2), "target_3x_best": med[side] >= 3 * pipes[best],
              **({"pipeline_bf16_best": best16, "x_vs_pipeline_bf16_best": round(med[side] / bf16[best16], 2)}
                 if best16 else {}),
              "agreement": agreement(texts, runs[side][0]["entities_argmax"], ref["entities"], ref["pre_words"]),
              "decode": runs[side][0]["decode"],
              "agreement_decode": agreement(texts, runs[side][0]["entities"], ref["entities"], ref["pre_words"])})
    for side in (s for s in ("bertkit-fast", "bertkit-bf16") if s in med):
        a, b = runs["bertkit"][0]["entities"], runs[side][0]["entities"]
        pairs = [(x, y) for ta, tb in zip(runs["bertkit"][0]["tags"], runs[side][0]["tags"]) for x, y in zip(ta, tb)]
        emit({"kind": "fast_vs_pytorch", **common, "side": side, "backend": runs[side][0]["backend"],
              "texts_with_equal_entities": sum(x == y for x, y in zip(a, b)),
              "words": len(pairs), "words_with_equal_tags_share": round(sum(x == y for x, y in pairs) / len(pairs), 5),
              "x_fast_vs_pytorch": round(med[side] / med["bertkit"], 2), **gate_summary(model_dir)})


def gate_summary(model_dir: str) -> dict:
    """The int8 accuracy gate's decision recorded in the model's bertkit.json (bertkit export --onnx --int8), if any."""
    f = Path(model_dir) / "bertkit.json"
    rec = json.loads(f.read_text()).get("int8_gate") if f.is_file() else None
    keys = ("accepted", "metric", "fp32", "int8", "relative_drop", "agreement", "weight_bits", "excluded")
    return {"int8_gate": {k: rec.get(k) for k in keys}} if rec else {}

if __name__ == "__main__":
    main()
