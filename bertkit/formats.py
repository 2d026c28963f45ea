"""Writing data to stdout: JSONL, JSON, CSV or a rich table (`--format`)."""

from __future__ import annotations

import csv
import json
import math
import sys
from enum import Enum
from typing import Any, Iterable, TextIO


class Format(str, Enum):
    jsonl = "jsonl"
    json = "json"
    csv = "csv"
    table = "table"


def _clean(obj: Any) -> Any:
    """numpy / torch scalars and NaN to plain JSON values."""
    if hasattr(obj, "item") and callable(obj.item) and getattr(obj, "ndim", 0) == 0:
        obj = obj.item()
    if isinstance(obj, float) and (math.isnan(obj) or math.isinf(obj)):
        return None
    if isinstance(obj, dict):
        return {str(k): _clean(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_clean(v) for v in obj]
    if hasattr(obj, "tolist"):
        return _clean(obj.tolist())
    return obj


def dumps(obj: Any, indent: int | None = None) -> str:
    return json.dumps(_clean(obj), ensure_ascii=False, indent=indent)


def write_jsonl(records: Iterable[dict], out: TextIO | None = None) -> None:
    out = out or sys.stdout
    for r in records:
        out.write(dumps(r) + "\n")
    out.flush()


def _flat(value: Any) -> str:
    if isinstance(value, (dict, list)):
        return dumps(value)
    return "" if value is None else str(value)


def write_records(records: Iterable[dict], fmt: Format, out: TextIO | None = None, title: str | None = None) -> None:
    """Rows of data in the chosen format. JSONL streams; the others collect first."""
    out = out or sys.stdout
    fmt = Format(fmt)
    if fmt == Format.jsonl:
        write_jsonl(records, out)
        return
    rows = list(records)
    if fmt == Format.json:
        out.write(dumps(rows, indent=2) + "\n")
    elif fmt == Format.csv:
        cols: list[str] = []
        for r in rows:
            cols += [k for k in r if k not in cols]
        w = csv.DictWriter(out, fieldnames=cols, lineterminator="\n")
        w.writeheader()
        for r in rows:
            w.writerow({k: _flat(r.get(k)) for k in cols})
    else:
        from rich.console import Console
        from rich.table import Table

        cols = []
        for r in rows:
            cols += [k for k in r if k not in cols]
        t = Table(title=title)
        for c in cols:
            t.add_column(c)
        for r in rows:
            t.add_row(*[_fmt_cell(r.get(c)) for c in cols])
        Console(file=out, width=max(100, Console(file=out).width)).print(t)
    out.flush()


def _fmt_cell(v: Any) -> str:
    if isinstance(v, float):
        return f"{v:.4f}"
    return _flat(v)


def write_metrics(res: dict, fmt: Format, title: str) -> None:
    """An eval command's result: every format gets it whole, except the table, which keeps the scalar rows (and
    the extra metrics) a person reads; the per-label breakdowns stay in the JSON."""
    if Format(fmt) == Format.table:
        res = {k: v for k, v in res.items() if not isinstance(v, (dict, list)) or k == "extra_metrics"}
    write_document(res, fmt, title=title)


def write_document(doc: dict, fmt: Format, out: TextIO | None = None, title: str | None = None) -> None:
    """One result object (metrics, an env report): JSON by default, a two-column table for people."""
    out = out or sys.stdout
    fmt = Format(fmt)
    if fmt in (Format.json, Format.jsonl):
        out.write(dumps(doc, indent=2 if fmt == Format.json else None) + "\n")
    elif fmt == Format.csv:
        w = csv.writer(out, lineterminator="\n")
        w.writerow(["key", "value"])
        for k, v in _flatten(doc):
            w.writerow([k, _flat(v)])
    else:
        from rich.console import Console
        from rich.table import Table

        t = Table(title=title, show_header=True)
        t.add_column("metric")
        t.add_column("value", justify="right")
        for k, v in _flatten(doc, max_depth=2):
            t.add_row(k, _fmt_cell(v))
        Console(file=out).print(t)
    out.flush()


def _flatten(doc: dict, prefix: str = "", max_depth: int = 8) -> list[tuple[str, Any]]:
    items: list[tuple[str, Any]] = []
    for k, v in doc.items():
        key = f"{prefix}{k}"
        if isinstance(v, dict) and max_depth > 0:
            items += _flatten(v, key + ".", max_depth - 1)
        else:
            items.append((key, v))
    return items
