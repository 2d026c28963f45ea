"""Classification data at scale: one streamed pass over the file, then a cached, memory-mapped tokenization.

The design, with its measurements: docs/design/data-path.md#classification-two-cached-stages.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from bertkit import console
from bertkit.classify.data import LabelSpace, detect_columns, encode_labels, infer_label_space, read_label_names
from bertkit.data import arrow, stream
from bertkit.data.stream import content_hash
from bertkit.errors import BertkitError


@dataclass
class Columns:
    text: str
    pair: str | None
    label: str | None


@dataclass
class Split:
    spec: str
    entry: arrow.Entry
    cols: Columns
    space: LabelSpace
    rows: int


def _label_key(v: Any) -> Any:
    if isinstance(v, (list, tuple, np.ndarray)):
        return ("list", tuple(str(x) for x in (v.tolist() if isinstance(v, np.ndarray) else v)))
    return v


def _raw_label(v: Any) -> str:
    if isinstance(v, np.ndarray):
        v = v.tolist()
    return repr([str(x) for x in v]) if isinstance(v, (list, tuple)) else str(v)


def _check_texts(df: pd.DataFrame, col: str, spec: str) -> list[str]:
    s = df[col]
    empty = s.isna() | (s.astype(str).str.strip() == "")
    if empty.any():
        raise BertkitError(f"{spec}: row {int(df.index[int(np.argmax(empty.values))]) + 1}: empty "
                           f"text in column {col!r}; "
                           "remove the row or fill it")
    return s.astype(str).tolist()


def _with_row(e: BertkitError, offset: int) -> BertkitError:
    """encode_labels counts rows from its chunk; name the row of the file."""
    import re

    return BertkitError(re.sub(r"row (\d+)", lambda m: f"row {int(m.group(1)) + offset}", str(e), count=1))


def _columns(df: pd.DataFrame, spec: str, cfg, cols: Columns | None) -> Columns:
    if cols is None:
        return Columns(*detect_columns(df, spec, cfg.text_col, cfg.text_pair_col, cfg.label_col))
    # the training data's columns, resolved again in this chunk (positions, joined columns), or a clear error
    detect_columns(df, spec, cols.text, cols.pair, cols.label)
    return cols


def source_features(pair: bool):
    import datasets

    f = {"text": datasets.Value("string"), "label": datasets.Value("string")}
    if pair:
        f["pair"] = datasets.Value("string")
    return datasets.Features(f)


def read_split(spec: str, cfg, cols: Columns | None, space: LabelSpace | None, limit: int | None,
               default_split: str) -> Split:
    """Stage 1 (see the module docstring). `cols`/`space` given (dev data): checked against them."""
    root = None if cfg.no_cache else arrow.cache_root(cfg.cache_dir)
    key = {"content": content_hash(spec), "limit": limit, "header": cfg.header, "default_split": default_split,
           "columns": ([cfg.text_col, cfg.text_pair_col, cfg.label_col] if cols is None
                       else [cols.text, cols.pair, cols.label]),
           "labels": ([cfg.problem_type, cfg.label_sep, read_label_names(cfg.label_names)] if space is None
                      else [space.problem_type, space.names])}
    entry = arrow.Entry(root, "data", key)

    def reuse(info: dict[str, Any]) -> Split:
        console.log(f"cache: reused the rows of {spec} from {entry.final}")
        return Split(spec, entry, Columns(*info["columns"]), LabelSpace(info["problem_type"], info["names"]),
                     info["rows"])

    return arrow.cached(entry, lambda folder: _build_split(spec, cfg, cols, space, limit, default_split, entry, folder),
                        reuse)


def _build_split(spec, cfg, cols, space, limit, default_split, entry: arrow.Entry, folder) -> Split:
    firsts: dict[Any, tuple[int, Any]] = {}
    state: dict[str, Any] = {"cols": cols}

    def batches():
        for df in stream.iter_frames(spec, header=cfg.header, limit=limit, default_split=default_split,
                                     chunk_rows=stream.CHUNK_ROWS):
            c = state["cols"] = _columns(df, spec, cfg, state["cols"])
            if df.empty:
                continue
            out = {"text": _check_texts(df, c.text, spec), "label": [_raw_label(v) for v in df[c.label]]}
            if c.pair:
                out["pair"] = _check_texts(df, c.pair, spec)
            if space is not None:  # dev data: every label must be known
                try:
                    encode_labels(df[c.label], space, spec, cfg.label_sep)
                except BertkitError as e:
                    raise _with_row(e, int(df.index[0])) from None
            else:
                for row, v in zip(df.index, df[c.label]):
                    firsts.setdefault(_label_key(v), (int(row), v))
            yield out

    first_frame = next(stream.iter_frames(spec, header=cfg.header, limit=min(limit or 2000, 2000),
                                          default_split=default_split))
    state["cols"] = _columns(first_frame, spec, cfg, cols)
    n = arrow.write_source(folder / "rows.arrow", source_features(state["cols"].pair is not None), batches())
    if space is None:
        seen = sorted(firsts.values(), key=lambda rv: rv[0])
        raw = pd.Series([v for _, v in seen], index=[r for r, _ in seen], dtype=object)
        space = infer_label_space(raw, spec, cfg.problem_type, cfg.label_sep, read_label_names(cfg.label_names))
    c = state["cols"]
    entry.commit({"columns": [c.text, c.pair, c.label], "problem_type": space.problem_type, "names": space.names,
                  "rows": n},
                 ["rows.arrow"])
    return Split(spec, entry, c, space, n)


def feature_schema(space: LabelSpace, use_tt: bool, window: bool):
    import datasets

    f = {"input_ids": datasets.Sequence(datasets.Value("int32"))}
    if use_tt:
        f["token_type_ids"] = datasets.Sequence(datasets.Value("int8"))
    f["labels"] = (datasets.Sequence(datasets.Value("float32"), length=space.num_labels)
                   if space.problem_type == "multilabel" else datasets.Value("int64"))
    f["row" if window else "truncated"] = datasets.Value("int64") if window else datasets.Value("bool")
    f["length"] = datasets.Value("int32")
    return datasets.Features(f)


class _Tokenize:
    """The map function (a class, so `--num-proc` workers get it by pickling)."""

    def __init__(self, tokenizer, split: Split, cfg):
        self.tokenizer, self.split, self.cfg = tokenizer, split, cfg
        self.window = cfg.long_text == "window"

    def __call__(self, batch: dict[str, list], idx: list[int]) -> dict[str, list]:
        from bertkit.classify.task import encode
        from bertkit.classify.windows import featurize_windows

        s, cfg = self.split, self.cfg
        try:
            y = encode_labels(pd.Series(batch["label"], dtype=object), s.space, s.spec, cfg.label_sep)
        except BertkitError as e:
            raise _with_row(e, idx[0]) from None
        pairs = batch.get("pair")
        if self.window:
            cols = featurize_windows(self.tokenizer, batch["text"], pairs, cfg.max_length, cfg.stride, y,
                                     idx)[0].columns
        else:
            cols, long_rows = encode(self.tokenizer, batch["text"], pairs, cfg.max_length, y)
            cut = set(long_rows)
            cols["truncated"] = [i in cut for i in range(len(batch["text"]))]
        cols["labels"] = [v.tolist() if isinstance(v, np.ndarray) else v for v in cols["labels"]]
        cols["length"] = [len(x) for x in cols["input_ids"]]
        return cols


def tokenize_split(split: Split, tokenizer, cfg) -> arrow.ArrowFeatures:
    """Stage 2 (see the module docstring)."""
    import os
    import time

    window = cfg.long_text == "window"
    key = {"data": split.entry.name if split.entry.final else split.entry.key,
           "tokenizer": arrow.tokenizer_key(tokenizer),
           "max_length": cfg.max_length, "long_text": cfg.long_text, "stride": cfg.stride if window else None,
           "labels": [split.space.problem_type, split.space.names]}
    entry = arrow.Entry(split.entry.final.parent if split.entry.final else None, "features", key)
    def build(folder) -> None:
        t = time.perf_counter()
        source = split.entry.files()  # paths: read with plain file reads, not memory-mapped
        if cfg.num_proc > 1:
            os.environ["TOKENIZERS_PARALLELISM"] = "false"  # the workers are forked
        use_tt = "token_type_ids" in tokenizer.model_input_names
        with arrow.quiet_datasets():
            files = arrow.tokenize_to_arrow(entry, source, _Tokenize(tokenizer, split, cfg),
                                            feature_schema(split.space, use_tt, window), cfg.num_proc,
                                            f"tokenizing {split.spec}")
        entry.commit({"seconds": round(time.perf_counter() - t, 3), "rows": split.rows}, files)
        console.log(f"tokenized {split.rows} rows of {split.spec} in {time.perf_counter() - t:.1f}s "
                    f"({cfg.num_proc} process(es)) into {entry.folder}")

    arrow.cached(entry, build, lambda info: console.log(f"cache: reused the tokenized features of {split.spec} from "
                                                        f"{entry.final} (nothing tokenized)"))
    hidden = ("length", "truncated")
    return arrow.ArrowFeatures(arrow.load_dataset_files(entry.files()), hidden=hidden)
