"""Attention weights of a BERT-family encoder for one input: load, run, select.

The model loads with the eager attention implementation (SDPA and flash kernels never build the weight
matrices) through `bertkit.modeling.load_pretrained` with `AutoModel`, so a plain encoder, a hub id and a
bertkit output folder (a fine-tuned classifier or QA model: its encoder) all load the same way.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Sequence

import numpy as np

from bertkit.errors import BertkitError, UsageError

MARKERS = ("##", "Ġ", "▁")  # WordPiece continuation, byte-level and SentencePiece word starts


@dataclass
class Attention:
    """The attention of one model on one input.

    `weights[l, h, i, j]`: how much token i attends to token j in layer `layers[l]`, head `heads[h]`
    (each row sums to 1). `tokens` are the model's tokenizer's pieces, special tokens included.
    """

    model: str
    tokens: list[str]
    weights: np.ndarray  # (layers, heads, tokens, tokens), float32
    layers: list[int]
    heads: list[int]
    segments: list[int] = field(default_factory=list)  # 0 for the text, 1 for the pair
    special: list[bool] = field(default_factory=list)
    input_tokens: int = 0  # before truncation
    max_length: int = 0

    @property
    def shape(self) -> tuple[int, int, int]:
        """(layers, heads, tokens)."""
        return self.weights.shape[0], self.weights.shape[1], self.weights.shape[2]

    @property
    def truncated(self) -> bool:
        return self.input_tokens > len(self.tokens)

    def select(self, layers: Sequence[int] | None = None, heads: Sequence[int] | None = None) -> "Attention":
        """A view on some layers and heads (numbered as the model numbers them, from 0)."""
        li = [self._index(self.layers, x, "layer") for x in (layers if layers is not None else self.layers)]
        hi = [self._index(self.heads, x, "head") for x in (heads if heads is not None else self.heads)]
        w = self.weights[np.ix_(li, hi)]
        return Attention(self.model, self.tokens, w, [self.layers[i] for i in li], [self.heads[i] for i in hi],
                         self.segments, self.special, self.input_tokens, self.max_length)

    @staticmethod
    def _index(have: list[int], x: int, what: str) -> int:
        if x not in have:
            raise UsageError(f"--{what} {x} is out of range: this model has {what}s {have[0]}..{have[-1]}")
        return have.index(x)

    def token_index(self, token: str | int) -> int:
        """The position of a token: an index (negative counts from the end) or a word (its first piece)."""
        return find_token(self.tokens, token)

    def top(self, token: str | int, k: int = 5) -> list[list[list[tuple[int, float]]]]:
        """For every selected layer and head, the k tokens the chosen token attends to most: [(index, weight)]."""
        i = self.token_index(token)
        rows = self.weights[:, :, i, :]  # (layers, heads, tokens)
        order = np.argsort(-rows, axis=-1, kind="stable")[:, :, :k]
        return [[[(int(j), float(rows[a, b, j])) for j in order[a, b]] for b in range(rows.shape[1])]
                for a in range(rows.shape[0])]

    def to_dict(self, token: str | int | None = None) -> dict:
        """The documented JSON document (`--format json`, schema `bertkit.attention/1`)."""
        doc = {"schema": "bertkit.attention/1", "model": self.model, "tokens": self.tokens, "segments": self.segments,
               "special": self.special, "truncated": self.truncated, "input_tokens": self.input_tokens,
               "max_length": self.max_length, "layers": self.layers, "heads": self.heads,
               "shape": list(self.weights.shape), "weights": self.weights.tolist()}
        if token is not None:
            i = self.token_index(token)
            doc["token"] = {"index": i, "text": self.tokens[i]}
        return doc


def strip_marker(tok: str) -> str:
    for m in MARKERS:
        if tok.startswith(m) and tok != m:
            return tok[len(m):]
    return tok


def find_token(tokens: list[str], token: str | int) -> int:
    if isinstance(token, int) or (isinstance(token, str) and token.lstrip("-").isdigit()):
        i = int(token)
        if not -len(tokens) <= i < len(tokens):
            raise UsageError(f"--token {token}: out of range; the input has {len(tokens)} tokens "
                             f"(0..{len(tokens) - 1})")
        return i % len(tokens)
    want = str(token).strip().lower()
    hits = [i for i, t in enumerate(tokens) if t.lower() == want or strip_marker(t).lower() == want]
    if not hits:
        shown = " ".join(f"{i}:{t}" for i, t in enumerate(tokens))
        raise UsageError(f"--token {token!r}: not one of the tokens as the tokenizer cut them ({shown}); "
                         "give a token or its index")
    if len(hits) > 1:
        from bertkit import console

        console.log(f"--token {token!r} occurs at positions {', '.join(map(str, hits))}; using {hits[0]} "
                    "(give an index to choose another)")
    return hits[0]


@dataclass
class Loaded:
    name: str
    tokenizer: object
    model: object
    max_length: int


def load(model: str | None, *, allow_pickle: bool = False, trust_remote_code: bool = False) -> Loaded:
    """The encoder of `model` (a folder, a hub id, a bertkit output folder; None: the packaged MiniLM), eager."""
    from transformers import AutoModel

    from bertkit import console
    from bertkit.modeling import load_pretrained, load_tokenizer, model_max_length, resolve_model
    from bertkit.outdir import read_metadata

    console.quiet_libraries()
    path = resolve_model(model)
    meta = read_metadata(path) if Path(path).is_dir() else {}
    if meta.get("task"):
        console.log(f"{model}: a bertkit {meta['task']} model; showing its fine-tuned encoder")
    tok = load_tokenizer(path, trust_remote_code)
    try:
        m = load_pretrained(AutoModel, path, allow_pickle=allow_pickle, trust_remote_code=trust_remote_code,
                            attn="eager")
    except BertkitError as e:
        if "eager" in str(e).lower() or "attn" in str(e).lower():
            raise BertkitError(f"{model}: this model cannot run the eager attention implementation, so it cannot "
                               f"return attention weights ({e})") from e
        raise
    m.eval()
    return Loaded(model or "all-MiniLM-L6-v2", tok, m, model_max_length(tok, m.config))


def encode(loaded: Loaded, text: str, text_pair: str | None = None):
    """Token ids cut at the model's limit; (encoding, tokens before truncation), said on stderr when cut."""
    from bertkit import console

    if not text or not text.strip() or (text_pair is not None and not text_pair.strip()):
        raise UsageError("the text must not be empty")
    tok = loaded.tokenizer
    full = tok(text, text_pair, truncation=False, verbose=False)
    n = len(full["input_ids"])
    enc = tok(text, text_pair, truncation="longest_first" if text_pair is not None else True,
              max_length=loaded.max_length, return_tensors="pt", return_special_tokens_mask=True)
    if n > loaded.max_length:
        console.log(f"the input is {n} tokens; truncated to this model's limit of {loaded.max_length}")
    return enc, n


