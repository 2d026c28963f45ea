"""Tokenizer specs (`-t`): what a string names, and loading it with its own library.

Syntax: ``[NAME=]SOURCE`` where SOURCE is one of

- a folder: a Hugging Face folder (``tokenizer_config.json`` or ``config.json``) loads with
  ``transformers.AutoTokenizer``; otherwise its files are detected, in this order:
  ``tokenizer.json``, a SentencePiece ``*.model``, ``vocab.json`` + ``merges.txt``, ``vocab.txt``;
- ``…/tokenizer.json`` (``tokenizers.Tokenizer.from_file``);
- ``….model`` (``sentencepiece.SentencePieceProcessor``); input is lowercased with ``--lowercase``, or
  automatically when no piece has an uppercase letter (ALBERT), as its Hugging Face tokenizer does;
- ``…/vocab.txt``: WordPiece (``tokenizers.BertWordPieceTokenizer``), lowercasing with ``--lowercase``,
  or automatically when the vocabulary has no uppercase letters;
- ``VOCAB.json,MERGES.txt`` (or ``+``): byte-level BPE (``tokenizers.ByteLevelBPETokenizer``);
- anything else that looks like ``org/name`` or ``name``: a hub id for ``transformers.AutoTokenizer``.

NAME is the display name; by default the folder name (or the file's folder for files such as vocab.txt).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from bertkit.errors import BertkitError

from .libraries import Backend, sentencepiece_backend, tokenizers_backend, transformers_backend

GENERIC = {"vocab.txt", "vocab.json", "merges.txt", "tokenizer.json", "spiece.model", "sentencepiece.bpe.model",
           "tokenizer.model", "sentencepiece.model"}
_HUB_ID = re.compile(r"^[A-Za-z0-9][\w.\-]*(/[\w.\-]+)?$")
_NAME = re.compile(r"^[^/\\=,+]+$")


@dataclass
class Spec:
    raw: str  # what the user typed
    name: str
    kind: str  # hf | tokenizer.json | sentencepiece | wordpiece | bpe
    paths: tuple[str, ...]
    named: bool = False  # NAME= given by the user


def _bad(raw: str, msg: str) -> BertkitError:
    return BertkitError(f"-t {raw}: {msg}")


def _detect_folder(raw: str, d: Path) -> tuple[str, tuple[str, ...]]:
    if (d / "tokenizer_config.json").is_file() or (d / "config.json").is_file():
        return "hf", (str(d),)
    if (d / "tokenizer.json").is_file():
        return "tokenizer.json", (str(d / "tokenizer.json"),)
    models = sorted(d.glob("*.model"))
    if models:
        pick = next((m for m in models if m.name in GENERIC), models[0])
        return "sentencepiece", (str(pick),)
    if (d / "vocab.json").is_file() and (d / "merges.txt").is_file():
        return "bpe", (str(d / "vocab.json"), str(d / "merges.txt"))
    if (d / "vocab.txt").is_file():
        return "wordpiece", (str(d / "vocab.txt"),)
    raise _bad(raw, f"no tokenizer files in folder {d}; expected tokenizer_config.json, tokenizer.json, a "
                    "SentencePiece *.model, vocab.json + merges.txt, or vocab.txt")


def _detect_file(raw: str, p: Path) -> tuple[str, tuple[str, ...]]:
    name = p.name.lower()
    if name.endswith(".model"):
        return "sentencepiece", (str(p),)
    if name == "vocab.json" or name == "merges.txt":
        raise _bad(raw, f"{p.name} alone is half a BPE tokenizer; give both files as VOCAB.json,MERGES.txt, "
                        "or the folder that holds them")
    if name.endswith(".json"):
        return "tokenizer.json", (str(p),)
    if name.endswith(".txt"):
        return "wordpiece", (str(p),)
    raise _bad(raw, f"unknown tokenizer file type {p.suffix or p.name!r}; use tokenizer.json, a .model, "
                    "vocab.txt, VOCAB.json,MERGES.txt or a folder")


def parse_spec(raw: str) -> Spec:
    raw = raw.strip()
    if not raw:
        raise BertkitError("-t: empty tokenizer spec; give a folder, a file or a hub id (see `bertkit "
                           "tokenize compare --help`)")
    name, src = None, raw
    if "=" in raw and not Path(raw).exists():
        head, tail = raw.split("=", 1)
        if _NAME.match(head) and tail:
            name, src = head.strip(), tail.strip()
    p = Path(src).expanduser()
    if p.is_dir():
        kind, paths = _detect_folder(raw, p)
        default = p.resolve().name
    elif p.is_file():
        kind, paths = _detect_file(raw, p)
        default = p.resolve().parent.name if p.name.lower() in GENERIC else p.stem
    elif any(sep in src for sep in ",+") and not p.exists():
        parts = [Path(x.strip()).expanduser() for x in re.split(r"[,+]", src) if x.strip()]
        if len(parts) != 2:
            raise _bad(raw, "a BPE pair is two files: VOCAB.json,MERGES.txt")
        missing = [str(x) for x in parts if not x.is_file()]
        if missing:
            raise _bad(raw, f"file not found: {', '.join(missing)}")
        vocab = next((x for x in parts if x.suffix.lower() == ".json"), None)
        merges = next((x for x in parts if x.suffix.lower() != ".json"), None)
        if vocab is None or merges is None:
            raise _bad(raw, "a BPE pair is a vocab .json and a merges .txt file")
        kind, paths = "bpe", (str(vocab), str(merges))
        default = vocab.resolve().parent.name
    elif _HUB_ID.match(src) and not src.startswith((".", "~")) and not re.search(r"\.(txt|json|model)$", src):
        kind, paths, default = "hf", (src,), src
    else:
        raise _bad(raw, "no such file or folder; give a folder, tokenizer.json, a .model, vocab.txt, "
                        "VOCAB.json,MERGES.txt or a hub id")
    return Spec(raw=raw, name=name or default, kind=kind, paths=paths, named=name is not None)


def _vocab_is_uncased(path: str) -> bool:
    with open(path, encoding="utf-8") as f:
        for line in f:
            tok = line.rstrip("\n")
            if tok.startswith("[") and tok.endswith("]") or tok.startswith("<") and tok.endswith(">"):
                continue
            if any(c.isupper() for c in tok):
                return False
    return True


def load(spec: Spec, lowercase: bool | None = None, trust_remote_code: bool = False) -> Backend:
    """Load one tokenizer with its own library. Errors become one-line BertkitErrors.
    Code shipped in a folder or hub repo runs only with `trust_remote_code`; nothing ever prompts."""
    try:
        return _load(spec, lowercase, trust_remote_code)
    except BertkitError:
        raise
    except Exception as e:
        from bertkit.modeling import REMOTE_CODE_HINT

        if "trust_remote_code" in str(e) or "custom code" in str(e):
            raise _bad(spec.raw, REMOTE_CODE_HINT) from e
        hint = "check the file" if spec.kind != "hf" else (
            "check the folder, or the hub id and your connection (offline: only cached or local tokenizers)")
        msg = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        raise _bad(spec.raw, f"could not load as {spec.kind} ({type(e).__name__}: {msg[:200]}); {hint}") from e


def _load(spec: Spec, lowercase: bool | None, trust_remote_code: bool = False) -> Backend:
    if spec.kind == "tokenizer.json":
        from tokenizers import Tokenizer

        return tokenizers_backend(Tokenizer.from_file(spec.paths[0]), spec.name, spec.raw)
    if spec.kind == "wordpiece":
        from tokenizers import BertWordPieceTokenizer

        lc = _vocab_is_uncased(spec.paths[0]) if lowercase is None else lowercase
        tok = BertWordPieceTokenizer(spec.paths[0], lowercase=lc)
        return tokenizers_backend(tok._tokenizer, spec.name, spec.raw, lowercase=lc)
    if spec.kind == "bpe":
        from tokenizers import ByteLevelBPETokenizer

        tok = ByteLevelBPETokenizer(spec.paths[0], spec.paths[1])
        return tokenizers_backend(tok._tokenizer, spec.name, spec.raw)
    if spec.kind == "sentencepiece":
        import sentencepiece as spm

        sp = spm.SentencePieceProcessor(model_file=spec.paths[0])
        return sentencepiece_backend(sp, spec.name, spec.raw, lowercase)
    from bertkit.console import quiet_libraries
    from bertkit.modeling import never_prompt

    quiet_libraries()
    never_prompt()
    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(spec.paths[0], trust_remote_code=bool(trust_remote_code))
    return transformers_backend(tok, spec.name, spec.raw)


def load_all(raws: list[str], lowercase: bool | None = None, trust_remote_code: bool = False) -> list[Backend]:
    """Parse and load every `-t`; display names are made unique."""
    if not raws:
        raise BertkitError("-t: give at least one tokenizer (-t FOLDER, -t tokenizer.json, -t x.model, ...)")
    specs = [parse_spec(r) for r in raws]
    counts: dict[str, int] = {}
    for s in specs:
        counts[s.name] = counts.get(s.name, 0) + 1
    seen: set[str] = set()
    for s in specs:
        if counts[s.name] > 1 and not s.named and s.kind != "hf":
            s.name = f"{s.name}/{Path(s.paths[0]).name}"
        base, k = s.name, 2
        while s.name in seen:
            s.name, k = f"{base}#{k}", k + 1
        seen.add(s.name)
    return [load(s, lowercase, trust_remote_code) for s in specs]
