"""The ASGI app of `bertkit serve`: one route per served task (from its TaskSpec's serve adapter), /health,
/metrics, OpenAPI at /docs. Models are loaded before the app is built; each has its own `Batcher`, whose worker thread
warms it up before the port opens."""

from __future__ import annotations

import asyncio
import contextlib
import copy
import sys
import traceback
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bertkit.errors import BertkitError
from bertkit.serve.adapter import RequestError, ServeAdapter
from bertkit.serve.batcher import Batcher, BatchFailed, QueueFull, Stopped
from bertkit.serve.metrics import Metrics


@dataclass
class ServeSettings:
    max_batch_tokens: int = 8192
    max_wait_ms: float = 5.0
    max_queue: int = 256
    max_inputs: int = 64  # inputs in one request (413 over it)
    max_text_chars: int = 20000  # characters of one input (413 over it)
    api_key: str | None = None
    fast: bool = False

    @property
    def max_body_bytes(self) -> int:
        return self.max_inputs * self.max_text_chars * 4 + 65536  # UTF-8 worst case + JSON overhead


@dataclass
class Served:
    name: str
    path: str
    task: str
    adapter: ServeAdapter
    predictor: Any
    batcher: Batcher | None = field(default=None, repr=False)
    # the tokenizer that counts a request's tokens on the event loop while the worker thread runs a batch: a copy,
    # since a fast tokenizer's truncation / stride settings are state its callers share (counting on the predictor's
    # own tokenizer changed the windows a running batch was cut into, and so its answers)
    counter: Any = field(default=None, repr=False)


def load_models(dirs: list[str], fast: bool = False) -> list[Served]:
    """Each folder's task detected (bertkit.json / config.json), its predictor loaded."""
    from bertkit.engine import backends
    from bertkit.outdir import read_metadata
    from bertkit.taskspec import detect_or_fail, load

    backends.SPIN = False  # --fast sessions: a core stays free for the event loop between batches
    served: dict[str, Served] = {}
    for d in dirs:
        p = Path(d)
        if not p.is_dir():
            raise BertkitError(f"{d}: not a folder; give model folders from `bertkit <task> train`")
        name = p.resolve().name
        if name in served:
            raise BertkitError(f"{d}: two model folders named {name!r} ({served[name].path}); requests address a "
                               "model by its folder name, so rename one")
        spec = detect_or_fail(str(p), read_metadata(str(p)), "serve")
        if not getattr(spec, "serve_ref", None):
            raise BertkitError(f"{d}: {spec.noun}, but the {spec.name} task has no serve adapter yet")
        adapter: ServeAdapter = load(spec.serve_ref)
        predictor = adapter.load(str(p), fast=fast)  # warmed up by create_app, on its batcher's worker thread
        served[name] = Served(name, str(p), spec.name, adapter, predictor,
                              counter=copy.deepcopy(getattr(predictor, "tokenizer", None)))
    return list(served.values())


def create_app(models: list[Served], settings: ServeSettings, metrics: Metrics | None = None, log=None):
    from fastapi import FastAPI, Request
    from fastapi.exceptions import RequestValidationError
    from fastapi.responses import JSONResponse, Response

    from bertkit import __version__
    from bertkit.serve.middleware import ServeMiddleware

    metrics = metrics or Metrics()
    state = {"status": "starting"}
    for m in models:
        m.batcher = Batcher(_runner(m), max_batch_tokens=settings.max_batch_tokens, max_wait_ms=settings.max_wait_ms,
                            max_queue=settings.max_queue, name=m.name, observe=metrics.observer(m.name))
        metrics.queue_depth.labels(m.name).set_function(lambda b=m.batcher: b.depth)
        # warm-up (first-call allocations) before the port opens, on the thread that will run every batch
        m.batcher.start(warmup=lambda m=m: m.adapter.run(m.predictor, m.adapter.warmup()))

    @contextlib.asynccontextmanager
    async def lifespan(_app):
        state["status"] = "ready"
        yield
        state["status"] = "draining"
        for m in models:  # every queued request is answered first
            await asyncio.get_running_loop().run_in_executor(None, m.batcher.stop)

    app = FastAPI(title="bertkit serve", version=__version__, lifespan=lifespan,
                  description="Trained bertkit models behind HTTP, with dynamic batching.")

    @app.exception_handler(RequestValidationError)
    async def invalid(request: Request, exc: RequestValidationError):
        errors = _json_errors(exc.errors())
        return _error(422, _first_field(errors), request, field=_loc(errors[0].get("loc", ())) if errors else "body",
                      detail=_details(errors))

    @app.get("/health", summary="Ready once every model is loaded and warmed up")
    async def health():
        body = {"status": state["status"], "models": [{"name": m.name, "task": m.task, "route": m.adapter.route}
                                                      for m in models]}
        return JSONResponse(body, status_code=200 if state["status"] == "ready" else 503)

    @app.get("/metrics", summary="Prometheus metrics")
    async def prometheus():
        return Response(metrics.render(), media_type=metrics.content_type)

    routes = {"/health", "/metrics"}
    for route, group in _by_route(models).items():
        app.post(route, summary=group[0].adapter.summary)(_endpoint(group, models, settings))
        routes.add(route)
    return ServeMiddleware(app, metrics=metrics, routes=routes, api_key=settings.api_key,
                           max_body_bytes=settings.max_body_bytes, state=state, log=log), app


