"""Load test of `bertkit serve` against the naive peer: a FastAPI app whose sync route calls
`pipeline("text-classification")` once per request, on the same model and machine, in the same run.

    python bench/serve_load.py [--model DIR] [--train-rows 4000] [--requests 400] [--concurrency 1 8 32 128]
        [--sides bertkit bertkit-fast peer] [--memory-requests 5000] [--fault-requests 300] [--save-results serve-load]

Model: --model (a folder from `bertkit classify train`), by default MiniLM fine-tuned here on the first --train-rows
SST-2 train rows (1 epoch, seed 42), then `bertkit export --onnx --int8` (the accuracy gate on SST-2 dev): the side
bertkit-fast (`bertkit serve --fast`) runs the int8 graph if the gate accepted it, ONNX Runtime fp32 otherwise
(kind=model says which, with the gate's scores). Each request carries one SST-2 dev sentence. Every server runs on
loopback in its own process; the clients are httpx AsyncClients in this process, the order of the sides reversed at
each concurrency. Output, one JSON line each: kind=load per side and concurrency (req/s, p50, p99, statuses;
server_cpu_ms and client_cpu_ms: CPU per request of the server and of the clients, which share a small machine's
cores); kind=ratio per concurrency (each bertkit side / peer throughput, p99 difference); kind=memory (a server,
--fast if that side runs, with --max-queue 16 under concurrency 64 for --memory-requests: statuses must be 200 or 503
only, RSS growth after warm-up); kind=fault (clients killed mid-request, malformed and oversize bodies interleaved
with good requests, SIGTERM under load: every good request answered or refused, none cut off after the server took
it, exit status 0).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import signal
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

from common import REPO, SHARED, emit, packaged_model, parse_args, read_tsv, tiny_model

ENV = {**os.environ, "PYTHONPATH": str(REPO), "TOKENIZERS_PARALLELISM": "false", "HF_HUB_OFFLINE": "1",
       "TRANSFORMERS_VERBOSITY": "error"}


def peer_main(model: str, port: int) -> None:
    """The peer as most users write it."""
    import uvicorn
    from fastapi import FastAPI
    from pydantic import BaseModel
    from transformers import pipeline

    pipe = pipeline("text-classification", model=model, device=-1)
    app = FastAPI()

    class Req(BaseModel):
        texts: list[str]

    def classify(req):  # a sync route: FastAPI runs it in its thread pool
        return {"predictions": pipe(req.texts)}

    classify.__annotations__ = {"req": Req}  # this module's annotations are strings (__future__)
    app.post("/v1/classify")(classify)

    @app.get("/health")
    def health():
        return {"status": "ready"}

    uvicorn.run(app, host="127.0.0.1", port=port, log_level="warning", access_log=False)


def free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start(side: str, model: str, log: Path, *extra: str) -> tuple[subprocess.Popen, str]:
    port = free_port()
    if side.startswith("bertkit"):
        fast = ["--fast"] if side == "bertkit-fast" else []
        cmd = [sys.executable, "-m", "bertkit", "serve", model, "--port", str(port), *fast, *extra]
    else:
        cmd = [sys.executable, __file__, "--peer", model, "--port", str(port)]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=open(log, "w"), env=ENV, cwd=str(REPO))
    url = f"http://127.0.0.1:{port}"
    import httpx

    for _ in range(1200):
        if proc.poll() is not None:
            raise RuntimeError(f"{side} exited {proc.returncode}: {log.read_text()[-3000:]}")
        try:
            if httpx.get(url + "/health", timeout=1).status_code == 200:
                return proc, url
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    raise RuntimeError(f"{side} not ready")


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def cpu_s(pid: int) -> float:
    """User + system CPU seconds of a process (all its threads) so far."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def own_cpu_s() -> float:
    import resource

    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


def pct(xs: list[float], q: float) -> float:
    if not xs:
        return float("nan")
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(round(q * (len(xs) - 1))))]


async def load(url: str, texts: list[str], n: int, conc: int, timeout: float = 300,
               progress: Counter | None = None) -> dict:
    import httpx

    lat: list[float] = []
    statuses: Counter = Counter()
    todo = iter(range(n))
    # one client (one kept-alive connection) per simulated user: a shared pool of `conc` connections costs the client
    # CPU that grows with `conc` (measured: 4.0 ms per request at 32, 15.8 at 128), which then bounds both sides
    limits = httpx.Limits(max_connections=1, max_keepalive_connections=1)

    async def worker():
        async with httpx.AsyncClient(limits=limits, timeout=timeout) as client:
            for i in todo:
                t = time.perf_counter()
                try:
                    r = await client.post(url + "/v1/classify", json={"texts": [texts[i % len(texts)]]})
                    statuses[str(r.status_code)] += 1
                    if r.status_code == 200:
                        lat.append(time.perf_counter() - t)
                except httpx.HTTPError as e:
                    statuses[type(e).__name__] += 1
                if progress is not None:
                    progress["done"] += 1

    t0 = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(conc)))
    wall = time.perf_counter() - t0
    return {"requests": n, "concurrency": conc, "wall_s": round(wall, 2), "req_per_s": round(n / wall, 1),
            "p50_ms": round(pct(lat, 0.5) * 1000, 1), "p99_ms": round(pct(lat, 0.99) * 1000, 1),
            "statuses": dict(statuses)}


