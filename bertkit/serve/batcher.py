"""Dynamic batching: requests from many clients merged into length-sorted batches, run on one worker thread.

The event loop only enqueues a `Job` (its inputs and their token lengths) and awaits its future; the worker thread
waits for the first job, gathers more for up to `max_wait_ms` (while busy: an idle worker runs a lone job at once)
or until `max_batch_tokens` padded tokens are queued,
sorts the gathered inputs by length, cuts them into batches of at most `max_batch_tokens` padded tokens and runs
`run(inputs) -> outputs` on each. A job's outputs come back in its input order. A job cancelled before its batch
runs (a client that went away) leaves the queue at once; an exception in `run` fails only the jobs of that batch.
"""

from __future__ import annotations

import asyncio
import itertools
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from typing import Any, Callable, Sequence


class QueueFull(Exception):
    """The queue holds `max_queue` jobs: shed the request (503)."""


class BatchFailed(Exception):
    """`run` raised for a batch holding this job's inputs."""

    def __init__(self, batch_id: int, cause: BaseException):
        super().__init__(f"batch {batch_id} failed: {type(cause).__name__}: {cause}")
        self.batch_id, self.cause = batch_id, cause


class Stopped(Exception):
    """The batcher stopped before the job ran."""


@dataclass(eq=False)
class Job:
    inputs: Sequence[Any]
    lengths: Sequence[int]
    future: asyncio.Future
    loop: asyncio.AbstractEventLoop
    outputs: list = field(default_factory=list)
    pending: int = 0
    cancelled: bool = False
    failed: bool = False

    @property
    def tokens(self) -> int:
        return sum(self.lengths)


def token_batches(lengths: Sequence[int], max_tokens: int) -> list[list[int]]:
    """Indices sorted by length (longest first), cut so that len(batch) * its longest input <= max_tokens (a single
    longer input makes a batch of its own)."""
    order = sorted(range(len(lengths)), key=lambda i: -lengths[i])
    batches: list[list[int]] = []
    cur: list[int] = []
    for i in order:
        longest = lengths[cur[0]] if cur else lengths[i]
        if cur and (len(cur) + 1) * longest > max_tokens:
            batches.append(cur)
            cur = []
        cur.append(i)
    if cur:
        batches.append(cur)
    return batches


