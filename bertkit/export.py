"""`bertkit export DIR --onnx [--int8]`: an ONNX file of a model folder (any task), checked against PyTorch.

The graph is traced with `torch.onnx.export` (the TorchScript exporter: the torch.export-based one needs onnxscript)
with dynamic batch and sequence axes; `--int8` then applies ONNX Runtime's dynamic quantization (int8 weights per
output channel in the MatMul / Gemm nodes, activations quantized per batch) behind an accuracy gate (bertkit.int8gate:
the task's metric on labelled data may drop by at most --max-drop, else layers stay in fp32 or int8 is refused; the
decision goes into bertkit.json, and `--fast` runs the int8 graph only when it was accepted). The graph is written
beside the model by default, in the layout other tools read (`DIR/onnx/model.onnx`, `DIR/onnx/model_quantized.onnx`),
with its weights in ONNX's external data file beside it (`model.onnx_data`: ONNX Runtime maps it instead of copying
it), and only after ONNX Runtime has run it on a padded probe batch and its outputs matched PyTorch's (fp32: 1e-4;
int8 reports the difference). Needs the optional extra: pip install 'bertkit[onnx]'.
"""

from __future__ import annotations

import os
import tempfile
import time
import warnings
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Iterator

from bertkit.engine.backends import FP32_FILE, INT8_FILE, ONNX_DIR, default_path, require_onnx, session  # noqa: F401
from bertkit.errors import BertkitError, UsageError

OPSET = 17
FP32_TOLERANCE = 1e-4


def input_names(tokenizer, model) -> list[str]:
    """The graph's inputs: what the tokenizer produces and the model's forward takes, in bertkit's collate order."""
    from bertkit.modeling import accepted_inputs

    given = set(getattr(tokenizer, "model_input_names", None) or ("input_ids", "attention_mask"))
    return [n for n in accepted_inputs(model) if n in given]


def probe_batch(tokenizer, names: list[str]) -> dict[str, Any]:
    """Two texts of different lengths, padded: the probe that checks the exported graph (padding included)."""
    enc = tokenizer(["the film was great fun and the actors loved it", "bad"], ["who was it?", "why"],
                    padding=True, return_tensors="pt")
    return {n: enc[n] for n in names}


def traceable(spec, path: str, allow_pickle: bool, trust_remote_code: bool):
    """(the model in eval mode with eager attention, its input names, a probe batch) for tracing."""
    import transformers

    from bertkit.modeling import load_pretrained, load_tokenizer

    tok = load_tokenizer(path, trust_remote_code)
    model = load_pretrained(getattr(transformers, spec.auto_class), path, allow_pickle=allow_pickle,
                            trust_remote_code=trust_remote_code, attn="eager").eval()
    names = input_names(tok, model)
    return model, names, probe_batch(tok, names)


