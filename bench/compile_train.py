"""torch.compile (inductor) on the training step on CPU: compile time, step speed and the loss curve against eager.

    nice -n 10 python bench/compile_train.py [--model DIR] [--steps 100] [--batch-size 16] [--buckets 16,32,48,64]
        [--threads 2] [--bf16] [--attn eager|sdpa] [--save-results compile-train]

Model: --model (a base encoder folder; default the tiny random BERT of the smoke tests), a 2-label head seeded the
same for both sides, dropout off (the compiled graph draws its own random numbers, so with dropout the curves could
not be compared). Data: --steps synthetic batches (seed 0) whose lengths cycle through --buckets, as bertkit's
length buckets give them. Each side runs the same batches from the same weights with AdamW (lr 1e-4), fp32
(--bf16: bf16 autocast):
- eager: the model as it is;
- compiled: torch.compile(model) with dynamic shapes marked on the sequence axis (one graph for every bucket).
One JSON line per side (first-steps seconds, i.e. compile and warm-up; steady step ms over the last half; losses),
then kind=compare: the speed ratio, the largest relative loss difference over the steps, and the break-even step
count (compile time / time saved per step), "never" when the compiled step is not faster.
"""

from __future__ import annotations

import argparse
import copy
import tempfile
import time
from pathlib import Path

from common import emit, environment, parse_args, tiny_model


def batches(vocab: int, steps: int, bs: int, buckets: list[int]):
    import torch

    g = torch.Generator().manual_seed(0)
    out = []
    for i in range(steps):
        t = buckets[i % len(buckets)]
        ids = torch.randint(5, vocab, (bs, t), generator=g)
        out.append({"input_ids": ids, "attention_mask": torch.ones_like(ids),
                    "labels": torch.randint(0, 2, (bs,), generator=g)})
    return out


def run(model, data, compiled: bool, bf16: bool = False) -> dict:
    import contextlib

    import torch

    cast = torch.autocast("cpu", dtype=torch.bfloat16) if bf16 else contextlib.nullcontext()

    if compiled:
        torch._dynamo.reset()
        step_model = torch.compile(model)
    else:
        step_model = model
    opt = torch.optim.AdamW(model.parameters(), lr=1e-4)
    losses, times = [], []
    model.train()
    for b in data:
        if compiled:
            torch._dynamo.mark_dynamic(b["input_ids"], 1)
            torch._dynamo.mark_dynamic(b["attention_mask"], 1)
        t0 = time.perf_counter()
        with cast:
            loss = step_model(**b).loss
        loss.backward()
        opt.step()
        opt.zero_grad(set_to_none=True)
        times.append(time.perf_counter() - t0)
        losses.append(float(loss))
    half = len(times) // 2
    warm = len(set(x["input_ids"].shape[1] for x in data))  # the steps until every bucket was seen once
    return {"first_steps_s": round(sum(times[:warm]), 2),
            "steady_step_ms": round(1000 * sum(times[half:]) / (len(times) - half), 2),
            "losses": [round(x, 6) for x in losses]}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", default=None)
    ap.add_argument("--steps", type=int, default=100)
    ap.add_argument("--batch-size", type=int, default=16)
    ap.add_argument("--buckets", default="16,32,48,64")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--bf16", action="store_true", help="bf16 autocast on both sides (as bertkit's auto precision)")
    ap.add_argument("--attn", default="eager", choices=("eager", "sdpa"), help="the attention implementation")
    args = parse_args(ap)
    import torch
    from transformers import AutoModelForSequenceClassification

    torch.set_num_threads(args.threads)
    with tempfile.TemporaryDirectory() as tmp:
        base = args.model or tiny_model(Path(tmp) / "tiny")
        torch.manual_seed(0)
        ref = AutoModelForSequenceClassification.from_pretrained(base, num_labels=2, hidden_dropout_prob=0.0,
                                                                 attention_probs_dropout_prob=0.0,
                                                                 attn_implementation=args.attn)
    data = batches(ref.config.vocab_size, args.steps, args.batch_size, [int(b) for b in args.buckets.split(",")])
    env = environment()
    common = {"bench": "compile_train", "model": args.model or "tiny", "steps": args.steps,
              "batch_size": args.batch_size,
              "buckets": args.buckets, "threads": args.threads, "bf16": args.bf16, "attn": args.attn}
    res = {}
    for side in ("eager", "compiled"):
        res[side] = run(copy.deepcopy(ref), data, side == "compiled", args.bf16)
        emit({"kind": "side", **common, "side": side, **res[side], **env})
    e, c = res["eager"], res["compiled"]
    rel = max(abs(a - b) / max(abs(a), 1e-12) for a, b in zip(e["losses"], c["losses"]))
    saved_ms = e["steady_step_ms"] - c["steady_step_ms"]
    compile_s = c["first_steps_s"] - e["first_steps_s"]
    emit({"kind": "compare", **common, "x_compiled_vs_eager": round(e["steady_step_ms"] / c["steady_step_ms"], 3),
          "compile_s": round(compile_s, 2), "max_rel_loss_diff": float(f"{rel:.3g}"),
          "break_even_steps": round(1000 * compile_s / saved_ms) if saved_ms > 0 else "never",
          "adopt": bool(saved_ms > 0 and rel < 1e-3)})


if __name__ == "__main__":
    main()
