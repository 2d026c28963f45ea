"""`bertkit tokenize encode`: one JSON line {tokens, ids, offsets} per input line, streamed.

Lines are encoded in batches (the Rust tokenizers encode a batch in parallel). From a pipe, a batch is
whatever has arrived, so a slow producer gets its answers line by line; from a file, batches are large.
"""

from __future__ import annotations

import codecs
import json
import os
import sys
from typing import BinaryIO, Iterator, TextIO

from bertkit.errors import BertkitError

from .libraries import Backend
from .sentence import encode_lines

CHUNK = 1 << 20
MAX_BATCH = 4096


def _line(s: str) -> str:
    return s[:-1] if s.endswith("\r") else s


def _batches_raw(fd: int) -> Iterator[list[str]]:
    """Complete lines from a file descriptor, one batch per read (what is available now)."""
    dec = codecs.getincrementaldecoder("utf-8")(errors="strict")
    rest = ""
    while True:
        chunk = os.read(fd, CHUNK)
        text = rest + dec.decode(chunk, final=not chunk)
        if not chunk:
            if text:
                yield [_line(text)]
            return
        *lines, rest = text.split("\n")
        for i in range(0, len(lines), MAX_BATCH):
            yield [_line(x) for x in lines[i:i + MAX_BATCH]]


def _batches_text(f: TextIO) -> Iterator[list[str]]:
    batch: list[str] = []
    for raw in f:
        batch.append(_line(raw[:-1] if raw.endswith("\n") else raw))
        if len(batch) >= MAX_BATCH:
            yield batch
            batch = []
    if batch:
        yield batch


def batches(source: TextIO | BinaryIO) -> Iterator[list[str]]:
    try:
        fd = source.fileno()
    except (AttributeError, OSError, ValueError):
        fd = None
    if fd is not None:
        return _batches_raw(fd)
    return _batches_text(source)


def run_encode(backend: Backend, path: str | None, with_special: bool = False, out: TextIO | None = None) -> int:
    """Encode FILE (or stdin for None / '-') line by line; returns the number of lines written."""
    out = out or sys.stdout
    if path in (None, "-"):
        source, close = sys.stdin, False
    else:
        try:
            source, close = open(path, "rb"), True
        except OSError as e:
            raise BertkitError(f"{path}: cannot read ({e.strerror or e}); give a text file or - for stdin") from e
    n = 0
    try:
        for lines in batches(source):
            for toks in encode_lines(backend, lines, with_special):
                out.write(json.dumps({"tokens": [t.text for t in toks], "ids": [t.id for t in toks],
                                      "offsets": [[t.start, t.end] for t in toks]}, ensure_ascii=False) + "\n")
            n += len(lines)
            out.flush()
    except UnicodeDecodeError as e:
        raise BertkitError(f"{path or '<stdin>'}: not UTF-8 after line {n} ({e.reason}); convert it to UTF-8") from e
    finally:
        if close:
            source.close()
    return n
