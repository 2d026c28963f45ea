"""This CPU's matrix-multiply peak at BERT shapes: fp32 (torch and ONNX Runtime), bf16 (torch), int8 (ONNX Runtime).

    nice -n 10 python bench/peak.py [--threads 2] [--repeats 5] [--shapes 4096x384x1536,...] [--save-results peak]

Each shape M x K x N is an activation (M tokens x K) times a weight (K x N), as in a Linear layer of an encoder:
MiniLM-L6 (hidden 384, FFN 1536) and BERT-base (768, 3072). Each backend is timed on every shape --repeats times
(after a warm-up), the fastest kept; 2*M*K*N / seconds is the rate (GFLOP/s; GOP/s for int8). One JSON line per
backend and shape (kind=matmul), then kind=peak: `gflops`, each precision's best rate over its backends and the
shapes, the number the other benches divide by ("x % of what this machine can do"), and `by_backend`, each backend's
best. Load average on every line: a busy machine lowers all rates.
- fp32 / bf16: torch.matmul on contiguous tensors, torch.set_num_threads(--threads);
- fp32-ort: a one-node ONNX graph MatMul(activations, constant fp32 weights), the kernel `--fast` runs in fp32, in a
  session with intra_op_num_threads = --threads. Where it beats torch's fp32 (on the AMD EPYC Zen 5, ONNX Runtime's
  own kernels reach ~2x what torch reaches), the fp32 peak is its rate: a share above 100 % would say nothing;
- int8: a one-node ONNX graph MatMulInteger(uint8 activations, int8 weights -> int32), the kernel that ONNX Runtime's
  dynamic quantization runs, in a session with intra_op_num_threads = --threads (the quantize / dequantize steps
  around it are not counted: this is the kernel's ceiling).
"""

from __future__ import annotations

import argparse
import time

from common import emit, environment, parse_args

SHAPES = "4096x384x1536,4096x1536x384,4096x384x384,2048x768x3072,2048x3072x768"


def best_seconds(fn, repeats: int) -> float:
    fn()  # warm-up: first-call allocations and kernel selection
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return min(times)


def torch_rate(m: int, k: int, n: int, dtype, repeats: int) -> float:
    import torch

    g = torch.Generator().manual_seed(0)
    a = torch.randn(m, k, generator=g).to(dtype)
    b = torch.randn(k, n, generator=g).to(dtype)
    with torch.inference_mode():
        s = best_seconds(lambda: torch.matmul(a, b), repeats)
    return 2 * m * k * n / s / 1e9


PRECISION = {"fp32": "fp32", "fp32-ort": "fp32", "bf16": "bf16", "int8": "int8"}


def ort_session(k: int, n: int, threads: int, int8: bool):
    """A one-node graph: MatMulInteger (uint8 activations, int8 weights -> int32) or fp32 MatMul, weights constant."""
    import numpy as np
    import onnx
    import onnxruntime as ort
    from onnx import TensorProto, helper, numpy_helper

    rng = np.random.default_rng(0)
    if int8:
        node = helper.make_node("MatMulInteger", ["a", "w", "a_zp", "w_zp"], ["y"])
        types = TensorProto.UINT8, TensorProto.INT32
        consts = [numpy_helper.from_array(rng.integers(-127, 128, size=(k, n)).astype(np.int8), "w"),
                  numpy_helper.from_array(np.array(128, np.uint8), "a_zp"),
                  numpy_helper.from_array(np.array(0, np.int8), "w_zp")]
    else:
        node = helper.make_node("MatMul", ["a", "w"], ["y"])
        types = TensorProto.FLOAT, TensorProto.FLOAT
        consts = [numpy_helper.from_array(rng.standard_normal((k, n)).astype(np.float32), "w")]
    graph = helper.make_graph([node], "mm", [helper.make_tensor_value_info("a", types[0], ["M", k])],
                              [helper.make_tensor_value_info("y", types[1], ["M", n])], consts)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    so = ort.SessionOptions()
    so.intra_op_num_threads = threads
    so.log_severity_level = 3
    onnx.checker.check_model(model)
    return ort.InferenceSession(model.SerializeToString(), so, providers=["CPUExecutionProvider"])


def ort_rate(m: int, k: int, n: int, threads: int, repeats: int, int8: bool) -> float:
    import numpy as np

    sess = ort_session(k, n, threads, int8)
    rng = np.random.default_rng(1)
    a = rng.integers(0, 256, size=(m, k)).astype(np.uint8) if int8 else rng.standard_normal((m, k)).astype(np.float32)
    s = best_seconds(lambda: sess.run(["y"], {"a": a}), repeats)
    return 2 * m * k * n / s / 1e9


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--shapes", default=SHAPES, help="comma-separated MxKxN")
    ap.add_argument("--backends", default="fp32,fp32-ort,bf16,int8", help=f"comma-separated of {','.join(PRECISION)}")
    ap.add_argument("--smoke", action="store_true", help="one small shape, one repeat (the tests)")
    args = parse_args(ap)
    if args.smoke:
        args.shapes, args.repeats = "64x96x128", 1
    unknown = sorted(set(args.backends.split(",")) - set(PRECISION))
    if unknown:
        ap.error(f"--backends: unknown {', '.join(unknown)}; choose from {', '.join(PRECISION)}")
    import torch

    torch.set_num_threads(args.threads)
    env = environment()
    shapes = [tuple(int(x) for x in s.split("x")) for s in args.shapes.split(",") if s]
    peak: dict[str, float] = {}
    by_backend: dict[str, float] = {}
    for backend in args.backends.split(","):
        for m, k, n in shapes:
            if backend in ("int8", "fp32-ort"):
                rate = ort_rate(m, k, n, args.threads, args.repeats, int8=backend == "int8")
            else:
                rate = torch_rate(m, k, n, torch.float32 if backend == "fp32" else torch.bfloat16, args.repeats)
            by_backend[backend] = max(by_backend.get(backend, 0.0), rate)
            peak[PRECISION[backend]] = max(peak.get(PRECISION[backend], 0.0), rate)
            emit({"kind": "matmul", "bench": "peak", "backend": backend, "shape": f"{m}x{k}x{n}",
                  "threads": args.threads,
                  "gflops": round(rate, 1)})
    emit({"kind": "peak", "bench": "peak", "threads": args.threads, "gflops": {b: round(r, 1) for b, r in peak.items()},
          "by_backend": {b: round(r, 1) for b, r in by_backend.items()},
          "unit": "GFLOP/s (int8: GOP/s), the best over the backends and shapes", **env})


if __name__ == "__main__":
    main()
