"""`--extra-metric` on `classify eval`: label ids (or 0/1 rows for multi-label) given to an `evaluate` metric."""

from __future__ import annotations

from typing import Sequence

import numpy as np

from bertkit.extra_metrics import compute, load_metric, metric_name


def classify_extra(specs: Sequence[str] | None, y: np.ndarray, pred: np.ndarray) -> dict[str, dict]:
    """{metric name: its results} on label ids (or 0/1 rows for multi-label)."""
    out: dict[str, dict] = {}
    for spec in specs or ():
        m = load_metric(spec)
        out[metric_name(spec, m)] = compute(spec, m, predictions=np.asarray(pred).tolist(),
                                            references=np.asarray(y).tolist())
    return out
