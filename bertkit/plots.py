"""Figures saved in every output folder: training curves, and the confusion matrix of a classifier (matplotlib,
headless)."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Sequence

CURVES_FILE = "training_curves.png"
CONFUSION_FILE = "confusion_matrix.png"


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")  # no display needed (servers, CI)
    import matplotlib.pyplot as plt

    return plt


def training_curves(log_history: Sequence[dict[str, Any]], evals: Sequence[dict[str, Any]], metric: str, path: Path) -> Path:
    """Training loss (log records) and the dev metric (evaluations) against the optimizer step."""
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(7, 4), dpi=100)
    steps = [r["step"] for r in log_history if r.get("loss") is not None]
    ax.plot(steps, [r["loss"] for r in log_history if r.get("loss") is not None], color="tab:blue", label="training loss")
    ax.set_xlabel("optimizer step")
    ax.set_ylabel("training loss", color="tab:blue")
    points = [(r["step"], r[metric]) for r in evals if r.get(metric) is not None]
    if points:
        ax2 = ax.twinx()
        ax2.plot(*zip(*points), "o-", color="tab:orange", label=f"dev {metric}")
        ax2.set_ylabel(f"dev {metric}", color="tab:orange")
    ax.set_title("training curves")
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
    return path


def confusion_matrix(matrix: Sequence[Sequence[int]], labels: Sequence[str], path: Path, title: str = "dev confusion matrix",
                     columns: Sequence[str] | None = None) -> Path:
    """Rows: true label, columns: predicted label (or `columns`), with the counts written in the cells."""
    import numpy as np

    plt = _pyplot()
    m = np.asarray(matrix)
    size = min(14.0, 2.5 + 0.45 * len(labels))
    fig, ax = plt.subplots(figsize=(size, size), dpi=100)
    ax.imshow(m, cmap="Blues")
    cols = list(columns) if columns is not None else list(labels)
    ax.set_xticks(range(len(cols)), [str(x) for x in cols], rotation=60 if columns is None else 0, ha="right" if columns is None else "center", fontsize=8)
    ax.set_yticks(range(len(labels)), [str(x) for x in labels], fontsize=8)
    ax.set_xlabel("predicted" if columns is None else "")
    ax.set_ylabel("true" if columns is None else "label")
    if len(labels) <= 30:
        top = m.max() if m.size else 0
        for (i, j), v in np.ndenumerate(m):
            ax.text(j, i, str(v), ha="center", va="center", fontsize=7, color="white" if v > top / 2 else "black")
    ax.set_title(title)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
    return path
