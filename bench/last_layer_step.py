"""The encoder's last layer at the loss's positions only (bertkit/engine/last_layer.py) against the whole layer, on one
training step.

    nice -n 10 python bench/last_layer_step.py [--model DIR] [--task token|sequence] [--batch-size 32] [--length 32]
        [--labelled 50] [--rounds 8] [--steps 6] [--fp32] [--save-results last-layer-step]

The step: a token-classification (or, with --task sequence, a sequence-classification) head on --model (default:
the packaged all-MiniLM-L6-v2), one synthetic batch (seed 0; half its rows padded by a quarter of --length), with
bertkit's CPU training pieces installed as the engine installs them (dropout masks, attention path, embedding
gradient buffer); the forward under bf16 autocast (--fp32 for fp32), backward, fused AdamW and zero_grad. Token
classification labels --labelled percent of the real positions after [CLS] (a word's first sub-token: about half
of WNUT-17's sub-tokens); sequence classification reads [CLS]. Sides alternate within one process, --rounds times
--steps steps each (the first step of each round is not timed):
    whole       the last layer computed at every position (as transformers computes it)
    last-layer  computed only at the positions the loss reads (what `bertkit ner train` and `classify train` run)
One JSON line per side (median step ms) and a ratio line (the whole layer's step time over last-layer's).
"""

from __future__ import annotations

import argparse
import statistics
from contextlib import ExitStack

import torch
from common import emit
from dropout_step import alternate, step_options, synthetic_batch

SIDES = ("whole", "last-layer")


def setup(args: argparse.Namespace):
    """(model, batch, positions) with bertkit's CPU training pieces and the last-layer path installed."""
    from transformers import AutoModelForSequenceClassification, AutoModelForTokenClassification

    from bertkit.engine import cpu_attention, dropout, embedding_grad, last_layer

    torch.manual_seed(0)
    auto = AutoModelForTokenClassification if args.task == "token" else AutoModelForSequenceClassification
    model = auto.from_pretrained(args.model, num_labels=13 if args.task == "token" else 2,
                                 attn_implementation="sdpa").train()
    for piece in (dropout, cpu_attention, embedding_grad):  # as the engine installs them on the CPU
        piece.install(model)
    if not last_layer.install(model):
        raise SystemExit(f"{args.model}: its last layer does not have BERT's shape")
    ids, mask, labels = synthetic_batch(model, args.batch_size, args.length)
    if args.task == "token":
        g = torch.Generator().manual_seed(1)
        positions = (torch.rand(ids.shape, generator=g) < args.labelled / 100) & mask.bool()
        positions[:, 0] = False
        labels = torch.where(positions, labels, torch.full_like(labels, -100))
    else:
        positions = torch.zeros_like(mask, dtype=torch.bool)
        positions[:, 0] = True
        labels = labels[:, 0] % 2
    return model, (ids, mask, labels), positions


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--task", choices=("token", "sequence"), default="token")
    args = step_options(ap, {"--batch-size": 32, "--length": 32, "--labelled": 50, "--rounds": 8, "--steps": 6,
                             "--threads": 2}, {"batch_size": 4, "length": 8})
    from bertkit.engine import last_layer

    torch.set_num_threads(args.threads)
    model, batch, positions = setup(args)
    opt = torch.optim.AdamW(model.parameters(), lr=5e-5, fused=True)
    with ExitStack() as stack:
        def switch(side: str) -> None:
            stack.close()
            if side == "last-layer":
                stack.enter_context(last_layer.only(positions))

        times = alternate(model, opt, batch, args, SIDES, switch)
    common = {"bench": "last_layer_step", "task": args.task, "batch_size": args.batch_size, "length": args.length,
              "labelled_share": round(float(positions.sum() / batch[1].sum()), 3), "rounds": args.rounds,
              "steps": args.steps, "threads": args.threads, "precision": "fp32" if args.fp32 else "bf16"}
    med = {s: round(statistics.median(v), 1) for s, v in times.items()}
    for s in SIDES:
        emit({"kind": "side", **common, "side": s, "step_ms": med[s], "timed_steps": len(times[s])})
    emit({"kind": "ratio", **common, "x_last_layer_vs_whole": round(med["whole"] / med["last-layer"], 3)})


if __name__ == "__main__":
    main()
