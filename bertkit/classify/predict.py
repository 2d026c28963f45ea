"""Using a trained classifier: `Classifier(model_dir)(texts)` and streaming `classify predict`."""

from __future__ import annotations

import sys
from itertools import islice
from pathlib import Path
from typing import Any, Iterable, Iterator, Sequence

import numpy as np

from bertkit.classify.data import LabelSpace, values_from_metadata
from bertkit.classify.head import to_probabilities
from bertkit.classify.settings import ClassifyConfig, ClassifyUse
from bertkit.classify.task import ClassificationTask, decide, featurize
from bertkit.data.columns import find_field, row_text
from bertkit.defaults import PREDICT_BATCH_SIZE, PREDICT_CHUNK_ROWS, TEXT_COLUMNS
from bertkit.errors import BertkitError, UsageError
from bertkit.modeling import model_max_length
from bertkit.predictor import Predictor
from bertkit.settings import check_options


class Classifier(Predictor):
    """A fine-tuned classifier: `Classifier("out/sst2")(["great film", "dull"])` → [{"label", "score"}, ...]."""

    def __init__(self, model_dir: str, batch_size: int | None = None, threshold: float | None = None,
                 device: str | None = None,
                 max_length: int | None = None, allow_pickle: bool = False, trust_remote_code: bool = False,
                 bf16: bool = False, fast: bool = False, threads: int | str | None = None):
        from bertkit.classify.spec import SPEC

        opts = check_options(ClassifyUse, ClassifyConfig,
                             batch_size=PREDICT_BATCH_SIZE if batch_size is None else batch_size,
                             threshold=threshold, threads=threads)
        # fast: the backend measured fastest with labels within 0.5 % of fp32 (bertkit.engine.backends.fast_choice)
        self._load_model(SPEC, model_dir, device=device, threads=opts["threads"], allow_pickle=allow_pickle,
                         trust_remote_code=trust_remote_code, bf16=bf16, fast=fast)
        cfg = self.config
        names = [cfg.id2label[i] for i in range(cfg.num_labels)]
        ptype = self.meta.get("problem_type")
        if ptype is None:  # any Hugging Face classifier
            ptype = "multilabel" if cfg.problem_type == "multi_label_classification" else "multiclass"
        self.space = LabelSpace(ptype, names, values_from_metadata(self.meta, names))
        if threshold is not None and ptype == "multiclass":
            raise UsageError("--threshold applies to binary and multi-label models; this one is multi-class (argmax)")
        if ptype == "binary":
            self.thresholds = [threshold if threshold is not None else (self.meta.get("threshold") or 0.5)]
        elif ptype == "multilabel":
            saved = self.meta.get("thresholds") or [0.5] * len(names)
            self.thresholds = [threshold] * len(names) if threshold is not None else list(saved)
        else:
            self.thresholds = None
        limit = model_max_length(self.tokenizer, cfg)
        self.max_length = min(max_length or self.meta.get("max_length") or limit, limit)
        self.batch_size = opts["batch_size"]
        # bf16 autocast: ~1.7x faster on CPUs with avx512_bf16 (SST-2 dev 6.0 s vs 10.0 s), probabilities within
        # ~2e-4 of fp32, so a label can flip near the threshold: opt-in
        self.bf16 = bf16
        # --long-text window models: windows of max_length overlapping by stride, a row's logits aggregated
        self.long_text = self.meta.get("long_text") or "truncate"
        self.stride = self.meta.get("stride") or 0
        self.aggregate = self.meta.get("aggregate") or "mean"
        self.task = ClassificationTask(self.space, self.tokenizer.pad_token_id or 0, None)

    def predict_proba(self, texts: Sequence[str], pairs: Sequence[str] | None = None) -> np.ndarray:
        """(n, K) probabilities in input order (binary: (1-p, p))."""
        from bertkit.engine.inference import batched_forward

        if len(texts) == 0:
            return np.zeros((0, self.space.num_labels))
        pairs = list(pairs) if pairs is not None else None
        if self.long_text == "window":
            from bertkit.classify.windows import featurize_windows

            feats, _ = featurize_windows(self.tokenizer, list(texts), pairs, self.max_length, self.stride)
        else:
            feats, _ = featurize(self.tokenizer, list(texts), pairs, self.max_length)
        model = self.model if self.runner is None else self.runner  # runner: the --fast backend
        out = batched_forward(model, feats, self.task.collate, self.task.predict_step, self.batch_size, self.device,
                              bf16=self.bf16, autocast_dtype=self.autocast_dtype)
        logits = np.stack(out["logits"])
        if self.long_text == "window":
            return self._aggregated(logits, feats.columns["row"])
        return to_probabilities(logits,
                                self.space.problem_type if self.space.problem_type != "binary" else "multiclass")

    def _aggregated(self, logits: np.ndarray, rows: list[int]) -> np.ndarray:
        """A row's window logits combined as in training (binary: the margin, logit 1 - logit 0)."""
        from bertkit.classify.windows import aggregate_logits

        if self.space.problem_type == "binary" and logits.shape[1] == 2:
            margin = aggregate_logits(logits[:, 1] - logits[:, 0], rows, self.aggregate)[1][:, 0]
            p = 1.0 / (1.0 + np.exp(-margin))
            return np.stack([1.0 - p, p], axis=1)
        agg = aggregate_logits(logits, rows, self.aggregate)[1]
        return to_probabilities(agg, self.space.problem_type if self.space.problem_type != "binary" else "multiclass")

    def format(self, probs: np.ndarray, all_scores: bool = False,
               thresholds: list[float] | None = None) -> list[dict[str, Any]]:
        """The JSON object of each row; `thresholds` replaces the model's (binary / multi-label)."""
        names = self.space.names
        pred = decide(self.space, probs, self.thresholds if thresholds is None else thresholds)
        out = []
        for p, d in zip(probs, pred):
            if self.space.problem_type == "multilabel":
                on = [names[j] for j in np.flatnonzero(d)]
                rec: dict[str, Any] = {"labels": on,
                                       "label_scores": {n: round(float(p[names.index(n)]), 6) for n in on}}
            else:
                rec = {"label": names[int(d)], "score": round(float(p[int(d)]), 6)}
            if all_scores:
                rec["scores"] = {n: round(float(s), 6) for n, s in zip(names, p)}
            out.append(rec)
        return out

    def __call__(self, texts: str | Sequence[str], pairs: Sequence[str] | None = None, all_scores: bool = False):
        single = isinstance(texts, str)
        res = self.format(self.predict_proba([texts] if single else list(texts), pairs), all_scores)
        return res[0] if single else res