class Batcher:
    """One model's queue and worker thread. `observe(size, tokens, seconds)` is called after every batch."""

    def __init__(self, run: Callable[[list[Any]], list[Any]], *, max_batch_tokens: int, max_wait_ms: float,
                 max_queue: int, name: str = "model", observe: Callable[[int, int, float], None] | None = None):
        self.run, self.name, self.observe = run, name, observe
        self.max_batch_tokens, self.max_wait, self.max_queue = max_batch_tokens, max_wait_ms / 1000.0, max_queue
        self._queue: deque[Job] = deque()
        self._cond = threading.Condition()
        self._stopping = False
        self._busy = False
        self._ids = itertools.count(1)
        self._warmup: tuple = (None, threading.Event(), [])
        self._thread = threading.Thread(target=self._work, name=f"bertkit-serve-{name}", daemon=True)

    @property
    def depth(self) -> int:
        return len(self._queue)

    def start(self, warmup: Callable[[], Any] | None = None) -> None:
        """Start the worker thread. `warmup` runs there first and start() waits for it (raising what it raised): a
        PyTorch model should compute on one thread only, since every thread that runs it gets its own OpenMP team
        (measured, idle 2-core EPYC, MiniLM, batch 1, three runs: 13.2 / 16.1 / 15.1 ms a forward on the worker
        alone, 17.1 / 17.8 / 16.6 ms once the main thread had run the warm-up)."""
        ready, failed = threading.Event(), []
        self._warmup = (warmup, ready, failed)
        self._thread.start()
        ready.wait()
        if failed:
            self._thread.join()
            raise failed[0]

    def stop(self, timeout: float | None = None) -> None:
        """Finish every queued job, then end the worker."""
        with self._cond:
            self._stopping = True
            self._cond.notify_all()
        if self._thread.is_alive():
            self._thread.join(timeout)

    async def submit(self, inputs: Sequence[Any], lengths: Sequence[int]) -> list[Any]:
        """The outputs of `inputs`, in order. QueueFull when the queue is full; cancelling the awaiting task takes
        the job out of the queue (or drops its outputs if its batch already runs)."""
        loop = asyncio.get_running_loop()
        job = Job(list(inputs), [max(1, int(n)) for n in lengths], loop.create_future(), loop)
        job.outputs, job.pending = [None] * len(job.inputs), len(job.inputs)
        if not job.inputs:
            return []
        with self._cond:
            if self._stopping:
                raise Stopped("the server is shutting down")
            if len(self._queue) >= self.max_queue:
                raise QueueFull(f"{self.name}: {len(self._queue)} requests queued (--max-queue {self.max_queue})")
            self._queue.append(job)
            self._cond.notify()
        try:
            return await job.future
        except asyncio.CancelledError:
            self.cancel(job)
            raise

    def cancel(self, job: Job) -> None:
        with self._cond:
            job.cancelled = True
            try:
                self._queue.remove(job)
            except ValueError:
                pass  # already taken by the worker: its outputs are dropped

    # -- the worker thread -----------------------------------------------------------------------
    def _take(self) -> list[Job] | None:
        """The next jobs to run together: the first waits for up to max_wait for company, bounded by the budget."""
        with self._cond:
            while not self._queue:
                if self._stopping:
                    return None
                self._cond.wait()
            # wait for company only while busy (the last batch merged requests, or several wait): an idle server
            # runs a lone request at once, so one client pays no --max-wait-ms
            deadline = time.monotonic() + (self.max_wait if self._busy or len(self._queue) > 1 else 0.0)
            while not self._stopping and sum(j.tokens for j in self._queue) < self.max_batch_tokens:
                left = deadline - time.monotonic()
                if left <= 0:
                    break
                self._cond.wait(left)
            jobs, tokens = [], 0
            while self._queue and (not jobs or tokens + self._queue[0].tokens <= self.max_batch_tokens):
                job = self._queue.popleft()
                jobs.append(job)
                tokens += job.tokens
            self._busy = len(jobs) > 1 or bool(self._queue)
            return jobs

    def _work(self) -> None:
        warmup, ready, failed = self._warmup
        try:
            if warmup is not None:
                warmup()
        except BaseException as e:  # noqa: BLE001 - raised again by start(), in the caller's thread
            failed.append(e)
            return
        finally:
            ready.set()
        while True:
            jobs = self._take()
            if jobs is None:
                return
            jobs = [j for j in jobs if not j.cancelled]
            flat = [(j, k) for j in jobs for k in range(len(j.inputs))]
            for idx in token_batches([j.lengths[k] for j, k in flat], self.max_batch_tokens):
                self._run_batch([flat[i] for i in idx])
            for job in jobs:
                if not job.failed:
                    self._resolve(job, None)

    def _run_batch(self, items: list[tuple[Job, int]]) -> None:
        items = [(j, k) for j, k in items if not j.cancelled and not j.failed]
        if not items:
            return
        batch_id = next(self._ids)
        t0 = time.perf_counter()
        try:
            outs = self.run([j.inputs[k] for j, k in items])
            if len(outs) != len(items):
                raise RuntimeError(f"{len(outs)} outputs for {len(items)} inputs")
        except Exception as e:  # noqa: BLE001 - the batch's requests fail, the server keeps serving
            for job in {j for j, _ in items}:
                job.failed = True
                self._resolve(job, BatchFailed(batch_id, e))
            return
        if self.observe is not None:
            self.observe(len(items), len(items) * max(j.lengths[k] for j, k in items), time.perf_counter() - t0)
        for (job, k), out in zip(items, outs):
            job.outputs[k] = out

    @staticmethod
    def _resolve(job: Job, error: BaseException | None) -> None:
        def settle() -> None:
            if job.future.done():
                return
            if error is not None:
                job.future.set_exception(error)
            else:
                job.future.set_result(job.outputs)

        try:
            job.loop.call_soon_threadsafe(settle)
        except RuntimeError:  # the loop is closed
            pass
