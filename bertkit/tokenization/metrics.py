"""Corpus metrics, computed batch by batch with numpy over the libraries' own batch outputs."""

from __future__ import annotations

import time
import unicodedata
from collections import Counter
from dataclasses import dataclass, field
from itertools import chain, combinations

import numpy as np

from .libraries import Backend
from .schema import best

# ---------------------------------------------------------------- words

_ASCII_CLASS = np.zeros(128, dtype=np.int8)  # 0 space, 1 word char, 2 one-char word (punctuation, symbol, CJK)
for _c in range(128):
    _ch = chr(_c)
    _ASCII_CLASS[_c] = 0 if _ch.isspace() or _c < 32 or _c == 127 else (1 if _ch.isalnum() or _ch == "_" else 2)


def _is_cjk(cp: int) -> bool:
    return (0x4E00 <= cp <= 0x9FFF or 0x3400 <= cp <= 0x4DBF or 0x20000 <= cp <= 0x2A6DF or 0x2A700 <= cp <= 0x2CEAF
            or 0xF900 <= cp <= 0xFAFF or 0x2F800 <= cp <= 0x2FA1F)


def _char_class(cp: int) -> int:
    ch = chr(cp)
    if ch.isspace() or unicodedata.category(ch) in ("Cc", "Cf", "Zs", "Zl", "Zp"):
        return 0
    if _is_cjk(cp):
        return 2
    if ch.isalnum() or ch == "_" or unicodedata.category(ch).startswith("M"):
        return 1
    return 2


@dataclass
class Words:
    """Words of a batch of rows, laid out on the rows joined by newlines."""

    base: np.ndarray  # start of each row in the joined text
    word_id: np.ndarray  # per character: word index, or -1 for whitespace
    nonspace: np.ndarray  # positions of non-whitespace characters
    n_words: int


def find_words(texts: list[str]) -> Words:
    lens = np.fromiter((len(t) for t in texts), dtype=np.int64, count=len(texts))
    base = np.concatenate([[0], np.cumsum(lens + 1)[:-1]]).astype(np.int64)
    joined = "\n".join(texts)
    cp = np.frombuffer(joined.encode("utf-32-le", "surrogatepass"), dtype=np.uint32)
    cls = np.zeros(len(cp), dtype=np.int8)
    ascii_mask = cp < 128
    cls[ascii_mask] = _ASCII_CLASS[cp[ascii_mask]]
    if not ascii_mask.all():
        other = cp[~ascii_mask]
        uniq, inv = np.unique(other, return_inverse=True)
        cls[~ascii_mask] = np.array([_char_class(int(u)) for u in uniq], dtype=np.int8)[inv]
    prev = np.concatenate([[0], cls[:-1]])
    starts = (cls == 2) | ((cls == 1) & (prev != 1))
    word_id = np.cumsum(starts) - 1
    word_id[cls == 0] = -1
    return Words(base, word_id, np.flatnonzero(cls != 0), int(starts.sum()))


# ---------------------------------------------------------------- round trip

def _strip_accents(s: str) -> str:
    return "".join(c for c in unicodedata.normalize("NFD", s) if not unicodedata.combining(c))


STEPS = [
    ("whitespace", lambda s: "".join(s.split())),
    ("normalisation", lambda s: unicodedata.normalize("NFKC", s)),
    ("lowercasing", str.lower),
    ("accent stripping", _strip_accents),
]
_COMBOS = [c for k in range(1, len(STEPS) + 1) for c in combinations(STEPS, k)]


def roundtrip_reason(text: str, decoded: str, has_unk: bool = False) -> str | None:
    """None when decode(encode(x)) == x, else the smallest set of steps that explains the difference."""
    if decoded == text:
        return None
    if has_unk:
        return "unk"
    for combo in _COMBOS:
        a, b = text, decoded
        for _, f in combo:
            a, b = f(a), f(b)
        if a == b:
            return "+".join(name for name, _ in combo)
    return "other"


# ---------------------------------------------------------------- per tokenizer

@dataclass
class Acc:
    tokens: int = 0
    nonspecial: int = 0
    unk: int = 0
    split: int = 0
    ok: int = 0
    reasons: Counter = field(default_factory=Counter)
    examples: dict = field(default_factory=dict)
    lengths: list = field(default_factory=list)
    encode_s: float = 0.0
    total_s: float = 0.0


def _flat(rows: list[list], total: int, width: int = 1, dtype=np.int64) -> np.ndarray:
    it = chain.from_iterable(rows)
    if width > 1:
        it = chain.from_iterable(it)
    return np.fromiter(it, dtype=dtype, count=total * width)