# -- streaming input --------------------------------------------------------------------------

def _sniff(first: str) -> str:
    return "jsonl" if first.lstrip().startswith("{") else "text"


def read_inputs(path: str, input_format: str | None) -> tuple[str, Iterator[str | dict]]:
    """(format, rows): text lines or dict records, read lazily."""
    if input_format and input_format not in ("text", "jsonl", "csv"):
        raise UsageError(f"--input-format must be text, jsonl or csv, not {input_format!r}")
    if path == "-":
        stream = sys.stdin
    else:
        p = Path(path)
        if not p.is_file():
            raise BertkitError(f"{path}: file not found")
        fmt = input_format or {".jsonl": "jsonl", ".ndjson": "jsonl", ".json": "jsonl", ".csv": "csv",
                               ".tsv": "csv"}.get(p.suffix.lower(), "text")
        if fmt == "csv":  # the one table reader, in chunks: output starts before the input ends
            from bertkit.data.stream import iter_frames

            return "csv", (rec for df in iter_frames(path) for rec in df.to_dict("records"))
        stream = open(p, encoding="utf-8")
        input_format = fmt
    from bertkit.data.io import decoded_lines

    lines = (ln.rstrip("\n").rstrip("\r") for ln in decoded_lines(stream, "stdin" if path == "-" else path))
    first = next(lines, None)
    if first is None:
        return input_format or "text", iter(())
    fmt = input_format or _sniff(first)
    if fmt == "csv":  # the one table reader's cell rules, in chunks
        from bertkit.data.io import stream_records

        return "csv", stream_records(_chain([first], lines), "stdin" if path == "-" else path)
    lines = _chain([first], lines)
    if fmt == "text":
        return "text", (ln for ln in lines if ln.strip())

    def records() -> Iterator[dict]:
        from bertkit.data.io import iter_jsonl

        for _, obj in iter_jsonl(lines, path if path != "-" else "stdin", "a JSON object with a text field"):
            yield obj

    return "jsonl", records()


