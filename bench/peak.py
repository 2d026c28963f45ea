"""This CPU's matrix-multiply peak at BERT shapes: fp32 and bf16 (torch), int8 (ONNX Runtime MatMulInteger).

    nice -n 10 python bench/peak.py [--threads 2] [--repeats 5] [--shapes 4096x384x1536,...] [--save-results peak]

Each shape M x K x N is an activation (M tokens x K) times a weight (K x N), as in a Linear layer of an encoder:
MiniLM-L6 (hidden 384, FFN 1536) and BERT-base (768, 3072). Each backend is timed on every shape --repeats times
(after a warm-up), the fastest kept; 2*M*K*N / seconds is the rate (GFLOP/s; GOP/s for int8). One JSON line per
backend and shape (kind=matmul), then kind=peak: each backend's best rate over the shapes, the number the other
benches divide by ("x % of what this machine can do"). Load average on every line: a busy machine lowers all rates.
- fp32 / bf16: torch.matmul on contiguous tensors, torch.set_num_threads(--threads);
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


def int8_session(k: int, n: int, threads: int):
    import numpy as np
    import onnx
    import onnxruntime as ort
    from onnx import TensorProto, helper, numpy_helper

    w = np.random.default_rng(0).integers(-127, 128, size=(k, n)).astype(np.int8)
    graph = helper.make_graph(
        [helper.make_node("MatMulInteger", ["a", "w", "a_zp", "w_zp"], ["y"])], "mm",
        [helper.make_tensor_value_info("a", TensorProto.UINT8, ["M", k])],
        [helper.make_tensor_value_info("y", TensorProto.INT32, ["M", n])],
        [numpy_helper.from_array(w, "w"), numpy_helper.from_array(np.array(128, np.uint8), "a_zp"),
         numpy_helper.from_array(np.array(0, np.int8), "w_zp")])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    so = ort.SessionOptions()
    so.intra_op_num_threads = threads
    so.log_severity_level = 3
    onnx.checker.check_model(model)
    return ort.InferenceSession(model.SerializeToString(), so, providers=["CPUExecutionProvider"])


def int8_rate(m: int, k: int, n: int, threads: int, repeats: int) -> float:
    import numpy as np

    sess = int8_session(k, n, threads)
    a = np.random.default_rng(1).integers(0, 256, size=(m, k)).astype(np.uint8)
    s = best_seconds(lambda: sess.run(["y"], {"a": a}), repeats)
    return 2 * m * k * n / s / 1e9


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--shapes", default=SHAPES, help="comma-separated MxKxN")
    ap.add_argument("--backends", default="fp32,bf16,int8")
    ap.add_argument("--smoke", action="store_true", help="one small shape, one repeat (the tests)")
    args = parse_args(ap)
    if args.smoke:
        args.shapes, args.repeats = "64x96x128", 1
    import torch

    torch.set_num_threads(args.threads)
    env = environment()
    shapes = [tuple(int(x) for x in s.split("x")) for s in args.shapes.split(",") if s]
    peak: dict[str, float] = {}
    for backend in args.backends.split(","):
        for m, k, n in shapes:
            if backend == "int8":
                rate = int8_rate(m, k, n, args.threads, args.repeats)
            else:
                rate = torch_rate(m, k, n, torch.float32 if backend == "fp32" else torch.bfloat16, args.repeats)
            peak[backend] = max(peak.get(backend, 0.0), rate)
            emit({"kind": "matmul", "bench": "peak", "backend": backend, "shape": f"{m}x{k}x{n}",
                  "threads": args.threads,
                  "gflops": round(rate, 1)})
    emit({"kind": "peak", "bench": "peak", "threads": args.threads, "gflops": {b: round(r, 1) for b, r in peak.items()},
          "unit": "GFLOP/s (int8: GOP/s), the best over the shapes", **env})


if __name__ == "__main__":
    main()