def run(loaded: Loaded, text: str, text_pair: str | None = None) -> Attention:
    """Every layer's and head's attention on `text` (and `text_pair`)."""
    import torch

    from bertkit.modeling import model_inputs

    enc, n = encode(loaded, text, text_pair)
    special = enc.pop("special_tokens_mask")[0].tolist()
    with torch.inference_mode():
        try:
            out = loaded.model(**model_inputs(loaded.model, enc), output_attentions=True)
        except TypeError as e:
            raise BertkitError(f"{loaded.name}: this model does not return attention weights ({e})") from e
    att = getattr(out, "attentions", None)
    if not att or any(a is None for a in att):
        raise BertkitError(f"{loaded.name}: the model returned no attention weights (its attention implementation "
                           f"{getattr(loaded.model.config, '_attn_implementation', '?')!r} does not build them)")
    w = torch.stack([a[0].float() for a in att]).cpu().numpy()  # (layers, heads, T, T)
    ids = enc["input_ids"][0].tolist()
    tokens = loaded.tokenizer.convert_ids_to_tokens(ids)
    seg = enc["token_type_ids"][0].tolist() if "token_type_ids" in enc else _segments(special, text_pair is not None)
    return Attention(loaded.name, tokens, w, list(range(w.shape[0])), list(range(w.shape[1])), seg,
                     [bool(s) for s in special], n, loaded.max_length)


def _segments(special: list[int], pair: bool) -> list[int]:
    """Without token type ids (RoBERTa): the pair starts after the first run of special tokens inside."""
    if not pair:
        return [0] * len(special)
    seg, s, seen_text = [], 0, False
    for sp in special:
        if sp and seen_text and s == 0:
            s = -1  # inside the separator
        elif not sp and s == -1:
            s = 1
        seen_text = seen_text or not sp
        seg.append(max(s, 0) if s != -1 else 0)
    return seg


def compute(model: str | None = None, text: str = "", text_pair: str | None = None, *,
              layers: Sequence[int] | None = None, heads: Sequence[int] | None = None,
              allow_pickle: bool = False, trust_remote_code: bool = False) -> Attention:
    """`Attention` of `model` on `text` (layers and heads: all, or those given)."""
    loaded = load(model, allow_pickle=allow_pickle, trust_remote_code=trust_remote_code)
    return run(loaded, text, text_pair).select(layers, heads)


def difference(a: Attention, b: Attention) -> np.ndarray:
    """Per layer and head: the mean over tokens of the total-variation distance between the two models'
    attention rows (0: the same distribution, 1: disjoint). Shape (layers, heads)."""
    if a.tokens != b.tokens:
        raise BertkitError(f"{a.model} and {b.model} cut the text into different tokens ({len(a.tokens)} vs "
                           f"{len(b.tokens)}); --compare needs two models with the same tokenizer")
    if a.weights.shape != b.weights.shape:
        raise BertkitError(f"{a.model} has {a.shape[0]} layers x {a.shape[1]} heads, {b.model} "
                           f"{b.shape[0]} x {b.shape[1]}; --compare needs the same architecture")
    return 0.5 * np.abs(a.weights - b.weights).sum(-1).mean(-1)
