"""Measure the candidate `--fast` backends of `Classifier` (the choice behind `--fast`) on one classifier folder.

    nice -n 5 python bench/fast_backends.py --model DIR [--long-texts 200] [--join 6] [--repeats 2] [--backends ...]

Every backend runs the same code path (`Classifier.predict_proba`: tokenization, length-sorted batches,
`batched_forward`); only the model-like callable (or the autocast dtype) differs:
  fp32         the PyTorch model (bertkit's default)
  bf16         bf16 autocast (`--bf16`)
  bf16-weights a bf16 copy of the model, its weights cast once (half the fp32 memory, no autocast)
  torch-int8   torch.ao dynamic int8 on every Linear layer
  ort-fp32     ONNX Runtime on `bertkit export DIR --onnx`
  ort-int8     ONNX Runtime on `bertkit export DIR --onnx --int8`
  ort-int8-static, ort-int8-static-pct
               ONNX Runtime's static int8 (QDQ: quantize_static with per-channel int8 weights and uint8 activations,
               every MatMul / Gemm, the MinMax or the Percentile calibrator) on the same preprocessed fp32 graph,
               its activation ranges calibrated on the first --calibration-rows dev sentences; the issue's "static
               with calibration ... when it is better", measured (the gate keeps dynamic int8: see
               docs/design/fast-backend.md#static-int8)
  compile      torch.compile(model, dynamic=True) (its compile time is reported apart, in warm_s)
In one process, backends alternated per repeat (A B C, C B A, ...). One JSON line per backend and corpus:
sentences_per_s (median), first_pass_sentences_per_s (the first pass, where most batch shapes are new, as in a
one-off predict), x_vs_fp32, label agreement with fp32, max |prob - prob_fp32| and, on SST-2 dev, accuracy.
"""

from __future__ import annotations

import argparse
import contextlib
import sys
import tempfile
import time
from pathlib import Path

from common import SHARED, emit, environment, median, order, parse_args, read_tsv, tiny_model

BACKENDS = ("fp32", "bf16", "bf16-weights", "torch-int8", "ort-fp32", "ort-int8", "ort-int8-static",
            "ort-int8-static-pct", "compile")
STATIC = {"ort-int8-static": "MinMax", "ort-int8-static-pct": "Percentile"}