def export_onnx(model_dir: str, out: str | None = None, int8: bool = False, opset: int = OPSET,
                allow_pickle: bool = False, trust_remote_code: bool = False, overwrite: bool = True,
                max_drop: float | None = None, data: str | None = None, limit: int | None = None,
                confidence: float | None = None) -> dict[str, Any]:
    """Write the ONNX file (fp32, or dynamic int8) of a model folder; a summary of what was written and checked.
    int8 with `max_drop` (a fraction): through the accuracy gate (bertkit.int8gate) on `data` (default: the run's dev
    file), the decision recorded in bertkit.json; a refused int8 graph is not written. `max_drop` None: ungated;
    `confidence`: the drop's bootstrap bound must pass too."""
    from bertkit.console import quiet_libraries
    from bertkit.modeling import resolve_model
    from bertkit.outdir import read_metadata
    from bertkit.taskspec import detect_or_fail

    require_onnx()
    quiet_libraries()
    path = resolve_model(model_dir)
    meta = read_metadata(path) if Path(path).is_dir() else {}
    spec = detect_or_fail(path, meta, "export")
    dest = destination(path, out, int8, overwrite)
    gated = int8 and max_drop is not None
    if gated:  # the options and the data checked before any work
        from bertkit.int8gate import check_confidence, check_max_drop, gate_data

        max_drop, confidence = check_max_drop(max_drop), check_confidence(confidence)
        data = gate_data(path, meta, data)
    model, names, probe = traceable(spec, path, allow_pickle, trust_remote_code)
    t0 = time.perf_counter()
    decision = None
    with output_folder(dest.parent), tempfile.TemporaryDirectory(prefix=".bertkit-export-", dir=dest.parent) as tmp:
        traced = Path(tmp) / "traced.onnx"
        trace(model, probe, names, spec.outputs, traced, opset)
        if gated:
            gate = dict(max_drop=max_drop, data=data, limit=limit, allow_pickle=allow_pickle,
                        trust_remote_code=trust_remote_code, confidence=confidence)
            decision, traced = gated_int8(spec, path, traced, Path(tmp), **gate)
        elif int8:
            traced = quantize_int8(traced, Path(tmp) / "quantized.onnx")
        if traced is not None:
            staged = Path(tmp) / dest.name
            with_external_data(traced, staged)
            diff, names = max_abs_diff(model, staged, probe, spec.outputs)
            if not int8 and diff > FP32_TOLERANCE:
                raise BertkitError(f"{path}: the exported graph differs from PyTorch by {diff:.2e} (> "
                                   f"{FP32_TOLERANCE:g}); "
                                   "nothing written. Please report this model type")
            publish(staged, dest)
    seconds = round(time.perf_counter() - t0, 2)
    if decision is not None:
        record_decision(path, decision, dest)
        if traced is None:
            return {"onnx": None, "task": spec.name, "precision": "fp32 kept (int8 refused)", "gate": decision,
                    "seconds": seconds}
    precision = ("int8 (dynamic, gated)" if gated else "int8 (dynamic)") if int8 else "fp32"
    return {**written(dest, spec, precision, opset, names, diff), "seconds": seconds,
            **({"gate": decision} if decision is not None else {})}


@contextmanager
def output_folder(folder: Path) -> Iterator[None]:
    """`folder`, made if missing and removed again on the way out (an error, or int8 refused) if it is still empty:
    nothing written leaves no empty folder that looks like an export."""
    made = not folder.exists()
    folder.mkdir(parents=True, exist_ok=True)
    try:
        yield
    finally:
        if made and folder.is_dir() and not any(folder.iterdir()):
            folder.rmdir()


def written(dest: Path, spec, precision: str, opset: int, names: list[str], diff: float) -> dict[str, Any]:
    """The summary of a written ONNX file."""
    size = sum(f.stat().st_size for f in (dest, data_file(dest)))
    return {"onnx": str(dest), "weights": str(data_file(dest)), "task": spec.name, "precision": precision,
            "opset": opset, "inputs": names, "outputs": list(spec.outputs), "size_mb": round(size / 2**20, 2),
            "max_abs_diff_vs_pytorch": float(f"{diff:.3g}")}


def destination(path: str, out: str | None, int8: bool, overwrite: bool) -> Path:
    dest = Path(out) if out else default_path(path, int8)
    if dest.suffix != ".onnx":
        raise UsageError(f"-o {dest}: give a file name ending in .onnx")
    if dest.exists() and not overwrite:
        raise BertkitError(f"{dest}: exists; pass --overwrite to replace it")
    return dest


def gated_int8(spec, path: str, traced: Path, tmp: Path, *, max_drop: float, data: str, limit: int | None,
               allow_pickle: bool, trust_remote_code: bool,
               confidence: float | None = None) -> tuple[dict, Path | None]:
    """(the gate's decision, the accepted int8 graph or None: fp32 kept) for the traced fp32 graph."""
    from bertkit import console
    from bertkit.int8gate import preprocess, run_gate, scorer
    from bertkit.int8smooth import calibrated

    fp32 = tmp / "fp32" / FP32_FILE
    fp32.parent.mkdir()
    with_external_data(traced, fp32)
    score = scorer(spec, path, data, limit, allow_pickle, trust_remote_code)
    console.log(f"int8 gate: scoring fp32 and int8 on {data}")
    decision, chosen = run_gate(score, fp32, preprocess(traced, tmp / "preprocessed.onnx"), tmp, max_drop, console.log,
                                confidence, smoothing=lambda pre: calibrated(score, pre, tmp))
    decision["data"] = str(data)
    if chosen is None:
        console.warn(f"int8 gate: {decision['why']}; no int8 graph written, --fast runs fp32")
    else:
        console.log(f"int8 gate: accepted ({decision['why']})")
        if "caution" in decision:
            console.warn(f"int8 gate: {decision['caution']}")
    return decision, chosen


