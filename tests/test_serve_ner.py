"""`POST /v1/ner` of `bertkit serve` on a real server (subprocess, loopback port) with a tiny random token classifier:
per text exactly what `bertkit ner predict` prints (emoji / CJK offsets, a text cut into windows, requests batched
together), 422 for an empty or blank input, the route in OpenAPI, the requests counted in /metrics."""

from __future__ import annotations

import re
import threading

import httpx
import pytest
from helpers import invoke, jsonl
from serve_server import Server, build_models, build_ner_model

pytest.importorskip("fastapi")
pytest.importorskip("uvicorn")

TEXTS = ["i met john in paris 😀 and 東京 then mary",  # emoji and CJK: offsets count one per character
         "東京 and paris , mary 🎉🎉 mary went to new york",
         "  leading spaces then anna\tand a tab with rome  ",
         "john's friend, (mary), went to london!!",
         "the film was great and the actors loved berlin " * 6,  # far over max_length 16: several windows
         "ok"]


@pytest.fixture(scope="module")
def models(tiny_bert, tmp_path_factory):
    root = tmp_path_factory.mktemp("serve-ner")
    return {"ner": build_ner_model(tiny_bert, root), "classify": build_models(tiny_bert, root)["classify"]}


@pytest.fixture(scope="module")
def server(models):
    s = Server([models["ner"], models["classify"]], "--max-inputs", "8").wait_ready()
    yield s
    assert s.stop() == 0


@pytest.fixture(scope="module")
def cli_records(models, tmp_path_factory):
    """What `bertkit ner predict --format jsonl` prints for TEXTS (one text a line)."""
    inp = tmp_path_factory.mktemp("ner-in") / "in.txt"
    inp.write_text("\n".join(TEXTS) + "\n")
    r = invoke(["ner", "predict", "-m", str(models["ner"]), str(inp), "--format", "jsonl"])
    assert r.exit_code == 0, r.output
    recs = jsonl(r.stdout)
    assert [x["text"] for x in recs] == TEXTS
    return recs


def post(server, body, route="/v1/ner"):
    return httpx.post(server.url + route, json=body, timeout=60)


def _same(got: list[dict], want: list[dict]) -> None:
    """Equal records: the same keys, texts, types and offsets; scores equal up to float noise (the batches differ)."""
    def strip(recs):
        return [{**r, "entities": [{k: v for k, v in e.items() if k != "score"} for e in r["entities"]]} for r in recs]

    assert strip(got) == strip(want)
    scores = [e["score"] for r in got for e in r["entities"]]
    assert scores == pytest.approx([e["score"] for r in want for e in r["entities"]], abs=2e-6)


def test_the_long_text_takes_several_windows(models):
    from bertkit.ner.predict import Tagger

    t = Tagger(str(models["ner"]))
    t.predict_records([TEXTS[4]])
    assert t.max_length == 16 and t.last_counts["windows"] > 3 and t.last_counts["long_sentences"] == 1


def test_lengths_counted_while_a_batch_runs_leave_its_tags_alone(models):
    """The server counts a request's tokens on the event loop while the worker thread tags a batch; a fast
    tokenizer's truncation / stride are state, so one shared tokenizer tagged other windows (every batch wrong)."""
    from bertkit.ner.serve import ADAPTER
    from bertkit.serve.app import load_models

    m = load_models([str(models["ner"])])[0]  # as the server loads it: the predictor and its counting tokenizer
    served, counter = m.predictor, m.counter
    ref = ADAPTER.run(served, TEXTS)
    stop, counted = threading.Event(), []

    def count():
        while not stop.is_set():
            counted.extend(ADAPTER.length(served, counter, x) for x in TEXTS)

    th = threading.Thread(target=count)
    th.start()
    try:
        runs = [ADAPTER.run(served, TEXTS) for _ in range(20)]
    finally:
        stop.set()
        th.join()
    assert len(counted) > 20 and all(run == ref for run in runs)
    long, short = (ADAPTER.length(served, counter, TEXTS[i]) for i in (4, 5))
    assert long > 3 * 16 >= short  # windows counted


def test_ner_equals_the_cli(server, cli_records):
    r = post(server, {"texts": TEXTS})
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["model"] == "tagger" and set(body) == {"model", "predictions"}
    got = body["predictions"]
    _same(got, cli_records)
    n = 0
    for rec, text in zip(got, TEXTS):
        assert set(rec) == {"text", "entities"} and rec["text"] == text
        for e in rec["entities"]:
            assert set(e) == {"text", "type", "start", "end", "score"}
            assert text[e["start"]:e["end"]] == e["text"] and e["type"] in ("person", "location")
            n += 1
    assert n >= 10  # the random head tags plenty: the comparison is not of empty lists
    assert any(ord(ch) > 0xFFFF or "\u4e00" <= ch <= "\u9fff" for r in got[:2] for e in r["entities"]
               for ch in e["text"])  # an emoji or CJK entity made it through with exact offsets