def calibration_feeds(clf, texts: list[str], batch: int = 16) -> list[dict]:
    """The graph's inputs for `texts` as the classifier tokenizes them, in batches of one shape: `batch` rows (a last
    partial batch is left out where there are full ones), padded to the longest text's length (ONNX Runtime's
    Percentile calibrator stacks every batch's activations, so their shapes must agree)."""
    texts = texts[: max(len(texts) // batch * batch, min(len(texts), batch))]
    longest = max(len(ids) for ids in clf.tokenizer(texts, truncation=True, max_length=clf.max_length)["input_ids"])
    out = []
    for i in range(0, len(texts), batch):
        enc = clf.tokenizer(texts[i:i + batch], padding="max_length", truncation=True, max_length=longest,
                            return_tensors="np")
        out.append({k: v.astype("int64") for k, v in enc.items()})
    return out


def static_source(clf, tmp: Path) -> Path:
    """The classifier's fp32 graph (one file, weights inside), preprocessed for quantization: made once, shared by
    the static backends."""
    from fast_sides import single_file

    from bertkit.export import export_onnx
    from bertkit.int8gate import preprocess

    pre = tmp / "static.pre.onnx"
    if not pre.is_file():
        fp32 = tmp / "static.fp32.onnx"
        export_onnx(clf.path, str(fp32))
        single_file(fp32)
        preprocess(fp32, pre)
    return pre


def static_int8(pre: Path, dest: Path, feeds: list[dict], method: str) -> Path:
    """ONNX Runtime's static quantization (QDQ) of the preprocessed fp32 graph `pre`, calibrated on `feeds`."""
    import onnx
    from onnxruntime import quantization as q

    names = {i.name for i in onnx.load(str(pre), load_external_data=False).graph.input}

    class Reader(q.CalibrationDataReader):
        def __init__(self):
            self.batches = iter([{k: v for k, v in f.items() if k in names} for f in feeds])

        def get_next(self):
            return next(self.batches, None)

    with contextlib.redirect_stdout(sys.stderr):  # the calibrators print their progress: stdout is for JSON
        q.quantize_static(str(pre), str(dest), Reader(), quant_format=q.QuantFormat.QDQ, per_channel=True,
                          activation_type=q.QuantType.QUInt8, weight_type=q.QuantType.QInt8,
                          op_types_to_quantize=["MatMul", "Gemm"],
                          calibrate_method=getattr(q.CalibrationMethod, method), use_external_data_format=True)
    return dest


def prepare(clf, backend: str, tmp: Path, feeds: list[dict]):
    """(model-like, bf16) for a backend of this Classifier."""
    import torch

    from bertkit.engine.backends import OrtModel, int8_dynamic
    from bertkit.export import export_onnx

    if backend in ("fp32", "bf16"):
        return clf.model, backend == "bf16"
    if backend == "bf16-weights":
        import copy

        return copy.deepcopy(clf.model).to(torch.bfloat16), False
    if backend == "torch-int8":
        return int8_dynamic(clf.model), False
    if backend in STATIC:
        graph = static_int8(static_source(clf, tmp), tmp / f"{backend}.onnx", feeds, STATIC[backend])
        return OrtModel(graph, clf.model.config), False
    if backend.startswith("ort-"):
        f = tmp / f"{backend}.onnx"
        export_onnx(clf.path, str(f), int8=backend == "ort-int8")
        return OrtModel(f, clf.model.config), False
    if backend == "compile":
        return torch.compile(clf.model, dynamic=True), False
    raise ValueError(backend)


def tiny_classifier(tmp: Path) -> str:
    """The tests' tiny random BERT with a seeded 2-label head (--smoke)."""
    import torch
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    base, out = tiny_model(tmp / "tiny"), tmp / "classifier"
    torch.manual_seed(0)
    labels = {0: "0", 1: "1"}  # SST-2's, so that accuracy is scored
    AutoModelForSequenceClassification.from_pretrained(base, num_labels=2, id2label=labels,
                                                       label2id={v: k for k, v in labels.items()}).save_pretrained(out)
    AutoTokenizer.from_pretrained(base).save_pretrained(out)
    return str(out)


def parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", help="a sequence-classification folder (e.g. from `bertkit classify train`)")
    ap.add_argument("--dev", default=str(SHARED / "glue" / "SST-2" / "dev.tsv"))
    ap.add_argument("--long-texts", type=int, default=200)
    ap.add_argument("--join", type=int, default=6)
    ap.add_argument("--repeats", type=int, default=2)
    ap.add_argument("--limit", type=int, default=None, help="only the first N dev sentences")
    ap.add_argument("--backends", default=",".join(BACKENDS))
    ap.add_argument("--calibration-rows", type=int, default=200,
                    help="the static int8 backends' calibration data: the first N dev sentences")
    ap.add_argument("--smoke", action="store_true", help="a tiny random classifier, 24 sentences, 4 long texts")
    return ap


def measure(clf, backends: list[str], corpora: dict[str, list[str]], repeats: int, tmp: Path, feeds: list[dict]):
    """(warm-up seconds, sentences/s runs, last probabilities), per backend (and corpus), alternated per repeat."""
    prepared, warm, rates, probs = {}, {}, {}, {}
    for b in backends:
        t0 = time.perf_counter()
        prepared[b] = prepare(clf, b, tmp, feeds)
        clf.model, clf.bf16 = prepared[b]
        for texts in corpora.values():
            clf.predict_proba(texts[:16])
        warm[b] = round(time.perf_counter() - t0, 2)
    for b in order(backends, repeats):
        clf.model, clf.bf16 = prepared[b]
        for name, texts in corpora.items():
            t0 = time.perf_counter()
            probs.setdefault(b, {})[name] = clf.predict_proba(texts)
            rates.setdefault(b, {}).setdefault(name, []).append(len(texts) / (time.perf_counter() - t0))
    return warm, rates, probs


def record(clf, b: str, name: str, rates: dict, probs: dict, gold: list[int]) -> dict:
    """Speed against fp32, label agreement with fp32 and, on SST-2 dev, accuracy (the gate's metric)."""
    import numpy as np

    from bertkit.classify.task import decide

    rate = median(rates[b][name])
    # the first pass meets most batch shapes for the first time (oneDNN builds a kernel per new shape), as a one-off
    # `predict` does; the median is of every pass
    rec = {"backend": b, "sentences_per_s": round(rate, 1), "first_pass_sentences_per_s": round(rates[b][name][0], 1)}
    pred = decide(clf.space, probs[b][name], clf.thresholds)
    if "fp32" in probs:
        ref = probs["fp32"][name]
        agree = float((pred == decide(clf.space, ref, clf.thresholds)).mean())
        rec.update(x_vs_fp32=round(rate / median(rates["fp32"][name]), 2), label_agreement=round(agree, 4),
                   max_prob_diff=float(f"{np.abs(probs[b][name] - ref).max():.3g}"))
    if name == "sst2-dev" and {str(g) for g in gold} <= set(clf.space.names):
        rec["accuracy"] = round(float(np.mean([clf.space.names[k] == str(g) for k, g in zip(pred, gold)])), 4)
    return rec


def main() -> None:
    ap = parser()
    args = parse_args(ap)
    unknown = [b for b in args.backends.split(",") if b and b not in BACKENDS]
    if unknown:
        ap.error(f"--backends: unknown {','.join(unknown)}; choose from {','.join(BACKENDS)}")
    if not args.model and not args.smoke:
        ap.error("--model DIR is required (a sequence-classification folder), or --smoke")
    from bertkit.classify.predict import Classifier

    with tempfile.TemporaryDirectory(prefix="bertkit-bench-fast-") as tmp:
        if args.smoke:
            args.model = tiny_classifier(Path(tmp))
            args.limit, args.long_texts, args.repeats, args.calibration_rows = 24, 4, 1, 8
        sents, gold = read_tsv(args.dev)
        sents, gold = (sents[: args.limit], gold[: args.limit]) if args.limit else (sents, gold)
        n = len(sents)
        long = [" ".join(sents[(i * 2 + k) % n] for k in range(args.join)) for i in range(args.long_texts)]
        corpora = {"sst2-dev": sents, "long": long}
        clf = Classifier(args.model)
        clf.path = args.model
        backends = [b for b in args.backends.split(",") if b]
        calibration = sents[: args.calibration_rows]
        feeds = calibration_feeds(clf, calibration)
        warm, rates, probs = measure(clf, backends, corpora, args.repeats, Path(tmp), feeds)
    env = environment()
    for name in corpora:
        for b in backends:
            emit({"kind": "backend", "bench": "fast_backends", "corpus": name, "texts": len(corpora[name]),
                  **record(clf, b, name, rates, probs, gold), "warm_s": warm[b],
                  **({"calibration_rows": sum(len(f["input_ids"]) for f in feeds)} if b in STATIC else {}), **env})


if __name__ == "__main__":
    main()
