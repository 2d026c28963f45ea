"""`--extra-metric` on `ner eval`: tag sequences (names) given to an `evaluate` metric such as seqeval."""

from __future__ import annotations

from typing import Sequence

from bertkit.extra_metrics import compute, load_metric, metric_name


def ner_extra(specs: Sequence[str] | None, gold: Sequence[Sequence[str]], pred: Sequence[Sequence[str]]) -> dict:
    """{metric name: its results} on per-sentence tag lists."""
    out: dict[str, dict] = {}
    for spec in specs or ():
        m = load_metric(spec)
        out[metric_name(spec, m)] = compute(spec, m, predictions=[list(p) for p in pred],
                                            references=[list(g) for g in gold])
    return out
