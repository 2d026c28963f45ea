"""The dynamic batcher of `bertkit serve` (bertkit/serve/batcher.py), without a model: `run` is a plain function."""

from __future__ import annotations

import asyncio
import threading

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bertkit.serve.batcher import Batcher, BatchFailed, QueueFull, token_batches


@given(st.lists(st.integers(1, 300), max_size=60), st.integers(1, 2000))
@settings(max_examples=200, deadline=None)
def test_token_batches_cover_every_input_once_within_the_budget(lengths, budget):
    batches = token_batches(lengths, budget)
    flat = [i for b in batches for i in b]
    assert sorted(flat) == list(range(len(lengths)))
    for b in batches:
        longest = max(lengths[i] for i in b)
        assert len(b) == 1 or len(b) * longest <= budget
        assert [lengths[i] for i in b] == sorted((lengths[i] for i in b), reverse=True)


def _batcher(run, **kw):
    opts = dict(max_batch_tokens=10_000, max_wait_ms=20, max_queue=100)
    opts.update(kw)
    b = Batcher(run, **opts)
    b.start()
    return b


def test_outputs_come_back_in_input_order_and_requests_are_merged():
    calls = []

    def run(xs):
        calls.append(list(xs))
        return [x.upper() for x in xs]

    b = _batcher(run, max_wait_ms=50)

    async def main():
        reqs = [[f"r{i}-{'x' * (j + i % 5)}" for j in range(1 + i % 3)] for i in range(20)]
        outs = await asyncio.gather(*(b.submit(r, [len(x) for x in r]) for r in reqs))
        return reqs, outs

    reqs, outs = asyncio.run(main())
    b.stop()
    assert outs == [[x.upper() for x in r] for r in reqs]
    assert len(calls) < 20  # merged across requests
    for c in calls:  # each batch runs longest first (length-sorted)
        assert [len(x) for x in c] == sorted((len(x) for x in c), reverse=True)


def test_batches_respect_max_batch_tokens():
    sizes = []

    def run(xs):
        sizes.append(len(xs) * max(len(x) for x in xs))
        return xs

    b = _batcher(run, max_batch_tokens=40, max_wait_ms=30)

    async def main():
        return await asyncio.gather(*(b.submit(["abcd"] * 3, [4] * 3) for _ in range(10)))

    outs = asyncio.run(main())
    b.stop()
    assert outs == [["abcd"] * 3] * 10
    assert sizes and max(sizes) <= 40


def _blocking_run():
    gate, started = threading.Event(), threading.Event()
    seen = []

    def run(xs):
        seen.extend(xs)
        started.set()
        gate.wait(10)
        return xs

    return run, gate, started, seen


def test_a_full_queue_refuses_and_a_cancelled_request_leaves_the_queue():
    run, gate, started, seen = _blocking_run()
    b = _batcher(run, max_queue=2, max_wait_ms=0)

    async def main():
        first = asyncio.ensure_future(b.submit(["first"], [1]))
        while not started.is_set():
            await asyncio.sleep(0.01)
        queued = [asyncio.ensure_future(b.submit([f"q{i}"], [1])) for i in range(2)]
        await asyncio.sleep(0.05)
        assert b.depth == 2
        with pytest.raises(QueueFull):
            await b.submit(["over"], [1])
        queued[0].cancel()  # a client that went away
        await asyncio.sleep(0.05)
        assert b.depth == 1
        gate.set()
        assert await first == ["first"]
        assert await queued[1] == ["q1"]
        with pytest.raises(asyncio.CancelledError):
            await queued[0]

    asyncio.run(main())
    b.stop()
    assert "q0" not in seen and "over" not in seen


def test_an_exception_fails_only_its_batch_and_the_batcher_keeps_serving():
    def run(xs):
        if "boom" in xs:
            raise ValueError("bad batch")
        return [len(x) for x in xs]

    b = _batcher(run, max_batch_tokens=4, max_wait_ms=30)  # 4 tokens: each request is its own batch

    async def main():
        return await asyncio.gather(b.submit(["ok"], [4]), b.submit(["boom"], [4]), b.submit(["fine"], [4]),
                                    return_exceptions=True)

    ok, bad, fine = asyncio.run(main())
    assert ok == [2] and fine == [4]
    assert isinstance(bad, BatchFailed) and isinstance(bad.cause, ValueError)
    assert asyncio.run(b.submit(["again"], [4])) == [5]
    b.stop()


def test_stop_answers_every_queued_request_first():
    run, gate, started, _ = _blocking_run()
    b = _batcher(run, max_wait_ms=0)

    async def main():
        jobs = [asyncio.ensure_future(b.submit([f"j{i}"], [1])) for i in range(5)]
        while not started.is_set():
            await asyncio.sleep(0.01)
        stopper = asyncio.get_running_loop().run_in_executor(None, b.stop)
        await asyncio.sleep(0.05)
        gate.set()
        await stopper
        return await asyncio.gather(*jobs)

    assert asyncio.run(main()) == [[f"j{i}"] for i in range(5)]


def test_the_warmup_runs_on_the_worker_thread_before_start_returns():
    """The model computes on one thread only (each thread running a PyTorch model gets its own OpenMP team)."""
    threads: dict[str, int] = {}

    def run(xs):
        threads["run"] = threading.get_ident()
        return xs

    b = Batcher(run, max_batch_tokens=100, max_wait_ms=0, max_queue=4)
    b.start(warmup=lambda: threads.setdefault("warmup", threading.get_ident()))
    assert "warmup" in threads and threads["warmup"] != threading.get_ident()
    assert asyncio.run(b.submit(["a"], [1])) == ["a"]
    assert threads["run"] == threads["warmup"]
    b.stop(5)


def test_a_failing_warmup_is_raised_by_start():
    def boom():
        raise RuntimeError("no memory for the model")

    b = Batcher(lambda xs: xs, max_batch_tokens=100, max_wait_ms=0, max_queue=4)
    with pytest.raises(RuntimeError, match="no memory"):
        b.start(warmup=boom)
    assert not b._thread.is_alive()
