"""Inference backends for `--fast`: model-like callables that `batched_forward` runs like the PyTorch model.

- `OrtModel`: an ONNX Runtime session (a file from `bertkit export --onnx [--int8]`) behind the model's call
  signature: it takes the collated tensors and returns an object with the same output names as torch tensors.
- `int8_dynamic`: torch's dynamic int8 quantization of the Linear layers (a copy of the model).
"""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

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


def onnx_file(model_dir: str, int8: bool) -> Path:
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
        export_onnx(str(folder), str(cached), int8=int8)
    return cached


def _has_onnx() -> bool:
    try:
        import onnx  # noqa: F401
        import onnxruntime  # noqa: F401
    except ImportError:
        return False
    return True


def fast_backend(model: torch.nn.Module, model_dir: str, device: torch.device) -> tuple[torch.nn.Module, torch.dtype | None, str]:
    """What `--fast` runs on this device: (model-like, autocast dtype or None, a description for the log).
    The choice and its measurements: defaults.FAST_BACKEND_CPU. GPUs: bf16 autocast where native, else fp16."""
    from bertkit.defaults import FAST_BACKEND_CPU, FAST_FALLBACK_CPU
    from bertkit.engine.precision import native_bf16

    if device.type != "cpu":
        ok, why = native_bf16(device.type)
        dtype = torch.bfloat16 if ok else torch.float16
        return model, dtype, f"{'bf16' if ok else 'fp16'} autocast ({why})"
    choice = FAST_BACKEND_CPU
    if choice.startswith("ort-"):
        missing = not _has_onnx()
        if missing or not Path(model_dir).is_dir():
            from bertkit import console

            why = "ONNX Runtime is not installed (pip install 'bertkit[onnx]')" if missing else "the model is not a local folder"
            console.warn(f"--fast: {why}, so the next fastest backend runs: {FAST_FALLBACK_CPU}")
            choice = FAST_FALLBACK_CPU
    if choice.startswith("ort-"):
        f = onnx_file(model_dir, int8=choice == "ort-int8")
        return OrtModel(f, getattr(model, "config", None)), None, f"ONNX Runtime {choice[4:]} ({f})"
    if choice == "torch-int8":
        return int8_dynamic(model), None, "torch dynamic int8 (Linear layers)"
    ok, why = native_bf16("cpu")
    return model, (torch.bfloat16 if ok else None), f"bf16 autocast ({why})" if ok else f"fp32 ({why})"


def fast_setup(model, model_dir: str, device, fast: bool, bf16: bool):
    """(what batched_forward runs instead of the model, autocast dtype, backend name): (None, None, ...) unless
    `fast`, so that the caller runs its `model` attribute as it is at call time."""
    if not fast:
        return None, None, "bf16 autocast" if bf16 else "fp32"
    if bf16:
        from bertkit.errors import UsageError

        raise UsageError("--fast picks its own precision; give --fast or --bf16, not both")
    from bertkit import console
    from bertkit.modeling import resolve_model

    runner, dtype, what = fast_backend(model, resolve_model(model_dir), device)
    console.log(f"--fast: {what}")
    return runner, dtype, what
