"""Reading extractive-QA data into clean example records, with every answer checked.

Accepted inputs:
- SQuAD v1.1 / v2.0 JSON exactly as published: ``{"data": [{"title", "paragraphs": [{"context", "qas": [...]}]}]}``
  (``is_impossible`` and empty ``answers`` mark unanswerable questions in v2.0);
- flat rows (JSONL/JSON/CSV/TSV/Parquet, or a Hugging Face dataset ``NAME[:CONFIG][#SPLIT]``) with ``question``,
  ``context`` and ``answers`` = ``{"text": [...], "answer_start": [...]}`` (in CSV: that object as JSON text),
  an optional ``id``; empty answers mean unanswerable.

Every ``answer_start`` must point at its text in the context; a row that does not is an error naming the file
and the question, or a counted skip with ``skip_bad_rows`` -- never a silently wrong label.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable

from bertkit.data.io import not_utf8, read_table
from bertkit.errors import BertkitError


@dataclass
class QAExample:
    id: str
    question: str
    context: str
    answers: dict[str, list] = field(default_factory=lambda: {"text": [], "answer_start": []})
    is_impossible: bool = False
    title: str | None = None


@dataclass
class QAData:
    examples: list[QAExample]
    source: str
    skipped: int = 0
    skip_reasons: list[str] = field(default_factory=list)
    squad_json: dict | None = None  # the published nested dataset (for the official scorer), when read from one

    @property
    def has_impossible(self) -> bool:
        return any(e.is_impossible for e in self.examples)

    def __len__(self) -> int:
        return len(self.examples)


class BadRow(Exception):
    pass


def _short(s: str, n: int = 40) -> str:
    s = s.replace("\n", " ")
    return s if len(s) <= n else s[: n - 1] + "…"


def check_answers(ex: QAExample) -> None:
    """Raise BadRow when an answer does not sit where `answer_start` says."""
    texts, starts = ex.answers.get("text", []), ex.answers.get("answer_start", [])
    if len(texts) != len(starts):
        raise BadRow(f"answers has {len(texts)} text(s) but {len(starts)} answer_start(s)")
    if not ex.question.strip():
        raise BadRow("empty question")
    if not ex.context.strip():
        raise BadRow("empty context")
    if not ex.is_impossible and not texts:
        raise BadRow("no answers, and not marked is_impossible")
    for t, s in zip(texts, starts):
        if not isinstance(t, str) or not t:
            raise BadRow(f"empty answer text {t!r}")
        try:
            if isinstance(s, bool) or (isinstance(s, float) and not s.is_integer()):
                raise ValueError
            s = int(s)
        except (TypeError, ValueError, OverflowError):
            raise BadRow(f"answer_start {s!r} is not an integer") from None
        if s < 0 or s + len(t) > len(ex.context):
            raise BadRow(f"answer_start {s} of {_short(t)!r} is outside the context ({len(ex.context)} characters)")
        found = ex.context[s : s + len(t)]
        if found != t:
            raise BadRow(f"answer_start {s} does not match {_short(t)!r} in the context (found {_short(found)!r})")


def _is_squad_json(obj: Any) -> bool:
    return (isinstance(obj, dict) and isinstance(obj.get("data"), list)
            and all(isinstance(a, dict) and "paragraphs" in a for a in obj["data"][:5]))


def _collect(rows: Iterable[tuple[str, QAExample | Exception]], source: str, skip_bad_rows: bool,
             limit: int | None) -> QAData:
    data = QAData([], source)
    seen: set[str] = set()
    for where, ex in rows:
        if limit is not None and len(data.examples) >= limit:
            break
        try:
            if isinstance(ex, Exception):
                raise ex
            if ex.id in seen:
                raise BadRow(f"duplicate id {ex.id!r}")
            check_answers(ex)
        except BadRow as e:
            if not skip_bad_rows:
                raise BertkitError(f"{source}: {where}: {e}; fix it or pass --skip-bad-rows") from None
            data.skipped += 1
            if len(data.skip_reasons) < 5:
                data.skip_reasons.append(f"{where}: {e}")
            continue
        seen.add(ex.id)
        data.examples.append(ex)
    return data


def _squad_rows(obj: dict):
    for a_i, article in enumerate(obj["data"]):
        title = article.get("title") if isinstance(article, dict) else None
        paras = article.get("paragraphs") if isinstance(article, dict) else None
        if not isinstance(paras, list):
            keys = ", ".join(map(str, article)) if isinstance(article, dict) else type(article).__name__
            yield f"data[{a_i}]", BadRow(f"no \"paragraphs\" list (keys: {keys})")
            continue
        for p_i, para in enumerate(paras):
            where = f"data[{a_i}].paragraphs[{p_i}]"
            if not isinstance(para, dict) or not isinstance(para.get("qas"), list):
                keys = ", ".join(map(str, para)) if isinstance(para, dict) else type(para).__name__
                yield where, BadRow(f"no \"qas\" list of questions (keys: {keys}); SQuAD paragraphs hold "
                                    "\"context\" and \"qas\"")
                continue
            context = para.get("context")
            for q_i, qa in enumerate(para["qas"]):
                if not isinstance(qa, dict):
                    yield f"{where}.qas[{q_i}]", BadRow("a question must be an object with id, question, answers")
                    continue
                qid = str(qa.get("id", f"{a_i}-{p_i}-{q_i}"))
                where = f"question {qid!r}"
                if not isinstance(context, str) or not isinstance(qa.get("question"), str):
                    missing = "context" if not isinstance(context, str) else "question"
                    yield where, BadRow(f"no {missing!r} text (keys: "
                                        f"{', '.join(map(str, qa if missing == 'question' else para))})")
                    continue
                answers = qa.get("answers") or []
                try:
                    texts = [x["text"] for x in answers]
                    starts = [x["answer_start"] for x in answers]
                except (TypeError, KeyError, IndexError):
                    yield where, BadRow("answers must be a list of {text, answer_start} objects")
                    continue
                impossible = bool(qa.get("is_impossible", False)) or not answers
                if qa.get("is_impossible"):
                    texts, starts = [], []
                yield where, QAExample(qid, qa["question"].strip(), context, {"text": texts, "answer_start": starts},
                                       impossible, title)


def _as_list(x: Any) -> list:
    if x is None:
        return []
    if hasattr(x, "tolist"):
        x = x.tolist()
    if isinstance(x, (list, tuple)):
        return list(x)
    return [x]


def _start(s: Any) -> Any:
    """answer_start 3.0 (pandas) → 3; anything else as it is, for check_answers to judge."""
    return int(s) if isinstance(s, float) and s.is_integer() else s


def parse_answers(value: Any) -> dict[str, list]:
    """`{text: [...], answer_start: [...]}` from a flat row's `answers` (dict, JSON text, or a list of dicts)."""
    if value is None or (isinstance(value, float) and value != value):
        return {"text": [], "answer_start": []}
    if isinstance(value, str):
        if not value.strip():
            return {"text": [], "answer_start": []}
        try:
            value = json.loads(value)
        except (json.JSONDecodeError, RecursionError):
            raise BadRow("answers is not JSON ({\"text\": [...], \"answer_start\": [...]})") from None
    if isinstance(value, dict):
        if "text" not in value or "answer_start" not in value:
            raise BadRow("answers needs both 'text' and 'answer_start'")
        return {"text": _as_list(value["text"]), "answer_start": [_start(s) for s in _as_list(value["answer_start"])]}
    value = _as_list(value)
    if all(isinstance(v, dict) for v in value):
        try:
            return {"text": [v["text"] for v in value], "answer_start": [v["answer_start"] for v in value]}
        except KeyError:
            raise BadRow("each answer needs 'text' and 'answer_start'") from None
    raise BadRow(f"answers must be {{text: [...], answer_start: [...]}}, got {type(value).__name__}")


