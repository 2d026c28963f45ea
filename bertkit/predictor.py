"""What every task's predictor (Classifier, QA, ...) does the same way when it loads a model folder: read its
bertkit.json, load the tokenizer (first: it refuses a folder's code), refuse a model of another task, set the CPU
threads, pick the device, and load the model as it is or with `--fast`'s backend."""

from __future__ import annotations

from pathlib import Path
from typing import Any


class Predictor:
    """Base of the task predictors. `_load_model` sets meta, tokenizer, device, model, runner (what runs instead of
    `model`: None unless `--fast` picked a backend; with ONNX Runtime `model` is None, no PyTorch weights kept),
    autocast_dtype, backend and config."""

    path: str
    meta: dict

    def _load_model(self, spec, model: str | None, *, device: Any = None, threads: int | str | None = None,
                    allow_pickle: bool = False, trust_remote_code: bool = False, bf16: bool = False,
                    fast: bool = False) -> None:
        """`spec`: the TaskSpec of the predictor's task (its Auto class, the task check). `threads`: a number,
        "auto" (load-aware) or None (the physical cores; see bertkit.engine.threads)."""
        import transformers

        from bertkit import console
        from bertkit.engine.backends import load_for_inference
        from bertkit.engine.inference import pick_device
        from bertkit.engine.threads import set_auto_threads
        from bertkit.export import export_onnx
        from bertkit.modeling import check_model_task, load_tokenizer, resolve_model
        from bertkit.outdir import read_metadata

        console.quiet_libraries()
        set_auto_threads(threads)
        self.path = resolve_model(model)
        self.meta = read_metadata(self.path) if Path(self.path).is_dir() else {}
        self.tokenizer = load_tokenizer(self.path, trust_remote_code)  # first: it refuses a folder's code
        check_model_task(model or self.path, self.path, self.meta, spec)
        self.device = pick_device(device)
        loaded = load_for_inference(getattr(transformers, spec.auto_class), self.path, self.device, fast=fast,
                                    bf16=bf16, allow_pickle=allow_pickle, trust_remote_code=trust_remote_code,
                                    exporter=export_onnx)
        self.model, self.runner, self.autocast_dtype = loaded.model, loaded.runner, loaded.autocast_dtype
        self.backend, self.config = loaded.backend, loaded.config
