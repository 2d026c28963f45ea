"""`bertkit serve` under faults, in process (a real uvicorn server on a loopback port in a thread) with a fake task
adapter, so that a batch can fail on demand and a batch can be held while a client goes away."""

from __future__ import annotations

import threading
import time

import httpx
import pytest

pytest.importorskip("fastapi")
uvicorn = pytest.importorskip("uvicorn")

from serve_server import free_port  # noqa: E402

from bertkit.serve.adapter import ServeAdapter, ServeRequest  # noqa: E402
from bertkit.serve.app import Served, ServeSettings, create_app  # noqa: E402


class EchoRequest(ServeRequest):
    texts: list[str]


class Fake:
    def __init__(self):
        self.gate = threading.Event()
        self.gate.set()
        self.seen: list[str] = []

    def run(self, _pred, xs):
        self.seen.extend(xs)
        if "slow" in xs:
            self.gate.wait(20)
        if "boom" in xs:
            raise RuntimeError("the model fell over")
        return [x.upper() for x in xs]


@pytest.fixture()
def app_server():
    fake = Fake()
    adapter = ServeAdapter(route="/v1/echo", request=EchoRequest, summary="echo", load=None,
                           inputs=lambda r: list(r.texts), length=lambda p, t, x: len(x), run=fake.run,
                           render=lambda p, r, outs: [{"text": o} for o in outs], chars=len,
                           check=lambda p, r: None, warmup=lambda: [])
    served = [Served("echo", "-", "echo", adapter, predictor=None)]
    asgi, _ = create_app(served, ServeSettings(max_batch_tokens=4, max_wait_ms=0), log=open("/dev/null", "w"))
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(asgi, host="127.0.0.1", port=port, log_level="warning", lifespan="on"))
    t = threading.Thread(target=server.run, daemon=True)
    t.start()
    url = f"http://127.0.0.1:{port}"
    for _ in range(200):
        try:
            if httpx.get(url + "/health").status_code == 200:
                break
        except httpx.HTTPError:
            time.sleep(0.05)
    yield url, fake, served[0]
    fake.gate.set()
    server.should_exit = True
    t.join(20)


def test_an_exception_fails_only_its_batch_with_a_request_id(app_server):
    url, fake, _ = app_server
    bad = httpx.post(url + "/v1/echo", json={"texts": ["boom"]})
    assert bad.status_code == 500
    assert bad.json()["request_id"] == bad.headers["x-request-id"]
    good = httpx.post(url + "/v1/echo", json={"texts": ["ok", "fine"]})
    assert good.status_code == 200 and good.json() == {"model": "echo",
                                                       "predictions": [{"text": "OK"}, {"text": "FINE"}]}
    assert 'bertkit_errors_total{route="/v1/echo",status="500"} 1.0' in httpx.get(url + "/metrics").text


def test_a_client_that_disconnects_frees_its_slot(app_server):
    url, fake, served = app_server
    fake.gate.clear()
    holder = threading.Thread(target=lambda: httpx.post(url + "/v1/echo", json={"texts": ["slow"]}, timeout=30))
    holder.start()
    while "slow" not in fake.seen:
        time.sleep(0.01)
    with pytest.raises(httpx.ReadTimeout):  # this client gives up while its request is queued
        httpx.post(url + "/v1/echo", json={"texts": ["gone"]}, timeout=0.5)
    end = time.monotonic() + 5
    while served.batcher.depth and time.monotonic() < end:
        time.sleep(0.02)
    assert served.batcher.depth == 0
    fake.gate.set()
    holder.join()
    assert httpx.post(url + "/v1/echo", json={"texts": ["after"]}).json()["predictions"] == [{"text": "AFTER"}]
    assert "gone" not in fake.seen  # its input never reached the model
