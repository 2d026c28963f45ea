"""`--mixed-precision auto`: Accelerate's own setting when the user gave one, else bf16 autocast where the hardware
computes bf16 natively, fp32 elsewhere (one place). An explicit `--mixed-precision` always wins.

How Accelerate passes its setting (accelerate 1.x, `commands/launch.py` and `utils/launch.py`): `accelerate launch`
always exports ACCELERATE_MIXED_PRECISION to the processes it starts: the `--mixed_precision` flag, else the
`mixed_precision` of the config file (`--config_file`, or the one `accelerate config` wrote), else "no". A plain
`Accelerator()` reads only that variable, never the config file. So "no" alone may be the launcher's silent
default: auto defers to it only when the launcher's command line has `--mixed_precision` or its config file sets
one; any other value (or the variable exported by hand, without a launcher) is a choice and is followed.

Native bf16: CUDA GPUs of compute capability 8.0 or newer (Ampere, Hopper, ...), and CPUs whose flags show
avx512_bf16 or AMX (amx_bf16). Elsewhere bf16 is emulated (slower than fp32), so auto keeps fp32 ("no").
"""

from __future__ import annotations

import os
from functools import lru_cache
from pathlib import Path
from typing import Mapping


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


def launcher_args(pid: int | None = None, depth: int = 4) -> list[str] | None:
    """The arguments after `launch` of the `accelerate launch` process this one descends from (Linux /proc), or
    None when there is none (a plain run)."""
    pid = os.getppid() if pid is None else pid
    for _ in range(depth):
        try:
            argv = Path(f"/proc/{pid}/cmdline").read_bytes().decode(errors="replace").split("\0")
            ppid = int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[1])
        except (OSError, ValueError, IndexError):
            return None
        for i, a in enumerate(argv[:-1]):
            if a == "accelerate.commands.launch" or (Path(a).name == "accelerate" and argv[i + 1] == "launch"):
                return argv[i + 1:] if a == "accelerate.commands.launch" else argv[i + 2:]
        if ppid <= 1:
            return None
        pid = ppid
    return None


def _flag(args: list[str], name: str) -> str | None:
    for i, a in enumerate(args):
        if a == name and i + 1 < len(args):
            return args[i + 1]
        if a.startswith(name + "="):
            return a.split("=", 1)[1]
    return None


def config_file_precision(config_file: str | None = None) -> tuple[str, str] | None:
    """(mixed_precision, file) of an Accelerate config file (default: the one `accelerate config` writes)."""
    import yaml

    if config_file is None:
        try:
            from accelerate.commands.config.config_args import default_config_file as config_file
        except ImportError:  # pragma: no cover
            return None
    try:
        data = yaml.safe_load(Path(config_file).read_text(encoding="utf-8")) or {}  # JSON is YAML too
    except (OSError, yaml.YAMLError, UnicodeDecodeError):
        return None
    mp = data.get("mixed_precision") if isinstance(data, dict) else None
    return (str(mp).lower(), str(config_file)) if mp else None


def accelerate_choice(environ: Mapping[str, str] | None = None,
                      launcher: list[str] | None | bool = True) -> tuple[str, str] | None:
    """(mode, who set it) when Accelerate was given a mixed precision (see the module docstring), else None.
    `launcher`: the launcher's arguments (True: look them up; None: no launcher)."""
    environ = os.environ if environ is None else environ
    value = environ.get("ACCELERATE_MIXED_PRECISION")
    if not value:
        return None
    value = value.lower()
    args = launcher_args() if launcher is True else launcher
    if args is None:
        return value, "set by ACCELERATE_MIXED_PRECISION"
    if _flag(args, "--mixed_precision"):
        return value, f"set by accelerate launch --mixed_precision {value}"
    from_file = config_file_precision(_flag(args, "--config_file"))
    if from_file:
        return value, f"set by accelerate launch from the accelerate config {from_file[1]}"
    if value != "no":
        return value, "set by accelerate launch"
    return None  # the launcher's default "no", not a choice


def resolve_mixed_precision(requested: str, device_type: str | None = None,
                            environ: Mapping[str, str] | None = None) -> tuple[str, str]:
    """(no | bf16 | fp16, why): `auto` resolved (Accelerate's setting, else this device); other values as given."""
    if requested != "auto":
        return requested, "as asked"
    chosen = accelerate_choice(environ)
    if chosen is not None:
        mode, who = chosen
        if mode not in ("no", "bf16", "fp16"):
            from bertkit.engine.settings import SettingUsageHint

            raise SettingUsageHint(f"Accelerate asks for mixed precision {mode!r} ({who.removeprefix('set by ')}); "
                                   "bertkit trains with no, bf16 or fp16: pass {mixed_precision}, or change "
                                   "the accelerate setting")
        return mode, f"auto: {who}"
    ok, why = native_bf16(device_type)
    return ("bf16" if ok else "no"), f"auto: {why}"
