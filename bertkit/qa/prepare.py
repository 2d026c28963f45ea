"""`qa train`'s training windows as Arrow: written once by a batched `datasets.map`, memory-mapped, cached.

The design, with its measurements: docs/design/data-path.md#question-answering.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterator, Sequence
from typing import Any

import numpy as np

from bertkit import console
from bertkit.data import arrow
from bertkit.data.stream import content_hash
from bertkit.qa.features import answer_span, check_stride, window_columns

WINDOWS_VERSION = 1  # bump when what a QA windows entry holds changes
SOURCE_FILE = "questions.arrow"
BATCH_QUESTIONS = 1000  # questions per map batch (a batch's windows, offsets included, are in memory at once)


def source_features():
    import datasets

    return datasets.Features({"question": datasets.Value("string"), "context": datasets.Value("string"),
                              "answer_start": datasets.Value("int64"), "answer_text": datasets.Value("string"),
                              "is_impossible": datasets.Value("bool")})


def source_batches(examples: Sequence, size: int = 1000) -> Iterator[dict[str, list]]:
    """The questions as dict-of-list batches: the first answer (None for unanswerable questions)."""
    for s in range(0, len(examples), size):
        chunk = examples[s : s + size]
        has = [bool(e.answers["text"]) for e in chunk]
        yield {"question": [e.question for e in chunk], "context": [e.context for e in chunk],
               "answer_start": [int(e.answers["answer_start"][0]) if h else None for e, h in zip(chunk, has)],
               "answer_text": [e.answers["text"][0] if h else None for e, h in zip(chunk, has)],
               "is_impossible": [bool(e.is_impossible) for e in chunk]}


def gives_token_type_ids(tokenizer) -> bool:
    """Whether the tokenizer's pair encodings carry token_type_ids (what build_features stores)."""
    return "token_type_ids" in tokenizer("a", "b")


def feature_schema(use_tt: bool):
    import datasets

    f = {"input_ids": datasets.Sequence(datasets.Value("int32"))}
    if use_tt:
        f["token_type_ids"] = datasets.Sequence(datasets.Value("int8"))
    for name in ("cls_index", "start_positions", "end_positions"):
        f[name] = datasets.Value("int32")
    f["example_idx"] = datasets.Value("int64")
    f["length"] = datasets.Value("int32")
    return datasets.Features(f)


class _Windows:
    """The map function (a class, so `--num-proc` workers get it by pickling)."""

    def __init__(self, tokenizer, max_length: int, doc_stride: int, use_tt: bool):
        self.tokenizer, self.max_length, self.doc_stride, self.use_tt = tokenizer, max_length, doc_stride, use_tt

    def __call__(self, batch: dict[str, list], idx: list[int]) -> dict[str, list]:
        spans = [answer_span(imp, [t] if t is not None else [], [s])
                 for s, t, imp in zip(batch["answer_start"], batch["answer_text"], batch["is_impossible"])]
        cols = window_columns(self.tokenizer, batch["question"], batch["context"], self.max_length, self.doc_stride,
                              spans, offsets=False)
        cols["example_idx"] = [idx[i] for i in cols["example_idx"]]  # the question's index in the whole table
        if not self.use_tt:
            cols.pop("token_type_ids", None)
        cols["length"] = [len(x) for x in cols["input_ids"]]
        return cols


def windows_entry(spec: str, tokenizer, cfg) -> arrow.Entry:
    root = None if cfg.no_cache else arrow.cache_root(cfg.cache_dir)
    key = {"content": content_hash(spec), "default_split": "train", "limit": cfg.limit,
           "skip_bad_rows": cfg.skip_bad_rows,
           "tokenizer": arrow.tokenizer_key(tokenizer), "max_length": cfg.max_length, "doc_stride": cfg.doc_stride,
           "qa_windows_version": WINDOWS_VERSION}
    return arrow.Entry(root, "qa-windows", key)


def training_windows(examples: Sequence, spec: str, tokenizer, cfg) -> arrow.ArrowFeatures:
    """The labelled training windows of `examples` (read from `spec` with cfg's --limit/--skip-bad-rows), from the
    cache or built into it. Rows: input_ids, token_type_ids (when the tokenizer gives them), cls_index,
    start_positions, end_positions, example_idx."""
    entry = windows_entry(spec, tokenizer, cfg)
    arrow.cached(entry, lambda folder: _build(entry, folder, examples, spec, tokenizer, cfg),
                 lambda info: console.log(f"cache: reused the {info['windows']} training windows of {spec} from "
                                          f"{entry.final} (nothing tokenized)"))
    return arrow.ArrowFeatures(arrow.load_dataset_files(entry.files()))


def _build(entry: arrow.Entry, folder, examples: Sequence, spec: str, tokenizer, cfg) -> None:
    import datasets

    t = time.perf_counter()
    check_stride(tokenizer, [e.question for e in examples], cfg.max_length, cfg.doc_stride, [e.id for e in examples],
                 spec)
    use_tt = gives_token_type_ids(tokenizer)
    n = arrow.write_source(folder / SOURCE_FILE, source_features(), source_batches(examples))
    source = [folder / SOURCE_FILE]  # paths: read with plain file reads, not memory-mapped (as classify does)
    if cfg.num_proc > 1:
        os.environ["TOKENIZERS_PARALLELISM"] = "false"  # the workers are forked
    with arrow.quiet_datasets():
        files = arrow.tokenize_to_arrow(entry, source, _Windows(tokenizer, cfg.max_length, cfg.doc_stride, use_tt),
                                        feature_schema(use_tt), cfg.num_proc, f"windows of {spec}",
                                        batch_size=BATCH_QUESTIONS)
    (folder / SOURCE_FILE).unlink()
    windows = sum(datasets.Dataset.from_file(str(folder / f)).num_rows for f in files)
    entry.commit({"seconds": round(time.perf_counter() - t, 3), "questions": n, "windows": windows}, files)
    console.log(f"tokenized {n} questions of {spec} into {windows} training windows in {time.perf_counter() - t:.1f}s "
                f"({cfg.num_proc} process(es)) into {entry.folder}")


def window_counts(feats) -> dict[str, Any]:
    """Windows, windows labelled [CLS] (no answer in them), mean length: from the columns, with numpy."""
    start = np.asarray(feats.columns["start_positions"])
    cls = np.asarray(feats.columns["cls_index"])
    return {"windows": len(feats), "at_cls": int((start == cls).sum()),
            "mean_length": float(np.asarray(feats.lengths).mean()) if len(feats) else 0.0}
