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
import time
from contextlib import ExitStack
from pathlib import Path

import torch
from common import emit, packaged_model, parse_args, tiny_model
from dropout_step import _model, _switch

SIDES = ("before", "embedding", "both")


def _batch(model, batch: int, length: int):
    g = torch.Generator().manual_seed(0)
    vocab = model.config.vocab_size
    ids = torch.randint(min(1000, vocab // 2), vocab, (batch, length), generator=g)
    labels = torch.randint(0, 13, (batch, length), generator=g)
    mask = torch.ones_like(ids)
    mask[: batch // 2, length - length // 4:] = 0
    return ids, mask, labels


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
    ids, mask, labels = _batch(model, batch, length)
    times: dict[str, list[float]] = {s: [] for s in SIDES}
    with ExitStack() as stack:
        for _ in range(args.rounds):
            for side in SIDES:
                _enter(model, side, stack)
                for k in range(args.steps):
                    t = time.perf_counter()
                    with torch.autocast("cpu", dtype=torch.bfloat16, enabled=not args.fp32):
                        loss = model(input_ids=ids, attention_mask=mask, labels=labels).loss
                    loss.backward()
                    opt.step()
                    opt.zero_grad(set_to_none=True)
                    if k:
                        times[side].append((time.perf_counter() - t) * 1000)
    return times


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", default=None, help="default: the packaged all-MiniLM-L6-v2")
    ap.add_argument("--shapes", default="32x16,32x32,16x256", help="BATCHxLENGTH, comma-separated")
    for flag, default in (("--rounds", 8), ("--steps", 4), ("--threads", 2)):
        ap.add_argument(flag, type=int, default=default)
    ap.add_argument("--fp32", action="store_true", help="fp32 instead of bf16 autocast")
    ap.add_argument("--smoke", action="store_true", help="tiny random model, 1 round of 2 steps (for the tests)")
    args = parse_args(ap)
    if args.smoke:
        import tempfile

        args.model = tiny_model(Path(tempfile.mkdtemp(prefix="bertkit-bench-")) / "tiny")
        args.rounds, args.steps, args.shapes = 1, 2, "4x8"
    args.model = args.model or packaged_model()
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
