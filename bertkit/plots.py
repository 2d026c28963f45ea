"""Every figure bertkit draws (matplotlib, headless Agg): the ones saved in a model folder (training curves, the
confusion matrix) and the report's, one drawing each; `save` writes one as a PNG."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Sequence

import numpy as np

CURVES_FILE = "training_curves.png"
CONFUSION_FILE = "confusion_matrix.png"

SKIP = {"step", "epoch", "seconds", "n", "total", "samples_per_second", "tokens_per_second", "lr_scale"}


def _plt():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _series(history: Sequence[dict], keys: Sequence[str]) -> dict[str, tuple[list, list]]:
    out: dict[str, tuple[list, list]] = {}
    for k in keys:
        pts = [(h.get("step", i), h[k]) for i, h in enumerate(history)
               if isinstance(h.get(k), (int, float)) and not isinstance(h.get(k), bool) and np.isfinite(h[k])]
        if pts:
            out[k] = ([p[0] for p in pts], [p[1] for p in pts])
    return out


def curve_keys(history: Sequence[dict], metric: str | None) -> tuple[list[str], list[str]]:
    """(loss keys, dev metric keys) worth drawing: every numeric loss, the selection metric and its companions."""
    numeric = []
    for h in history:
        for k, v in h.items():
            if k not in numeric and k not in SKIP and isinstance(v, (int, float)) and not isinstance(v, bool):
                numeric.append(k)
    losses = [k for k in numeric if "loss" in k and k != "hamming_loss"]
    wanted = [metric] if metric else []
    wanted += [k for k in ("exact", "f1", "accuracy", "f1_macro", "HasAns_f1", "NoAns_f1") if k != metric]
    return losses, [k for k in wanted if k in numeric][:4]


def training_curves(history: Sequence[dict], metric: str | None):
    """Loss and dev metrics against the optimizer step; None when nothing numeric was recorded."""
    losses, metrics = curve_keys(history, metric)
    ls, ms = _series(history, losses), _series(history, metrics)
    if not ls and not ms:
        return None
    plt = _plt()
    panels = [p for p in (("loss", ls), ("dev metrics", ms)) if p[1]]
    fig, axes = plt.subplots(1, len(panels), figsize=(5.2 * len(panels), 3.4), squeeze=False, layout="constrained")
    for ax, (title, series) in zip(axes[0], panels):
        for k, (x, y) in series.items():
            ax.plot(x, y, marker="o" if len(x) < 30 else None, markersize=3, label=k)
        ax.set_xlabel("optimizer step")
        ax.set_title(title, fontsize=10)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    return fig


def confusion(matrix: Sequence[Sequence[int]], labels: Sequence[str], title: str | None = None,
              columns: Sequence[str] | None = None):
    """Rows: true label; columns: predicted label (or `columns`: per-label true/false × predicted), with counts."""
    plt = _plt()
    cm = np.asarray(matrix)
    k = len(labels)
    cols = [str(c) for c in columns] if columns is not None else [str(x) for x in labels]
    size = max(3.2, min(11.0, 0.45 * k + 2.2))
    fig, ax = plt.subplots(figsize=(size + 0.8, size), layout="constrained")
    im = ax.imshow(cm, cmap="Blues")
    turn = len(cols) > 4 and columns is None
    ax.set_xticks(range(len(cols)), cols, rotation=45 if turn else 0, ha="right" if turn else "center", fontsize=8)
    ax.set_yticks(range(k), [str(x) for x in labels], fontsize=8)
    ax.set_xlabel("predicted" if columns is None else "")
    ax.set_ylabel("true" if columns is None else "label")
    if title:
        ax.set_title(title, fontsize=10)
    if k <= 20:
        for (i, j), v in np.ndenumerate(cm):
            ax.text(j, i, str(v), ha="center", va="center", fontsize=8,
                    color="white" if v > 0.6 * cm.max() else "black")
    fig.colorbar(im, ax=ax, shrink=0.8)
    return fig


def per_label_f1(names: Sequence[str], f1: Sequence[float], support: Sequence[int]):
    plt = _plt()
    k = len(names)
    fig, ax = plt.subplots(figsize=(7, max(2.5, 0.24 * k + 1)), layout="constrained")
    y = np.arange(k)
    ax.barh(y, f1, color="#3182bd")
    ax.set_yticks(y, [f"{n} ({s})" for n, s in zip(names, support)], fontsize=7)
    ax.invert_yaxis()
    ax.set_xlim(0, 1)
    ax.set_xlabel("F1 on dev (support in brackets)")
    ax.grid(axis="x", alpha=0.3)
    return fig


def null_curve(thresholds: Sequence[float], curves: dict[str, Sequence[float]], chosen: float | None):
    """Official scores against the null threshold (no answer when null score - best span score > threshold)."""
    plt = _plt()
    fig, ax = plt.subplots(figsize=(6.5, 3.4), layout="constrained")
    for name, ys in curves.items():
        ax.plot(thresholds, ys, label=name)
    if chosen is not None:
        ax.axvline(chosen, color="#d1242f", linestyle="--", linewidth=1, label=f"model's threshold {chosen:.2f}")
    ax.set_xlabel("null threshold (null score - best span score)")
    ax.set_ylabel("score (%)")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    return fig


def value(d: dict[str, Any] | None, key: str) -> Any:
    return (d or {}).get(key)


def save(fig, path: Path, empty: str = "nothing recorded") -> Path:
    """The figure as a PNG at `path` (a figure saying `empty` when there is none), closed afterwards."""
    plt = _plt()
    if fig is None:
        fig, ax = plt.subplots(figsize=(5.2, 3.4), layout="constrained")
        ax.text(0.5, 0.5, empty, ha="center", va="center")
        ax.set_axis_off()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path
