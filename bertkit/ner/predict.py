"""Using a trained token classifier: `Tagger(model_dir)(texts)` → entities with exact character offsets, tags of
pre-split words, and the streaming input of `ner predict` (plain text lines, JSON Lines, CoNLL)."""

from __future__ import annotations

import sys
from itertools import islice
from pathlib import Path
from typing import Any, Iterator, Sequence

from bertkit.defaults import PREDICT_BATCH_SIZE, PREDICT_CHUNK_ROWS
from bertkit.errors import BertkitError, UsageError
from bertkit.modeling import model_max_length
from bertkit.ner.conll import CONLL_SUFFIXES
from bertkit.ner.settings import NERConfig, NERUse
from bertkit.ner.spans import entity_spans, split_words, word_offsets
from bertkit.predictor import Predictor
from bertkit.settings import check_options


class Tagger(Predictor):
    """A fine-tuned token classifier (bertkit's or any Hugging Face `*ForTokenClassification` folder):
    `Tagger("out/wnut")(["Going to Paris"])` → [{"text", "entities": [{"text", "type", "start", "end", "score"}]}].
    `decode`: viterbi | argmax (bertkit.ner.decode); default: as the model was trained (viterbi for other folders)."""

    def __init__(self, model_dir: str, batch_size: int | None = None, aggregate: str = "first",
                 device: str | None = None, max_length: int | None = None, stride: int | None = None,
                 allow_pickle: bool = False, trust_remote_code: bool = False, bf16: bool = False, fast: bool = False,
                 threads: int | str | None = None, decode: str | None = None):
        from bertkit.ner.spec import SPEC
        from bertkit.ner.task import TokenClassificationTask
        from bertkit.ner.train import ensure_prefix_space

        opts = check_options(NERUse, NERConfig, batch_size=PREDICT_BATCH_SIZE if batch_size is None else batch_size,
                             aggregate=aggregate, threads=threads)
        given = check_options(NERConfig, decode=decode)["decode"] if decode is not None else None  # before loading
        self._load_model(SPEC, model_dir, device=device, threads=opts["threads"], allow_pickle=allow_pickle,
                         trust_remote_code=trust_remote_code, bf16=bf16, fast=fast)
        self.tokenizer = ensure_prefix_space(self.tokenizer)
        cfg = self.config
        self.labels = [cfg.id2label[i] for i in range(cfg.num_labels)]
        self.scheme = self.meta.get("scheme") or _scheme_of(self.labels)
        limit = model_max_length(self.tokenizer, cfg)
        self.max_length = min(max_length or self.meta.get("max_length") or limit, limit)
        self.stride = stride if stride is not None else self.meta.get("stride", min(32, self.max_length // 4))
        self.batch_size, self.aggregate, self.bf16 = opts["batch_size"], opts["aggregate"], bf16
        self.decode = given or check_options(NERConfig, decode=self.meta.get("decode"))["decode"]  # else as trained
        self.task = TokenClassificationTask(self.labels, self.scheme, self.tokenizer.pad_token_id or 0,
                                            decode=self.decode)
        self.last_counts: dict[str, int] = {}

    def tag_words(self, sentences: Sequence[Sequence[str]]) -> tuple[list[list[str]], list[list[float]]]:
        """Per sentence (a list of words): its tags and their scores, in input order."""
        from bertkit.engine.inference import batched_forward
        from bertkit.ner.task import featurize, word_tags

        if not sentences:
            return [], []
        feats = featurize(self.tokenizer, sentences, self.max_length, self.stride)
        model = self.model if self.runner is None else self.runner  # runner: the --fast backend
        out = batched_forward(model, feats, self.task.collate, self.task.predict_step, self.batch_size, self.device,
                              bf16=self.bf16, autocast_dtype=self.autocast_dtype)
        win = feats.meta["windows"]
        self.last_counts = {"sentences": len(sentences), "windows": len(feats), "words": sum(map(len, sentences)),
                            "dropped_words": win.dropped_words, "long_sentences": win.long_sentences}
        return word_tags(self.labels, feats, out["probs"], self.aggregate, self.scheme, self.decode)

    def predict_records(self, texts: Sequence[str]) -> list[dict[str, Any]]:
        """Per text, the record `ner predict --format jsonl` prints: {"text", "entities": [{"text", "type",
        "start", "end", "score"}]}, with text[start:end] == the entity's text."""
        split = [split_words(t) for t in texts]
        tags, scores = self.tag_words([w for w, _ in split])
        return [self._record(t, offs, tg, sc) for t, (_, offs), tg, sc in zip(texts, split, tags, scores)]

    def _record(self, text: str, offsets, tags, scores) -> dict[str, Any]:
        if self.scheme == "plain":
            return {"text": text, "words": [{"text": text[a:b], "tag": t, "start": a, "end": b, "score": round(s, 6)}
                                             for (a, b), t, s in zip(offsets, tags, scores)]}
        return {"text": text, "entities": entity_spans(text, offsets, tags, scores)}

    def __call__(self, texts: str | Sequence[str]):
        single = isinstance(texts, str)
        res = self.predict_records([texts] if single else list(texts))
        return res[0] if single else res


def _scheme_of(labels: Sequence[str]) -> str:
    from bertkit.ner.schemes import detect_scheme

    try:
        return {"IOB1": "IOB2", "BILOU": "BIOES"}.get(detect_scheme([labels]), detect_scheme([labels]))
    except BertkitError:
        return "IOB2"


# -- streaming input --------------------------------------------------------------------------

INPUT_FORMATS = ("text", "jsonl", "conll")


def input_format_of(path: str, given: str | None) -> str:
    if given and given not in INPUT_FORMATS:
        raise UsageError(f"--input-format must be one of {', '.join(INPUT_FORMATS)}, not {given!r}")
    if given:
        return given
    suffix = Path(path).suffix.lower()
    if suffix in (".jsonl", ".ndjson", ".json"):
        return "jsonl"
    return "conll" if suffix in CONLL_SUFFIXES - {".txt"} else "text"


def _lines(path: str) -> Iterator[str]:
    if path == "-":
        yield from (ln.rstrip("\r\n") for ln in sys.stdin)
        return
    p = Path(path)
    if not p.is_file():
        raise BertkitError(f"{path}: file not found")
    with p.open("rb") as f:
        if b"\0" in f.read(8192):
            raise BertkitError(f"{path}: a binary file, not text; give text lines, JSON Lines or CoNLL")
    with p.open(encoding="utf-8", errors="strict") as f:
        try:
            yield from (ln.rstrip("\r\n") for ln in f)
        except UnicodeDecodeError as e:
            raise BertkitError(f"{path}: not UTF-8 text; save it as UTF-8") from e


def _json_items(path: str) -> Iterator[str | list[str]]:
    from bertkit.data.io import iter_jsonl

    for n, obj in iter_jsonl(_lines(path), path, "an object with a \"text\" string or a \"tokens\" list"):
        if isinstance(obj, dict) and isinstance(obj.get("tokens"), list):
            yield [str(t) for t in obj["tokens"]]
        elif isinstance(obj, dict) and isinstance(obj.get("text"), str):
            yield obj["text"]
        else:
            raise BertkitError(f"{path}:{n}: expected an object with a \"text\" string or a \"tokens\" list")


def predict_stream(tagger: Tagger, path: str, input_format: str | None = None,
                   chunk: int = PREDICT_CHUNK_ROWS) -> Iterator[dict[str, Any]]:
    """Records in input order, chunk by chunk (output starts before the input ends). Text: entities with character
    offsets; pre-split words (JSONL tokens, CoNLL): the words with their tags as well."""
    fmt = input_format_of(path, input_format)
    if fmt == "conll":
        from bertkit.ner.conll import read_tagged

        items: Iterator = iter(read_tagged(path, tags=False).tokens)
    elif fmt == "jsonl":
        items = _json_items(path)
    else:
        items = (ln for ln in _lines(path) if ln.strip())
    while True:
        batch = list(islice(items, chunk))
        if not batch:
            return
        texts = [b for b in batch if isinstance(b, str)]
        recs = iter(tagger.predict_records(texts)) if texts else iter(())
        words = [b for b in batch if not isinstance(b, str)]
        tags, scores = tagger.tag_words(words)
        tagged = iter(zip(words, tags, scores))
        for b in batch:
            yield next(recs) if isinstance(b, str) else _words_record(tagger, *next(tagged))


def _words_record(tagger: Tagger, words, tags, scores) -> dict[str, Any]:
    text = " ".join(words)
    offsets = word_offsets(text, words)
    rec = tagger._record(text, offsets, tags, scores)
    return {**rec, "tokens": list(words), "tags": tags}


def write_conll(records, out=None) -> None:
    """`--format conll`: token<TAB>predicted-tag lines, a blank line after each sentence (shared-task format)."""
    out = out or sys.stdout
    for rec in records:
        if "tokens" not in rec:
            raise UsageError("--format conll needs pre-split input (CoNLL or JSONL with tokens); "
                             "for plain text use --format jsonl")
        out.write("".join(f"{w}\t{t}\n" for w, t in zip(rec["tokens"], rec["tags"])) + "\n")
    out.flush()
