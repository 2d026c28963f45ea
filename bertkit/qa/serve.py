"""`POST /v1/qa` of `bertkit serve`: questions with contexts in, per question the object `qa ask --input` prints."""

from __future__ import annotations

from typing import Annotated

from pydantic import AfterValidator, BaseModel, ConfigDict, Field

from bertkit.serve.adapter import ServeAdapter, ServeRequest, not_blank

Text = Annotated[str, AfterValidator(not_blank)]
SERVE_BATCH_SIZE = 1024  # the server's batcher bounds a batch by tokens; the predictor runs it in one pass


class Question(BaseModel):
    model_config = ConfigDict(extra="forbid")
    question: Text
    context: Text


class QARequest(ServeRequest):
    questions: list[Question] = Field(..., min_length=1, description="{question, context} objects.")
    top_k: int = Field(1, ge=1, le=20, description="Answers per question: the best, then `alternatives`.")
    allow_no_answer: bool | None = Field(None, description="May answer \"\" (default: as trained, SQuAD v2.0).")


def _load(path: str, fast: bool = False):
    from bertkit.qa.api import QA

    return QA(path, batch_size=SERVE_BATCH_SIZE, fast=fast)


def _inputs(req: QARequest) -> list[tuple[str, str]]:
    return [(q.question, q.context) for q in req.questions]


def _length(qa, tok, x: tuple[str, str]) -> int:
    """Padded tokens of the question's windows (a long context is cut into overlapping windows)."""
    n = len(tok(x[0].strip(), x[1])["input_ids"])
    size, step = qa.max_length, max(1, qa.max_length - qa.doc_stride)
    windows = 1 if n <= size else 1 + -(-(n - size) // step)
    return min(n, size) * windows


def _run(qa, inputs: list[tuple[str, str]]) -> list:
    from bertkit.qa.data import QAExample

    return qa.predict([QAExample(str(i), q.strip(), c) for i, (q, c) in enumerate(inputs)])


def _render(qa, req: QARequest, preds: list) -> list[dict]:
    from bertkit.qa.ask import record

    return [{"question": q.question, "context": q.context, **record(qa, p, req.top_k, req.allow_no_answer)}
            for q, p in zip(req.questions, preds)]


ADAPTER = ServeAdapter(
    route="/v1/qa", request=QARequest, summary="Answer questions from contexts", load=_load, inputs=_inputs,
    length=_length, run=_run, render=_render, chars=lambda x: len(x[0]) + len(x[1]), check=lambda qa, req: None,
    warmup=lambda: [("What is this?", "This is a warm-up.")],
)
