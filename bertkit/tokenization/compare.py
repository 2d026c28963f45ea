"""`bertkit tokenize compare`: load, measure, render, check thresholds. The CLI only passes options here."""

from __future__ import annotations

import sys
from enum import Enum
from pathlib import Path

from bertkit import console
from bertkit.errors import BertkitError, UsageError

from . import corpus as corpus_mod
from .metrics import measure
from .reports import check_thresholds, parse_thresholds, to_csv, to_json
from .schema import COMPARE_SCHEMA, SENTENCE_SCHEMA
from .sentence import differences, encode_sentence
from .specs import load_all


class CompareFormat(str, Enum):
    table = "table"
    json = "json"
    csv = "csv"
    html = "html"


HTML_SAMPLE_ROWS = 3


def _sentence_doc(backends, text: str, *, with_special: bool, max_length: int, baseline: str) -> tuple[dict, list]:
    encoded = encode_sentence(backends, text, with_special)
    m = measure(backends, [text], with_special=with_special, max_length=max_length, baseline=baseline)
    for row, enc in zip(m["tokenizers"], encoded):
        row["encoding"] = [t.as_dict() for t in enc.tokens]
    doc = {"schema": SENTENCE_SCHEMA, "mode": "sentence", "text": text, "with_special": with_special,
           "max_length": max_length, "baseline": m["baseline"], "tokenizers": m["tokenizers"], "best": m["best"],
           "differences": differences(text, encoded)}
    return doc, encoded


def _corpus_doc(backends, corpus, *, with_special: bool, max_length: int, baseline: str, batch_size: int) -> dict:
    n = len(corpus.texts)
    console.log(f"comparing {len(backends)} tokenizers on {n:,} rows of {corpus.source}")
    with console.progress() as p:
        task = p.add_task("tokenize", total=n)
        m = measure(backends, corpus.texts, with_special=with_special, max_length=max_length, baseline=baseline,
                    batch_size=batch_size, on_batch=lambda k: p.advance(task, k))
    return {"schema": COMPARE_SCHEMA, "mode": "corpus", "source": corpus.source, "with_special": with_special,
            "max_length": max_length, "baseline": m["baseline"], "corpus": m["corpus"], "tokenizers": m["tokenizers"],
            "best": m["best"]}


def run_compare(*, text: str | None, tokenizers: list[str], file: str | None = None, dataset: str | None = None,
                text_col: str | None = None, limit: int | None = None, max_length: int = 128,
                baseline: str | None = None, lowercase: bool | None = None, with_special: bool = False,
                ids: bool = False, fail_under: list[str] | None = None, fmt: CompareFormat = CompareFormat.table,
                output: str | None = None, batch_size: int = 4096, trust_remote_code: bool = False) -> dict:
    if max_length < 1:
        raise UsageError("--max-length: must be at least 1")
    if batch_size < 1:
        raise UsageError("--batch-size: must be at least 1")
    thresholds = parse_thresholds(fail_under or [])
    sentence, corpus = corpus_mod.gather(text, file, dataset, text_col, limit)
    backends = load_all(tokenizers, lowercase, trust_remote_code)
    names = [b.name for b in backends]
    if baseline is not None and baseline not in names:
        raise BertkitError(f"--baseline {baseline}: no tokenizer with that name; names: {', '.join(names)}")
    fmt = CompareFormat(fmt)
    if sentence is not None:
        doc, encoded = _sentence_doc(backends, sentence, with_special=with_special, max_length=max_length,
                                     baseline=baseline)
        samples = [(sentence, encoded)]
    else:
        doc = _corpus_doc(backends, corpus, with_special=with_special, max_length=max_length, baseline=baseline,
                          batch_size=batch_size)
        encoded = None
        samples = []
        if fmt == CompareFormat.html:
            rows = [t for t in corpus.texts if t.strip()][:HTML_SAMPLE_ROWS]
            samples = [(t, encode_sentence(backends, t, with_special)) for t in rows]
    _write(doc, fmt, output, encoded, samples, ids)
    check_thresholds(thresholds, doc["tokenizers"])
    return doc


def _write(doc: dict, fmt: CompareFormat, output: str | None, encoded, samples, ids: bool) -> None:
    try:
        out = open(output, "w", encoding="utf-8") if output else sys.stdout
    except OSError as e:
        raise BertkitError(f"--output {output}: cannot write ({e.strerror or e}); check the path") from e
    try:
        if fmt == CompareFormat.json:
            out.write(to_json(doc))
        elif fmt == CompareFormat.csv:
            out.write(to_csv(doc))
        elif fmt == CompareFormat.html:
            from .render_html import page

            out.write(page(doc, samples, ids))
        else:
            from .render_terminal import print_corpus, print_sentence

            if doc["mode"] == "sentence":
                print_sentence(doc, encoded, ids, out)
            else:
                print_corpus(doc, out)
        out.flush()
    except OSError as e:
        raise BertkitError(f"--output {output}: cannot write ({e.strerror or e}); check the path") from e
    finally:
        if output:
            out.close()
    if output:
        console.log(f"wrote {Path(output)}")
