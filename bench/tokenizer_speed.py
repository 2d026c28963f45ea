"""Benchmark `bertkit tokenize compare` against calling each tokenizer library directly.

    python bench/tokenizer_speed.py [--data ../shared/data/glue/SST-2/train.tsv] [--tokenizers DIR] [--lines 100000]

Prints one JSON line per measurement on stdout:

- kind=library: per tokenizer, on the whole corpus
    direct_s      the library called directly: Tokenizer.encode_batch(texts) + .ids / sp.encode(texts)
    encode_s      bertkit's Backend.encode without offsets (the wrapper alone: the same library call, plus
                  lowercasing for an uncased .model), same corpus
    compare_s     bertkit's compare machinery (metrics.measure: encode with offsets, words, fertility,
                  split words, UNK, decode + round-trip, lengths), the code path the CLI uses
    *_tok_s       tokens per second for each; encode_overhead = encode_s / direct_s,
                  compare_overhead = compare_s / direct_s
- kind=cli: `bertkit tokenize compare` with all tokenizers on a corpus of --lines lines (the corpus repeated),
  run in-process through run_compare (JSON to /dev/null): seconds end to end, loading included.
"""

from __future__ import annotations

import argparse
import os
import platform
import time
from pathlib import Path

from common import emit, parse_args

REPO = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("BERTKIT_SHARED_DATA", REPO.parent / "shared" / "data"))
SIX = ["gpt2", "roberta-base", "bert-base-cased", "bert-base-multilingual-cased", "t5-small", "albert-base-v2"]


def read_texts(path: Path) -> list[str]:
    """A corpus as `bertkit tokenize --file` reads it (a table's text column, else text lines)."""
    from bertkit.tokenization.corpus import read_file

    return read_file(str(path)).texts


def direct_call(be, texts: list[str]) -> tuple[int, float]:
    """The library itself, as a user would call it (ALBERT's uncased .model: lowercase first)."""
    t0 = time.perf_counter()
    if be.library == "sentencepiece":
        ids = be.obj.encode([t.lower() for t in texts] if be.lowercase else texts)
    elif be.library == "tokenizers":
        ids = [e.ids for e in be.obj.encode_batch(texts, add_special_tokens=False)]
    else:
        ids = be.obj(texts, add_special_tokens=False)["input_ids"]
    return sum(map(len, ids)), time.perf_counter() - t0


def best_of(n: int, fn):
    runs = [fn() for _ in range(n)]
    return min(runs, key=lambda r: r[1])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", default=str(SHARED / "glue" / "SST-2" / "train.tsv"))
    ap.add_argument("--tokenizers", default=str(SHARED / "tokenizers"))
    ap.add_argument("--lines", type=int, default=100_000, help="size of the corpus for the end-to-end CLI run")
    ap.add_argument("--repeat", type=int, default=2, help="best of N for the encode timings")
    args = parse_args(ap)

    from bertkit.tokenization.compare import CompareFormat, run_compare
    from bertkit.tokenization.metrics import measure
    from bertkit.tokenization.specs import load_all

    texts = read_texts(Path(args.data))
    specs = [str(Path(args.tokenizers) / n) for n in SIX]
    backends = load_all(specs)
    env = {"python": platform.python_version(), "cpus": os.cpu_count(),
           "TOKENIZERS_PARALLELISM": os.environ.get("TOKENIZERS_PARALLELISM", "(unset)")}
    for be in backends:
        n_direct, direct_s = best_of(args.repeat, lambda: direct_call(be, texts))
        def encode_once(be=be) -> tuple[int, float]:
            t0 = time.perf_counter()
            b = be.encode(texts, offsets=False)
            return sum(map(len, b.ids)), time.perf_counter() - t0

        n_encode, encode_s = best_of(args.repeat, encode_once)
        t0 = time.perf_counter()
        res = measure([be], texts)
        compare_s = time.perf_counter() - t0
        n_compare = res["tokenizers"][0]["tokens"]
        assert n_direct == n_encode == n_compare, (be.name, n_direct, n_encode, n_compare)
        emit({
            "kind": "library", "tokenizer": be.name, "library": be.library, "rows": len(texts), "tokens": n_direct,
            "direct_s": round(direct_s, 3), "encode_s": round(encode_s, 3), "compare_s": round(compare_s, 3),
            "direct_tok_s": round(n_direct / direct_s), "encode_tok_s": round(n_encode / encode_s),
            "compare_tok_s": round(n_compare / compare_s),
            "encode_overhead": round(encode_s / direct_s, 2), "compare_overhead": round(compare_s / direct_s, 2),
            **env})

    big = (texts * (args.lines // max(1, len(texts)) + 1))[:args.lines]
    tmp = Path(os.environ.get("TMPDIR", "/tmp")) / "bertkit-bench-corpus.txt"
    tmp.write_text("\n".join(big) + "\n", encoding="utf-8")
    os.environ["BERTKIT_NO_PROGRESS"] = "1"
    t0 = time.perf_counter()
    doc = run_compare(text=None, tokenizers=specs, file=str(tmp), fmt=CompareFormat.json, output=os.devnull)
    total = time.perf_counter() - t0
    emit({
        "kind": "cli", "command": "bertkit tokenize compare -t <six> --file <corpus> -f json", "rows": len(big),
        "tokenizers": len(specs), "seconds": round(total, 2),
        "per_tokenizer_s": {r["name"]: r["seconds"] for r in doc["tokenizers"]},
        "tokens": {r["name"]: r["tokens"] for r in doc["tokenizers"]}, **env})
    tmp.unlink(missing_ok=True)


if __name__ == "__main__":
    main()