def _flat_rows(df, source: str):
    cols = {c.lower(): c for c in df.columns}
    for need in ("question", "context"):
        if need not in cols:
            raise BertkitError(f"{source}: no {need!r} column (columns: {', '.join(map(str, df.columns))}); "
                               "QA data needs question, context and answers {text, answer_start}, or SQuAD JSON")
    qc, cc = cols["question"], cols["context"]
    ac, ic, imp = cols.get("answers"), cols.get("id"), cols.get("is_impossible")
    for n, row in enumerate(df.to_dict("records"), 1):
        qid = str(row[ic]) if ic and row.get(ic) is not None else str(n)
        where = f"row {n}" + (f" (id {qid!r})" if ic else "")
        q, c = row[qc], row[cc]
        if not isinstance(q, str) or not isinstance(c, str):
            yield where, BadRow("question and context must be text")
            continue
        try:
            answers = parse_answers(row.get(ac)) if ac else {"text": [], "answer_start": []}
        except BadRow as e:
            yield where, e
            continue
        impossible = not answers["text"] or (bool(row.get(imp)) if imp else False)
        if imp and row.get(imp) and answers["text"]:
            answers = {"text": [], "answer_start": []}
        yield where, QAExample(qid, q.strip(), c, answers, impossible,
                               row.get(cols["title"]) if "title" in cols else None)


def load_qa(spec: str, *, limit: int | None = None, skip_bad_rows: bool = False,
            default_split: str = "train") -> QAData:
    """Examples from SQuAD JSON, a flat file, or a Hugging Face dataset; answers checked."""
    path = Path(spec)
    if path.suffix.lower() == ".json" and path.is_file():
        try:
            obj = json.loads(path.read_text(encoding="utf-8"))
        except (json.JSONDecodeError, RecursionError):
            obj = None  # maybe JSON Lines saved as .json (or nested too deeply): the table reader decides
        except UnicodeDecodeError as e:
            raise not_utf8(spec, e) from None
        if _is_squad_json(obj):
            data = _collect(_squad_rows(obj), spec, skip_bad_rows, limit)
            data.squad_json = obj
            return data
    df = read_table(spec, limit=None, default_split=default_split)
    return _collect(_flat_rows(df, spec), spec, skip_bad_rows, limit)


def gold_dataset(data: QAData) -> list[dict]:
    """The examples in the official scorer's article list (`dataset['data']`), gold answers included."""
    paras = []
    for e in data.examples:
        answers = [{"text": t, "answer_start": int(s)} for t, s in zip(e.answers["text"], e.answers["answer_start"])]
        paras.append({"context": e.context, "qas": [{"id": e.id, "question": e.question, "answers": answers,
                                                     "is_impossible": e.is_impossible}]})
    return [{"title": "bertkit", "paragraphs": paras}]
