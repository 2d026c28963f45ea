"""Inference backends for `--fast`: model-like callables that `batched_forward` runs like the PyTorch model.

- `OrtModel`: an ONNX Runtime session (a file from `bertkit export --onnx [--int8]`) behind the model's call
  signature: it takes the collated tensors and returns an object with the same output names as torch tensors.
- `int8_dynamic`: torch's dynamic int8 quantization of the Linear layers (a copy of the model).
- `load_for_inference`: the model `Classifier` / `QA` run, with `--fast`'s backend. When ONNX Runtime runs, only the
  config is read and the PyTorch weights are never loaded beside the session (a cold start exports the ONNX file
  once from a model that is freed when the export returns).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from types import SimpleNamespace
from typing import Any, Callable

import numpy as np
import torch

ONNX_DIR = "onnx"
FP32_FILE, INT8_FILE = "model.onnx", "model_quantized.onnx"


def require_onnx(runtime_only: bool = False):
    """(onnx, onnxruntime), or a BertkitError saying how to install them. runtime_only: ONNX Runtime alone, onnx
    (needed only to write files) not imported: (None, onnxruntime)."""
    import importlib

    from bertkit.errors import BertkitError

    try:
        onnx = None if runtime_only else importlib.import_module("onnx")
        import onnxruntime
    except ImportError as e:
        raise BertkitError(f"ONNX export and the ONNX Runtime backend need the onnx extra ({e.name} is missing): "
                           "pip install 'bertkit[onnx]'") from e
    return onnx, onnxruntime


def default_path(model_dir: str | Path, int8: bool) -> Path:
    """Where `bertkit export` writes a folder's graph: DIR/onnx/model.onnx, or model_quantized.onnx for int8."""
    return Path(model_dir) / ONNX_DIR / (INT8_FILE if int8 else FP32_FILE)


# ONNX Runtime's intra-op threads spin between ops by default: right for a batch job that owns the cores, wrong
# for `bertkit serve`, whose event loop needs a core between batches (measured, idle 2-core EPYC, int8 MiniLM,
# 32 clients: the server spent 8.3-10.1 ms of CPU per request spinning, 5.9-6.7 without; bench/serve_load.py)
SPIN = True


def session(onnx_file: str | Path, threads: int | None = None):
    """An ONNX Runtime CPU session with every graph optimisation on (threads spinning between ops if SPIN)."""
    _, ort = require_onnx(runtime_only=True)
    so = ort.SessionOptions()
    so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    if threads:
        so.intra_op_num_threads = int(threads)
    if not SPIN:
        so.add_session_config_entry("session.intra_op.allow_spinning", "0")
    so.log_severity_level = 3
    # no per-shape memory plan: length-sorted batches rarely repeat a shape, and each plan keeps its own block
    # (measured, idle: SST-2 dev as fast, peak RSS 416 vs 427 MB; QA 437 vs 449 MB)
    so.enable_mem_pattern = False
    return ort.InferenceSession(str(onnx_file), so, providers=["CPUExecutionProvider"])


class OrtModel(torch.nn.Module):
    """An ONNX Runtime session that `batched_forward` calls as it calls a transformers model (CPU only)."""

    def __init__(self, onnx_file: str | Path, config=None, threads: int | None = None):
        super().__init__()
        self.onnx_file = str(onnx_file)
        self.session = session(onnx_file, threads=threads or torch.get_num_threads())
        self.input_names = [i.name for i in self.session.get_inputs()]
        self.output_names = [o.name for o in self.session.get_outputs()]
        self.config = config

    def forward(self, **batch: torch.Tensor) -> SimpleNamespace:
        ref = batch["input_ids"]
        feeds = {}
        for name in self.input_names:
            t = batch.get(name)
            feeds[name] = (t if t is not None else torch.zeros_like(ref)).to(torch.int64).cpu().numpy()
        outs = self.session.run(self.output_names, feeds)
        return SimpleNamespace(**{n: torch.from_numpy(np.ascontiguousarray(o))
                                  for n, o in zip(self.output_names, outs)})

    def extra_repr(self) -> str:
        return self.onnx_file


def int8_dynamic(model: torch.nn.Module) -> torch.nn.Module:
    """A copy of `model` with int8 weights in every Linear layer (activations quantized per batch; CPU)."""
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # torch.ao.quantization announces its move to torchao
        return torch.ao.quantization.quantize_dynamic(model, {torch.nn.Linear}, dtype=torch.qint8)


def _weights_stamp(folder: Path) -> list[tuple[str, int, int]]:
    return [(p.name, p.stat().st_size, p.stat().st_mtime_ns) for p in sorted(folder.glob("*"))
            if p.suffix in (".safetensors", ".bin", ".json") and p.is_file() and p.name != "bertkit.json"]


