"""Where one training step's time goes: the MiniLM step as the engine runs it, under torch.profiler, by kind of op.

    nice -n 10 python bench/step_profile.py [--model DIR] [--task token|sequence] [--batch-size 32] [--length 32]
        [--labelled 50] [--steps 10] [--profiled-steps 5] [--fp32] [--save-results step-profile]

The step: bench/last_layer_step.py's model and synthetic batch (bertkit's CPU training pieces installed, the last
layer computed at the loss's positions), the forward under bf16 autocast (--fp32 for fp32), backward, clipping at 1.0,
fused AdamW and zero_grad, as `bertkit ner train` (or, with --task sequence, `classify train`) runs it on the CPU.
First --steps steps are timed without the profiler (kind=step: the median, what the shares below are of); then
--profiled-steps steps under torch.profiler (which slows every op a little). One line per kind of op (kind=ops), its
share of the profiled self CPU time, its milliseconds a step, and for the matrix products their rate on the FLOPs of
their recorded shapes (2·M·K·N each):
    matmul      aten::mm / addmm (the Linear layers, forward and backward)
    attention   aten::bmm (scores and the product with v, forward and backward)
    casts       aten::copy_ (autocast's casts of activations, weights and gradients; layout copies)
    optimizer   the fused AdamW kernel
    gelu / layer_norm / softmax / dropout_draws (aten::random_) / norms_and_clip (the gradient norm and its scaling:
                linalg_vector_norm, the per-tensor multiply)
    elementwise aten::add / mul / fill / sum / where / ... that are none of the above
    other       everything else (views, allocation, autograd's own work)
With --peak (bench/peak.py's result), the matrix products' rate is also a share of the peak in the step's precision.
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch
from common import emit
from dropout_step import step_options
from fast_sides import read_peak
from last_layer_step import setup
from train_flops import sig

KINDS = {
    "matmul": ("aten::mm", "aten::addmm"),
    "attention": ("aten::bmm",),
    "casts": ("aten::copy_",),
    "optimizer": ("aten::_fused_adamw_",),
    "gelu": ("aten::gelu", "aten::gelu_backward"),
    "layer_norm": ("aten::native_layer_norm", "aten::native_layer_norm_backward"),
    "softmax": ("aten::_softmax", "aten::_softmax_backward_data"),
    "dropout_draws": ("aten::random_",),
    "norms_and_clip": ("aten::linalg_vector_norm", "aten::_foreach_mul_", "aten::_foreach_norm"),
    "elementwise": ("aten::add", "aten::add_", "aten::mul", "aten::mul_", "aten::fill_", "aten::sum", "aten::where",
                    "aten::ge", "aten::div", "aten::div_", "aten::sub", "aten::clamp", "aten::scatter_add_",
                    "aten::index_select", "aten::index_add_", "aten::zero_", "aten::masked_fill_"),
}


def kind_of(name: str) -> str:
    return next((k for k, names in KINDS.items() if name in names), "other")


def mm_flops(name: str, shapes: list) -> float:
    """2·M·K·N of one recorded mm / addmm / bmm call, from its input shapes."""
    dims = [s for s in shapes if isinstance(s, list) and len(s) >= 2]
    if name == "aten::addmm":
        dims = dims[-2:]
    if len(dims) < 2:
        return 0.0
    a, b = dims[0], dims[1]
    batch = a[0] if name == "aten::bmm" and len(a) == 3 else 1
    return 2.0 * batch * a[-2] * a[-1] * b[-1]


def profile(step, steps: int) -> tuple[dict[str, float], dict[str, float]]:
    """(self CPU microseconds per kind, matrix-product FLOPs per kind) over `steps` profiled steps."""
    from torch.profiler import ProfilerActivity
    from torch.profiler import profile as torch_profile

    with torch_profile(activities=[ProfilerActivity.CPU], record_shapes=True) as prof:
        for _ in range(steps):
            step()
    us: dict[str, float] = {}
    flops: dict[str, float] = {}
    for ev in prof.key_averages(group_by_input_shape=True):
        k = kind_of(ev.key)
        us[k] = us.get(k, 0.0) + ev.self_cpu_time_total
        if k in ("matmul", "attention"):
            flops[k] = flops.get(k, 0.0) + ev.count * mm_flops(ev.key, ev.input_shapes)
    return us, flops


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--task", choices=("token", "sequence"), default="token")
    ap.add_argument("--peak", default=None, help="bench/peak.py's result file: rates as a share of it")
    args = step_options(ap, {"--batch-size": 32, "--length": 32, "--labelled": 50, "--steps": 10,
                             "--profiled-steps": 5, "--threads": 2}, {"batch_size": 4, "length": 8, "steps": 2,
                                                                      "profiled_steps": 1})
    from bertkit.engine import last_layer, memory

    torch.set_num_threads(args.threads)
    memory.fix_mmap_threshold()
    model, (ids, mask, labels), positions = setup(args)
    opt = torch.optim.AdamW(model.parameters(), lr=5e-5, fused=True)

    def step() -> None:
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=not args.fp32), last_layer.only(positions):
            loss = model(input_ids=ids, attention_mask=mask, labels=labels).loss
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        opt.zero_grad(set_to_none=True)

    with memory.keep_freed_heap():
        times = []
        for k in range(args.steps + 1):
            t0 = time.perf_counter()
            step()
            if k:  # the first step is not timed
                times.append((time.perf_counter() - t0) * 1000)
        us, flops = profile(step, args.profiled_steps)
    precision = "fp32" if args.fp32 else "bf16"
    peak = (read_peak(args.peak) or {}).get("gflops", {}).get(precision)
    common = {"bench": "step_profile", "task": args.task, "batch_size": args.batch_size, "length": args.length,
              "threads": args.threads, "precision": precision}
    emit({"kind": "step", **common, "step_ms": round(statistics.median(times), 1), "timed_steps": len(times),
          "profiled_steps": args.profiled_steps})
    total = sum(us.values()) or 1.0
    for k in sorted(us, key=us.get, reverse=True):
        rate = flops[k] / (us[k] / 1e6) / 1e9 if flops.get(k) and us[k] else None
        rates = {"gflops": sig(rate), **({"share_of_peak": sig(rate / peak)} if peak else {})} if rate else {}
        emit({"kind": "ops", **common, "ops": k, "share": round(us[k] / total, 4),
              "ms_per_step": round(us[k] / 1000 / args.profiled_steps, 2), **rates})


if __name__ == "__main__":
    main()
