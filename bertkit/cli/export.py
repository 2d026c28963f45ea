"""`bertkit export`: a model folder as an ONNX file (deployment, and the ONNX Runtime backend of `--fast`).
Thin: the logic lives in bertkit.export."""

from __future__ import annotations

from typing import Annotated, Optional

import typer

from bertkit.cli import options as o
from bertkit.formats import Format, write_document


def export_command(
    model_dir: Annotated[str, typer.Argument(
        help="A folder from `bertkit classify train`, `bertkit qa train` or `bertkit ner train` "
        "(or any HF classifier / QA / token classifier folder).")],
    onnx: Annotated[bool, typer.Option("--onnx", help="Export to ONNX (the one format so far; required).")] = False,
    int8: Annotated[bool, typer.Option(
        "--int8", help="Quantize the ONNX graph to int8 (ONNX Runtime dynamic quantization), kept only if the task's "
        "metric on labelled data drops by at most --max-drop (else layers stay fp32, or int8 is refused); the decision "
        "goes into bertkit.json and `--fast` then runs the int8 graph.")] = False,
    max_drop: Annotated[Optional[float], typer.Option(
        "--max-drop", help="With --int8: the largest relative drop of the task's metric (classify: the selection "
        "metric, QA: F1, ner: entity micro F1) int8 may cost, 0-1. \\[default: 0.01]")] = None,
    gate_confidence: Annotated[Optional[float], typer.Option(
        "--gate-confidence", help="With --int8: also require the drop's one-sided bootstrap bound at this confidence "
        "(e.g. 0.95) to be within --max-drop, so that a small or noisy gate file cannot pass a drop it cannot resolve; "
        "the variant is chosen on half the rows and must pass again on the other half. "
        "\\[default: the measured drop alone decides; its 95 % interval is recorded]")] = None,
    calibration: Annotated[Optional[str], typer.Option(
        "--calibration", "--data", help="With --int8: the labelled file the gate scores on (the task's dev-data "
        "format). \\[default: the dev file bertkit.json records]")] = None,
    limit: Annotated[Optional[int], typer.Option(
        "--limit", help="With --int8: score the gate on the first N rows (ner: sentences) of the data only.")] = None,
    output: Annotated[Optional[str], typer.Option(
        "--output", "-o", help="The .onnx file to write. \\[default: DIR/onnx/model.onnx, or "
        "DIR/onnx/model_quantized.onnx with --int8]")] = None,
    overwrite: o.Overwrite = None,
    allow_pickle: o.AllowPickle = None,
    trust_remote_code: o.TrustRemoteCode = None,
    fmt: o.FormatOpt = Format.json,
) -> None:
    """Write an ONNX file (dynamic batch and sequence axes) checked against PyTorch; a summary as JSON on stdout.

    Needs pip install 'bertkit[onnx]'. Run it with onnxruntime, or with `--fast` in bertkit's own commands."""
    from bertkit.errors import UsageError
    from bertkit.export import export_onnx
    from bertkit.int8gate import DEFAULT_MAX_DROP

    if not onnx:
        raise UsageError("name the format: --onnx (the only export format so far)")
    given = [n for n, v in (("--max-drop", max_drop), ("--gate-confidence", gate_confidence),
                            ("--calibration", calibration), ("--limit", limit)) if v is not None]
    if given and not int8:
        raise UsageError(f"{', '.join(given)}: only with --int8 (the accuracy gate); add --int8 or leave it out")
    if limit is not None and limit < 1:
        raise UsageError(f"--limit {limit}: give a number of rows >= 1")
    summary = export_onnx(model_dir, output, int8=int8, overwrite=bool(overwrite), allow_pickle=bool(allow_pickle),
                          trust_remote_code=bool(trust_remote_code),
                          max_drop=(DEFAULT_MAX_DROP if max_drop is None else max_drop) if int8 else None,
                          data=calibration, limit=limit, confidence=gate_confidence)
    write_document(summary, fmt, title="bertkit export")