def _chain(head: list[str], rest: Iterable[str]) -> Iterator[str]:
    yield from head
    yield from rest


def _columns_for(clf: Classifier, first: dict, text_col: str | None, pair_col: str | None,
                 src: str) -> tuple[str, str | None]:
    """The text (and pair) field: as given, else the model's saved columns when the input has them, else the usual
    names."""
    saved_text, saved_pair = clf.meta.get("text_col"), clf.meta.get("text_pair_col")
    col = find_field(first, text_col, (saved_text, *TEXT_COLUMNS))
    if col is None:
        raise BertkitError(f"{src}: no text field found in {sorted(first)}; name it with --text-col")
    saved_pair_here = saved_pair and row_text(first, saved_pair) is not None
    if pair_col is None and saved_pair_here and (text_col is None or text_col == saved_text):
        pair_col = saved_pair
    return col, pair_col


def _warn_single(clf: Classifier, src: str, pair_col: str | None) -> None:
    saved_pair = clf.meta.get("text_pair_col")
    if saved_pair and pair_col is None:
        from bertkit import console

        console.warn(f"{src}: this model was trained on text pairs ({clf.meta.get('text_col')!r} + "
                     f"{saved_pair!r}) but the input gives single texts, so its scores are less reliable; "
                     "give the second text with --text-pair-col")


def predict_stream(clf: Classifier, path: str, input_format: str | None = None, text_col: str | None = None,
                   pair_col: str | None = None, all_scores: bool = False,
                   chunk: int = PREDICT_CHUNK_ROWS) -> Iterator[dict]:
    """Read, predict and yield in chunks: output starts before the input ends, memory stays flat."""
    fmt, rows = read_inputs(path, input_format)
    src = "stdin" if path == "-" else path
    col, n = None, 0
    while True:
        batch = list(islice(rows, chunk))
        if not batch:
            return
        if fmt == "text":
            if n == 0:
                _warn_single(clf, src, None)
            texts, pairs, passthrough = batch, None, [{"text": t} for t in batch]
        else:
            if col is None:
                col, pair_col = _columns_for(clf, batch[0], text_col, pair_col, src)
                _warn_single(clf, src, pair_col)
            texts, pairs = [], [] if pair_col else None
            for i, r in enumerate(batch):
                t = row_text(r, col)
                if t is None or str(t).strip() == "" or (isinstance(t, float) and t != t):
                    raise BertkitError(f"{src}: row {n + i + 1}: no text in field {col!r}; "
                                       "fill it in or remove the row")
                texts.append(str(t))
                if pair_col is not None:
                    pt = row_text(r, pair_col)
                    if pt is None:
                        raise BertkitError(f"{src}: row {n + i + 1}: no field {pair_col!r} (--text-pair-col)")
                    pairs.append(str(pt))
            passthrough = batch
        for rec, res in zip(passthrough, clf.format(clf.predict_proba(texts, pairs), all_scores)):
            yield {**rec, **res}
        n += len(batch)
