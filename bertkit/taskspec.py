"""What a task (classify, qa, ...) tells the shared modules about itself: one `TaskSpec` per task package.

A task package (`bertkit/<name>/`) holds everything that is its own (settings, training recipe, predictor, CLI,
report section, extra-metric adapter) and describes it in `bertkit/<name>/spec.py` as a `TaskSpec`; the one
registry, `bertkit/tasks.py`, lists the specs. Shared modules (model loading, export, report, the CLI root) never
import a task package: they receive a spec, or loop over `registry()`. References to a task's code are "module:attr"
strings, imported on first use, so that listing the tasks stays cheap for the CLI.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass, field
from typing import Any

from bertkit.errors import BertkitError


def load(ref: str) -> Any:
    """The object a "package.module:attr" reference names."""
    module, _, attr = ref.partition(":")
    return getattr(importlib.import_module(module), attr)


@dataclass(frozen=True)
class TaskSpec:
    """One task. `*_ref` fields are "module:attr" references (see `load`)."""

    name: str  # the command group and bertkit.json's "task": `bertkit <name> train`
    help: str  # the command group's one-line help
    settings_ref: str  # the settings dataclass (defaults < recipe < options)
    train_ref: str  # train(settings) -> summary: the training plug-in
    predictor_ref: str  # the inference class (`bertkit.<api_name>` in Python)
    api_name: str  # the predictor's name at the package root: `from bertkit import Classifier`
    cli_ref: str  # the Typer app of the command group
    report_ref: str  # sections(model_dir, meta, metrics, dev, why, **kw) -> [(title, html), ...]
    extra_metrics_ref: str  # the adapter from the task's predictions to `evaluate` metrics' compute inputs
    auto_class: str  # the transformers Auto class of the model
    arch_suffixes: tuple[str, ...]  # config.json architectures of this task's models end with one of these
    outputs: dict[str, dict[int, str]]  # ONNX output names and their dynamic axes (a sequence axis: per token)
    noun: str  # "a classifier": what error messages call a model of this task
    use_hint: str  # how to use a model of this task, for errors on a wrong model
    train_noun: str  # "a QA model": "train {train_noun} with `bertkit <name> train`"
    untrained_head: str | None = None  # "classification head": a base model (no head) is refused, naming it
    pad: dict[str, int] = field(default_factory=dict)  # collate pad value of this task's own keys (labels, ...)
    serve_ref: str | None = None  # the `bertkit serve` adapter (bertkit.serve.adapter.ServeAdapter); None: not served
    # the int8 accuracy gate (bertkit.int8gate): measure(predictor, data, limit) -> a callable scoring what the
    # predictor runs now with the task's metric; None: `export --int8` cannot check (and so refuses) this task
    gate_ref: str | None = None

    def settings(self) -> type:
        return load(self.settings_ref)

    def matches(self, path: str, meta: dict, archs: list[str] | None = None) -> bool:
        """bertkit.json's task names this task, or config.json's architectures end with one of its suffixes."""
        if meta.get("task") == self.name:
            return True
        if archs is None:
            from bertkit.modeling import architectures

            archs = architectures(path)
        return any(a.endswith(s) for a in archs for s in self.arch_suffixes)


def registry() -> dict[str, TaskSpec]:
    """Every registered task by name (the composition root's list, `bertkit.tasks`)."""
    import bertkit

    return bertkit.task_registry()


def get(name: str) -> TaskSpec:
    return registry()[name]


def detect(path: str, meta: dict) -> TaskSpec | None:
    """The one task detection: bertkit.json's task decides, else the first task whose architecture suffix the
    folder's config.json shows; None for neither (a base model, a hub id)."""
    from bertkit.modeling import architectures

    tasks = registry()
    if meta.get("task") in tasks:
        return tasks[meta["task"]]
    archs = architectures(path)
    return next((s for s in tasks.values() if s.matches(path, {}, archs)), None)


def detect_or_fail(path: str, meta: dict, doing: str) -> TaskSpec:
    """`detect`, or an error naming every task and its training command."""
    spec = detect(path, meta)
    if spec is not None:
        return spec
    from bertkit.modeling import architectures

    tasks = list(registry().values())
    nouns = " nor ".join(s.noun for s in tasks)
    cmds = " or ".join(f"`bertkit {s.name} train`" for s in tasks)
    raise BertkitError(f"{path}: neither {nouns} (architectures: {', '.join(architectures(path)) or 'none'}); "
                       f"{doing} a folder from {cmds}")
