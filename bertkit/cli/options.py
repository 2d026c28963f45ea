"""Command-line options built from the settings declarations (bertkit.settings), and the few inference ones.

A training command's options are not listed by hand: `train_command` builds the signature of `bertkit <task> train`
from the fields of the task's settings class (the shared TrainConfig ones and its own), each with the help and
panel its `setting(...)` declares. They default to None ("not given") so that the real defaults stay on the
dataclass and a `--config` recipe can override them; `overrides` keeps only what the user typed.
"""

from __future__ import annotations

import inspect
from dataclasses import fields
from typing import Annotated, Any, Callable, List, Optional

import typer

from bertkit.defaults import PREDICT_BATCH_SIZE, TrainConfig
from bertkit.formats import Format
from bertkit.settings import declarations, help_text, option_name

_TYPES = {"int": int, "float": float, "bool": bool, "str": str}


def option(cls: type, name: str) -> Any:
    """The Typer option of one declared setting: `Annotated[Optional[T], typer.Option(...)]` (None: not given)."""
    d = declarations(cls)[name]
    kind = str if d.check.words else _TYPES[d.check.kind]  # "8" or "auto": converted by the check
    return Annotated[Optional[kind], typer.Option(*(d.flags or (option_name(name),)), help=help_text(cls, name),
                                                  rich_help_panel=d.panel)]


def _param(name: str, annotation: Any, default: Any = None) -> inspect.Parameter:
    return inspect.Parameter(name, inspect.Parameter.KEYWORD_ONLY, annotation=annotation, default=default)


def _ordered(cls: type) -> list[str]:
    """The options in --help order: the shared head (model, data, output folder), the task's own, the other shared
    ones, then the task's own marked `last`; each group in field order."""
    shared = [f.name for f in fields(TrainConfig)]
    decl = declarations(cls)

    def rank(name: str) -> int:
        if name in shared:
            return 0 if shared.index(name) < 4 else 2
        return 3 if decl[name].last else 1

    return sorted((n for n, d in decl.items() if d.help is not None), key=rank)


def train_params(cls: type, config_first: bool = False) -> list[inspect.Parameter]:
    """Every option of `bertkit <task> train` for the settings class `cls`, plus --config after the head (or first)."""
    names = _ordered(cls)
    params = [_param(n, option(cls, n)) for n in names]
    params.insert(0 if config_first else 4, _param("config", Config))
    return params


def train_command(app: typer.Typer, spec, doc: str, config_first: bool = False,
                  format_option: bool = False) -> Callable:
    """Register `train` on a task's command group: options from `spec.settings()`, run with `spec.train_ref`."""
    from bertkit.cli.errors import BertkitCommand

    cls = spec.settings()

    def train_cmd(**params: Any) -> None:
        from bertkit.defaults import build_config
        from bertkit.formats import write_document
        from bertkit.taskspec import load

        fmt = params.pop("format", Format.json)
        cfg = build_config(cls, params.pop("config"), overrides(params))
        summary = load(spec.train_ref)(cfg)
        if summary is not None:  # the main process prints; the others of a multi-process run return None
            write_document(summary, fmt)

    params = train_params(cls, config_first)
    if format_option:
        params.append(_param("format", FormatOpt, Format.json))
    train_cmd.__signature__ = inspect.Signature(params)  # type: ignore[attr-defined]
    train_cmd.__doc__ = doc
    return app.command("train", cls=BertkitCommand)(train_cmd)


Config = Annotated[Optional[str], typer.Option(
    "--config", "-c", help="YAML recipe of overrides (`bertkit recipes list`); options given here win.",
    rich_help_panel="Training")]
Model = option(TrainConfig, "model")
OutputDir = option(TrainConfig, "output_dir")
Threads = option(TrainConfig, "threads")
Overwrite = option(TrainConfig, "overwrite")
TrustRemoteCode = option(TrainConfig, "trust_remote_code")
AllowPickle = option(TrainConfig, "allow_pickle")

# inference / output
FormatOpt = Annotated[Format, typer.Option("--format", "-f", help="Output format on stdout.")]
Bf16 = Annotated[Optional[bool], typer.Option(
    "--bf16", help="Run the model under bf16 autocast: 1.4-1.7x faster measured on a CPU with avx512_bf16 (also AMX "
    "CPUs, recent GPUs); scores move by ~2e-4, so a label or answer near its threshold can change.")]
Fast = Annotated[Optional[bool], typer.Option(
    "--fast", help="Run the fastest backend whose labels stay within 0.5 % of fp32 (CPU: ONNX Runtime with pip install "
    "'bertkit[onnx]', the model exported once and cached, else bf16 autocast; GPU: bf16 autocast). Scores may move "
    "slightly; the default stays the PyTorch model in fp32.")]
ExtraMetric = Annotated[Optional[List[str]], typer.Option(
    "--extra-metric", help="Also compute a Hugging Face `evaluate` metric: a hub name, or a local metric script or "
    "folder (offline). Repeatable. Needs pip install 'bertkit[evaluate]'.")]
BatchSizePredict = Annotated[Optional[int],
                             typer.Option("--batch-size", "-b",
                                          help=f"Inference batch size. \\[default: {PREDICT_BATCH_SIZE}]")]


def overrides(params: dict[str, Any], exclude: tuple[str, ...] = ("config",)) -> dict[str, Any]:
    """The options the user actually gave (not None), ready for `defaults.build_config`."""
    return {k: v for k, v in params.items() if v is not None and k not in exclude}
