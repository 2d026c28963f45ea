"""`bertkit serve` as a user runs it: a real server (subprocess, loopback port) on tiny random models; every endpoint,
every error code, the API key, outputs equal to `classify predict` / `qa ask`, SIGTERM with requests in flight."""

from __future__ import annotations

import json
import re
import threading
import time

import httpx
import pytest
from helpers import invoke, jsonl
from serve_server import Server, build_models

pytest.importorskip("fastapi")
pytest.importorskip("uvicorn")
KEY = "s3cret-key"
AUTH = {"Authorization": f"Bearer {KEY}"}


@pytest.fixture(scope="module")
def models(tiny_bert, tmp_path_factory):
    return build_models(tiny_bert, tmp_path_factory.mktemp("serve-models"))


@pytest.fixture(scope="module")
def server(models, tmp_path_factory):
    key = tmp_path_factory.mktemp("key") / "key.txt"
    key.write_text(KEY + "\n")
    s = Server([models["classify"], models["qa"]], "--api-key-file", str(key), "--max-inputs", "8",
               "--max-text-chars", "2000").wait_ready()
    yield s
    assert s.stop() == 0


def post(server, route, body, headers=AUTH, **kw):
    return httpx.post(server.url + route, json=body, headers=headers, timeout=30, **kw)


TEXTS = ["a wonderful , moving film", "dull and boring", "great", "the plot was thin but the acting great"]


def test_health_metrics_docs(server):
    h = httpx.get(server.url + "/health")  # no key needed
    assert h.status_code == 200 and h.json()["status"] == "ready"
    assert {m["name"]: m["route"] for m in h.json()["models"]} == {"sentiment": "/v1/classify", "squad": "/v1/qa"}
    post(server, "/v1/classify", {"texts": TEXTS})
    m = httpx.get(server.url + "/metrics", headers=AUTH)
    assert m.status_code == 200
    for name in ("bertkit_requests_total", "bertkit_errors_total", "bertkit_queue_depth", "bertkit_batch_size",
                 "bertkit_request_latency_seconds_bucket"):
        assert name in m.text
    assert httpx.get(server.url + "/docs", headers=AUTH).status_code == 200
    paths = httpx.get(server.url + "/openapi.json", headers=AUTH).json()["paths"]
    assert {"/v1/classify", "/v1/qa", "/health", "/metrics"} <= set(paths)


def test_classify_equals_the_cli(server, models, tmp_path):
    inp = tmp_path / "in.txt"
    inp.write_text("\n".join(TEXTS) + "\n")
    for opts, body in (([], {}), (["--all-scores"], {"all_scores": True}),
                       (["--threshold", "0.3"], {"threshold": 0.3})):
        cli = invoke(["classify", "predict", "-m", str(models["classify"]), str(inp), *opts])
        assert cli.exit_code == 0, cli.output
        r = post(server, "/v1/classify", {"texts": TEXTS, **body})
        assert r.status_code == 200, r.text
        assert r.json() == {"model": "sentiment", "predictions": jsonl(cli.stdout)}


def test_pairs_and_top_k(server, models, tmp_path):
    pairs = [["a fine film", "i liked it"], ["boring", "i left early"]]
    inp = tmp_path / "pairs.jsonl"
    inp.write_text("".join(json.dumps({"text": a, "text_pair": b}) + "\n" for a, b in pairs))
    cli = invoke(["classify", "predict", "-m", str(models["classify"]), str(inp), "--text-pair-col", "text_pair"])
    r = post(server, "/v1/classify", {"pairs": pairs, "model": "sentiment"})
    assert r.json()["predictions"] == jsonl(cli.stdout)
    top = post(server, "/v1/classify", {"texts": TEXTS[:1], "top_k": 1}).json()["predictions"][0]
    assert list(top["scores"]) == [top["label"]]


def test_qa_equals_the_cli(server, models, tmp_path):
    rows = [{"question": "who was jim henson ?", "context": "jim henson was a nice puppet"},
            {"question": "what is great ?", "context": "the film was great and the plot thin " * 50}]
    inp = tmp_path / "q.jsonl"
    inp.write_text("".join(json.dumps(r) + "\n" for r in rows))
    cli = invoke(["qa", "ask", "-m", str(models["qa"]), "--input", str(inp), "--top-k", "2"])
    assert cli.exit_code == 0, cli.output
    r = post(server, "/v1/qa", {"questions": rows, "top_k": 2})
    assert r.status_code == 200, r.text
    got = r.json()
    assert got["model"] == "squad"
    assert _rounded(got["predictions"]) == _rounded(jsonl(cli.stdout))  # scores: the same up to float noise


def _rounded(x):
    if isinstance(x, float):
        return round(x, 5)
    if isinstance(x, list):
        return [_rounded(v) for v in x]
    if isinstance(x, dict):
        return {k: _rounded(v) for k, v in x.items()}
    return x


@pytest.mark.parametrize("body, field", [
    ({"texts": []}, "texts"),
    ({"texts": ["ok", "  "]}, "texts.1"),
    ({"texts": ["ok"], "pairs": [["a", "b"]]}, "body"),
    ({"texts": ["ok"], "path": "/etc/passwd"}, "path"),
    ({"texts": ["ok"], "threshold": 2}, "threshold"),
    ({"texts": "not a list"}, "texts"),
])
def test_invalid_bodies_are_422_naming_the_field(server, body, field):
    r = post(server, "/v1/classify", body)
    assert r.status_code == 422, r.text
    assert r.json()["field"] == field and r.json()["request_id"]


