"""`bertkit export`: a model folder as an ONNX file (deployment, and the ONNX Runtime backend of `--fast`).
Thin: the logic lives in bertkit.export."""

from __future__ import annotations

from typing import Annotated, Optional

import typer

from bertkit.cli import options as o
from bertkit.formats import Format, write_document


def export_command(
    model_dir: Annotated[str, typer.Argument(help="A folder from `bertkit classify train` or `bertkit qa train` (or any HF classifier / QA folder).")],
    onnx: Annotated[bool, typer.Option("--onnx", help="Export to ONNX (the one format so far; required).")] = False,
    int8: Annotated[bool, typer.Option("--int8", help="Quantize the ONNX graph to int8 (ONNX Runtime dynamic quantization): smaller, faster on CPU, scores move slightly.")] = False,
    output: Annotated[Optional[str], typer.Option("--output", "-o", help="The .onnx file to write. \\[default: DIR/onnx/model.onnx, or DIR/onnx/model_quantized.onnx with --int8]")] = None,
    overwrite: o.Overwrite = None,
    allow_pickle: o.AllowPickle = None,
    trust_remote_code: o.TrustRemoteCode = None,
    fmt: o.FormatOpt = Format.json,
) -> None:
    """Write an ONNX file (dynamic batch and sequence axes) checked against PyTorch; a summary as JSON on stdout.

    Needs pip install 'bertkit[onnx]'. Run it with onnxruntime, or with `--fast` in bertkit's own commands."""
    from bertkit.errors import UsageError
    from bertkit.export import export_onnx

    if not onnx:
        raise UsageError("name the format: --onnx (the only export format so far)")
    summary = export_onnx(model_dir, output, int8=int8, overwrite=bool(overwrite), allow_pickle=bool(allow_pickle),
                          trust_remote_code=bool(trust_remote_code))
    write_document(summary, fmt, title="bertkit export")
