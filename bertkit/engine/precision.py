"""`--mixed-precision auto`: bf16 autocast where the hardware computes bf16 natively, fp32 elsewhere (one place).

Native bf16: CUDA GPUs of compute capability 8.0 or newer (Ampere, Hopper, ...), and CPUs whose flags show
avx512_bf16 or AMX (amx_bf16). Elsewhere bf16 is emulated (slower than fp32), so auto keeps fp32 ("no").
"""

from __future__ import annotations

from functools import lru_cache


@lru_cache(maxsize=1)
def cpu_flags() -> frozenset[str]:
    """The CPU feature flags of /proc/cpuinfo (Linux; empty elsewhere)."""
    try:
        with open("/proc/cpuinfo", encoding="utf-8", errors="replace") as f:
            for line in f:
                if line.startswith("flags"):
                    return frozenset(line.split(":", 1)[1].split())
    except OSError:
        pass
    return frozenset()


def native_bf16(device_type: str | None = None) -> tuple[bool, str]:
    """(whether bf16 runs natively on this device, why): device_type cuda | cpu (default: cuda when present)."""
    import torch

    if device_type is None:
        device_type = "cuda" if torch.cuda.is_available() else "cpu"
    if device_type == "cuda":
        major, minor = torch.cuda.get_device_capability()
        name = torch.cuda.get_device_name()
        ok = major >= 8
        return ok, f"{name}, compute capability {major}.{minor} ({'>=' if ok else '<'} 8.0)"
    flags = cpu_flags()
    have = [f for f in ("amx_bf16", "avx512_bf16") if f in flags]
    if have:
        return True, f"the CPU has {' and '.join(have)}"
    return False, "the CPU has neither avx512_bf16 nor AMX (bf16 would be emulated, slower than fp32)"


def resolve_mixed_precision(requested: str, device_type: str | None = None) -> tuple[str, str]:
    """(no | bf16 | fp16, why): `auto` resolved for this device; the other values as given."""
    if requested != "auto":
        return requested, "as asked"
    ok, why = native_bf16(device_type)
    return ("bf16" if ok else "no"), f"auto: {why}"
