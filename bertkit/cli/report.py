"""`bertkit report DIR`: one self-contained HTML page about a classify or QA output folder.
Thin: the logic lives in bertkit.report."""

from __future__ import annotations

from typing import Annotated, Optional

import typer

from bertkit.cli import options as o


def report_command(
    model_dir: Annotated[str, typer.Argument(
        help="An output folder of `bertkit classify train` or `bertkit qa train`.")],
    output: Annotated[str, typer.Option("--output", "-o", help="The HTML file to write.")] = "report.html",
    data: Annotated[Optional[str], typer.Option(
        "--data", "-d", help="Dev data for the metrics and worst mistakes (default: the --dev the model was trained "
        "with).")] = None,
    mistakes: Annotated[int, typer.Option(
        "--mistakes", help="How many of the highest-confidence dev errors to show.")] = 20,
    limit: Annotated[Optional[int], typer.Option("--limit", help="Only the first N dev rows.")] = None,
    batch_size: o.BatchSizePredict = None,
    allow_pickle: o.AllowPickle = None,
    trust_remote_code: o.TrustRemoteCode = None,
) -> None:
    """A self-contained HTML report (no network): settings, data, training curves, dev metrics, worst mistakes."""
    from bertkit import console
    from bertkit.report import write_report

    path = write_report(model_dir, output, data=data, mistakes=mistakes, limit=limit, batch_size=batch_size,
                        allow_pickle=bool(allow_pickle), trust_remote_code=bool(trust_remote_code))
    console.log(f"wrote {path}")
