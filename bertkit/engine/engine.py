"""The training engine: one Accelerate loop shared by every task.

The design, with its measurements: docs/design/engine.md.
"""

from __future__ import annotations

import math
import shutil
import signal
import time
from contextlib import nullcontext
from pathlib import Path
from typing import Any, Sequence

import torch

from bertkit import console
from bertkit.engine import checkpoint as ckpt
from bertkit.engine import cpu_attention, embedding_grad, last_layer, memory
from bertkit.engine import dropout as fast_dropout
from bertkit.engine.batching import Features
from bertkit.engine.callbacks import Callback, stop_signals
from bertkit.engine.inference import Outputs, batched_forward
from bertkit.engine.result import NonFiniteLoss, TrainingInterrupted, TrainResult
from bertkit.engine.sampler import LocalBatch, ShardedBucketSampler
from bertkit.engine.selection import judge
from bertkit.engine.settings import EngineSettings, SettingHint
from bertkit.engine.setup import build_optimizer, make_accelerator, seed_everything, steps_for
from bertkit.engine.state import TrainState
from bertkit.errors import BertkitError

__all__ = ["Engine", "NonFiniteLoss", "TrainResult", "TrainingInterrupted", "seed_everything", "steps_for"]


class Engine:
    def __init__(self, task, model: torch.nn.Module, cfg: EngineSettings, run_dir: Path | None = None,
                 callbacks: Sequence[Callback] = (), project_name: str = "bertkit"):
        self.task, self.cfg, self.run_dir, self.project_name = task, cfg, run_dir, project_name
        self.accelerator = make_accelerator(cfg, run_dir)
        self.model = model
        cpu = self.accelerator.device.type == "cpu"  # a compiled graph draws its own masks; CUDA's kernel is fused
        self.fast_dropouts = fast_dropout.install(model) if cpu and not cfg.compile else 0
        self.fast_attention = cpu and not cfg.compile and cpu_attention.install(model)  # until fit ends
        self.buffered_embeddings = embedding_grad.install(model) if cpu and not cfg.compile else 0  # until fit ends
        self.last_layer = not cfg.compile and last_layer.install(model)  # checked in _setup; until fit ends
        self.state = TrainState()
        self.callbacks = list(callbacks)
        self.best_weights: dict[str, torch.Tensor] | None = None  # main process only
        self.best_outputs: Outputs | None = None
        self.resumed_from: Path | None = None
        self._stop = False
        self._signal: dict[str, int | None] = {"signal": None}

    @property
    def is_main(self) -> bool:
        return self.accelerator.is_main_process

    def _call(self, event: str, *args) -> None:
        for cb in self.callbacks:
            getattr(cb, event)(self, *args)

    # -- set-up ------------------------------------------------------------------------------------
    def _setup(self, train: Features, dev: Features | None) -> None:
        from transformers import get_linear_schedule_with_warmup

        cfg, acc = self.cfg, self.accelerator
        if len(train) == 0:
            raise SettingHint("no training examples left after loading; check the training file and {limit}")
        self.train_feats, self.dev_feats = train, (dev if dev is not None and len(dev) else None)
        self.sampler = ShardedBucketSampler(train.lengths, cfg.batch_size, cfg.seed, cfg.bucket_size,
                                            acc.num_processes, acc.process_index, getattr(train, "items", None))
        self.per_epoch = len(self.sampler)
        self.total_batches = max(1, math.ceil(cfg.epochs * self.per_epoch))
        self.total_steps = steps_for(self.total_batches, self.per_epoch, cfg.grad_accum)
        model = torch.compile(self.model, dynamic=True) if cfg.compile else self.model
        optimizer = build_optimizer(model, cfg)
        scheduler = get_linear_schedule_with_warmup(optimizer, int(cfg.warmup_ratio * self.total_steps),
                                                    self.total_steps)
        self.prepared, self.optimizer, self.scheduler = acc.prepare(model, optimizer, scheduler)
        self.state.config = {**cfg.fingerprint(), "num_processes": acc.num_processes, "train_rows": len(train)}
        self._running = torch.zeros((), device=acc.device)
        self._bad = torch.zeros((), dtype=torch.long, device=acc.device)
        self._grad_norm: torch.Tensor | None = None
        self._last_eval_step: int | None = None
        if self.last_layer:  # the first rows' loss must be the same with the last layer at the loss's positions only
            first = self.task.collate(train.rows(self.sampler.local(0, 0).rows[:8]))
            self.last_layer = last_layer.verify(self.task, self.model, {k: v.to(acc.device) for k, v in first.items()})
            console.log("last layer: " + ("computed only at the positions the loss reads" if self.last_layer else
                                          "whole (the head reads more than the loss's positions)"))

    # -- the loop ----------------------------------------------------------------------------------
    def fit(self, train: Features, dev: Features | None = None, resume: Path | None = None) -> TrainResult:
        self._setup(train, dev)
        if resume is not None:
            self.load_checkpoint(resume)
        self._call("on_train_begin")
        try:
            with stop_signals() as flag, memory.keep_freed_heap():
                self._signal = flag
                self._loop()
        finally:
            self._call("on_train_end")
            cpu_attention.uninstall(self.model)
            embedding_grad.uninstall(self.model)
            last_layer.uninstall(self.model)
        return self._finish()

    def _loop(self) -> None:
        st = self.state
        self._clock, self._seconds0 = time.perf_counter(), st.train_seconds
        while st.batches_done < self.total_batches and not self._stop:
            start = (st.batch_in_epoch // self.cfg.grad_accum) * self.cfg.grad_accum
            end = min(start + self.cfg.grad_accum, self.per_epoch, self.total_batches - st.epoch * self.per_epoch)
            sync = st.batch_in_epoch + 1 == end
            window = (end - start, self.sampler.window_items(st.epoch, start, end))
            self._train_batch(self.sampler.local(st.epoch, st.batch_in_epoch), window, sync)
            st.batch_in_epoch += 1
            st.batches_done += 1
            epoch_end = st.batch_in_epoch == self.per_epoch
            if epoch_end:
                st.epoch, st.batch_in_epoch = st.epoch + 1, 0
            self._call("on_batch")
            if sync:
                self._after_step(epoch_end)

    def _loss(self, model, batch: dict[str, torch.Tensor], lb: LocalBatch, items: float) -> torch.Tensor:
        """The accumulation window's loss, as this process's share: DDP averages gradients over processes, so
        sum(local losses) × processes / `items` (the window's denominator, `ShardedBucketSampler.window_items`) gives
        every item (a row; a labelled token for token classification) the same weight, whatever the batch's lengths
        or the process count."""
        positions = self.task.loss_positions(batch) if self.last_layer else None
        with self.accelerator.autocast(), last_layer.only(positions):
            per_row = self.task.loss(model, batch).float()
        weights = torch.tensor(lb.weights, device=per_row.device)
        return (per_row * weights).sum() * (self.accelerator.num_processes / max(items, 1.0))

    def _train_batch(self, lb: LocalBatch, window: tuple[int, float], sync: bool) -> None:
        acc, st, model = self.accelerator, self.state, self.prepared
        model.train()
        batch = {k: v.to(acc.device, non_blocking=True)
                 for k, v in self.task.collate(self.train_feats.rows(lb.rows)).items()}
        st.tokens += lb.global_tokens
        st.samples += lb.global_rows
        with nullcontext() if sync or acc.num_processes == 1 else acc.no_sync(model):
            loss = self._loss(model, batch, lb, window[1])
            acc.backward(loss)
        self._running += loss.detach() * window[0]
        st.loss_count += 1
        bad = ~torch.isfinite(loss.detach())
        if sync:
            if self.cfg.max_grad_norm:
                self._grad_norm = acc.clip_grad_norm_(model.parameters(), self.cfg.max_grad_norm)
                bad = bad | ~torch.isfinite(self._grad_norm)
            self.optimizer.step()
            if not getattr(self.optimizer, "step_was_skipped", False):
                self.scheduler.step()
            self.optimizer.zero_grad(set_to_none=True)
        self._bad = torch.where(self._bad == 0, bad.long() * (st.step + 1), self._bad)

    def _after_step(self, epoch_end: bool) -> None:
        cfg, st = self.cfg, self.state
        st.step += 1
        last = st.batches_done >= self.total_batches
        at_log = st.step % cfg.log_every == 0 or last
        if at_log:
            self._log()
        if self.dev_feats is not None and self._last_eval_step != st.step and (
                (cfg.eval_steps and st.step % cfg.eval_steps == 0) or (not cfg.eval_steps and epoch_end) or last):
            self._evaluate()
        signum = self._pending_signal(at_log)
        every = cfg.save_steps
        if signum or (not last and not self._stop and ((every and st.step % every == 0) or epoch_end)):
            path = self.save_checkpoint()
            if signum:
                self._interrupted(signum, path)

    def _pending_signal(self, at_log: bool) -> int | None:
        """The stop signal, agreed on by every process (checked at log steps only when there are several)."""
        acc = self.accelerator
        sig = self._signal["signal"] or 0
        if acc.num_processes > 1:
            if not at_log:
                return None
            sig = int(acc.reduce(torch.tensor(sig, device=acc.device), "max").item())
        return sig or None

    def _interrupted(self, signum: int, path: Path | None) -> None:
        name = signal.Signals(signum).name
        raise TrainingInterrupted(f"{name} at step {self.state.step}: checkpoint saved in {path}", signum,
                                  str(path) if path else None, self.accelerator.num_processes)

    # -- measurements --------------------------------------------------------------------------------
    def _elapsed(self) -> float:
        return self._seconds0 + time.perf_counter() - self._clock

    def _paused(self, since: float) -> None:
        """Time spent evaluating or saving does not count as training time."""
        self._clock += time.perf_counter() - since

    def _check_finite(self) -> None:
        acc = self.accelerator
        bad = self._bad if acc.num_processes == 1 else acc.reduce(self._bad.clone(), "max")
        step = int(bad.item())
        if step:
            last = ckpt.checkpoints(self.run_dir)[-1] if self.run_dir and ckpt.checkpoints(self.run_dir) else None
            keep = f"the last good checkpoint is {last}" if last else "no checkpoint was saved before it"
            raise NonFiniteLoss(f"step {step}: the training loss or gradient norm is NaN or infinite; {keep}")

    def _mean_running(self) -> float | None:
        """Mean training loss since the last evaluation, over every process (a host sync)."""
        st, acc = self.state, self.accelerator
        if not st.loss_count:
            return None
        total = self._running if acc.num_processes == 1 else acc.reduce(self._running.clone(), "mean")
        return float(total.item()) / st.loss_count

    def _log(self) -> None:
        self._check_finite()
        st = self.state
        rec = {"kind": "log", "step": st.step, "epoch": round(st.batches_done / self.per_epoch, 4),
               "loss": self._mean_running(), "lr": float(self.scheduler.get_last_lr()[0]),
               "samples_per_second": st.samples / max(self._elapsed(), 1e-9)}
        if self._grad_norm is not None:
            rec["grad_norm"] = float(self._grad_norm)
        st.history.append(rec)
        self._call("on_log", rec)

    # -- evaluation ---------------------------------------------------------------------------------
    @property
    def sharded(self) -> bool:
        """FSDP or DeepSpeed (from the user's `accelerate config`): weights live in pieces across processes."""
        return str(self.accelerator.distributed_type).split(".")[-1] in ("FSDP", "DEEPSPEED")

    def eval_model(self) -> torch.nn.Module:
        if self.sharded:
            return self.prepared  # its forward gathers the pieces: every process must take part
        model = self.accelerator.unwrap_model(self.prepared)
        return getattr(model, "_orig_mod", model)

    def full_state_dict(self) -> dict[str, torch.Tensor] | None:
        """The whole model's weights on the main process, on the CPU (None elsewhere). Under FSDP / DeepSpeed the
        pieces are gathered, so every process must call it."""
        if self.sharded:
            sd = self.accelerator.get_state_dict(self.prepared)
        else:
            sd = self.eval_model().state_dict() if self.is_main else None
        return {k: v.detach().to("cpu", copy=True) for k, v in sd.items()} if self.is_main and sd is not None else None

    def predict(self, feats: Features, distributed: bool = True, model: torch.nn.Module | None = None) -> Outputs:
        acc = self.accelerator
        dtype = {"bf16": torch.bfloat16, "fp16": torch.float16}.get(self.cfg.mixed_precision)
        n, r = (acc.num_processes, acc.process_index) if distributed else (1, 0)
        return batched_forward(model or self.eval_model(), feats, self.task.collate, self.task.predict_step,
                               self.cfg.eval_batch_size, acc.device, autocast_dtype=dtype, num_processes=n,
                               process_index=r,
                               same_steps=self.sharded and distributed)

    def _evaluate(self) -> None:
        from accelerate.utils import broadcast_object_list

        self._check_finite()
        t, st = time.perf_counter(), self.state
        outputs = self.predict(self.dev_feats)
        record = [None]
        if self.is_main:
            metrics = self.task.compute_metrics(outputs, self.dev_feats)
            if self.task.metric not in metrics:
                raise BertkitError(f"metric {self.task.metric!r} is not computed for this task; "
                                   f"choose one of: {', '.join(sorted(metrics))}")
            record = [{"kind": "eval", "step": st.step, "epoch": round(st.batches_done / self.per_epoch, 3), **metrics}]
            dev_loss = self.task.dev_loss(outputs, self.dev_feats) if hasattr(self.task, "dev_loss") else None
            if dev_loss is not None:
                record[0]["dev_loss"] = dev_loss
        if self.accelerator.num_processes > 1:
            broadcast_object_list(record)
        rec = record[0]
        loss = self._mean_running()
        if loss is not None:
            rec["train_loss"] = loss
        self._select(rec, outputs)
        self._running.zero_()
        st.loss_count = 0
        st.history.append(rec)
        self._last_eval_step = st.step
        self._call("on_evaluate", rec)
        self._paused(t)

    def _select(self, rec: dict[str, Any], outputs: Outputs) -> None:
        """Keep the best weights (main process) by `selection.judge`: the better metric, then the lower dev loss,
        then the later step; count evaluations without improvement for `patience`."""
        st, loss = self.state, rec.get("dev_loss")
        verdict = judge(rec[self.task.metric], loss, st.best_metric, st.best_loss, self.task.greater_is_better)
        if verdict.replace:
            st.best_metric, st.best_loss, st.best_step = rec[self.task.metric], loss, st.step
            self.best_weights = self.full_state_dict()
            self.best_outputs = outputs if self.is_main else None
        st.bad_evals = 0 if verdict.improved else st.bad_evals + 1
        if self.cfg.patience is not None and st.bad_evals >= self.cfg.patience:
            st.stopped_early, self._stop = True, True

    # -- checkpoints ----------------------------------------------------------------------------------
    def save_checkpoint(self) -> Path | None:
        """Model, optimizer, scheduler and RNG states (Accelerate) + trainer_state.json, written whole or not at all."""
        if self.run_dir is None:
            return None
        from safetensors.torch import save_file

        self._check_finite()
        acc, st, t = self.accelerator, self.state, time.perf_counter()
        loss = self._mean_running()  # every process continues from the same (global) running loss
        self._running.fill_((loss or 0.0) * st.loss_count)
        partial, final = ckpt.partial_path(self.run_dir, st.step), ckpt.final_path(self.run_dir, st.step)
        if self.is_main:
            shutil.rmtree(partial, ignore_errors=True)
            partial.mkdir(parents=True)
        acc.wait_for_everyone()
        acc.save_state(str(partial))
        acc.wait_for_everyone()  # every rank's random_states_<i>.pkl is in before the folder is renamed
        if self.is_main:
            st.loss_sum, st.train_seconds = float(self._running.item()), self._elapsed()
            st.save(partial)
            if self.best_weights is not None and st.best_step != st.step:
                save_file({k: v.contiguous() for k, v in self.best_weights.items()}, str(partial / ckpt.BEST_WEIGHTS))
            ckpt.commit(partial, final)
            ckpt.prune(self.run_dir, self.cfg.keep)
        acc.wait_for_everyone()
        self._call("on_save", final)
        self._paused(t)
        return final

    def load_checkpoint(self, path: Path) -> None:
        from safetensors.torch import load_file

        saved = TrainState.load(path)
        ckpt.check_compatible(saved.config, self.state.config, path)
        self.accelerator.load_state(str(path))
        saved.config = self.state.config
        self.state = saved
        self._running.fill_(saved.loss_sum)
        self._last_eval_step = saved.evaluations[-1]["step"] if saved.evaluations else None
        if self.is_main and saved.best_step is not None:
            best = path / ckpt.BEST_WEIGHTS
            weights = load_file(str(best)) if best.is_file() else self.eval_model().state_dict()
            self.best_weights = {k: v.detach().to("cpu", copy=True) for k, v in weights.items()}
        self.resumed_from = path
        console.log(f"resumed from {path}: step {saved.step}, epoch {saved.epoch}, batch "
                    f"{saved.batch_in_epoch} of {self.per_epoch}")

    # -- the end --------------------------------------------------------------------------------------
    def _finish(self) -> TrainResult:
        st, acc = self.state, self.accelerator
        acc.wait_for_everyone()
        weights = self.best_weights if self.best_weights is not None and st.best_step != st.step else None
        if self.sharded:  # a plain copy of the model on the main process, with the gathered weights
            final = self.full_state_dict()
            model = type(self.model)(self.model.config) if self.is_main else self.model
            if self.is_main:
                model.load_state_dict(weights or final)
        else:
            model = self.eval_model()
            if self.is_main and weights is not None:
                model.load_state_dict(weights)
        self.model = model
        if self.is_main and self.dev_feats is not None and self.best_outputs is None and st.best_step is not None:
            # the best came before a resume
            self.best_outputs = self.predict(self.dev_feats, distributed=False, model=model)
        evals = st.evaluations
        best = next((r for r in evals if r["step"] == st.best_step), None)
        final_loss = self._mean_running() if st.loss_count else (evals[-1].get("train_loss") if evals else None)
        return TrainResult(history=evals, log_history=[r for r in st.history if r.get("kind") == "log"], best=best,
                           best_outputs=self.best_outputs, steps=st.step, epochs=st.batches_done / self.per_epoch,
                           train_seconds=self._elapsed(),
                           train_samples=st.samples, train_tokens=st.tokens, stopped_early=st.stopped_early,
                           final_loss=final_loss, resumed_from=str(self.resumed_from) if self.resumed_from else None)
