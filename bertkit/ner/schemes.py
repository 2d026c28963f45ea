"""Tag schemes of token classification: detection, conversion, and entity spans.

Tags are strings such as `B-person`; the prefix is the letter before the first `-`. Span schemes: IOB2 (every
entity opens with B-), IOB1 (an entity opens with I-; B- only between two adjacent entities of one type), BIOES /
BILOU (E-/L- close an entity, S-/U- are one-token entities). Tags without a prefix (part-of-speech, chunk labels)
are `plain`: scored per token. `entities` follows conlleval (and seqeval's default mode): an `I-X` after `O` or
after another type opens an entity; `strict_entities` keeps only well-formed ones (seqeval's strict mode).
"""

from __future__ import annotations

from collections import Counter
from typing import Iterable, Sequence

from bertkit.errors import BertkitError

OUTSIDE = "O"
PREFIXES = frozenset("BIESLU")
SCHEMES = ("IOB2", "IOB1", "BIOES", "BILOU", "plain")


def split_tag(tag: str) -> tuple[str, str]:
    """(prefix, type): `B-person` -> ("B", "person"); `O` -> ("O", ""); a plain tag -> ("", tag)."""
    if tag == OUTSIDE:
        return OUTSIDE, ""
    if len(tag) > 2 and tag[1] == "-" and tag[0] in PREFIXES:
        return tag[0], tag[2:]
    return "", tag


def detect_scheme(sentences: Iterable[Sequence[str]], where: str = "the data") -> str:
    """The scheme of the tags: IOB2, IOB1, BIOES, BILOU or plain. Prefixed tags mixed with plain ones (other than
    O) are an error."""
    prefixes: Counter[str] = Counter()
    plain: set[str] = set()
    opens_with_i = b_after_same = 0
    for tags in sentences:
        prev = (OUTSIDE, "")
        for tag in tags:
            p, t = split_tag(tag)
            prefixes[p] += 1
            if p == "":
                plain.add(tag)
            elif p == "I" and (prev[0] == OUTSIDE or prev[1] != t):
                opens_with_i += 1
            elif p == "B" and prev[0] in ("B", "I") and prev[1] == t:
                b_after_same += 1
            prev = (p, t)
    spans = {p for p in prefixes if p in PREFIXES}
    if plain and spans:
        raise BertkitError(f"{where}: span tags ({', '.join(sorted(spans))}-…) mixed with plain tags "
                           f"({', '.join(sorted(plain)[:5])}); use one scheme: IOB2, IOB1, BIOES, BILOU or plain tags")
    if not spans:
        return "plain"
    if spans & {"L", "U"}:
        return "BILOU"
    if spans & {"E", "S"}:
        return "BIOES"
    if "B" not in spans or (opens_with_i and opens_with_i >= b_after_same and b_after_same == prefixes["B"]):
        return "IOB1"
    return "IOB2"


def to_iob2(tags: Sequence[str]) -> list[str]:
    """IOB1 tags as IOB2: an I- that opens an entity becomes B-."""
    out, prev = [], (OUTSIDE, "")
    for tag in tags:
        p, t = split_tag(tag)
        if p == "I" and (prev[0] == OUTSIDE or prev[1] != t):
            tag = f"B-{t}"
        out.append(tag)
        prev = (p, t)
    return out


def to_bioes(tags: Sequence[str]) -> list[str]:
    """BILOU tags as BIOES (L- is E-, U- is S-)."""
    return [{"L": "E-", "U": "S-"}.get(t[:1], t[:2]) + t[2:] if split_tag(t)[0] in ("L", "U") else t for t in tags]


def normalize(tags: Sequence[str], scheme: str) -> list[str]:
    """Tags in the scheme bertkit trains and scores: IOB1 as IOB2, BILOU as BIOES, others as they are."""
    if scheme == "IOB1":
        return to_iob2(tags)
    if scheme == "BILOU":
        return to_bioes(tags)
    return list(tags)


def _parts(tag: str) -> tuple[str, str]:
    """seqeval's reading of a tag: its first character and the text after the first '-' ('_' when none)."""
    return tag[:1], tag[1:].split("-", maxsplit=1)[-1] or "_"


def _ends(prev: str, tag: str, prev_type: str, type_: str) -> bool:
    return (prev in ("E", "S") or (prev in ("B", "I") and tag in ("B", "S", "O"))
            or (prev not in ("O", ".") and prev_type != type_))


def _starts(prev: str, tag: str, prev_type: str, type_: str) -> bool:
    return (tag in ("B", "S") or (prev in ("E", "S", "O") and tag in ("E", "I"))
            or (tag not in ("O", ".") and prev_type != type_))


def entities(tags: Sequence[str]) -> list[tuple[str, int, int]]:
    """(type, first, last) token spans, conlleval's way (equal to seqeval's default mode)."""
    out: list[tuple[str, int, int]] = []
    prev, prev_type, begin = "O", "", 0
    for i, tag in enumerate([*tags, OUTSIDE]):
        p, t = _parts(tag)
        if _ends(prev, p, prev_type, t):
            out.append((prev_type, begin, i - 1))
        if _starts(prev, p, prev_type, t):
            begin = i
        prev, prev_type = p, t
    return out


def strict_entities(tags: Sequence[str], scheme: str = "IOB2") -> list[tuple[str, int, int]]:
    """Only well-formed spans: IOB2 `B-X I-X*`; BIOES `S-X` or `B-X I-X* E-X` (seqeval's strict mode)."""
    out, open_at, open_type = [], None, ""
    for i, tag in enumerate([*tags, OUTSIDE]):
        p, t = split_tag(tag)
        if scheme == "BIOES":
            if p == "S":
                out.append((t, i, i))
            if p in ("B", "S", "O", "") or (p in ("I", "E") and (open_at is None or t != open_type)):
                open_at = None
            if p == "B":
                open_at, open_type = i, t
            elif p == "E" and open_at is not None:
                out.append((t, open_at, i))
                open_at = None
            continue
        if open_at is not None and not (p == "I" and t == open_type):
            out.append((open_type, open_at, i - 1))
            open_at = None
        if p == "B":
            open_at, open_type = i, t
    return out


def invalid_continuations(tags: Sequence[str]) -> int:
    """I- (or E-) tags that do not continue an entity of their type: legal for conlleval (they open one), but
    counted in the log."""
    n, prev = 0, (OUTSIDE, "")
    for tag in tags:
        p, t = split_tag(tag)
        if p in ("I", "E") and (prev[0] not in ("B", "I") or prev[1] != t):
            n += 1
        prev = (p, t)
    return n
