"""The one training skeleton that `classify train` and `qa train` plug into.

check settings and paths → read data (task) → model and tokenizer → features (task) → `Engine.fit` (with
checkpoints, resume, trackers) → the task's after-training step (threshold tuning, …) → one all-or-nothing
Hugging Face folder with bertkit.json, metrics.json and the figures. A task plugin supplies only what differs:
`load_data`, `model_kwargs`, `featurize`, `make_task`, `describe_eval` and `after_fit`.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Protocol

from bertkit import console
from bertkit.defaults import SAVE_TOTAL_LIMIT, TrainConfig
from bertkit.envinfo import versions
from bertkit.errors import BertkitError, UsageError
from bertkit.outdir import METADATA_FILE, METRICS_FILE, atomic_dir, check_output_dir, write_json

TRACKER_PACKAGES = {"tensorboard": ("tensorboard", "tensorboardX"), "wandb": ("wandb",), "mlflow": ("mlflow",)}


@dataclass
class Finished:
    """What a task adds once training is over (main process)."""

    meta: dict[str, Any]  # task part of bertkit.json
    metrics: dict[str, Any]  # task part of metrics.json (dev metrics, tuning)
    summary: dict[str, Any]  # task part of the stdout summary
    train: dict[str, Any] = field(default_factory=dict)  # task figures for metrics["train"] (rows, truncation)
    figures: Callable[[Path], None] | None = None  # writes task figures into the output folder


class TrainingPlugin(Protocol):
    auto_class: str  # the transformers Auto class name
    cfg: TrainConfig

    def load_data(self) -> None: ...

    def model_kwargs(self) -> dict[str, Any]: ...

    def featurize(self, tokenizer, model) -> tuple[Any, Any]: ...

    def make_task(self, tokenizer) -> Any: ...

    def describe_eval(self, record: dict[str, Any]) -> str: ...

    def after_fit(self, engine, result) -> Finished: ...


# the settings a checkpoint must match besides the engine's own (EngineSettings.RESUME_KEYS) to be resumed
IDENTITY_KEYS = ("model", "train", "dev", "max_length", "limit", "dev_limit", "metric")


def engine_settings(cfg: TrainConfig):
    """The engine's settings, from the declared ones (every default lives on TrainConfig)."""
    from dataclasses import fields

    from bertkit.engine.settings import EngineSettings

    own = {f.name for f in fields(EngineSettings)} - {"keep", "identity"}
    return EngineSettings(**{k: getattr(cfg, k) for k in own}, keep=cfg.save_total_limit or SAVE_TOTAL_LIMIT,
                          identity={k: getattr(cfg, k) for k in IDENTITY_KEYS})


def keep_when_finished(cfg: TrainConfig) -> str | None:
    """Why a finished run keeps its checkpoints (--keep-checkpoints, or a --save-total-limit the user gave), or None."""
    if cfg.keep_checkpoints:
        return "--keep-checkpoints"
    if cfg.save_total_limit is not None:
        return f"--save-total-limit {cfg.save_total_limit}"
    return None


def check_tracker(report_to: str | None) -> None:
    """The tracker's package is installed (its name is checked by the setting's declaration)."""
    import importlib.util

    if report_to in (None, "none"):
        return
    mods = TRACKER_PACKAGES[report_to]
    if not any(importlib.util.find_spec(m) for m in mods):
        raise BertkitError(f"--report-to {report_to} needs the {mods[0]} package: pip install 'bertkit[{report_to}]'")


def _distributed():
    import torch
    from accelerate import PartialState

    state = PartialState(cpu=not torch.cuda.is_available())  # under `accelerate launch`: joins the process group
    if not state.is_main_process:
        console.set_quiet(True)  # one copy of the logs: the main process's
    return state


def _prepare_paths(cfg: TrainConfig, state) -> tuple[Path, Path | None]:
    """The output folder is checked before anything loads; stale leftovers go; the checkpoint to resume from."""
    from bertkit.engine import checkpoint as ckpt

    out_dir = check_output_dir(cfg.output_dir, cfg.overwrite)
    if state.is_main_process:
        ckpt.remove_stale(out_dir)
    # every process decides (the same way, so an error stops them all); only the main one deletes
    resume = ckpt.resolve_resume(getattr(cfg, "resume", None), out_dir, cfg.overwrite, delete=state.is_main_process)
    state.wait_for_everyone()
    return out_dir, resume


def _load_model(plugin: TrainingPlugin, cfg: TrainConfig):
    import transformers

    from bertkit.engine import seed_everything
    from bertkit.modeling import load_pretrained, load_tokenizer

    seed_everything(cfg.seed)  # before the head is initialised
    tokenizer = load_tokenizer(cfg.model, cfg.trust_remote_code)
    if tokenizer.pad_token_id is None:
        raise BertkitError(f"{cfg.model}: the tokenizer has no padding token")
    model = load_pretrained(getattr(transformers, plugin.auto_class), cfg.model, allow_pickle=cfg.allow_pickle,
                            trust_remote_code=cfg.trust_remote_code, attn=cfg.attn, **plugin.model_kwargs())
    return tokenizer, model


