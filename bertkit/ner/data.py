"""Tagged data for `bertkit ner`: files (CoNLL, JSON/JSONL, Parquet/CSV with list columns) and Hugging Face datasets
(`NAME[:CONFIG][#SPLIT]` with `tokens` / `ner_tags` and ClassLabel names) read into `Sentences`; the tag scheme
detected (or as given) and normalised; the label list a model is trained on. Every error names the file and row."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

from bertkit.errors import BertkitError
from bertkit.ner.conll import CONLL_SUFFIXES, Sentences, read_tagged
from bertkit.ner.schemes import OUTSIDE, detect_scheme, invalid_continuations, normalize, split_tag

FILE_SUFFIXES = (*CONLL_SUFFIXES, ".json", ".jsonl", ".ndjson", ".parquet", ".csv")
TOKEN_FIELDS = ("tokens", "words")
TAG_FIELDS = ("tags", "ner_tags", "labels", "pos_tags")


def parse_label_names(spec: str | None) -> list[str] | None:
    """'O,B-PER,I-PER' or a file with one name a line."""
    if not spec:
        return None
    p = Path(spec)
    if p.is_file():
        return [ln.strip() for ln in p.read_text(encoding="utf-8").splitlines() if ln.strip()]
    return [s.strip() for s in spec.split(",") if s.strip()]


def _looks_like_tags(values: set[str]) -> bool:
    return bool(values) and all(v == OUTSIDE or split_tag(v)[0] not in ("", OUTSIDE) for v in values)


def check_tag_column(path: str, tag_col: int | None) -> None:
    """A CoNLL file whose tags are not in the last column, read without --tag-col: stop, naming the column."""
    if tag_col is not None or Path(path).suffix.lower() in (".json", ".jsonl", ".ndjson", ".parquet", ".csv"):
        return
    cols: dict[int, set[str]] = {}
    width = None
    with open(path, encoding="utf-8", errors="replace") as f:
        for n, line in enumerate(f):
            parts = line.rstrip("\r\n").split("\t") if "\t" in line else line.split()
            if not line.strip() or parts[0] == "-DOCSTART-":
                continue
            width = width or len(parts)
            if width <= 2:
                return  # token<TAB>tag (ragged lines are the reader's to report, with their line)
            if len(parts) == width:
                for i, v in enumerate(parts):
                    cols.setdefault(i, set()).add(v)
            if n > 2000:
                break
    if not cols or _looks_like_tags(cols[max(cols)]):
        return
    tagged = [i for i in range(1, max(cols)) if _looks_like_tags(cols[i]) and OUTSIDE in cols[i]]
    if tagged:
        raise BertkitError(f"{path}: the last column does not hold tags (e.g. {sorted(cols[max(cols)])[:3]}), column "
                           f"{tagged[0]} does; pass --tag-col {tagged[0]} (0-based)")


def _from_rows(rows: Sequence[dict], where: str, names: Sequence[str] | None) -> Sentences:
    out = Sentences()
    for n, row in enumerate(rows, 1):
        tk = next((f for f in TOKEN_FIELDS if f in row), None)
        tg = next((f for f in TAG_FIELDS if f in row), None)
        if tk is None:
            raise BertkitError(f"{where}: row {n} has no tokens column ({', '.join(TOKEN_FIELDS)})")
        toks = [str(t) for t in list(row[tk])]
        tags = list(row[tg]) if tg is not None and row[tg] is not None else None
        if tags is not None:
            if len(tags) != len(toks):
                raise BertkitError(f"{where}: row {n}: {len(toks)} tokens but {len(tags)} tags; give one tag per token")
            if not all(isinstance(t, str) for t in tags):
                if not names:
                    raise BertkitError(f"{where}: row {n}: integer tags need their names: pass --label-names")
                try:
                    tags = [names[int(t)] for t in tags]
                except (IndexError, ValueError) as e:
                    raise BertkitError(f"{where}: row {n}: tag ids outside --label-names ({len(names)} names)") from e
        out.tokens.append(toks)
        out.tags.append(tags)
        out.lines.append(n)
    if not out.tokens:
        raise BertkitError(f"{where}: no sentences")
    if all(t is None for t in out.tags):
        out.tags = None
    return out


def _table(path: Path, names) -> Sentences:
    """A Parquet or CSV file read by the one table reader; CSV cells of the token and tag columns hold lists
    (`['Bob', 'lives']`)."""
    from bertkit.data.io import read_table

    df = read_table(str(path), header=True)
    if path.suffix.lower() == ".csv":
        for c in df.columns:
            if c in TOKEN_FIELDS + TAG_FIELDS:
                df[c] = [_literal(v, path, n, c) if isinstance(v, str) else v for n, v in enumerate(df[c], 1)]
    return _from_rows(df.to_dict("records"), str(path), names)


def _literal(value: str, path: Path, row: int, col: str):
    import ast

    try:
        return ast.literal_eval(value)
    except (ValueError, SyntaxError, MemoryError, RecursionError):
        raise BertkitError(f"{path}: row {row}: column {col!r} is not a list such as ['Bob', 'lives'] "
                           f"({value[:40]!r})") from None


def _hub(spec: str, names) -> Sentences:
    """A Hugging Face dataset `NAME[:CONFIG][#SPLIT]` (split: train), read by the one table reader; ClassLabel tag
    names from its features."""
    from bertkit.data.io import read_hf_dataset

    df = read_hf_dataset(spec)
    tg = next((f for f in TAG_FIELDS if f in df.columns), None)
    names = df.attrs.get("label_names", {}).get(tg) or names
    return _from_rows(df.to_dict("records"), spec, names)


def read_sentences(spec: str, tag_col: int | None = None, label_names: Sequence[str] | None = None,
                   need_tags: bool = True) -> Sentences:
    """Sentences of a file or dataset; `need_tags`: a file without tags is an error."""
    path = Path(spec)
    if path.is_file() and path.suffix.lower() in (".parquet", ".csv"):
        sents = _table(path, label_names)
    elif not path.exists() and path.suffix.lower() not in FILE_SUFFIXES:
        sents = _hub(spec, label_names)
    else:
        if path.is_file() and path.stat().st_size == 0:
            raise BertkitError(f"{spec}: the file is empty; give token<TAB>tag lines, one sentence per block")
        if path.is_file() and need_tags:
            check_tag_column(spec, tag_col)
        sents = read_tagged(spec, tag_col, label_names, tags=need_tags)
    if need_tags and sents.tags is None:
        raise BertkitError(f"{spec}: no tags (one column of tokens); give token<TAB>tag lines to train or evaluate")
    return sents


@dataclass
class Tagged:
    """A split ready for training or scoring: words, tags in the trained scheme, and what the log says."""

    sentences: Sentences
    tags: list[list[str]]
    scheme: str
    invalid: int  # I- continuations that open an entity (legal for conlleval)
    words: int


def prepare(sents: Sentences, where: str, scheme: str = "auto", limit: int | None = None) -> Tagged:
    if limit:
        sents = Sentences(sents.tokens[:limit], sents.tags[:limit] if sents.tags else None, sents.lines[:limit])
    tags = sents.tags or []
    found = detect_scheme(tags, where)
    if scheme == "auto":
        scheme = found
    elif (scheme == "plain") != (found == "plain"):
        raise BertkitError(f"{where}: --scheme {scheme} but the tags are {found}; pass --scheme {found} or auto")
    norm = [normalize(t, scheme) for t in tags]
    invalid = sum(invalid_continuations(t) for t in norm) if scheme != "plain" else 0
    return Tagged(sents, norm, scheme, invalid, sum(len(t) for t in sents.tokens))


def trained_scheme(scheme: str) -> str:
    return {"IOB1": "IOB2", "BILOU": "BIOES"}.get(scheme, scheme)


def label_list(tags: Sequence[Sequence[str]], scheme: str) -> list[str]:
    """O first, then per type every prefix of the trained scheme (B, I; and E, S for BIOES), so that a model can
    predict a tag its training data happened to lack; plain tags sorted."""
    seen = {t for s in tags for t in s}
    if scheme == "plain":
        return sorted(seen)
    types = sorted({split_tag(t)[1] for t in seen if t != OUTSIDE})
    prefixes = "BIES" if trained_scheme(scheme) == "BIOES" else "BI"
    return [OUTSIDE] + [f"{p}-{t}" for t in types for p in prefixes]


def check_known(tagged: Tagged, names: Sequence[str], where: str) -> None:
    """Tags the model does not know, listed (with the first sentence showing one)."""
    known = set(names)
    unknown: dict[str, int] = {}
    for i, s in enumerate(tagged.tags):
        for t in s:
            if t not in known and t not in unknown:
                unknown[t] = tagged.sentences.lines[i]
    if unknown:
        shown = ", ".join(f"{t!r} (sentence at line {n})" for t, n in list(unknown.items())[:8])
        raise BertkitError(f"{where}: tags the model does not know: {shown}; the model knows "
                           f"{', '.join(names[:12])}{' ...' if len(names) > 12 else ''}. Map them, or train on them")