def batch_stats(url: str) -> tuple[float, float]:
    """(inputs, batches) so far, from the server's /metrics."""
    import re

    import httpx

    text = httpx.get(url + "/metrics").text
    got = dict(re.findall(r'^bertkit_batch_size_(sum|count)\{[^}]*\} (\S+)$', text, re.M))
    return float(got.get("sum", 0)), float(got.get("count", 0))


def run_load(args, model: str, texts: list[str], tmp: Path) -> None:
    procs = {side: start(side, model, tmp / f"{side}.log") for side in args.sides}
    try:
        for side, (_, url) in procs.items():  # warm-up, untimed
            asyncio.run(load(url, texts, 32, 8))
        for k, conc in enumerate(args.concurrency):
            res = {}
            for side in (args.sides if k % 2 == 0 else args.sides[::-1]):
                before = batch_stats(procs[side][1]) if side != "peer" else None
                cpu0 = (cpu_s(procs[side][0].pid), own_cpu_s())
                rec = {"kind": "load", "side": side, **asyncio.run(load(procs[side][1], texts, args.requests, conc))}
                # CPU per request: the server's and the clients' (this process); 2 cores' worth bounds the rate
                rec["server_cpu_ms"] = round(1000 * (cpu_s(procs[side][0].pid) - cpu0[0]) / args.requests, 2)
                rec["client_cpu_ms"] = round(1000 * (own_cpu_s() - cpu0[1]) / args.requests, 2)
                if before is not None:  # the server's own count: inputs per forward batch
                    after = batch_stats(procs[side][1])
                    rec["mean_batch_size"] = round((after[0] - before[0]) / max(1.0, after[1] - before[1]), 1)
                res[side] = emit(rec)
            p = res.get("peer")
            for side in (s for s in res if s != "peer" and p):
                emit({"kind": "ratio", "side": side, "concurrency": conc,
                      "throughput_x": round(res[side]["req_per_s"] / p["req_per_s"], 2),
                      "p99_diff_ms": round(res[side]["p99_ms"] - p["p99_ms"], 1)})
    finally:
        for proc, _ in procs.values():
            proc.send_signal(signal.SIGTERM)
            proc.wait(60)


def served_side(args) -> str:
    """The bertkit side the memory and fault runs use: --fast when that side is measured."""
    return "bertkit-fast" if "bertkit-fast" in args.sides else "bertkit"


def run_memory(args, model: str, texts: list[str], tmp: Path) -> None:
    side = served_side(args)
    proc, url = start(side, model, tmp / "memory.log", "--max-queue", "16")
    try:
        warm = asyncio.run(load(url, texts, 300, 64))
        before = rss_mb(proc.pid)
        res = asyncio.run(load(url, texts, args.memory_requests, 64))
        after = rss_mb(proc.pid)
        emit({"kind": "memory", "side": side, "max_queue": 16, "warmup_statuses": warm["statuses"], **res,
              "rss_before_mb": round(before, 1), "rss_after_mb": round(after, 1),
              "rss_growth_pct": round(100 * (after - before) / before, 2),
              "only_200_or_503": set(res["statuses"]) <= {"200", "503"}})
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(60)


async def bad_clients(url: str, rounds: int) -> Counter:
    """Malformed and oversize bodies, and clients that go away mid-request, interleaved with the good load."""
    import httpx

    host, port = url.rsplit("//", 1)[1].split(":")
    out: Counter = Counter()
    async with httpx.AsyncClient(timeout=60) as c:
        for i in range(rounds):
            try:
                r = await c.post(url + "/v1/classify", content=b'{"texts": [',
                                 headers={"content-type": "application/json"})
                out[f"malformed_{r.status_code}"] += 1
                r = await c.post(url + "/v1/classify", json={"texts": ["x" * 30000]})
                out[f"oversize_{r.status_code}"] += 1
                r = await c.post(url + "/v1/classify", json={"texts": ["a"] * 100})
                out[f"too_many_{r.status_code}"] += 1
            except httpx.HTTPError as e:
                out[f"bad_{type(e).__name__}"] += 1
            try:  # a client killed mid-body, and one killed after sending its whole request
                _, w = await asyncio.open_connection(host, int(port))
                w.write(b"POST /v1/classify HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\n"
                        b"content-length: 100\r\n\r\n{\"texts\": [")
                await w.drain()
                w.close()
                body = b'{"texts": ["killed before the answer"]}'
                _, w = await asyncio.open_connection(host, int(port))
                w.write(b"POST /v1/classify HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\n"
                        b"content-length: %d\r\n\r\n%s" % (len(body), body))
                await w.drain()
                w.close()
                out["killed_clients"] += 2
            except OSError:
                out["killed_refused"] += 1
            await asyncio.sleep(0.01)
    return out