def run(plugin: TrainingPlugin) -> dict[str, Any] | None:
    """Train, then save on the main process. Returns the summary there (None on the other processes)."""
    from bertkit.engine import Engine
    from bertkit.engine.callbacks import EvalLogCallback, ProgressCallback, TrackerCallback
    from bertkit.engine.checkpoint import run_dir
    from bertkit.engine.memory import fix_mmap_threshold
    from bertkit.engine.precision import resolve_mixed_precision
    from bertkit.engine.threads import set_auto_threads
    from bertkit.modeling import attention_used

    cfg, t_start = plugin.cfg, time.perf_counter()
    fix_mmap_threshold()  # peak memory independent of the number of rows (see bertkit.engine.memory)
    console.quiet_libraries()
    if not cfg.train:
        raise UsageError("--train is required: the training data file")
    check_tracker(getattr(cfg, "report_to", None))
    state = _distributed()
    out_dir, resume = _prepare_paths(cfg, state)
    threads, threads_why = set_auto_threads(cfg.threads, state.num_processes)
    cfg.mixed_precision, precision_why = resolve_mixed_precision(cfg.mixed_precision)  # auto → what runs (saved so)
    plugin.load_data()
    tokenizer, model = _load_model(plugin, cfg)
    attn_why = "auto: what the architecture supports" if cfg.attn in (None, "auto") else "as asked"
    cfg.attn = attention_used(model)  # auto → what runs (saved so)
    train_feats, dev_feats = plugin.featurize(tokenizer, model)
    task = plugin.make_task(tokenizer)
    callbacks = [ProgressCallback(), EvalLogCallback(plugin.describe_eval)] if state.is_main_process else []
    if getattr(cfg, "report_to", "none") not in (None, "none"):
        callbacks.append(TrackerCallback(dict(vars(cfg))))
    engine = Engine(task, model, engine_settings(cfg), run_dir(out_dir), callbacks, project_name=out_dir.name)
    kind = str(engine.accelerator.distributed_type).split(".")[-1]
    console.log(f"training {type(model).__name__} on {engine.accelerator.device} × {state.num_processes} "
                f"process(es) ({kind}) ({threads} threads each: {threads_why}), {cfg.epochs:g} epochs, "
                f"batch {cfg.batch_size} per process, lr {cfg.lr:g}, mixed precision {cfg.mixed_precision} "
                f"({precision_why}), attention {cfg.attn} ({attn_why})"
                + (f", dropout: bertkit's CPU masks on {engine.fast_dropouts} modules" if engine.fast_dropouts else "")
                + (", attention dropout: bertkit's CPU path" if engine.fast_attention else "")
                + (f", embedding gradients: a kept buffer on {engine.buffered_embeddings} table(s)"
                   if engine.buffered_embeddings else ""))
    result = engine.fit(train_feats, dev_feats, resume=resume)
    summary = None
    if engine.is_main:
        summary = _save(plugin, engine, result, tokenizer, out_dir, time.perf_counter() - t_start)
        _clean_checkpoints(cfg, engine.run_dir)
    engine.accelerator.wait_for_everyone()
    if state.num_processes > 1:
        state.destroy_process_group()
    return summary


def _clean_checkpoints(cfg: TrainConfig, folder: Path | None) -> None:
    """The model folder is written: the run's checkpoints go, unless asked to keep them (main process only)."""
    from bertkit.engine import checkpoint as ckpt

    if folder is None or not ckpt.checkpoints(folder):
        return
    why = keep_when_finished(cfg)
    if why:
        console.log(f"checkpoints kept in {folder} ({why})")
        return
    removed, freed = ckpt.remove_finished(folder)
    console.log(f"removed {len(removed)} checkpoint(s) of the finished run from {folder} "
                f"({', '.join(p.name for p in removed)}; {freed / 1e6:.1f} MB freed); --keep-checkpoints keeps them")


def _save(plugin: TrainingPlugin, engine, result, tokenizer, out_dir: Path, seconds: float) -> dict[str, Any]:
    from bertkit import plots

    cfg = plugin.cfg
    done = plugin.after_fit(engine, result)
    meta = {**done.meta, "metric": engine.task.metric, "training_args": dict(vars(cfg)), "versions": versions()}
    train = {**result.summary(), **done.train, "processes": engine.accelerator.num_processes,
             "wall_seconds": round(seconds, 2)}
    metrics = {"metric": engine.task.metric, "best": result.best, **done.metrics, "history": result.history,
               "log_history": result.log_history, "train": train}
    with atomic_dir(out_dir) as tmp:
        engine.model.save_pretrained(tmp)
        tokenizer.save_pretrained(tmp)
        write_json(tmp / METADATA_FILE, meta)
        write_json(tmp / METRICS_FILE, metrics)
        curves = plots.training_curves([*result.log_history, *result.history], engine.task.metric)
        plots.save(curves, tmp / plots.CURVES_FILE)
        if done.figures:
            done.figures(tmp)
    return {"output_dir": str(out_dir), **done.summary, **train}
