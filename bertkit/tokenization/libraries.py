"""One interface over the three tokenizer libraries, each called the way it is meant to be.

- `TokenizersBackend`: a `tokenizers.Tokenizer` (tokenizer.json, WordPiece vocab.txt, BPE vocab+merges),
  batch-encoded in Rust with `encode_batch`.
- `SentencePieceBackend`: a `sentencepiece.SentencePieceProcessor` (.model), batch-encoded with `encode`.
- `TransformersBackend`: `transformers.AutoTokenizer` (hub id or a Hugging Face folder), called as `tok(texts)`.

Token counts come from exactly these calls, so they equal what each library gives directly.
Offsets are character offsets (code points) into the input text, end exclusive.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from typing import Any

FAMILIES = {"WordPiece", "BPE", "Unigram", "WordLevel", "Word", "Char"}


@dataclass
class Batch:
    """The result of encoding a batch: ids per row, offsets per row (or None), and encode time."""

    ids: list[list[int]]
    offsets: list[list[tuple[int, int]]] | None
    seconds: float


@dataclass
class Backend:
    name: str
    spec: str
    library: str  # tokenizers | sentencepiece | transformers
    family: str  # WordPiece | BPE | Unigram | ...
    byte_level: bool
    vocab_size: int
    unk_id: int | None
    special_ids: frozenset = field(default_factory=frozenset)
    n_special: int = 0  # tokens the post-processor adds to one sequence ([CLS] … [SEP] → 2)
    lowercase: bool | None = None
    obj: Any = None  # the library object

    @property
    def family_label(self) -> str:
        return f"{self.family} (byte-level)" if self.byte_level else self.family

    def encode(self, texts: list[str], with_special: bool = False, offsets: bool = True) -> Batch:  # pragma: no cover
        raise NotImplementedError

    def decode(self, ids: list[list[int]]) -> list[str]:  # pragma: no cover
        raise NotImplementedError

    def id_to_token(self, i: int) -> str:  # pragma: no cover
        raise NotImplementedError

    def info(self) -> dict:
        return {
            "name": self.name,
            "spec": self.spec,
            "library": self.library,
            "family": self.family,
            "byte_level": self.byte_level,
            "vocab_size": self.vocab_size,
            "special_tokens_added": self.n_special,
        }


class TokenizersBackend(Backend):
    def encode(self, texts, with_special=False, offsets=True):
        t0 = time.perf_counter()
        encs = self.obj.encode_batch(texts, add_special_tokens=with_special)
        ids = [e.ids for e in encs]
        secs = time.perf_counter() - t0
        offs = [e.offsets for e in encs] if offsets else None
        return Batch(ids, offs, secs)

    def decode(self, ids):
        return self.obj.decode_batch(ids, skip_special_tokens=True)

    def id_to_token(self, i):
        t = self.obj.id_to_token(i)
        return "" if t is None else t


def tokenizers_backend(tok, name: str, spec: str, lowercase: bool | None = None) -> TokenizersBackend:
    """Wrap a `tokenizers.Tokenizer`, detecting the model family from its own JSON description."""
    cfg = json.loads(tok.to_str())
    model = cfg.get("model") or {}
    family = model.get("type") or type(tok.model).__name__
    pre = json.dumps(cfg.get("pre_tokenizer") or {}) + json.dumps(cfg.get("decoder") or {})
    byte_level = '"ByteLevel"' in pre or bool(model.get("byte_fallback"))
    unk_id = None
    if model.get("unk_token") is not None:
        unk_id = tok.token_to_id(model["unk_token"])
    elif model.get("unk_id") is not None:
        unk_id = int(model["unk_id"])
    specials = frozenset(i for i, t in tok.get_added_tokens_decoder().items() if t.special)
    return TokenizersBackend(
        name=name, spec=spec, library="tokenizers", family=family, byte_level=byte_level and family == "BPE",
        vocab_size=tok.get_vocab_size(with_added_tokens=True), unk_id=unk_id, special_ids=specials,
        n_special=tok.num_special_tokens_to_add(False), lowercase=lowercase, obj=tok,
    )


def lower_keep_length(s: str) -> str:
    """str.lower, except characters whose lowercase is longer (İ) stay as they are, so offsets still fit."""
    low = s.lower()
    if len(low) == len(s):
        return low
    return "".join(c.lower() if len(c.lower()) == 1 else c for c in s)


class SentencePieceBackend(Backend):
    def encode(self, texts, with_special=False, offsets=True):
        # A raw .model has no post-processor: nothing is added, with or without --with-special.
        t0 = time.perf_counter()
        if self.lowercase:  # an uncased model (ALBERT): lowercase first, as its Hugging Face tokenizer does
            texts = [lower_keep_length(t) for t in texts]
        if not offsets:
            ids = self.obj.encode(texts)
            return Batch(ids, None, time.perf_counter() - t0)
        res = self.obj.encode(texts, return_type="offset_mapping")
        secs = time.perf_counter() - t0
        return Batch([r["ids"] for r in res], [r["offsets"] for r in res], secs)

    def decode(self, ids):
        return self.obj.decode(ids)

    def id_to_token(self, i):
        return self.obj.id_to_piece(i)


_SP_TYPES = {1: "Unigram", 2: "BPE", 3: "Word", 4: "Char"}


def sp_is_uncased(sp) -> bool:
    """True when no normal piece has an uppercase letter (ALBERT's vocabulary): its inputs must be lowercased."""
    for i in range(sp.get_piece_size()):
        if sp.is_control(i) or sp.is_unknown(i) or sp.is_unused(i):
            continue
        p = sp.id_to_piece(i)
        if p.startswith(("[", "<")) and p.endswith(("]", ">")):
            continue
        if any(c.isupper() for c in p):
            return False
    return True


def sentencepiece_backend(sp, name: str, spec: str, lowercase: bool | None = None) -> SentencePieceBackend:
    family, byte_level = "Unigram", False
    try:
        from sentencepiece import sentencepiece_model_pb2 as pb

        m = pb.ModelProto()
        m.ParseFromString(sp.serialized_model_proto())
        family = _SP_TYPES.get(int(m.trainer_spec.model_type), "Unigram")
        byte_level = bool(m.trainer_spec.byte_fallback)
    except Exception:  # pragma: no cover - protobuf missing: Unigram is the common case
        pass
    n = sp.get_piece_size()
    specials = frozenset(i for i in range(n) if sp.is_control(i))
    return SentencePieceBackend(
        name=name, spec=spec, library="sentencepiece", family=family,
        byte_level=False if family != "BPE" else byte_level,
        vocab_size=n, unk_id=sp.unk_id(), special_ids=specials, n_special=0, obj=sp,
        lowercase=sp_is_uncased(sp) if lowercase is None else lowercase,
    )


class TransformersBackend(Backend):
    def encode(self, texts, with_special=False, offsets=True):
        tok = self.obj
        want_offsets = offsets and getattr(tok, "is_fast", False)
        t0 = time.perf_counter()
        enc = tok(texts, add_special_tokens=with_special, return_offsets_mapping=want_offsets,
                  return_attention_mask=False, return_token_type_ids=False)
        secs = time.perf_counter() - t0
        offs = [list(map(tuple, o)) for o in enc["offset_mapping"]] if want_offsets else None
        return Batch(enc["input_ids"], offs, secs)

    def decode(self, ids):
        return self.obj.batch_decode(ids, skip_special_tokens=True)

    def id_to_token(self, i):
        return self.obj.convert_ids_to_tokens(i) or ""


def transformers_backend(tok, name: str, spec: str) -> TransformersBackend:
    family, byte_level = "", False
    backend = getattr(tok, "backend_tokenizer", None) if getattr(tok, "is_fast", False) else None
    if backend is not None:
        probe = tokenizers_backend(backend, name, spec)
        family, byte_level = probe.family, probe.byte_level
    elif getattr(tok, "sp_model", None) is not None:
        family = sentencepiece_backend(tok.sp_model, name, spec).family
    else:
        cls = type(tok).__name__.lower()
        family = "WordPiece" if "bert" in cls else "BPE"
    try:
        n_special = tok.num_special_tokens_to_add(pair=False)
    except Exception:  # pragma: no cover
        n_special = 0
    return TransformersBackend(
        name=name, spec=spec, library="transformers", family=family, byte_level=byte_level, vocab_size=len(tok),
        unk_id=tok.unk_token_id, special_ids=frozenset(tok.all_special_ids), n_special=n_special, obj=tok,
    )
