"""Which evaluation's model is kept: the rule, in one place.

1. The better dev metric wins (`--metric`; higher or lower by the task's `greater_is_better`).
2. Tied metrics (equal to float rounding, as when 19 of 20 dev rows are right at several epochs): the lower dev
   loss wins. Small dev sets tie often; the first of them is usually the least trained model, whose probabilities
   are still near 0.5, so keeping it would hand the user a model unsure of everything.
3. Still tied (equal losses, or a task without a dev loss): the later step wins, the model trained longer.

`improved` (patience) is only a better metric or, at a tied metric, a lower dev loss: a tie settled by the step
alone replaces the kept model but does not reset `--patience`.
"""

from __future__ import annotations

import math
from typing import NamedTuple

TIE_REL_TOL = 1e-9  # metrics computed in another order may differ by float rounding only


class Verdict(NamedTuple):
    replace: bool  # keep this evaluation's model instead of the one kept so far
    improved: bool  # counts as an improvement for --patience


def _tied(a: float, b: float) -> bool:
    return math.isclose(a, b, rel_tol=TIE_REL_TOL, abs_tol=1e-12)


def judge(value: float, loss: float | None, best_value: float | None, best_loss: float | None,
          greater_is_better: bool = True) -> Verdict:
    """Compare a new evaluation (metric `value`, dev `loss`) to the kept one (`best_*`; None: nothing kept yet)."""
    if best_value is None:
        return Verdict(True, True)
    if not _tied(value, best_value):
        better = value > best_value if greater_is_better else value < best_value
        return Verdict(better, better)
    if loss is not None and best_loss is not None and not _tied(loss, best_loss):
        lower = loss < best_loss
        return Verdict(lower, lower)
    return Verdict(True, False)  # tied on everything measured: the later step
