"""Checkpoints of a training run, beside (never inside) the all-or-nothing output folder.

Layout, for `-o runs/sst2`:

    runs/sst2.run/checkpoint-000120/   Accelerate's save_state (model.safetensors, optimizer.bin, scheduler.bin,
                                      random_states_<rank>.pkl) + trainer_state.json (+ best_model.safetensors)
    runs/sst2.run/tensorboard/ ...     tracker logs (report_to)

A checkpoint is written to `.checkpoint-N.partial` and renamed when complete, so a run killed while saving leaves
no folder that looks complete; the next run into the same path removes such leftovers (and the `.sst2.partial-*`
folder of a final save that was killed). `keep` (EngineSettings; `--save-total-limit`) keeps the newest K
checkpoints (default 2). When the run finishes and its model folder is written, the checkpoints are removed (the main
process logs what and how much space), unless asked to keep them (bertkit.train); a run that is interrupted or fails
keeps them, since they are what a resumed run continues from.
"""

from __future__ import annotations

import os
import re
import shutil
from pathlib import Path
from typing import Any

from bertkit import console
from bertkit.engine.settings import SettingUsageHint

CHECKPOINT = re.compile(r"^checkpoint-(\d+)$")
BEST_WEIGHTS = "best_model.safetensors"
def run_dir(output_dir: Path) -> Path:
    return output_dir.with_name(output_dir.name + ".run")


def checkpoints(folder: Path) -> list[Path]:
    """Complete checkpoints in `folder`, oldest first."""
    if not folder.is_dir():
        return []
    found = [(int(m.group(1)), p) for p in folder.iterdir() if p.is_dir() and (m := CHECKPOINT.match(p.name))]
    return [p for _, p in sorted(found)]


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # pragma: no cover - another user's live process
        return True
    return True


def remove_stale(output_dir: Path) -> list[Path]:
    """Leftovers of a killed run: `.NAME.partial-<pid>-*` final folders whose process is gone, and
    `.checkpoint-N.partial` folders in the run folder. Returns what was removed."""
    removed = []
    parent = output_dir.parent
    if parent.is_dir():
        for p in parent.glob(f".{output_dir.name}.partial-*"):
            m = re.match(rf"^\.{re.escape(output_dir.name)}\.partial-(\d+)-", p.name)
            if m and _pid_alive(int(m.group(1))) and int(m.group(1)) != os.getpid():
                continue  # another live run is saving there right now
            shutil.rmtree(p, ignore_errors=True)
            removed.append(p)
    rd = run_dir(output_dir)
    if rd.is_dir():
        for p in rd.glob(".checkpoint-*.partial"):
            shutil.rmtree(p, ignore_errors=True)
            removed.append(p)
    for p in removed:
        console.log(f"removed {p} (left by an interrupted run)")
    return removed


def resolve_resume(resume: str | None, output_dir: Path, overwrite: bool, delete: bool = True) -> Path | None:
    """The checkpoint to continue from: `auto` = the newest in the run folder (or none: start fresh), or a path.
    With `overwrite` and no `resume`, the earlier run's checkpoints go (when `delete`: the main process)."""
    rd = run_dir(output_dir)
    found = checkpoints(rd)
    if not resume:
        if found and not overwrite:
            raise SettingUsageHint(f"{rd}: checkpoints of an earlier run are there ({found[-1].name}); "
                                   "pass {resume} auto to continue it, or {overwrite} to start over")
        if found and delete:
            shutil.rmtree(rd, ignore_errors=True)
        return None
    if resume == "auto":
        if not found and delete:
            console.log(f"no checkpoint in {rd} to resume from; starting from the beginning")
        return found[-1] if found else None
    p = Path(resume)
    if not p.is_dir() or not (p / "trainer_state.json").is_file():
        raise SettingUsageHint(f"{{resume}} {resume}: not a checkpoint folder (no trainer_state.json); "
                               f"checkpoints are in {rd}, or use {{resume}} auto")
    return p


def check_compatible(saved: dict[str, Any], now: dict[str, Any], where: Path) -> None:
    """`now`: the run's fingerprint (EngineSettings.fingerprint, processes, rows); keys both know must agree."""
    diff = [f"{k}: {saved.get(k)!r} then, {now.get(k)!r} now" for k in now if k in saved and saved.get(k) != now.get(k)]
    if diff:
        raise SettingUsageHint(f"{{resume}} {where}: the run was started with other settings ({'; '.join(diff)}); "
                               "use the same settings to continue it, or start a new run without {resume}")


def prune(folder: Path, keep: int) -> None:
    for p in checkpoints(folder)[:-keep] if keep > 0 else []:
        shutil.rmtree(p, ignore_errors=True)


def folder_bytes(folder: Path) -> int:
    return sum(f.stat().st_size for f in folder.rglob("*") if f.is_file() and not f.is_symlink())


def remove_finished(folder: Path) -> tuple[list[Path], int]:
    """A finished run's checkpoints (its model folder is written): removed, with the bytes they took. The run
    folder goes too when nothing else (tracker logs) is left in it."""
    found = checkpoints(folder)
    freed = sum(folder_bytes(p) for p in found)
    for p in found:
        shutil.rmtree(p, ignore_errors=True)
    if folder.is_dir() and not any(folder.iterdir()):
        folder.rmdir()
    return found, freed


def partial_path(folder: Path, step: int) -> Path:
    return folder / f".checkpoint-{step:06d}.partial"


def final_path(folder: Path, step: int) -> Path:
    return folder / f"checkpoint-{step:06d}"


def commit(partial: Path, final: Path) -> None:
    if final.exists():
        shutil.rmtree(final)
    partial.rename(final)
