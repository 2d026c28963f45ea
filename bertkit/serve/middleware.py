"""The ASGI layer around the app: a request id on every response, the API key, the body size limit, the metrics and
a structured (one JSON object per line) access log on stderr."""

from __future__ import annotations

import hmac
import json
import sys
import time
import uuid
from typing import Any

OPEN_PATHS = ("/health",)  # answered without the API key


async def send_json(send, status: int, body: dict, headers: list[tuple[bytes, bytes]] = ()) -> None:
    data = json.dumps(body).encode()
    await send({"type": "http.response.start", "status": status,
                "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(data)).encode()),
                            *headers]})
    await send({"type": "http.response.body", "body": data})


def _replay(body: bytes, receive):
    sent = False

    async def replayed():
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()

    return replayed


class ServeMiddleware:
    def __init__(self, app, *, metrics, routes: set[str], api_key: str | None, max_body_bytes: int, state: dict,
                 log=None):
        self.app, self.metrics, self.routes, self.state = app, metrics, routes, state
        self.api_key = api_key.encode() if api_key else None
        self.max_body = max_body_bytes
        self.log = log or sys.stderr

    def _authorized(self, headers: dict[bytes, bytes]) -> bool:
        given = headers.get(b"authorization", b"")
        scheme, _, token = given.partition(b" ")
        return scheme.lower() == b"bearer" and hmac.compare_digest(token.strip(), self.api_key)

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        t0, rid = time.perf_counter(), uuid.uuid4().hex[:16]
        scope.setdefault("state", {})["request_id"] = rid
        headers = dict(scope.get("headers") or [])
        info: dict[str, Any] = {"status": 500}

        async def send_wrapped(message) -> None:
            if message["type"] == "http.response.start":
                info["status"] = message["status"]
                extra = [(b"x-request-id", rid.encode())]
                if self.state.get("status") == "draining":  # shutting down: no more requests on this connection
                    extra.append((b"connection", b"close"))
                message = {**message, "headers": [*message.get("headers", []), *extra]}
            await send(message)

        try:
            await self._dispatch(scope, headers, receive, send_wrapped, rid)
        finally:
            self._record(scope, info["status"], time.perf_counter() - t0, rid)

    async def _dispatch(self, scope, headers, receive, send, rid: str) -> None:
        if self.api_key is not None and scope["path"] not in OPEN_PATHS and not self._authorized(headers):
            return await send_json(send, 401, {"error": "missing or wrong API key: send `Authorization: Bearer KEY`",
                                               "request_id": rid}, [(b"www-authenticate", b"Bearer")])
        length = headers.get(b"content-length")
        if length is not None and length.isdigit():
            if int(length) > self.max_body:
                return await self._too_large(send, rid)
        elif scope.get("method") in ("POST", "PUT", "PATCH"):  # a chunked body: read it here, bounded, and replay it
            body = await self._read_bounded(receive)
            if body is None:
                return await self._too_large(send, rid)
            receive = _replay(body, receive)
        await self.app(scope, receive, send)

    async def _read_bounded(self, receive) -> bytes | None:
        chunks, size = [], 0
        while True:
            message = await receive()
            if message["type"] != "http.request":
                return b""
            chunks.append(message.get("body", b""))
            size += len(chunks[-1])
            if size > self.max_body:
                return None
            if not message.get("more_body"):
                return b"".join(chunks)

    async def _too_large(self, send, rid: str) -> None:
        await send_json(send, 413, {"error": f"request body over {self.max_body} bytes; send fewer or shorter texts",
                                    "request_id": rid})

    def _record(self, scope, status: int, seconds: float, rid: str) -> None:
        path = scope["path"]
        route = path if path in self.routes else "other"
        self.metrics.observe_request(route, status, seconds)
        client = scope.get("client") or ("", 0)
        line = {"ts": round(time.time(), 3), "request_id": rid, "method": scope.get("method"), "path": path,
                "status": status, "ms": round(seconds * 1000, 2), "client": f"{client[0]}:{client[1]}"}
        try:
            self.log.write(json.dumps(line) + "\n")
            self.log.flush()
        except (OSError, ValueError):
            pass
