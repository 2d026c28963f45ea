"""`bertkit serve DIR [DIR ...]`: thin; the app lives in bertkit.serve.app, the batching in bertkit.serve.batcher."""

from __future__ import annotations

import contextlib
import signal
import sys
import threading
from pathlib import Path
from typing import Annotated, List, Optional

import typer

from bertkit.cli import options as o
from bertkit.errors import BertkitError, UsageError


def serve_command(
    model_dirs: Annotated[List[str], typer.Argument(
        help="Model folders from `bertkit <task> train`; a request names one by its folder name (needless with one "
        "model per task).")],
    host: Annotated[str, typer.Option(
        "--host", help="The address to bind; 0.0.0.0 exposes the server beyond this machine.")] = "127.0.0.1",
    port: Annotated[int, typer.Option("--port", help="The TCP port.", min=1, max=65535)] = 8000,
    fast: o.Fast = None,
    max_batch_tokens: Annotated[int, typer.Option(
        "--max-batch-tokens", help="Padded tokens per forward batch at most; requests of many clients are merged "
        "up to it.", min=1)] = 8192,
    max_wait_ms: Annotated[float, typer.Option(
        "--max-wait-ms", help="How long the first queued request waits for others to join its batch.", min=0)] = 5.0,
    max_queue: Annotated[int, typer.Option(
        "--max-queue", help="Requests waiting per model at most; above it the server answers 503 with Retry-After.",
        min=1)] = 256,
    max_inputs: Annotated[int, typer.Option(
        "--max-inputs", help="Texts (or questions) in one request at most; more is refused with 413.", min=1)] = 64,
    max_text_chars: Annotated[int, typer.Option(
        "--max-text-chars", help="Characters of one text (question + context for QA) at most; longer is refused "
        "with 413.", min=1)] = 20000,
    api_key_file: Annotated[Optional[str], typer.Option(
        "--api-key-file", help="A file holding the API key: every route but /health then needs "
        "`Authorization: Bearer KEY`.")] = None,
) -> None:
    """Serve trained models over HTTP: POST /v1/classify, /v1/qa, /v1/ner (one route per task served), GET /health,
    /metrics (Prometheus), OpenAPI at /docs. Dynamic batching; SIGTERM drains the queue and exits 0.

    Needs pip install 'bertkit[serve]'. The access log (one JSON object per request) goes to stderr."""
    try:
        import fastapi  # noqa: F401
        import prometheus_client  # noqa: F401
        import uvicorn  # noqa: F401
    except ImportError as e:
        raise BertkitError(f"bertkit serve needs {e.name}: pip install 'bertkit[serve]'") from None
    from bertkit.serve.app import ServeSettings, create_app, load_models

    settings = ServeSettings(max_batch_tokens=max_batch_tokens, max_wait_ms=max_wait_ms, max_queue=max_queue,
                             max_inputs=max_inputs, max_text_chars=max_text_chars, api_key=_read_key(api_key_file),
                             fast=bool(fast))
    models = load_models(model_dirs, fast=bool(fast))
    asgi, _ = create_app(models, settings)
    served = ", ".join(f"{m.name} ({m.task}, POST {m.adapter.route})" for m in models)
    url = f"http://{'[' + host + ']' if ':' in host else host}:{port}"
    run_server(asgi, host, port, f"bertkit serve: listening on {url} (docs {url}/docs); models: {served}")


def _read_key(path: str | None) -> str | None:
    if path is None:
        return None
    p = Path(path)
    if not p.is_file():
        raise UsageError(f"--api-key-file {path}: file not found")
    key = p.read_text(encoding="utf-8").strip()
    if not key or any(c.isspace() for c in key):
        raise UsageError(f"--api-key-file {path}: needs one key (no spaces) in the file")
    return key


# idle kept-alive connections close after this (uvicorn: 5 s): a client that reuses one as it closes sees a reset
KEEP_ALIVE_S = 30
DRAIN_GRACE_S = 1.0  # after SIGTERM: requests on open connections still answered (with Connection: close)


def run_server(asgi, host: str, port: int, banner: str) -> None:
    import uvicorn

    class Server(uvicorn.Server):
        """uvicorn, but a SIGTERM/SIGINT drains and the process exits 0 (uvicorn re-raises the signal)."""

        loop, draining = None, False

        @contextlib.contextmanager
        def capture_signals(self):
            if threading.current_thread() is not threading.main_thread():  # signals reach the main thread only
                yield
                return
            previous = {s: signal.signal(s, self._stop) for s in (signal.SIGINT, signal.SIGTERM)}
            try:
                yield
            finally:
                for s, h in previous.items():
                    signal.signal(s, h)

        def _stop(self, sig, frame) -> None:
            if self.loop is None:  # not serving yet
                self.should_exit = True
                return
            if self.draining:
                self.force_exit = self.should_exit = True  # a second signal: stop waiting for in-flight requests
                return
            self.draining = True
            print("bertkit serve: stopping: no new connections; answering the requests in flight", file=sys.stderr)
            self.loop.call_soon_threadsafe(self._drain)  # signal-safe; the loop does the rest

        def _drain(self) -> None:
            """Stop listening, answer with `Connection: close` for DRAIN_GRACE_S (clients on kept-alive
            connections are not cut off mid-request), then uvicorn's shutdown: in-flight requests, the queues."""
            asgi.state["status"] = "draining"
            for s in self.servers:
                s.close()
            self.loop.call_later(DRAIN_GRACE_S, setattr, self, "should_exit", True)

        async def startup(self, sockets=None) -> None:
            import asyncio

            self.loop = asyncio.get_running_loop()
            await super().startup(sockets)
            if self.started:
                print(banner, file=sys.stderr, flush=True)

    config = uvicorn.Config(asgi, host=host, port=port, access_log=False, log_level="warning", lifespan="on",
                            timeout_graceful_shutdown=None, timeout_keep_alive=KEEP_ALIVE_S)
    server = Server(config)
    server.run()
    if not server.started:
        raise BertkitError(f"could not listen on {host}:{port} (in use?); pick another --port")
    print("bertkit serve: stopped", file=sys.stderr)