def _runner(m: Served):
    def run(inputs: list[Any]) -> list[Any]:
        return m.adapter.run(m.predictor, inputs)

    return run


def _by_route(models: list[Served]) -> dict[str, list[Served]]:
    out: dict[str, list[Served]] = {}
    for m in models:
        out.setdefault(m.adapter.route, []).append(m)
    return out


def _endpoint(group: list[Served], every: list[Served], settings: ServeSettings):
    from fastapi import Request

    adapter = group[0].adapter

    async def endpoint(body, request: Request):
        try:
            m = _pick(group, every, body.model)
            inputs = adapter.inputs(body)
            _check_limits(adapter, inputs, settings)
            adapter.check(m.predictor, body)
            lengths = [adapter.length(m.predictor, m.counter, x) for x in inputs]
        except _Refused as e:
            return _error(e.status, e.message, request, field=e.field)
        except RequestError as e:
            return _error(422, f"{e.field}: {e.message}", request, field=e.field)
        return await _answer(m, body, inputs, lengths, request)

    endpoint.__annotations__ = {"body": adapter.request, "request": Request}
    endpoint.__name__ = adapter.route.strip("/").replace("/", "_")
    return endpoint


async def _answer(m: Served, body, inputs, lengths, request):
    from fastapi.responses import Response

    job = asyncio.ensure_future(m.batcher.submit(inputs, lengths))
    gone = asyncio.ensure_future(_disconnected(request))
    try:
        done, _ = await asyncio.wait({job, gone}, return_when=asyncio.FIRST_COMPLETED)
    except asyncio.CancelledError:
        job.cancel()
        gone.cancel()
        raise
    gone.cancel()
    if job not in done:  # the client went away: its slot is freed, nobody reads the answer
        job.cancel()
        return Response(status_code=499)
    try:
        outputs = job.result()
    except QueueFull as e:
        return _error(503, f"{e}; retry later", request, headers={"Retry-After": "1"})
    except Stopped as e:
        return _error(503, str(e), request, headers={"Retry-After": "1"})
    except BatchFailed as e:
        rid = request.scope["state"].get("request_id")
        print(f"bertkit serve: request {rid}: {e}\n" + "".join(traceback.format_exception(e.cause)), file=sys.stderr)
        return _error(500, f"inference failed for this request's batch ({type(e.cause).__name__}); the server "
                           "keeps serving: retry, and report the request id if it persists", request)
    return {"model": m.name, "predictions": m.adapter.render(m.predictor, body, outputs)}


async def _disconnected(request) -> None:
    while True:
        message = await request.receive()
        if message["type"] == "http.disconnect":
            return


class _Refused(Exception):
    def __init__(self, status: int, message: str, field: str | None = None):
        super().__init__(message)
        self.status, self.message, self.field = status, message, field


def _pick(group: list[Served], every: list[Served], name: str | None) -> Served:
    if name is None:
        if len(group) == 1:
            return group[0]
        raise _Refused(422, f"model: this route serves {len(group)} models; name one of "
                            f"{', '.join(m.name for m in group)}", "model")
    for m in group:
        if m.name == name:
            return m
    other = next((m for m in every if m.name == name), None)
    if other is not None:
        raise _Refused(404, f"model: {name!r} is a {other.task} model; send it to POST {other.adapter.route}", "model")
    raise _Refused(404, f"model: no model named {name!r}; served here: {', '.join(m.name for m in group)}", "model")


def _check_limits(adapter: ServeAdapter, inputs: list[Any], settings: ServeSettings) -> None:
    if len(inputs) > settings.max_inputs:
        raise _Refused(413, f"{len(inputs)} inputs in one request; at most {settings.max_inputs} (--max-inputs): "
                            "split the request")
    for i, x in enumerate(inputs):
        n = adapter.chars(x)
        if n > settings.max_text_chars:
            raise _Refused(413, f"input {i}: {n} characters; at most {settings.max_text_chars} (--max-text-chars)")


def _error(status: int, message: str, request, field: str | None = None, detail=None, headers=None):
    from fastapi.responses import JSONResponse

    body: dict[str, Any] = {"error": message, "request_id": request.scope.get("state", {}).get("request_id")}
    if field is not None:
        body["field"] = field
    if detail is not None:
        body["detail"] = detail
    return JSONResponse(body, status_code=status, headers=headers)


def _json_errors(errors) -> list[dict]:
    """A JSON syntax error is about the whole body (pydantic puts the character position in its loc)."""
    out = []
    for e in errors:
        if e.get("type") == "json_invalid":
            pos = e.get("loc", ("body", "?"))[-1]
            e = {"loc": ("body",), "msg": f"invalid JSON at character {pos}: {e.get('msg', '')}",
                 "type": "json_invalid"}
        out.append(e)
    return out


def _details(errors) -> list[dict]:
    return [{"field": _loc(e.get("loc", ())), "message": str(e.get("msg", "")), "type": str(e.get("type", ""))}
            for e in errors]


def _loc(loc) -> str:
    parts = [str(x) for x in loc]
    if parts and parts[0] == "body":
        parts = parts[1:]
    return ".".join(parts) or "body"


def _first_field(errors) -> str:
    if not errors:
        return "body: invalid request"
    e = errors[0]
    return f"{_loc(e.get('loc', ()))}: {e.get('msg', 'invalid')}"
