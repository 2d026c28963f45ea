"""What a task tells the server (its `TaskSpec.serve_ref` names one `ServeAdapter`): the route, the request schema,
how a request splits into inputs, how long an input is in tokens, how a batch of inputs runs on the task's predictor,
and the JSON object of each input (the one `bertkit <task> predict` prints for it)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable

from pydantic import BaseModel, ConfigDict, Field


class ServeRequest(BaseModel):
    """Fields every request has. Unknown fields are refused (422): no request can name a file or a path."""

    model_config = ConfigDict(extra="forbid")
    model: str | None = Field(None, description="The model's name (its folder name); optional with one model.",
                              max_length=200)


@dataclass(frozen=True)
class ServeAdapter:
    route: str  # "/v1/classify"
    request: type[ServeRequest]  # the body's pydantic model
    summary: str  # the route's one-line OpenAPI summary
    load: Callable[..., Any]  # load(model_dir, fast=bool) -> predictor
    inputs: Callable[[Any], list[Any]]  # request -> its inputs (one per prediction)
    # (predictor, tokenizer, input) -> tokens it will take; the tokenizer is the server's own copy (Served.counter)
    length: Callable[[Any, Any, Any], int]
    run: Callable[[Any, list[Any]], list[Any]]  # (predictor, inputs) -> one raw output per input (any order in)
    render: Callable[[Any, Any, list[Any]], list[dict]]  # (predictor, request, raw outputs) -> the JSON objects
    chars: Callable[[Any], int]  # input -> its characters (the --max-text-chars limit)
    check: Callable[[Any, Any], None]  # (predictor, request): raise RequestError for options this model refuses
    warmup: Callable[[], list[Any]]  # inputs run once before /health says ready


class RequestError(Exception):
    """A request the model cannot take (422): the field and what is wrong with it."""

    def __init__(self, field: str, message: str):
        super().__init__(f"{field}: {message}")
        self.field, self.message = field, message


def not_blank(value: str) -> str:
    """A pydantic AfterValidator: the text must hold more than whitespace."""
    if not value.strip():
        raise ValueError("must not be empty or only whitespace")
    return value