def record_decision(path: str, decision: dict, dest: Path) -> None:
    """The gate's decision into the folder's bertkit.json ("int8_gate", the int8 file relative to the folder when it
    lies inside), written whole to a temporary file first and moved into place."""
    from bertkit.engine.backends import GATE_KEY
    from bertkit.outdir import METADATA_FILE, file_mode, read_metadata, write_json

    folder = Path(path)
    if not folder.is_dir():
        return
    meta = read_metadata(folder)
    rec = dict(decision)
    if rec["accepted"]:
        d = dest.resolve()
        rec["file"] = str(d.relative_to(folder.resolve())) if d.is_relative_to(folder.resolve()) else str(d)
    meta[GATE_KEY] = rec
    tmp = folder / f".{METADATA_FILE}.tmp-{os.getpid()}"
    write_json(tmp, meta)
    tmp.chmod(file_mode())
    os.replace(tmp, folder / METADATA_FILE)


def data_file(graph: Path) -> Path:
    """The weights file beside an ONNX graph (ONNX external data, one file: `model.onnx` -> `model.onnx_data`)."""
    return graph.with_name(graph.name + "_data")


def with_external_data(src: Path, dest: Path) -> None:
    """`src` saved as the graph `dest` and its weights in `data_file(dest)`. ONNX Runtime memory-maps external weights
    where it parses a single-file model into memory, so a session holds far less: MiniLM QA, measured with
    /proc/self/status, +52 MB RSS against +141 MB at its peak, and 354 against 422 MB after a 4 x 256 batch."""
    import onnx

    onnx.save_model(onnx.load(str(src)), str(dest), save_as_external_data=True, all_tensors_to_one_file=True,
                    location=data_file(dest).name, size_threshold=1024)


def publish(staged: Path, dest: Path) -> None:
    """Move a staged graph and its weights into place with the user's umask. The old graph goes first and the new one
    last, so whenever a graph is there, its own weights are beside it."""
    from bertkit.outdir import file_mode

    dest.unlink(missing_ok=True)
    for src, dst in ((data_file(staged), data_file(dest)), (staged, dest)):
        src.chmod(file_mode())
        os.replace(src, dst)


def trace(model, probe: dict, names: list[str], outputs: dict[str, dict[int, str]], dest: Path, opset: int) -> None:
    """`outputs`: the task's output names and their dynamic axes (TaskSpec.outputs)."""
    import torch

    axes = {n: {0: "batch", 1: "sequence"} for n in names}
    axes.update(outputs)
    with warnings.catch_warnings(), torch.inference_mode(False), torch.no_grad():
        warnings.simplefilter("ignore")  # tracer notes on Python conditions that hold for every input of the graph
        torch.onnx.export(model, (), str(dest), kwargs=dict(probe), input_names=names, output_names=list(outputs),
                          dynamic_axes=axes, opset_version=opset, dynamo=False)


def quantize_int8(src: Path, dest: Path) -> Path:
    """ONNX Runtime's dynamic quantization of every MatMul / Gemm, ungated (bertkit.int8gate has the steps)."""
    from bertkit.int8gate import preprocess, quantize

    return quantize(preprocess(src, src.with_name("preprocessed.onnx")), dest)


def max_abs_diff(model, onnx_file: Path, probe: dict, outputs: dict[str, dict[int, str]]) -> tuple[float, list[str]]:
    """The largest difference between the graph's outputs and PyTorch's on `probe` (padding left out: per-token
    outputs, those with a sequence axis, are compared on real tokens only), and the graph's inputs."""
    import numpy as np
    import torch

    sess = session(onnx_file, threads=1)
    # the graph's own inputs: tracing drops one the model ignores (DeBERTa-v2 without token types)
    inputs = [i.name for i in sess.get_inputs()]
    got = sess.run(list(outputs), {n: probe[n].numpy() for n in inputs})
    with torch.no_grad():
        ref = model(**probe)
    mask = probe["attention_mask"].numpy().astype(bool)
    diffs = []
    for name, arr in zip(outputs, got):
        r = getattr(ref, name).float().numpy()
        d = np.abs(arr - r)
        diffs.append(float(d[mask].max() if 1 in outputs[name] else d.max()))
    return max(diffs), inputs