def run_fault(args, model: str, texts: list[str], tmp: Path) -> None:
    side = served_side(args)
    proc, url = start(side, model, tmp / "fault.log")

    async def main():
        progress: Counter = Counter()
        good = asyncio.ensure_future(load(url, texts, args.fault_requests, 16, timeout=120, progress=progress))
        bad = asyncio.ensure_future(bad_clients(url, 20))
        await bad
        while progress["done"] < args.fault_requests // 2 and not good.done():
            await asyncio.sleep(0.01)
        proc.send_signal(signal.SIGTERM)  # under load: half the good requests still to send
        return await good, bad.result()

    good, bad = asyncio.run(main())
    code = proc.wait(120)
    st = good["statuses"]
    lost = {k: v for k, v in st.items() if not k.isdigit() and k != "ConnectError"}
    emit({"kind": "fault", "side": side, "good": st, "bad": dict(bad), "exit_code": code, "cut_off_good_requests": lost,
          "ok": code == 0 and not lost and set(k for k in st if k.isdigit()) <= {"200", "503"}})


def trained_classifier(rows: int, out: Path, base: str | None = None, dev_rows: int | None = None) -> str:
    """MiniLM fine-tuned on the first `rows` SST-2 train rows, then int8 behind the accuracy gate (setup, untimed)."""
    sst2 = SHARED / "glue" / "SST-2"
    bertkit = [sys.executable, "-m", "bertkit", "-q"]
    subprocess.run([*bertkit, "classify", "train", "--model", base or packaged_model(), "--train",
                    str(sst2 / "train.tsv"), "--dev", str(sst2 / "dev.tsv"), "--limit", str(rows), "--epochs", "1",
                    "--seed", "42", *(["--dev-limit", str(dev_rows)] if dev_rows else []), "-o", str(out)],
                   check=True, stdout=subprocess.DEVNULL, env=ENV, cwd=str(REPO))
    subprocess.run([*bertkit, "export", str(out), "--onnx", "--int8"], check=True, stdout=subprocess.DEVNULL,
                   env=ENV, cwd=str(REPO))
    return str(out)


def model_record(model: str) -> dict:
    """What `--fast` runs on this folder, and the accuracy gate's scores (bertkit.json)."""
    import json

    meta = Path(model) / "bertkit.json"
    gate = json.loads(meta.read_text()).get("int8_gate", {}) if meta.is_file() else {}
    shown = ("accepted", "metric", "fp32", "int8", "relative_drop", "agreement", "excluded", "why")
    return {"fast_runs": "ONNX Runtime int8" if gate.get("accepted") else "ONNX Runtime fp32",
            "gate": {k: gate[k] for k in shown if k in gate}}


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--model", help="a classifier folder [default: MiniLM fine-tuned here on --train-rows SST-2 "
                    "rows, int8 behind the gate]")
    ap.add_argument("--train-rows", type=int, default=4000, help="SST-2 train rows of the default model")
    ap.add_argument("--sides", nargs="+", default=["bertkit", "bertkit-fast", "peer"],
                    choices=["bertkit", "bertkit-fast", "peer"])
    ap.add_argument("--requests", type=int, default=400)
    ap.add_argument("--concurrency", type=int, nargs="+", default=[1, 8, 32, 128])
    ap.add_argument("--memory-requests", type=int, default=5000)
    ap.add_argument("--fault-requests", type=int, default=300)
    ap.add_argument("--skip", nargs="*", default=[], choices=["load", "memory", "fault"])
    ap.add_argument("--smoke", action="store_true", help="tiny random model, a few requests (for the tests)")
    ap.add_argument("--peer", help=argparse.SUPPRESS)
    ap.add_argument("--port", type=int, help=argparse.SUPPRESS)
    args = parse_args(ap, argv)
    if args.peer:
        return peer_main(args.peer, args.port)
    texts, _ = read_tsv(SHARED / "glue" / "SST-2" / "dev.tsv")
    with tempfile.TemporaryDirectory(prefix="bertkit-serve-bench-") as tmp:
        tmp = Path(tmp)
        if args.smoke:
            args.requests, args.concurrency, args.memory_requests, args.fault_requests = 12, [1, 4], 40, 40
            model = trained_classifier(64, tmp / "tiny-sst2", tiny_model(tmp / "tiny"), dev_rows=64)
        else:
            model = args.model or trained_classifier(args.train_rows, tmp / "minilm-sst2")
        emit({"kind": "model", "model": model, **model_record(model)})
        for part, fn in (("load", run_load), ("memory", run_memory), ("fault", run_fault)):
            if part not in args.skip:
                fn(args, model, texts, tmp)


if __name__ == "__main__":
    main()
