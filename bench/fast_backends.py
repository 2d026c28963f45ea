"""Measure the candidate `--fast` backends of `Classifier` (the choice behind `--fast`) on one classifier folder.

    nice -n 5 python bench/fast_backends.py --model DIR [--long-texts 200] [--join 6] [--repeats 2] [--backends ...]

Every backend runs the same code path (`Classifier.predict_proba`: tokenization, length-sorted batches,
`batched_forward`); only the model-like callable (or the autocast dtype) differs:
  fp32         the PyTorch model (bertkit's default)
  bf16         bf16 autocast (`--bf16`)
  torch-int8   torch.ao dynamic int8 on every Linear layer
  ort-fp32     ONNX Runtime on `bertkit export DIR --onnx`
  ort-int8     ONNX Runtime on `bertkit export DIR --onnx --int8`
  compile      torch.compile(model, dynamic=True) (its compile time is reported apart, in warm_s)
In one process, backends alternated per repeat (A B C, C B A, ...). One JSON line per backend and corpus:
sentences_per_s (median), x_vs_fp32, label agreement with fp32 and max |prob - prob_fp32|.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

from common import SHARED, emit, environment, median, order, parse_args, read_tsv

BACKENDS = ("fp32", "bf16", "torch-int8", "ort-fp32", "ort-int8", "compile")


def prepare(clf, backend: str, tmp: Path):
    """(model-like, bf16) for a backend of this Classifier."""
    import torch

    from bertkit.engine.backends import OrtModel, int8_dynamic
    from bertkit.export import export_onnx

    if backend in ("fp32", "bf16"):
        return clf.model, backend == "bf16"
    if backend == "torch-int8":
        return int8_dynamic(clf.model), False
    if backend.startswith("ort-"):
        f = tmp / f"{backend}.onnx"
        export_onnx(clf.path, str(f), int8=backend == "ort-int8")
        return OrtModel(f, clf.model.config), False
    if backend == "compile":
        return torch.compile(clf.model, dynamic=True), False
    raise ValueError(backend)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", required=True,
                    help="a sequence-classification folder (e.g. from `bertkit classify train`)")
    ap.add_argument("--dev", default=str(SHARED / "glue" / "SST-2" / "dev.tsv"))
    ap.add_argument("--long-texts", type=int, default=200)
    ap.add_argument("--join", type=int, default=6)
    ap.add_argument("--repeats", type=int, default=2)
    ap.add_argument("--limit", type=int, default=None, help="only the first N dev sentences")
    ap.add_argument("--backends", default=",".join(BACKENDS))
    args = parse_args(ap)

    import numpy as np

    from bertkit.classify.predict import Classifier
    from bertkit.classify.task import decide

    sents, _ = read_tsv(args.dev)
    sents = sents[: args.limit] if args.limit else sents
    n = len(sents)
    long = [" ".join(sents[(i * 2 + k) % n] for k in range(args.join)) for i in range(args.long_texts)]
    corpora = {"sst2-dev": sents, "long": long}
    clf = Classifier(args.model)
    clf.path = args.model
    base_model = clf.model
    backends = [b for b in args.backends.split(",") if b]
    env = environment()
    with tempfile.TemporaryDirectory(prefix="bertkit-bench-fast-") as tmp:
        prepared, warm = {}, {}
        for b in backends:
            t0 = time.perf_counter()
            prepared[b] = prepare(clf, b, Path(tmp))
            clf.model, clf.bf16 = prepared[b]
            clf.predict_proba(sents[:16])
            clf.predict_proba(long[:16])
            warm[b] = round(time.perf_counter() - t0, 2)
        rates: dict[str, dict[str, list[float]]] = {}
        probs: dict[str, dict[str, np.ndarray]] = {}
        for b in order(backends, args.repeats):
            clf.model, clf.bf16 = prepared[b]
            for name, texts in corpora.items():
                t0 = time.perf_counter()
                p = clf.predict_proba(texts)
                rates.setdefault(b, {}).setdefault(name, []).append(len(texts) / (time.perf_counter() - t0))
                probs.setdefault(b, {})[name] = p
        clf.model = base_model
        for name in corpora:
            ref = probs["fp32"][name] if "fp32" in probs else None
            for b in backends:
                rate = median(rates[b][name])
                rec = {"kind": "backend", "bench": "fast_backends", "corpus": name, "texts": len(corpora[name]),
                       "backend": b,
                       "sentences_per_s": round(rate, 1), "warm_s": warm[b]}
                if ref is not None:
                    pred = decide(clf.space, probs[b][name], clf.thresholds)
                    agree = float((pred == decide(clf.space, ref, clf.thresholds)).mean())
                    rec.update(x_vs_fp32=round(rate / median(rates["fp32"][name]), 2), label_agreement=round(agree, 4),
                               max_prob_diff=float(f"{np.abs(probs[b][name] - ref).max():.3g}"))
                emit({**rec, **env})


if __name__ == "__main__":
    main()
