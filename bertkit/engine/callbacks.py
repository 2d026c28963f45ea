"""What happens around the loop, as callbacks: progress, log lines, trackers, and stop signals.

The engine calls `on_train_begin`, `on_log` (every `log_every` steps, after the one host sync there),
`on_evaluate`, `on_save` and `on_train_end`; callbacks read the engine (its `state`, `cfg`, `accelerator`)
and never change training. Only the main process gets the callbacks that print or write.
"""

from __future__ import annotations

import signal
from contextlib import contextmanager
from typing import Any, Callable, Iterator

from bertkit import console


class Callback:
    def on_train_begin(self, engine) -> None: ...

    def on_batch(self, engine) -> None: ...

    def on_log(self, engine, record: dict[str, Any]) -> None: ...

    def on_evaluate(self, engine, record: dict[str, Any]) -> None: ...

    def on_save(self, engine, path) -> None: ...

    def on_train_end(self, engine) -> None: ...


class ProgressCallback(Callback):
    """A rich bar on a terminal; elsewhere a plain line every BERTKIT_LOG_EVERY seconds."""

    def __init__(self) -> None:
        self._cm = self._bar = self._task = None

    def on_train_begin(self, engine) -> None:
        self._cm = console.progress("loss", "speed")
        self._bar = self._cm.__enter__()
        self._task = self._bar.add_task("train", total=engine.total_batches, loss="loss -", speed="")
        self._bar.update(self._task, completed=engine.state.batches_done)

    def on_batch(self, engine) -> None:
        self._bar.update(self._task, completed=engine.state.batches_done)

    def on_log(self, engine, record: dict[str, Any]) -> None:
        self._bar.update(self._task, completed=engine.state.batches_done, loss=f"loss {record['loss']:.4f}",
                         speed=f"{record['samples_per_second']:.0f} samples/s")

    def on_train_end(self, engine) -> None:
        if self._cm is not None:
            self._cm.__exit__(None, None, None)
            self._cm = None


class EvalLogCallback(Callback):
    """One stderr line per evaluation, worded by the task (`describe(record)`)."""

    def __init__(self, describe: Callable[[dict[str, Any]], str]):
        self.describe = describe

    def on_evaluate(self, engine, record: dict[str, Any]) -> None:
        loss = f", dev loss {record['dev_loss']:.4f}" if "dev_loss" in record else ""
        loss += f", train loss {record['train_loss']:.4f}" if "train_loss" in record else ""
        console.log(f"epoch {record['epoch']:.2f} step {record['step']}: {self.describe(record)}{loss}")

    def on_save(self, engine, path) -> None:
        console.log(f"checkpoint saved: {path}")


class TrackerCallback(Callback):
    """Loss, learning rate, gradient norm, samples/s and dev metrics to Accelerate's trackers (`report_to`).
    `config`: the hyper-parameters to record (the run's settings; default: the engine's)."""

    def __init__(self, config: dict[str, Any] | None = None):
        self.config = config

    def on_train_begin(self, engine) -> None:
        given = self.config if self.config is not None else vars(engine.cfg)
        config = {k: v if isinstance(v, (int, float, str, bool)) else str(v) for k, v in given.items()}
        engine.accelerator.init_trackers(engine.project_name, config=config)

    def on_log(self, engine, record: dict[str, Any]) -> None:
        engine.accelerator.log({f"train/{k}": v for k, v in record.items() if k not in ("kind", "step")},
                               step=record["step"])

    def on_evaluate(self, engine, record: dict[str, Any]) -> None:
        vals = {f"eval/{k}": v for k, v in record.items() if isinstance(v, (int, float)) and k not in ("step",)}
        engine.accelerator.log(vals, step=record["step"])

    def on_train_end(self, engine) -> None:
        for tracker in engine.accelerator.trackers:  # not end_training(): that also ends the process group
            tracker.finish()


@contextmanager
def stop_signals() -> Iterator[dict[str, int | None]]:
    """SIGINT and SIGTERM set `flag['signal']` instead of killing the run, so the loop can save a checkpoint at
    the next step boundary and exit 130/143. A second signal of the same kind stops at once."""
    flag: dict[str, int | None] = {"signal": None}
    previous: dict[int, Any] = {}

    def handler(signum, frame):
        if flag["signal"] == signum:
            raise KeyboardInterrupt
        flag["signal"] = signum
        console.log(f"{signal.Signals(signum).name} received: saving a checkpoint at the end of this step")

    try:
        for s in (signal.SIGINT, signal.SIGTERM):
            previous[s] = signal.signal(s, handler)
    except ValueError:  # not the main thread: leave signals alone
        previous.clear()
    try:
        yield flag
    finally:
        for s, h in previous.items():
            signal.signal(s, h)