def test_requests_batched_together_each_get_their_own_answer(server, cli_records):
    """Concurrent requests (the batcher merges and length-sorts their texts) each get the CLI's records."""
    out: dict[int, httpx.Response] = {}

    def call(i):
        out[i] = post(server, {"texts": TEXTS[i:] + TEXTS[:i]})

    threads = [threading.Thread(target=call, args=(i,)) for i in range(len(TEXTS))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for i, r in out.items():
        assert r.status_code == 200, r.text
        _same(r.json()["predictions"], cli_records[i:] + cli_records[:i])


@pytest.mark.parametrize("body, field, says", [
    ({"texts": []}, "texts", "at least 1 item"),
    ({"texts": ["ok", "  \t"]}, "texts.1", "must not be empty or only whitespace"),
    ({"texts": [""]}, "texts.0", "must not be empty or only whitespace"),
    ({}, "texts", "required"),
    ({"texts": "one string"}, "texts", "list"),
    ({"texts": ["ok"], "aggregate": "max"}, "aggregate", "not permitted"),  # fixed when loaded, not per request
])
def test_invalid_bodies_are_422_naming_the_field(server, body, field, says):
    r = post(server, body)
    assert r.status_code == 422, r.text
    got = r.json()
    assert got["field"] == field and says in got["error"].lower() and got["request_id"]
    assert got["error"].startswith(f"{field}: ")


def test_limits_and_other_models(server):
    assert post(server, {"texts": ["a"] * 9}).status_code == 413  # --max-inputs 8
    r = post(server, {"texts": ["a"], "model": "sentiment"})
    assert r.status_code == 404 and "/v1/classify" in r.json()["error"]
    assert post(server, {"texts": ["a"], "model": "tagger"}).status_code == 200


def test_openapi_health_and_metrics(server):
    h = httpx.get(server.url + "/health").json()
    assert {m["name"]: (m["task"], m["route"]) for m in h["models"]} == {
        "tagger": ("ner", "/v1/ner"), "sentiment": ("classify", "/v1/classify")}
    api = httpx.get(server.url + "/openapi.json").json()
    assert "/v1/ner" in api["paths"] and "post" in api["paths"]["/v1/ner"]
    schema = api["components"]["schemas"]["NERRequest"]
    assert schema["required"] == ["texts"] and set(schema["properties"]) == {"model", "texts"}

    def count(status: str) -> float:
        text = httpx.get(server.url + "/metrics").text
        m = re.search(r'^bertkit_requests_total\{route="/v1/ner",status="%s"\} (\S+)$' % status, text, re.M)
        return float(m.group(1)) if m else 0.0

    ok, bad = count("200"), count("422")
    for _ in range(3):
        assert post(server, {"texts": ["mary went to rome"]}).status_code == 200
    assert post(server, {"texts": []}).status_code == 422
    assert count("200") == ok + 3 and count("422") == bad + 1
    assert 'bertkit_queue_depth{model="tagger"}' in httpx.get(server.url + "/metrics").text


def test_a_plain_tag_model_gives_words_as_the_cli_does(tiny_bert, tmp_path):
    """POS-style tags (scheme "plain"): per text its `words` with tags and offsets, as `ner predict` prints them."""
    pos = build_ner_model(tiny_bert, tmp_path, name="pos", labels=("NOUN", "VERB", "ADJ", "PUNCT"), scheme="plain")
    texts = TEXTS[:2] + TEXTS[4:5]
    inp = tmp_path / "in.txt"
    inp.write_text("\n".join(texts) + "\n")
    cli = invoke(["ner", "predict", "-m", str(pos), str(inp)])
    assert cli.exit_code == 0, cli.output
    s = Server([pos]).wait_ready()
    try:
        r = post(s, {"texts": texts})
    finally:
        assert s.stop() == 0
    assert r.status_code == 200, r.text
    got, want = r.json()["predictions"], jsonl(cli.stdout)
    assert [set(x) for x in got] == [{"text", "words"}] * 3
    assert [[{k: v for k, v in w.items() if k != "score"} for w in x["words"]] for x in got] == \
        [[{k: v for k, v in w.items() if k != "score"} for w in x["words"]] for x in want]
    assert [w["score"] for x in got for w in x["words"]] == pytest.approx(
        [w["score"] for x in want for w in x["words"]], abs=2e-6)
    assert all(t[w["start"]:w["end"]] == w["text"] for t, x in zip(texts, got) for w in x["words"])
