"""torch's CPU dropout against bertkit's (bertkit/engine/dropout.py, cpu_attention.py) on one training step.

    nice -n 10 python bench/dropout_step.py [--model DIR] [--batch-size 32] [--length 32] [--rounds 8]
        [--steps 6] [--fp32] [--save-results dropout-step]

The step: a token-classification head on --model (default: the packaged all-MiniLM-L6-v2), one synthetic batch
(seed 0; half its rows padded by a quarter of --length, as bucketed batches are), the forward under bf16 autocast
(as bertkit's auto precision on a CPU with avx512_bf16; --fp32 for fp32), backward, fused AdamW and zero_grad, as the
engine runs it. Sides alternate within one process, --rounds times --steps steps each (the first step of each round
is not timed), so the machine's drift falls on every side alike:
    torch     the model's nn.Dropout modules as they are (torch's bernoulli_ masks)
    bertkit   the same modules after bertkit.engine.dropout.install (16-bit masks from torch's generator)
    bertkit-attention   and the attention probabilities' dropout through bertkit.engine.cpu_attention (the engine's
              CPU training path: scores and softmax in fp32 as SDPA's math path, bertkit's masks)
    none      every dropout module's forward skipped: the most a faster kernel for them could save (the attention
              probabilities' dropout, which SDPA draws inside its own kernel from the module's p, runs on every side)
One JSON line per side (median step ms over the timed steps) and a ratio line (torch's step time over each side's).
"""

from __future__ import annotations

import argparse
import statistics
import time
from pathlib import Path

import torch
from common import emit, packaged_model, parse_args, tiny_model

SIDES = ("torch", "bertkit", "bertkit-attention", "none")


def _model(path: str, labels: int = 13):
    from transformers import AutoModelForTokenClassification

    torch.manual_seed(0)
    model = AutoModelForTokenClassification.from_pretrained(path, num_labels=labels, attn_implementation="sdpa")
    return model.train()


class _Skipped(torch.nn.Dropout):
    """p kept (attention layers read it and pass it to SDPA), the module's own dropout skipped."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x


def _switch(model, side: str) -> None:
    """Every dropout module of `model` as `side` runs it, with its p (every side's class keeps it)."""
    from bertkit.engine import cpu_attention
    from bertkit.engine.dropout import FastDropout

    if side == "bertkit-attention":
        cpu_attention.install(model)
    else:
        cpu_attention.uninstall(model)
    cls = {"bertkit": FastDropout, "bertkit-attention": FastDropout, "none": _Skipped}.get(side, torch.nn.Dropout)
    for module in list(model.modules()):
        for name, child in list(module.named_children()):
            if isinstance(child, torch.nn.Dropout):
                setattr(module, name, cls(child.p))


def synthetic_batch(model, batch: int, length: int):
    """(ids, mask, labels): seed 0, half the rows padded by a quarter of `length`, as bucketed batches are."""
    g = torch.Generator().manual_seed(0)
    vocab = model.config.vocab_size
    ids = torch.randint(min(1000, vocab // 2), vocab, (batch, length), generator=g)
    labels = torch.randint(0, 13, (batch, length), generator=g)
    mask = torch.ones_like(ids)
    mask[: batch // 2, length - length // 4:] = 0
    return ids, mask, labels


def timed_step(model, opt, batch, fp32: bool) -> float:
    """One training step as the engine runs it (bf16 autocast unless fp32); its milliseconds."""
    ids, mask, labels = batch
    t = time.perf_counter()
    with torch.autocast("cpu", dtype=torch.bfloat16, enabled=not fp32):
        loss = model(input_ids=ids, attention_mask=mask, labels=labels).loss
    loss.backward()
    opt.step()
    opt.zero_grad(set_to_none=True)
    return (time.perf_counter() - t) * 1000


def alternate(model, opt, batch, args: argparse.Namespace, sides, switch) -> dict[str, list[float]]:
    """Step times per side: the sides in turn, --rounds times --steps steps, `switch(side)` before each round of
    a side; the first step of each round is not timed."""
    times: dict[str, list[float]] = {s: [] for s in sides}
    for _ in range(args.rounds):
        for side in sides:
            switch(side)
            for k in range(args.steps):
                ms = timed_step(model, opt, batch, args.fp32)
                if k:
                    times[side].append(ms)
    return times


def run(args: argparse.Namespace) -> dict[str, list[float]]:
    torch.set_num_threads(args.threads)
    model = _model(args.model)
    opt = torch.optim.AdamW(model.parameters(), lr=5e-5, fused=True)
    batch = synthetic_batch(model, args.batch_size, args.length)
    return alternate(model, opt, batch, args, SIDES, lambda side: _switch(model, side))


def step_options(ap: argparse.ArgumentParser, ints: dict[str, int], smoke: dict) -> argparse.Namespace:
    """--model, the integer options `ints` (flag: default), --fp32 and --smoke (the tiny random model, with the
    attributes `smoke` sets), parsed."""
    ap.add_argument("--model", default=None, help="default: the packaged all-MiniLM-L6-v2")
    for flag, default in ints.items():
        ap.add_argument(flag, type=int, default=default)
    ap.add_argument("--fp32", action="store_true", help="fp32 instead of bf16 autocast")
    ap.add_argument("--smoke", action="store_true", help="tiny random model, 1 round of 2 steps (for the tests)")
    args = parse_args(ap)
    if args.smoke:
        import tempfile

        args.model = tiny_model(Path(tempfile.mkdtemp(prefix="bertkit-bench-")) / "tiny")
        for key, value in {"rounds": 1, "steps": 2, **smoke}.items():
            setattr(args, key, value)
    args.model = args.model or packaged_model()
    return args


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    args = step_options(ap, {"--batch-size": 32, "--length": 32, "--rounds": 8, "--steps": 6, "--threads": 2},
                        {"batch_size": 4, "length": 8})
    common = {"bench": "dropout_step", "batch_size": args.batch_size, "length": args.length, "rounds": args.rounds,
              "steps": args.steps, "threads": args.threads, "precision": "fp32" if args.fp32 else "bf16"}
    times = run(args)
    med = {s: round(statistics.median(v), 1) for s, v in times.items()}
    lines = [{"kind": "side", **common, "side": s, "step_ms": med[s], "timed_steps": len(times[s])} for s in SIDES]
    cost, saved = med["torch"] - med["none"], med["torch"] - med["bertkit"]  # what the modules cost, what was saved
    lines.append({"kind": "ratio", **common, "x_bertkit_vs_torch": round(med["torch"] / med["bertkit"], 3),
                  "x_bertkit_attention_vs_torch": round(med["torch"] / med["bertkit-attention"], 3),
                  "x_none_vs_torch": round(med["torch"] / med["none"], 3),
                  "share_of_dropout_cost_removed": round(saved / cost, 2) if cost > 0 else None})
    for line in lines:
        emit(line)


if __name__ == "__main__":
    main()
