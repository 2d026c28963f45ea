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
