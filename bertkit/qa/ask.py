"""`qa ask`: one question, or a JSONL stream of {question, context, ...} answered in chunks, in input order."""

from __future__ import annotations

from pathlib import Path
from typing import IO, Any, Iterable, Iterator

from bertkit.defaults import PREDICT_CHUNK_ROWS
from bertkit.errors import BertkitError, UsageError
from bertkit.qa.data import QAExample


def record(qa, pred, top_k: int, allow_no_answer: bool | None = None) -> dict[str, Any]:
    """What `qa ask` prints for one question: the best answer (or no answer), and `alternatives` for --top-k > 1."""
    answers = qa.format(pred, top_k, allow_no_answer)
    best = answers[0]
    rec = {"answer": best["answer"], "score": best["score"], "start": best["start"] if best["answer"] else None,
           "end": best["end"] if best["answer"] else None, "no_answer": not best["answer"]}
    if top_k > 1:
        rec["alternatives"] = answers[1:]
    return rec


def one_question(question: str, context: str | None, context_file: str | None) -> tuple[str, str]:
    """(question, context) from --question with --context or --context-file, checked."""
    if (context is None) == (context_file is None):
        raise UsageError("give the context with --context TEXT or --context-file FILE (one of them)")
    if context_file:
        p = Path(context_file)
        if not p.is_file():
            raise UsageError(f"{context_file}: context file not found")
        try:
            context = p.read_text(encoding="utf-8")
        except UnicodeDecodeError as e:
            from bertkit.data.io import not_utf8

            raise not_utf8(context_file, e) from None
    if not question.strip() or not context.strip():
        raise UsageError("--question and the context must not be empty")
    return question.strip(), context


def read_jsonl(stream: Iterable[str], source: str) -> Iterator[dict]:
    from bertkit.data.io import iter_jsonl

    for n, obj in iter_jsonl(stream, source, "a JSON object with question and context"):
        for k in ("question", "context"):
            if not isinstance(obj.get(k), str) or not obj[k].strip():
                raise BertkitError(f"{source}:{n}: needs a non-empty {k!r} string")
        yield obj


def open_input(path: str | None, stdin: IO[str]) -> tuple[IO[str], str]:
    if path is None:
        return stdin, "<stdin>"
    p = Path(path)
    if not p.is_file():
        raise UsageError(f"{path}: {'is a folder' if p.is_dir() else 'file not found'}; --input takes a JSONL file")
    return open(p, encoding="utf-8"), path


def answer_stream(qa, rows: Iterable[dict], top_k: int, chunk: int = PREDICT_CHUNK_ROWS) -> Iterator[dict]:
    """Each input row with its answer fields added, in order; `chunk` rows are windowed and batched together."""
    buf: list[dict] = []

    def flush() -> Iterator[dict]:
        preds = qa.predict([QAExample(str(i), r["question"].strip(), r["context"]) for i, r in enumerate(buf)])
        for r, p in zip(buf, preds):
            yield {**r, **record(qa, p, top_k)}

    for row in rows:
        buf.append(row)
        if len(buf) >= chunk:
            yield from flush()
            buf = []
    if buf:
        yield from flush()
