"""The training engine: one Accelerate loop shared by every task.

A task (see `bertkit.engine.task.Task`) supplies collation, loss, per-example outputs
and metrics; the engine owns optimisation (AdamW, linear warmup/decay, gradient
accumulation and clipping, mixed precision), length-bucketed batching, periodic
evaluation, best-model selection and early stopping.

State that exact resume will need (step, epoch, RNG, optimizer, scheduler) lives in
`Engine` attributes and objects prepared by Accelerate, so `accelerator.save_state`
can be added without reshaping the loop. Multi-process runs go through
`accelerate launch`: batches are sharded by Accelerate and outputs gathered with
their example indices.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from typing import Any, Callable

import numpy as np
import torch

from bertkit.console import progress
from bertkit.defaults import TrainConfig
from bertkit.engine.batching import BatchList, Features, sorted_batches
from bertkit.errors import BertkitError


def seed_everything(seed: int) -> None:
    from accelerate.utils import set_seed

    set_seed(seed)


@dataclass
class TrainResult:
    history: list[dict[str, Any]] = field(default_factory=list)
    best: dict[str, Any] | None = None  # the evaluation of the kept model
    best_outputs: dict[str, list[np.ndarray]] | None = None  # its dev outputs, for post-processing
    steps: int = 0
    epochs: float = 0.0
    train_seconds: float = 0.0
    train_samples: int = 0
    train_tokens: int = 0
    eval_tokens: int = 0
    stopped_early: bool = False
    final_loss: float | None = None

    @property
    def samples_per_second(self) -> float:
        return self.train_samples / self.train_seconds if self.train_seconds else 0.0

    def summary(self) -> dict[str, Any]:
        return {
            "steps": self.steps,
            "epochs": round(self.epochs, 3),
            "train_seconds": round(self.train_seconds, 2),
            "train_samples_per_second": round(self.samples_per_second, 2),
            "train_tokens_per_second": round(self.train_tokens / self.train_seconds, 1) if self.train_seconds else 0.0,
            "final_loss": self.final_loss,
            "stopped_early": self.stopped_early,
        }


class _Indexed(torch.utils.data.Dataset):
    def __init__(self, feats: Features):
        self.feats = feats

    def __len__(self) -> int:
        return len(self.feats)

    def __getitem__(self, i: int):
        return i, self.feats[i]


def _no_decay(name: str) -> bool:
    n = name.lower()
    return n.endswith("bias") or "layernorm" in n or "layer_norm" in n or ".norm" in n or "ln_" in n


def _release_accelerator_state(mixed_precision: str) -> None:
    """Accelerate keeps one AcceleratorState per process and refuses a second Accelerator with another
    mixed precision; a process that trains twice (tests, notebooks, benchmarks) must be able to change it."""
    from accelerate.state import AcceleratorState

    shared = AcceleratorState._shared_state
    if shared and shared.get("_mixed_precision", mixed_precision) != mixed_precision:
        AcceleratorState._reset_state()


class Engine:
    def __init__(self, task, model: torch.nn.Module, cfg: TrainConfig, cpu: bool | None = None):
        from accelerate import Accelerator

        if cfg.mixed_precision not in ("no", "bf16", "fp16"):
            raise BertkitError(f"--mixed-precision must be no, bf16 or fp16, not {cfg.mixed_precision!r}")
        if cfg.mixed_precision == "fp16" and not torch.cuda.is_available():
            raise BertkitError("--mixed-precision fp16 needs a GPU; on CPU use bf16 or no")
        self.task, self.cfg = task, cfg
        _release_accelerator_state(cfg.mixed_precision)
        self.accelerator = Accelerator(
            mixed_precision=cfg.mixed_precision,
            gradient_accumulation_steps=max(1, cfg.grad_accum),
            cpu=bool(cpu),
        )
        self.model = model
        self.step = 0  # optimizer steps taken
        self.epoch = 0
        self.tokens_collated = 0

    # -- data ------------------------------------------------------------------------------
    def _collate(self, items):
        idx = [i for i, _ in items]
        rows = [r for _, r in items]
        self.tokens_collated += sum(len(r["input_ids"]) for r in rows)  # real tokens, counted on the host
        batch = self.task.collate(rows)
        batch["_idx"] = torch.as_tensor(idx, dtype=torch.long)
        return batch

    def _loader(self, feats: Features, sampler) -> torch.utils.data.DataLoader:
        return torch.utils.data.DataLoader(_Indexed(feats), batch_sampler=sampler, collate_fn=self._collate, num_workers=0)

    # -- optimisation ------------------------------------------------------------------------
    def _optimizer(self, model: torch.nn.Module) -> torch.optim.Optimizer:
        decay, no_decay = [], []
        for n, p in model.named_parameters():
            if p.requires_grad:
                (no_decay if _no_decay(n) else decay).append(p)
        groups = [{"params": decay, "weight_decay": self.cfg.weight_decay}, {"params": no_decay, "weight_decay": 0.0}]
        # fused: one kernel per step (CUDA, and CPU since torch 2.4). On the 2-core CPU: 127 ms instead of
        # 340 ms per MiniLM step for the default for-loop AdamW (the Trainer's default is fused too)
        try:
            return torch.optim.AdamW(groups, lr=self.cfg.lr, fused=True)
        except (RuntimeError, TypeError, ValueError):  # an older torch, or parameters the fused kernel does not take
            return torch.optim.AdamW(groups, lr=self.cfg.lr)

    # -- training ----------------------------------------------------------------------------
    def fit(self, train: Features, dev: Features | None = None, on_eval: Callable[[dict], None] | None = None) -> TrainResult:
        cfg, acc = self.cfg, self.accelerator
        if len(train) == 0:
            raise BertkitError("no training examples left after loading; check the training file and --limit")
        sampler = BatchList(train.lengths, cfg.batch_size, seed=cfg.seed, bucket_size=cfg.bucket_size, shuffle=True)
        loader = self._loader(train, sampler)
        model = self.model
        if cfg.compile:
            model = torch.compile(model, dynamic=True)
        optimizer = self._optimizer(model)
        model, optimizer, loader = acc.prepare(model, optimizer, loader)
        batches_per_epoch = len(loader)
        total_batches = max(1, math.ceil(cfg.epochs * batches_per_epoch))
        total_steps = max(1, math.ceil(total_batches / max(1, cfg.grad_accum)))
        from transformers import get_linear_schedule_with_warmup

        scheduler = get_linear_schedule_with_warmup(optimizer, int(cfg.warmup_ratio * total_steps), total_steps)
        result = TrainResult()
        best_state: dict[str, torch.Tensor] | None = None
        best_value: float | None = None
        bad_evals = 0
        running = torch.zeros((), device=acc.device)
        run_n = 0
        seen = 0
        t0 = time.perf_counter()
        tok0 = self.tokens_collated
        eval_time = 0.0
        done = 0

        def evaluate_now() -> bool:
            """Evaluate, keep the best weights; True when early stopping says stop."""
            nonlocal best_state, best_value, bad_evals, eval_time
            if dev is None or len(dev) == 0:
                return False
            te, tk = time.perf_counter(), self.tokens_collated
            metrics, outputs = self.evaluate(dev, model)
            eval_time += time.perf_counter() - te
            result.eval_tokens += self.tokens_collated - tk
            record = {"step": self.step, "epoch": round(done / batches_per_epoch, 3), **metrics}
            if run_n:
                record["train_loss"] = float((running / run_n).item())
                result.final_loss = record["train_loss"]
            result.history.append(record)
            value = metrics.get(self.task.metric)
            if value is None:
                raise BertkitError(f"metric {self.task.metric!r} is not computed for this task; choose one of: {', '.join(sorted(metrics))}")
            better = best_value is None or (value > best_value if self.task.greater_is_better else value < best_value)
            if better:
                best_value, bad_evals = value, 0
                best_state = {k: v.detach().to("cpu", copy=True) for k, v in acc.unwrap_model(model).state_dict().items()}
                result.best, result.best_outputs = record, outputs
            else:
                bad_evals += 1
            if on_eval:
                on_eval(record)
            return cfg.patience is not None and bad_evals >= cfg.patience

        stop = False
        with progress("loss", "speed") as bar:
            task_id = bar.add_task("train", total=total_batches, loss="loss -", speed="")
            while done < total_batches and not stop:
                sampler.set_epoch(self.epoch)
                model.train()
                for batch in loader:
                    if done >= total_batches:
                        break
                    batch.pop("_idx")
                    with acc.accumulate(model):
                        loss = self.task.loss(model, batch)
                        acc.backward(loss)
                        if acc.sync_gradients:
                            if cfg.max_grad_norm:
                                acc.clip_grad_norm_(model.parameters(), cfg.max_grad_norm)
                        optimizer.step()
                        if acc.sync_gradients:
                            scheduler.step()
                        optimizer.zero_grad(set_to_none=True)
                    done += 1
                    n = batch["input_ids"].shape[0]
                    seen += n
                    running = running + loss.detach()
                    run_n += 1
                    if acc.sync_gradients:
                        self.step += 1
                    if done % cfg.log_every == 0 or done == total_batches:
                        el = time.perf_counter() - t0 - eval_time
                        bar.update(task_id, completed=done, loss=f"loss {(running / run_n).item():.4f}", speed=f"{seen / max(el, 1e-9):.0f} samples/s")
                    if cfg.eval_steps and acc.sync_gradients and self.step % cfg.eval_steps == 0:
                        stop = evaluate_now()
                        model.train()
                        running, run_n = torch.zeros((), device=acc.device), 0
                        if stop:
                            break
                else:
                    self.epoch += 1
                    if not cfg.eval_steps and dev is not None and len(dev):
                        stop = evaluate_now()
                        running, run_n = torch.zeros((), device=acc.device), 0
                    continue
                break
        if run_n:  # the mean loss since the last evaluation (or over the whole run without --dev)
            result.final_loss = float((running / run_n).item())
        if not stop and cfg.eval_steps and (not result.history or result.history[-1]["step"] != self.step):
            evaluate_now()  # the last steps since the previous evaluation
        elif not stop and not cfg.eval_steps and done >= total_batches and (not result.history or result.history[-1]["step"] != self.step):
            evaluate_now()  # a fractional last epoch
        result.stopped_early = stop
        result.train_seconds = time.perf_counter() - t0 - eval_time
        result.train_samples = seen
        result.train_tokens = self.tokens_collated - tok0 - result.eval_tokens
        result.steps, result.epochs = self.step, done / batches_per_epoch
        acc.wait_for_everyone()
        final = acc.unwrap_model(model)
        if cfg.compile:
            final = getattr(final, "_orig_mod", final)
        if best_state is not None:
            final.load_state_dict(best_state)
        self.model = final
        return result

    # -- inference ---------------------------------------------------------------------------
    @torch.inference_mode()
    def predict(self, feats: Features, model: torch.nn.Module | None = None, batch_size: int | None = None) -> dict[str, list[np.ndarray]]:
        """Per-example outputs, in the order of `feats` (batches sorted by length internally)."""
        acc = self.accelerator
        model = model if model is not None else acc.prepare(self.model)
        was_training = model.training
        model.eval()
        from bertkit.engine.inference import inference_max_tokens

        sampler = sorted_batches(feats.lengths, batch_size or self.cfg.eval_batch_size, max_tokens=inference_max_tokens(acc.device))
        loader = acc.prepare_data_loader(self._loader(feats, sampler)) if acc.num_processes > 1 else self._loader(feats, sampler)
        out: dict[str, list[np.ndarray | None]] = {}
        for batch in loader:
            idx = batch.pop("_idx")
            batch = {k: v.to(acc.device) for k, v in batch.items()}
            with acc.autocast():
                res = self.task.predict_step(model, batch)
            if acc.num_processes > 1:
                res = {k: acc.pad_across_processes(v, dim=1) if v.dim() > 1 else v for k, v in res.items()}
                idx, res = acc.gather_for_metrics((idx.to(acc.device), res))
            idx_list = idx.tolist()
            for k, v in res.items():
                arr = v.float().cpu().numpy()
                col = out.setdefault(k, [None] * len(feats))
                for j, i in enumerate(idx_list):
                    col[i] = arr[j]
        if was_training:
            model.train()
        return out  # type: ignore[return-value]

    def evaluate(self, feats: Features, model: torch.nn.Module | None = None) -> tuple[dict[str, float], dict[str, list[np.ndarray]]]:
        outputs = self.predict(feats, model)
        return self.task.compute_metrics(outputs, feats), outputs