def onnx_file(model_dir: str, int8: bool, exporter: Callable[..., Any], allow_pickle: bool = False,
              trust_remote_code: bool = False) -> Path:
    """The model's ONNX file: `bertkit export`'s default path when it is newer than the weights, else a cached
    export (`$XDG_CACHE_HOME/bertkit/onnx/<key>/`, keyed by the folder and its weights' size and time) that
    `exporter` (bertkit.export.export_onnx, given by the caller: this module does not import the export code) writes."""
    import hashlib
    import os

    folder = Path(model_dir).resolve()
    stamp = _weights_stamp(folder)
    newest = max((s[2] for s in stamp), default=0)
    beside = default_path(folder, int8)
    if beside.is_file() and beside.stat().st_mtime_ns >= newest:
        return beside
    key = hashlib.sha1(repr((str(folder), stamp)).encode()).hexdigest()[:16]
    root = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "bertkit" / "onnx" / key
    cached = root / beside.name
    if not cached.is_file():
        from bertkit import console

        console.log(f"--fast: exporting {folder.name} to ONNX{' int8' if int8 else ''} once ({cached})")
        exporter(str(folder), str(cached), int8=int8, allow_pickle=allow_pickle, trust_remote_code=trust_remote_code)
    return cached


GATE_KEY = "int8_gate"  # bertkit.json: the accuracy gate's decision (bertkit export --onnx --int8)


def gated_int8(model_dir: str | Path) -> tuple[Path | None, str]:
    """(the int8 graph `--fast` may run, why) from bertkit.json's gate record: a file only when the gate accepted
    it, it is still there and it is newer than the weights; else (None, the reason fp32 runs)."""
    from bertkit.outdir import read_metadata

    folder = Path(model_dir)
    rec = read_metadata(folder).get(GATE_KEY) if folder.is_dir() else None
    if not rec:
        return None, "no int8 model passed the accuracy gate (bertkit export --onnx --int8)"
    if not rec.get("accepted"):
        return None, f"int8 was refused by the accuracy gate ({rec.get('why', 'see bertkit.json')})"
    f = Path(rec["file"]) if Path(rec["file"]).is_absolute() else folder / rec["file"]
    newest = max((s[2] for s in _weights_stamp(folder)), default=0)
    if not f.is_file() or f.stat().st_mtime_ns < newest:
        return None, f"the gated int8 file {f} is missing or older than the weights; export it again"
    if rec.get("weight_bits") == 8 and rec.get("cpu_vnni"):
        from bertkit.int8gate import cpu_has_vnni

        if not cpu_has_vnni():
            return None, ("its int8 graph (8-bit weights) passed the accuracy gate on a CPU with VNNI; without "
                          "VNNI, as here, ONNX Runtime adds int8 products in 16 bits, which 8-bit weights can "
                          "saturate: run bertkit export --onnx --int8 on this machine to gate it here")
    drop = rec.get("relative_drop")
    return f, f"int8 passed the accuracy gate ({rec.get('metric')} drop {drop:.2%} <= {rec.get('max_drop'):.2%})"


def _has_onnx() -> bool:
    """Both packages are there (found, not imported: the onnx package is needed only to export)."""
    from importlib.util import find_spec

    return find_spec("onnx") is not None and find_spec("onnxruntime") is not None


def _cpu_choice(local_folder: bool = True) -> tuple[str, str | None]:
    """(the `--fast` backend on the CPU, why the fallback runs instead of defaults.FAST_BACKEND_CPU, or None)."""
    from bertkit.defaults import FAST_BACKEND_CPU, FAST_FALLBACK_CPU

    if FAST_BACKEND_CPU.startswith("ort-"):
        missing = not _has_onnx()
        if missing or not local_folder:
            return FAST_FALLBACK_CPU, ("ONNX Runtime is not installed (pip install 'bertkit[onnx]')" if missing
                                       else "the model is not a local folder")
    return FAST_BACKEND_CPU, None


def fast_choice(model_dir: str, device: torch.device) -> str:
    """The `--fast` backend for this device: "accelerator" (bf16 / fp16 autocast), else defaults.FAST_BACKEND_CPU
    (why: docs/design/fast-backend.md), or FAST_FALLBACK_CPU with a warning when ONNX Runtime cannot run it."""
    if device.type != "cpu":
        return "accelerator"
    choice, why = _cpu_choice(Path(model_dir).is_dir())
    if why:
        from bertkit import console

        console.warn(f"--fast: {why}, so the next fastest backend runs: {choice}")
    return choice


