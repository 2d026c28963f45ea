"""Memory traffic of a CPU training step: the embedding gradient's kept buffer (bertkit/engine/embedding_grad.py)
and the freed heap kept between steps (bertkit.engine.memory.keep_freed_heap), each side against the step before.

    nice -n 10 python bench/memory_step.py [--model DIR] [--shapes 32x16,32x32,16x256] [--rounds 8] [--steps 4]
        [--fp32] [--save-results memory-step]

The step is bench/dropout_step.py's (a token-classification head on --model, default the packaged all-MiniLM-L6-v2;
one synthetic batch per BATCHxLENGTH shape; bf16 autocast unless --fp32; backward, fused AdamW, zero_grad) with the
engine's CPU dropout and attention path, after glibc's mmap threshold is fixed as every training run fixes it.
Sides alternate within one process, --rounds times --steps steps each (the first step of each round not timed):
    before     torch's embedding backward (a new zero-filled gradient of the whole table each step); glibc's trim
               threshold at 128 KiB (what a fixed mmap threshold leaves): the engine before both changes
    embedding  the word embedding's gradient into bertkit's kept buffer (the same values, bit for bit)
    both       and keep_freed_heap, as the engine's training loop runs
One JSON line per shape and side (median step ms) and a ratio line per shape (before's step time over each side's).
"""

from __future__ import annotations

import argparse
import statistics
from contextlib import ExitStack

import torch
from common import emit
from dropout_step import _model, _switch, alternate, step_options, synthetic_batch

SIDES = ("before", "embedding", "both")


def _enter(model, side: str, stack: ExitStack) -> None:
    from bertkit.engine import embedding_grad, memory

    stack.close()  # back to the trim threshold of 128 KiB
    (embedding_grad.uninstall if side == "before" else embedding_grad.install)(model)
    if side == "both":
        stack.enter_context(memory.keep_freed_heap())


def run(args: argparse.Namespace, batch: int, length: int) -> dict[str, list[float]]:
    from bertkit.engine.memory import fix_mmap_threshold

    fix_mmap_threshold()
    torch.set_num_threads(args.threads)
    model = _model(args.model)
    _switch(model, "bertkit-attention")
    opt = torch.optim.AdamW(model.parameters(), lr=5e-5, fused=True)
    data = synthetic_batch(model, batch, length)
    with ExitStack() as stack:
        return alternate(model, opt, data, args, SIDES, lambda side: _enter(model, side, stack))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--shapes", default="32x16,32x32,16x256", help="BATCHxLENGTH, comma-separated")
    args = step_options(ap, {"--rounds": 8, "--steps": 4, "--threads": 2}, {"shapes": "4x8"})
    for shape in args.shapes.split(","):
        batch, length = (int(v) for v in shape.lower().split("x"))
        common = {"bench": "memory_step", "batch_size": batch, "length": length, "rounds": args.rounds,
                  "steps": args.steps, "threads": args.threads, "precision": "fp32" if args.fp32 else "bf16"}
        times = run(args, batch, length)
        med = {s: round(statistics.median(v), 1) for s, v in times.items()}
        for s in SIDES:
            emit({"kind": "side", **common, "side": s, "step_ms": med[s], "timed_steps": len(times[s])})
        emit({"kind": "ratio", **common, "x_embedding_vs_before": round(med["before"] / med["embedding"], 3),
              "x_both_vs_before": round(med["before"] / med["both"], 3)})


if __name__ == "__main__":
    main()
