"""The --fast sides of bench/predict_classify.py (and bench/qa.py): the exported ONNX files, ONNX Runtime's own
int8 peer, the model FLOPs and share of the CPU's peak, and the kind=ratio-fast record."""

from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path

from common import median


def agreement(a: list, b: list, n: int) -> float:
    """The share of equal labels in two runs' predictions, over n texts."""
    return sum(x == y for x, y in zip(a, b)) / max(1, n)


def export_for_fast(model: str, tmp: Path, dev: str | None = None, limit: int | None = None,
                    confidence: float | None = None) -> dict:
    """The model copied into tmp with `bertkit export --onnx` beside it (what `--fast` loads, so its child does not
    export) and, with `dev` (labelled data), `bertkit export --onnx --int8 --calibration dev` (the accuracy gate: an
    accepted int8 graph is what `--fast` runs); the fp32 file for the ONNX Runtime peer, and its int8 file as ONNX
    Runtime's docs make it (quant_pre_process, then quantize_dynamic with int8 weights, its defaults otherwise).
    `confidence`: the gate's `--gate-confidence`.
    Setup, not timed; run as commands so that this parent stays small (a child's peak RSS starts from its parent's
    at fork)."""
    import shutil
    import subprocess

    copy = tmp / "model-for-fast"
    if not copy.exists():
        shutil.copytree(model, copy, ignore=shutil.ignore_patterns("onnx", "*.run"))
    out: dict = {"model": str(copy), "ort-fp32": str(tmp / "peer.onnx"), "ort-int8": str(tmp / "peer.int8.onnx")}
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1])}
    for extra in ([], ["-o", out["ort-fp32"]]):
        subprocess.run([sys.executable, "-m", "bertkit", "-q", "export", str(copy), "--onnx", "--overwrite", *extra],
                       check=True, stdout=subprocess.DEVNULL, env=env)
    if dev:
        t0 = time.perf_counter()
        r = subprocess.run([sys.executable, "-m", "bertkit", "-q", "export", str(copy), "--onnx", "--int8",
                            "--overwrite", "--calibration", dev, *(["--limit", str(limit)] if limit else []),
                            *(["--gate-confidence", str(confidence)] if confidence else [])],
                           capture_output=True, text=True, env=env)
        gate = json.loads(r.stdout).get("gate") if r.returncode == 0 else {"error": r.stderr.strip().splitlines()[-1:]}
        out["gate"] = {**gate, "export_and_gate_s": round(time.perf_counter() - t0, 1)}
    single_file(Path(out["ort-fp32"]))
    peer_int8(Path(out["ort-fp32"]), Path(out["ort-int8"]))
    return out


def peer_int8(fp32: Path, dest: Path) -> None:
    """ONNX Runtime's int8 as its quantization docs set it up for a transformer on CPU."""
    from onnxruntime.quantization import QuantType, quantize_dynamic
    from onnxruntime.quantization.shape_inference import quant_pre_process

    pre = dest.with_name("peer.pre.onnx")
    quant_pre_process(str(fp32), str(pre), skip_symbolic_shape=True)
    quantize_dynamic(str(pre), str(dest), weight_type=QuantType.QInt8)


def forward_flops(model: str, lengths: list[int]) -> float:
    """Model FLOPs of one forward pass per text on its real tokens (no padding), the mean over the corpus
    (train_flops.forward_flops)."""
    import train_flops

    total = train_flops.forward_flops(train_flops.model_shape(model), sum(lengths), sum(t * t for t in lengths))
    return total / max(1, len(lengths))


def read_peak(path: str | None) -> dict | None:
    """The kind=peak record of a bench/peak.py result file (its --save-results JSON)."""
    if not path:
        return None
    recs = json.loads(Path(path).read_text())["records"]
    return next((r for r in recs if r.get("kind") == "peak"), None)


def limit_share(flops: float, med: dict, peak: dict | None, backend: str, name: str) -> dict:
    """Model FLOP/s that bertkit --fast and the other sides reach, and the share of this CPU's measured matmul peak in
    the precision each runs (int8 sides: the int8 peak; the others: fp32)."""
    out: dict = {"model_gflop_per_text": round(flops / 1e9, 4)}
    for side, rates in med.items():
        g = flops * rates[name] / 1e9
        out.setdefault("achieved_gflops", {})[side] = round(g, 1)
        if peak is not None:
            prec = "int8" if (side == "ort-int8" or (side == "bertkit-fast" and "int8" in backend)) else "fp32"
            out.setdefault("share_of_peak", {})[side] = {"precision": prec, "share": round(g / peak["gflops"][prec], 3)}
    if peak is not None:
        out["peak_gflops"] = peak["gflops"]
    return out


def single_file(graph: Path) -> None:
    """The peer's ONNX file as optimum and torch.onnx.export write a model under 2 GB: one file, weights inside (bertkit
    export puts them in an external data file, which ONNX Runtime memory-maps; the peer gets its documented layout)."""
    import onnx

    data = graph.with_name(graph.name + "_data")
    onnx.save_model(onnx.load(str(graph)), str(graph))
    data.unlink(missing_ok=True)


def fast_ratio(common: dict, name: str, med: dict, runs: dict, pipes: dict, n: int) -> dict:
    f = med["bertkit-fast"][name]
    lab = runs["bertkit-fast"][0]["corpora"][name]["labels"]
    lab_fp32 = runs["bertkit"][0]["corpora"][name]["labels"]
    agree = agreement(lab, lab_fp32, n)
    best = max(pipes, key=pipes.get)
    rss = {s: median([r["peak_rss_mb"] for r in runs[s]])
           for s in ("bertkit-fast", "ort-fp32", "ort-int8", best) if s in runs}
    out = {"kind": "ratio-fast", **common, "corpus": name, "bertkit_fast_sentences_per_s": f,
           "x_vs_pipeline_default": round(f / pipes.get("pipeline-default", float("nan")), 2),
           "x_vs_pipeline_best": round(f / pipes[best], 2),
           "label_agreement_with_fp32": round(agree, 4), "peak_rss_mb": rss}
    targets = {"6x_default": f >= 6 * pipes.get("pipeline-default", float("nan")), "3x_best": f >= 3 * pipes[best],
               "labels_99.5": agree >= 0.995}
    backend = runs["bertkit-fast"][0]["backend"]
    same = "ort-int8" if "int8" in backend else "ort-fp32"  # the peer of the same precision (bf16 and fp32: float)
    for peer in ("ort-fp32", "ort-int8"):
        if peer in med:
            lab_o = runs[peer][0]["corpora"][name]["labels"]
            key = peer.replace("-", "_")
            out.update({f"{key}_sentences_per_s": med[peer][name], f"x_vs_{key}": round(f / med[peer][name], 2),
                        f"{key}_batch_size": runs[peer][0]["corpora"][name]["batch_size"],
                        f"{key}_label_agreement_with_fp32": round(agreement(lab_o, lab_fp32, n), 4)})
    if same in med:
        out["fast_backend"], out["same_precision_peer"] = backend, same
        targets["1.2x_ort_same_precision"] = f >= 1.2 * med[same][name]
        targets["rss_not_above_ort"] = rss["bertkit-fast"] <= median([r["peak_rss_mb"] for r in runs[same]])
    return {**out, "targets": targets}