def test_invalid_json_and_qa_fields(server):
    r = httpx.post(server.url + "/v1/classify", content=b'{"texts": [',
                   headers={**AUTH, "content-type": "application/json"})
    assert r.status_code == 422 and r.json()["field"] == "body" and "JSON" in r.json()["error"]
    r = post(server, "/v1/qa", {"questions": [{"question": "q"}]})
    assert r.status_code == 422 and r.json()["field"] == "questions.0.context"


def test_limits_are_413(server):
    assert post(server, "/v1/classify", {"texts": ["a"] * 9}).status_code == 413  # --max-inputs 8
    r = post(server, "/v1/classify", {"texts": ["word " * 500]})  # --max-text-chars 2000
    assert r.status_code == 413 and "input 0" in r.json()["error"]
    big = b'{"texts": ["' + b"a" * 2_000_000 + b'"]}'
    r = httpx.post(server.url + "/v1/classify", content=big, headers={**AUTH, "content-type": "application/json"})
    assert r.status_code == 413


def test_models_are_addressed_by_name_only(server):
    assert post(server, "/v1/classify", {"texts": ["a"], "model": "nope"}).status_code == 404
    r = post(server, "/v1/classify", {"texts": ["a"], "model": "squad"})
    assert r.status_code == 404 and "/v1/qa" in r.json()["error"]
    assert post(server, "/v1/classify", {"texts": ["a"], "model": "../sentiment"}).status_code == 404


def test_the_api_key(server):
    assert post(server, "/v1/classify", {"texts": ["a"]}, headers={}).status_code == 401
    assert post(server, "/v1/classify", {"texts": ["a"]}, headers={"Authorization": "Bearer wrong"}).status_code == 401
    assert httpx.get(server.url + "/metrics").status_code == 401
    assert httpx.get(server.url + "/docs").status_code == 401
    assert httpx.get(server.url + "/health").status_code == 200


def _wait_accepted(s, n: int, timeout: float = 30) -> None:
    """Until the server holds all `n` requests (answered or queued) with at least one still queued: an idle server
    runs a lone request at once, so requests that trickle in (a loaded machine) are answered one by one and the queue
    need never hold all of them."""
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        text = httpx.get(s.url + "/metrics").text
        m = re.search(r'^bertkit_queue_depth\{model="sentiment"\} (\S+)$', text, re.M)
        done = re.search(r'^bertkit_requests_total\{route="/v1/classify",status="200"\} (\S+)$', text, re.M)
        queued, answered = float(m.group(1)) if m else 0, float(done.group(1)) if done else 0
        if queued >= 1 and queued + answered >= n:
            return
        time.sleep(0.02)
    raise AssertionError(f"{n} requests not accepted in time")


def test_a_full_queue_is_503_with_retry_after(models):
    s = Server([models["classify"]], "--max-queue", "1", "--max-wait-ms", "2000").wait_ready()
    try:
        out = []
        body = {"texts": [f"text number {i}" for i in range(8)]}

        def call():
            out.append(httpx.post(s.url + "/v1/classify", json=body, timeout=60))

        threads = [threading.Thread(target=call) for _ in range(16)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        codes = [r.status_code for r in out]
        assert set(codes) == {200, 503}, codes  # load shed, never queued without bound
        assert all(r.headers["retry-after"] == "1" for r in out if r.status_code == 503)
        assert httpx.post(s.url + "/v1/classify", json=body).status_code == 200  # and it keeps serving
    finally:
        assert s.stop() == 0


def test_sigterm_drains_requests_in_flight_and_exits_0(models):
    s = Server([models["classify"]], "--max-wait-ms", "4000").wait_ready()
    results = []

    def call(i):
        results.append(post(s, "/v1/classify", {"texts": [f"text {i}"]}, {}).status_code)

    threads = [threading.Thread(target=call, args=(i,)) for i in range(8)]
    for t in threads:
        t.start()
    _wait_accepted(s, 8)  # all 8 are in, some still wait in the batcher (--max-wait-ms 4000 while busy)
    assert s.stop() == 0
    for t in threads:
        t.join()
    assert results == [200] * 8
    assert "listening on http://127.0.0.1" in s.stderr and "stopped" in s.stderr
    log = [json.loads(ln) for ln in s.stderr.splitlines() if ln.startswith("{")]
    assert sum(1 for x in log if x["path"] == "/v1/classify" and x["status"] == 200) == 8


def test_bad_folders_and_key_files_are_one_line_errors(tiny_bert, models, tmp_path):
    from typer.testing import CliRunner

    from bertkit.cli.main import app

    def run(*args):
        return CliRunner().invoke(app, ["serve", *map(str, args)])

    r = run(tmp_path / "nope")
    assert r.exit_code == 1 and "not a folder" in r.stderr.strip().splitlines()[-1]
    r = run(tiny_bert)  # a base model: no task head
    assert r.exit_code == 1 and r.stderr.strip().splitlines()[-1].startswith("bertkit: error:")
    r = run(models["classify"], "--api-key-file", tmp_path / "missing.txt")
    assert r.exit_code == 2 and "--api-key-file" in r.stderr
    twin = tmp_path / "a" / "sentiment"
    twin.parent.mkdir()
    twin.symlink_to(models["classify"], target_is_directory=True)
    r = run(models["classify"], twin)
    assert r.exit_code == 1 and "two model folders named 'sentiment'" in r.stderr