def update(acc: Acc, be: Backend, texts: list[str], words: Words, row0: int, with_special: bool) -> None:
    t0 = time.perf_counter()
    batch = be.encode(texts, with_special=with_special, offsets=True)
    acc.encode_s += batch.seconds
    lens = np.fromiter((len(r) for r in batch.ids), dtype=np.int64, count=len(texts))
    total = int(lens.sum())
    ids = _flat(batch.ids, total)
    row = np.repeat(np.arange(len(texts)), lens)
    special = np.isin(ids, np.fromiter(be.special_ids, dtype=np.int64)) if be.special_ids else np.zeros(total, bool)
    unk = (ids == be.unk_id) if be.unk_id is not None else np.zeros(total, bool)
    acc.tokens += total
    acc.nonspecial += int((~special).sum())
    acc.unk += int(unk.sum())
    acc.lengths.append(lens + (0 if with_special else be.n_special))
    if batch.offsets is not None and words.n_words and total:
        off = _flat(batch.offsets, total, 2).reshape(-1, 2)
        gs, ge = words.base[row] + off[:, 0], words.base[row] + off[:, 1]
        keep = (ge > gs) & ~special
        idx = np.searchsorted(words.nonspace, gs[keep])
        inside = idx < len(words.nonspace)
        first = np.full(len(idx), -1, dtype=np.int64)
        first[inside] = words.nonspace[idx[inside]]
        ok = inside & (first < ge[keep])
        wid = words.word_id[first[ok]]
        pieces = np.bincount(wid, minlength=words.n_words)
        acc.split += int((pieces >= 2).sum())
    unk_rows = set(row[unk].tolist()) if unk.any() else set()
    decoded = be.decode(batch.ids)
    for i, (x, y) in enumerate(zip(texts, decoded)):
        if x == y:
            acc.ok += 1
            continue
        r = roundtrip_reason(x, y, i in unk_rows)
        acc.reasons[r] += 1
        acc.examples.setdefault(r, {"row": row0 + i, "text": x, "decoded": y})
    acc.total_s += time.perf_counter() - t0


def finish(acc: Acc, be: Backend, *, rows: int, words: int, chars: int, nbytes: int, max_length: int,
           with_special: bool) -> dict:
    lengths = np.concatenate(acc.lengths) if acc.lengths else np.zeros(0, dtype=np.int64)
    tok = acc.tokens
    return {
        **be.info(),
        "with_special": with_special,
        "rows": rows,
        "words": words,
        "chars": chars,
        "bytes": nbytes,
        "tokens": tok,
        "delta_vs_baseline": None,
        "chars_per_token": chars / tok if tok else None,
        "bytes_per_token": nbytes / tok if tok else None,
        "fertility": acc.nonspecial / words if words else None,
        "split_words": acc.split / words if words else None,
        "unk": acc.unk,
        "unk_rate": acc.unk / acc.nonspecial if acc.nonspecial else 0.0,
        "roundtrip": acc.ok / rows if rows else None,
        "roundtrip_failures": dict(acc.reasons.most_common()),
        "max_length": max_length,
        "truncated": float((lengths > max_length).mean()) if len(lengths) else 0.0,
        "len_p50": int(np.percentile(lengths, 50, method="nearest")) if len(lengths) else 0,
        "len_p95": int(np.percentile(lengths, 95, method="nearest")) if len(lengths) else 0,
        "len_max": int(lengths.max()) if len(lengths) else 0,
        "tokens_per_s": tok / acc.encode_s if acc.encode_s > 0 else None,
        "encode_seconds": round(acc.encode_s, 4),
        "seconds": round(acc.total_s, 4),
        "roundtrip_examples": acc.examples,
    }


def measure(backends: list[Backend], texts: list[str], *, with_special: bool = False, max_length: int = 128,
            baseline: str | None = None, batch_size: int = 4096, on_batch=None) -> dict:
    """All corpus metrics for every tokenizer. Returns {"corpus": …, "tokenizers": [...], "best": …}."""
    accs = [Acc() for _ in backends]
    n_words = 0
    for start in range(0, len(texts), batch_size):
        chunk = texts[start:start + batch_size]
        words = find_words(chunk)
        n_words += words.n_words
        for acc, be in zip(accs, backends):
            update(acc, be, chunk, words, start, with_special)
        if on_batch:
            on_batch(len(chunk))
    chars = sum(map(len, texts))
    nbytes = sum(len(t.encode("utf-8", "surrogatepass")) for t in texts)
    rows = [finish(a, be, rows=len(texts), words=n_words, chars=chars, nbytes=nbytes, max_length=max_length,
                   with_special=with_special) for a, be in zip(accs, backends)]
    base_name = baseline or backends[0].name
    base = next(r for r in rows if r["name"] == base_name)
    for r in rows:
        r["delta_vs_baseline"] = r["tokens"] / base["tokens"] - 1 if base["tokens"] else None
    return {
        "corpus": {"rows": len(texts), "words": n_words, "chars": chars, "bytes": nbytes},
        "baseline": base_name,
        "tokenizers": rows,
        "best": best(rows),
    }
