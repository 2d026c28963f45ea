"""Machine formats (JSON, CSV) and `--fail-under` thresholds."""

from __future__ import annotations

import csv
import io
import re
from dataclasses import dataclass

from bertkit.errors import BertkitError, UsageError
from bertkit.formats import dumps

from .schema import BY_KEY, CSV_FIELDS, fmt
from .sentence import visible


def to_json(doc: dict) -> str:
    return dumps(doc, indent=2) + "\n"


def _csv_value(key: str, value) -> str:
    if value is None:
        return ""
    if key == "roundtrip_failures":
        return ";".join(f"{k}={v}" for k, v in value.items())
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return f"{value:.6g}"
    return str(value)


def to_csv(doc: dict) -> str:
    """One row per tokenizer, columns `schema.CSV_FIELDS` (+ `encoding`, the tokens joined by spaces, for one
    sentence)."""
    sentence = doc.get("mode") == "sentence"
    cols = CSV_FIELDS + (["encoding"] if sentence else [])
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(cols)
    for row in doc["tokenizers"]:
        vals = [_csv_value(k, row.get(k)) for k in CSV_FIELDS]
        if sentence:
            vals.append(" ".join(visible(t["token"]) for t in row["encoding"]))
        w.writerow(vals)
    return buf.getvalue()


# ---------------------------------------------------------------- --fail-under

@dataclass
class Threshold:
    raw: str
    tokenizer: str | None
    metric: str
    value: float


_RE = re.compile(r"^(?:(?P<tok>[^:=]+):)?(?P<metric>[a-z_0-9]+)\s*=\s*(?P<value>[-+0-9.eE]+)(?P<pct>%?)$")


def parse_thresholds(raws: list[str]) -> list[Threshold]:
    out = []
    allowed = [k for k, m in BY_KEY.items() if m.better]
    for raw in raws or []:
        m = _RE.match(raw.strip())
        if not m:
            raise UsageError(f"--fail-under {raw}: expected [TOKENIZER:]METRIC=VALUE, e.g. roundtrip=0.99 or "
                             f"unk_rate=0.1%")
        metric = m["metric"]
        if metric not in allowed:
            raise UsageError(f"--fail-under {raw}: unknown metric {metric!r}; one of {', '.join(allowed)}")
        try:
            value = float(m["value"]) / (100 if m["pct"] else 1)
        except ValueError:
            raise UsageError(f"--fail-under {raw}: {m['value']!r} is not a number") from None
        out.append(Threshold(raw, m["tok"], metric, value))
    return out


def check_thresholds(thresholds: list[Threshold], rows: list[dict]) -> None:
    """Raise one BertkitError listing every tokenizer worse than its threshold.

    Worse means below VALUE for metrics where higher is better (roundtrip, chars_per_token, tokens_per_s …)
    and above VALUE where lower is better (unk_rate, fertility, truncated, tokens …).
    """
    names = [r["name"] for r in rows]
    failures = []
    for th in thresholds:
        if th.tokenizer and th.tokenizer not in names:
            raise UsageError(f"--fail-under {th.raw}: no tokenizer named {th.tokenizer!r}; names: {', '.join(names)}")
        better = BY_KEY[th.metric].better
        for r in rows:
            if th.tokenizer and r["name"] != th.tokenizer:
                continue
            v = r.get(th.metric)
            if v is None:
                continue
            bad = v < th.value if better == "max" else v > th.value
            if bad:
                op = "<" if better == "max" else ">"
                failures.append(f"{r['name']} {th.metric} {fmt(th.metric, v)} {op} {fmt(th.metric, th.value)}")
    if failures:
        raise BertkitError("--fail-under: " + "; ".join(failures) + "; improve the tokenizer or relax the threshold")
