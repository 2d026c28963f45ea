"""Activation smoothing for the int8 gate: the LayerNorm outputs' per-channel scale moved into the weights after them.

ONNX Runtime's dynamic quantization gives each activation one int8 scale per tensor, set by its largest value. A BERT
encoder's LayerNorm outputs have a few channels far larger than the rest (MiniLM QA on SQuAD contexts: up to ~28
against a median of ~1.8 per channel), so most channels get only a few of the 256 levels. SmoothQuant's remedy:
divide channel j of the activation by s_j and multiply row j of every weight it meets by s_j. In fp32 the product is
the same; in int8 the activation's channels share the range more evenly, and the weights, quantized per output
channel, take up the difference. Here
    s_j = max|x_j| ^ alpha / max|w_j| ^ (1 - alpha),
with max|x_j| measured on the gate's own data (the real tokens only) and max|w_j| over every weight the activation
feeds. s is normalised to a geometric mean of 1. In a post-LN encoder the LayerNorm's output is also the residual
stream, so the division is a Mul node in front of the matrix products rather than folded into the LayerNorm.

Which alpha is best depends on the model (8-bit weights, the AMD EPYC Zen 4; relative metric drop, then the share of
predictions equal to fp32's):
    MiniLM QA, XQuAD-en (1,190 questions)   plain 2.4 %, 78.7 %   alpha 0.5: 2.9 %, 82.9 %   alpha 0.75: 0.9 %, 84.1 %
    WNUT-17 MiniLM, dev entity F1           plain 3.3 %, 99.56 %  alpha 0.5: 1.6 %, 99.68 %  alpha 0.75: 2.4 %, 99.60 %
    SST-2 MiniLM (1,200 rows), dev accuracy plain 0.0 %, 98.17 %  alpha 0.5: 0.3 %, 98.62 %  alpha 0.75: 0.1 %, 98.28 %
so the gate scores both ALPHAS beside the plain graph and keeps the one that passes, else the one that agrees with
fp32 most often (bertkit.int8gate).
"""

from __future__ import annotations

from collections import defaultdict
from pathlib import Path
from types import SimpleNamespace
from typing import Callable

import numpy as np
import torch

ALPHAS = (0.5, 0.75)  # the migration strengths the gate scores (see the module docstring)


def targets(graph) -> dict[str, list]:
    """Each LayerNormalization output that feeds matrix products with constant weights: {output: those MatMuls}."""
    uses: dict[str, int] = defaultdict(int)
    for node in graph.node:
        for name in node.input:
            uses[name] += 1
    weights = {i.name for i in graph.initializer if uses[i.name] == 1}  # a shared weight would be scaled twice
    out: dict[str, list] = defaultdict(list)
    norms = {n.output[0] for n in graph.node if n.op_type == "LayerNormalization"}
    for node in graph.node:
        if node.op_type == "MatMul" and node.input[0] in norms and node.input[1] in weights:
            out[node.input[0]].append(node)
    return dict(out)


def probe(pre: Path, dest: Path) -> list[str]:
    """`pre` with the smoothable LayerNorm outputs added as graph outputs, written to `dest`; their names (none: there
    is nothing to smooth, and nothing is written)."""
    import onnx

    model = onnx.load(str(pre))
    names = sorted(targets(model.graph))
    if names:
        model.graph.output.extend(onnx.helper.make_tensor_value_info(n, onnx.TensorProto.FLOAT, None) for n in names)
        onnx.save(model, str(dest))
    return names


def observer(names: list[str], maxima: dict[str, np.ndarray]) -> Callable:
    """A runner factory for the gate's scorer: an ONNX Runtime session of the probe graph that keeps, in `maxima`,
    each of `names`' per-channel max |x| over the real tokens, and hands the predictor the task's outputs only."""
    from bertkit.engine.backends import OrtModel

    class Observer(OrtModel):
        def forward(self, **batch: torch.Tensor) -> SimpleNamespace:
            out = vars(super().forward(**batch))
            mask = batch.get("attention_mask")
            for name in names:
                x = out.pop(name).abs()
                if mask is not None:
                    x = x[mask.cpu().bool()]
                m = x.reshape(-1, x.shape[-1]).amax(dim=0).numpy()
                maxima[name] = np.maximum(maxima[name], m) if name in maxima else m
            return SimpleNamespace(**out)

    return Observer


def smooth(pre: Path, dest: Path, maxima: dict[str, np.ndarray], alpha: float) -> Path:
    """`pre` with each measured LayerNorm output divided by s (a Mul node) and the weights after it multiplied by s
    (see the module docstring), written to `dest`. The same function as `pre` in exact arithmetic."""
    import onnx
    from onnx import helper, numpy_helper

    model = onnx.load(str(pre))
    graph = model.graph
    weights = {i.name: i for i in graph.initializer}
    nodes = list(graph.node)
    for name, matmuls in targets(graph).items():
        if name not in maxima:
            continue
        w = np.max([np.abs(numpy_helper.to_array(weights[m.input[1]])).max(axis=1) for m in matmuls], axis=0)
        s = np.maximum(maxima[name], 1e-5) ** alpha / np.maximum(w, 1e-5) ** (1 - alpha)
        s = (s / np.exp(np.log(s).mean())).astype(np.float32)
        inv = numpy_helper.from_array((1 / s).astype(np.float32), f"{name}/smooth_scale")
        graph.initializer.append(inv)
        smoothed = f"{name}/smoothed"
        mul = helper.make_node("Mul", [name, inv.name], [smoothed], name=f"{name}/Smooth")
        producer = next(i for i, n in enumerate(nodes) if name in n.output)
        nodes.insert(producer + 1, mul)
        for m in matmuls:
            t = weights[m.input[1]]
            t.CopyFrom(numpy_helper.from_array(numpy_helper.to_array(t) * s[:, None], t.name))
            m.input[0] = smoothed
    del graph.node[:]
    graph.node.extend(nodes)
    onnx.save(model, str(dest))
    return dest


def calibrated(score: Callable, pre: Path, work: Path) -> list[tuple[float, Path]]:
    """(alpha, the smoothed copy of `pre` in `work`) for each of ALPHAS, the activation maxima measured by running the
    gate's scorer on the probe graph; none where the graph has no LayerNorm output to smooth."""
    names = probe(pre, work / "smooth-probe.onnx")
    if not names:
        return []
    maxima: dict[str, np.ndarray] = {}
    score(work / "smooth-probe.onnx", runner=observer(names, maxima))
    return [(a, smooth(pre, work / f"smoothed-{a}.onnx", maxima, a)) for a in ALPHAS] if maxima else []