def fast_report(device_type: str) -> dict:
    """What `--fast` runs on this machine and why, before any model (`bertkit env`); per model, its gate record in
    bertkit.json decides between int8 and fp32 (`gated_int8`)."""
    from bertkit.engine.precision import native_bf16

    if device_type != "cpu":
        ok, why = native_bf16(device_type)
        return {"runs": f"PyTorch, {'bf16' if ok else 'fp16'} autocast", "why": why}
    choice, fallback = _cpu_choice()
    if choice.startswith("ort-"):
        from bertkit.int8gate import cpu_has_vnni, weight_widths

        widths = " or ".join(f"{b}-bit" for b in weight_widths())
        return {"runs": "ONNX Runtime: the model's int8 graph where `bertkit export --onnx --int8` passed its accuracy "
                        "gate, else fp32",
                "why": "the fastest backend within the accuracy gate (docs/design/fast-backend.md)",
                "int8_weights": f"{widths}: the CPU {'has' if cpu_has_vnni() else 'has no'} VNNI"}
    ok, why = native_bf16("cpu")
    runs = {"torch-int8": "PyTorch, dynamic int8 (Linear layers)", "bf16": "PyTorch, bf16 autocast" if ok else None}
    return {"runs": runs.get(choice) or "PyTorch, fp32",
            "why": f"{fallback or 'defaults.FAST_BACKEND_CPU (docs/design/fast-backend.md)'}; {why}"}


def torch_fast(model: torch.nn.Module, choice: str,
               device: torch.device) -> tuple[torch.nn.Module, torch.dtype | None, str]:
    """(what runs, autocast dtype or None, a description) for a `fast_choice` that runs the PyTorch model."""
    from bertkit.engine.precision import native_bf16

    if choice == "accelerator":
        ok, why = native_bf16(device.type)
        return model, (torch.bfloat16 if ok else torch.float16), f"{'bf16' if ok else 'fp16'} autocast ({why})"
    if choice == "torch-int8":
        return int8_dynamic(model), None, "torch dynamic int8 (Linear layers)"
    ok, why = native_bf16("cpu")
    return model, (torch.bfloat16 if ok else None), f"bf16 autocast ({why})" if ok else f"fp32 ({why})"


@dataclass
class Loaded:
    """What `load_for_inference` gives: `runner` (the `--fast` backend; None: `model` runs), `model` (the PyTorch
    model; None when the runner needs none of its weights), the autocast dtype, the backend's name, the config."""

    config: Any
    model: torch.nn.Module | None
    runner: torch.nn.Module | None
    autocast_dtype: torch.dtype | None
    backend: str


def load_for_inference(auto_cls, name: str, device: torch.device, *, fast: bool = False, bf16: bool = False,
                       allow_pickle: bool = False, trust_remote_code: bool = False,
                       exporter: Callable[..., Any] | None = None) -> Loaded:
    """The model of a folder (or hub id) on `device`, as `Classifier` / `QA` run it: as it is, or with `--fast`'s
    backend. ONNX Runtime: the config and the ONNX file only (exported once and cached by `exporter`); the PyTorch
    weights are not kept. The int8 graph runs instead of fp32 when bertkit.json records that it passed the accuracy
    gate."""
    from bertkit.modeling import load_config, load_pretrained, resolve_model

    if fast and bf16:
        from bertkit.errors import UsageError

        raise UsageError("--fast picks its own precision; give --fast or --bf16, not both")
    path = resolve_model(name)
    choice = fast_choice(path, device) if fast else None
    if choice is not None and choice.startswith("ort-"):
        config = load_config(name, allow_pickle=allow_pickle, trust_remote_code=trust_remote_code)
        gated, why = gated_int8(path) if choice == "ort-fp32" else (None, "")
        if gated is not None:
            return _logged(Loaded(config, None, OrtModel(gated, config), None, f"ONNX Runtime int8 ({gated}; {why})"))
        if exporter is None:
            raise TypeError("load_for_inference(fast=True) on CPU needs exporter= (bertkit.export.export_onnx)")
        f = onnx_file(path, choice == "ort-int8", exporter, allow_pickle=allow_pickle,
                      trust_remote_code=trust_remote_code)
        note = f"; {why}" if why.startswith(("int8 was refused", "the gated", "its int8 graph")) else ""
        return _logged(Loaded(config, None, OrtModel(f, config), None, f"ONNX Runtime {choice[4:]} ({f}{note})"))
    model = load_pretrained(auto_cls, name, allow_pickle=allow_pickle, trust_remote_code=trust_remote_code)
    model.to(device).eval()
    if choice is None:
        return Loaded(model.config, model, None, None, "bf16 autocast" if bf16 else "fp32")
    runner, dtype, what = torch_fast(model, choice, device)
    # an int8 copy runs: the float model is not kept
    return _logged(Loaded(model.config, model if runner is model else None, runner, dtype, what))


def _logged(loaded: Loaded) -> Loaded:
    from bertkit import console

    console.log(f"--fast: {loaded.backend}")
    return loaded
