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
from typing import Any

import numpy as np
import torch


class OrtModel(torch.nn.Module):
    """An ONNX Runtime session that `batched_forward` calls as it calls a transformers model (CPU only)."""

    def __init__(self, onnx_file: str | Path, config=None, threads: int | None = None):
        super().__init__()
        from bertkit.export import session

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
        return SimpleNamespace(**{n: torch.from_numpy(np.ascontiguousarray(o)) for n, o in zip(self.output_names, outs)})

    def extra_repr(self) -> str:
        return self.onnx_file


def int8_dynamic(model: torch.nn.Module) -> torch.nn.Module:
    """A copy of `model` with int8 weights in every Linear layer (activations quantized per batch; CPU)."""
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # torch.ao.quantization announces its move to torchao
        return torch.ao.quantization.quantize_dynamic(model, {torch.nn.Linear}, dtype=torch.qint8)


def onnx_file(model_dir: str, int8: bool, allow_pickle: bool = False, trust_remote_code: bool = False) -> Path:
    """The model's ONNX file: `bertkit export`'s default path when it is newer than the weights, else a cached
    export (`$XDG_CACHE_HOME/bertkit/onnx/<key>/`, keyed by the folder and its weights' size and time)."""
    import hashlib
    import os

    from bertkit.export import default_path, export_onnx

    folder = Path(model_dir).resolve()
    stamp = [(p.name, p.stat().st_size, p.stat().st_mtime_ns) for p in sorted(folder.glob("*"))
             if p.suffix in (".safetensors", ".bin", ".json") and p.is_file()]
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
        export_onnx(str(folder), str(cached), int8=int8, allow_pickle=allow_pickle, trust_remote_code=trust_remote_code)
    return cached


def _has_onnx() -> bool:
    """Both packages are there (found, not imported: the onnx package is needed only to export)."""
    from importlib.util import find_spec

    return find_spec("onnx") is not None and find_spec("onnxruntime") is not None


def fast_choice(model_dir: str, device: torch.device) -> str:
    """The `--fast` backend for this device: "accelerator" (bf16 / fp16 autocast), else defaults.FAST_BACKEND_CPU
    (why: docs/design/fast-backend.md), or FAST_FALLBACK_CPU with a warning when ONNX Runtime cannot run it."""
    from bertkit.defaults import FAST_BACKEND_CPU, FAST_FALLBACK_CPU

    if device.type != "cpu":
        return "accelerator"
    if FAST_BACKEND_CPU.startswith("ort-"):
        missing = not _has_onnx()
        if missing or not Path(model_dir).is_dir():
            from bertkit import console

            why = "ONNX Runtime is not installed (pip install 'bertkit[onnx]')" if missing else "the model is not a local folder"
            console.warn(f"--fast: {why}, so the next fastest backend runs: {FAST_FALLBACK_CPU}")
            return FAST_FALLBACK_CPU
    return FAST_BACKEND_CPU


def torch_fast(model: torch.nn.Module, choice: str, device: torch.device) -> tuple[torch.nn.Module, torch.dtype | None, str]:
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
                       allow_pickle: bool = False, trust_remote_code: bool = False) -> Loaded:
    """The model of a folder (or hub id) on `device`, as `Classifier` / `QA` run it: as it is, or with `--fast`'s backend.
    ONNX Runtime: the config and the ONNX file only (exported once and cached); the PyTorch weights are not kept."""
    from bertkit.modeling import load_config, load_pretrained, resolve_model

    if fast and bf16:
        from bertkit.errors import UsageError

        raise UsageError("--fast picks its own precision; give --fast or --bf16, not both")
    path = resolve_model(name)
    choice = fast_choice(path, device) if fast else None
    if choice is not None and choice.startswith("ort-"):
        config = load_config(name, allow_pickle=allow_pickle, trust_remote_code=trust_remote_code)
        f = onnx_file(path, int8=choice == "ort-int8", allow_pickle=allow_pickle, trust_remote_code=trust_remote_code)
        return _logged(Loaded(config, None, OrtModel(f, config), None, f"ONNX Runtime {choice[4:]} ({f})"))
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
