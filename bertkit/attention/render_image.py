"""PNG / SVG figures with matplotlib (headless Agg): the layers x heads grid of thumbnails, or one head's
token x token matrix with the tokens as labels; with a second model, both side by side and the per-head
difference."""

from __future__ import annotations

import numpy as np

from bertkit.attention.weights import Attention, difference

CMAP = "Blues"


def _plt():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def figure(att: Attention, token=None, compare: Attention | None = None):
    """One head's matrix when one layer and one head are selected, else the grid; side by side with `compare`."""
    single = att.shape[0] == 1 and att.shape[1] == 1
    if compare is None:
        return _matrix_figure([att], token) if single else _grid_figure([att], token)
    diff = difference(att, compare)
    return _matrix_figure([att, compare], token, diff) if single else _grid_figure([att, compare], token, diff)


def _matrix(ax, att: Attention, w: np.ndarray, title: str, token_i: int | None, cmap=CMAP, vmin=0.0, vmax=1.0):
    n = len(att.tokens)
    im = ax.imshow(w, cmap=cmap, vmin=vmin, vmax=vmax, interpolation="nearest")
    fs = max(4, min(9, 240 // max(n, 1)))
    ax.set_xticks(range(n), att.tokens, rotation=90, fontsize=fs)
    ax.set_yticks(range(n), att.tokens, fontsize=fs)
    ax.set_xlabel("attends to (key)")
    ax.set_ylabel("token (query)")
    ax.set_title(title, fontsize=10)
    if token_i is not None:
        _outline_row(ax, token_i, n)
    return im


def _outline_row(ax, i: int, n: int, lw: float = 1.2) -> None:
    from matplotlib.patches import Rectangle

    ax.add_patch(Rectangle((-0.5, i - 0.5), n, 1, fill=False, edgecolor="#d1242f", linewidth=lw))


def _matrix_figure(atts: list[Attention], token, diff: np.ndarray | None = None):
    plt = _plt()
    n = len(atts[0].tokens)
    panels = len(atts) + (1 if diff is not None else 0)
    size = max(4.0, min(12.0, 0.28 * n + 1.5))
    fig, axes = plt.subplots(1, panels, figsize=(size * panels, size), squeeze=False, layout="constrained")
    ti = atts[0].token_index(token) if token is not None else None
    layer, head = atts[0].layers[0], atts[0].heads[0]
    for ax, a in zip(axes[0], atts):
        im = _matrix(ax, a, a.weights[0, 0], f"{a.model}\nlayer {layer}, head {head}", ti)
    fig.colorbar(im, ax=axes[0, : len(atts)].tolist(), shrink=0.6, label="attention weight")
    if diff is not None:
        d = atts[1].weights[0, 0] - atts[0].weights[0, 0]
        m = float(np.abs(d).max()) or 1.0
        im = _matrix(axes[0, -1], atts[0], d, f"B - A (mean row distance {diff[0, 0]:.3f})", ti, "RdBu_r", -m, m)
        fig.colorbar(im, ax=axes[0, -1], shrink=0.6, label="weight difference")
    return fig


def _grid(fig, att: Attention, token_i: int | None, title: str) -> None:
    L, H, n = att.shape
    axes = fig.subplots(L, H, squeeze=False, gridspec_kw={"wspace": 0.05, "hspace": 0.05})
    fs = max(3, min(6, 100 // max(n, 1)))
    for a in range(L):
        for b in range(H):
            ax = axes[a, b]
            ax.imshow(att.weights[a, b], cmap=CMAP, vmin=0, vmax=1, interpolation="nearest")
            ax.set_xticks([])
            ax.set_yticks([])
            if token_i is not None:
                _outline_row(ax, token_i, n, 0.6)
            if a == 0:
                ax.set_title(f"head {att.heads[b]}", fontsize=7)
            if b == 0:
                ax.set_ylabel(f"layer {att.layers[a]}", fontsize=7)
                if n <= 40:
                    ax.set_yticks(range(n), att.tokens, fontsize=fs)
            if a == L - 1 and n <= 40 and b == 0:
                ax.set_xticks(range(n), att.tokens, rotation=90, fontsize=fs)
    fig.suptitle(title, fontsize=10)


def _grid_figure(atts: list[Attention], token, diff: np.ndarray | None = None):
    plt = _plt()
    L, H, n = atts[0].shape
    ti = atts[0].token_index(token) if token is not None else None
    cell = 1.1 if n <= 24 else 0.9 if n <= 40 else 0.7
    w, h = max(4.0, H * cell + 1.2), max(2.5, L * cell + 1.4)
    panels = len(atts) + (1 if diff is not None else 0)
    fig = plt.figure(figsize=(w * min(panels, 2), h * (1 if panels <= 2 else 2)), layout="constrained")
    subs = fig.subfigures(1 if panels <= 2 else 2, min(panels, 2), squeeze=False).ravel()
    what = f"; row of {atts[0].tokens[ti]!r} (token {ti}) outlined" if ti is not None else ""
    for sub, a, tag in zip(subs, atts, ("A: ", "B: ") if diff is not None else ("",)):
        _grid(sub, a, ti, f"{tag}{a.model}: attention per layer and head (rows: tokens, columns: what "
                          f"they attend to){what}")
    if diff is not None:
        _diff_panel(subs[2], atts, diff)
        if len(subs) > 3:
            subs[3].set_visible(False)
    return fig


def _diff_panel(sub, atts: list[Attention], diff: np.ndarray) -> None:
    ax = sub.subplots()
    im = ax.imshow(diff, cmap="Reds", vmin=0, vmax=max(float(diff.max()), 1e-6))
    ax.set_xticks(range(diff.shape[1]), [str(h) for h in atts[0].heads], fontsize=7)
    ax.set_yticks(range(diff.shape[0]), [str(layer) for layer in atts[0].layers], fontsize=7)
    ax.set_xlabel("head")
    ax.set_ylabel("layer")
    if diff.size <= 400:
        for (a, b), v in np.ndenumerate(diff):
            ax.text(b, a, f"{v:.2f}", ha="center", va="center", fontsize=6,
                    color="white" if v > 0.6 * diff.max() else "black")
    ax.set_title("per-head difference A vs B: mean total-variation distance of the attention rows", fontsize=9)
    sub.colorbar(im, ax=ax, shrink=0.8)


def save_figure(fig, path: str, dpi: int = 110) -> None:
    from pathlib import Path

    plt = _plt()
    try:
        fig.savefig(path, dpi=dpi, format=Path(path).suffix.lower().lstrip("."), metadata=_metadata(path))
    finally:
        plt.close(fig)


def _metadata(path: str) -> dict:
    # reproducible files: no creation date, no software version stamp
    return {"Software": None} if path.lower().endswith(".png") else {"Date": None, "Creator": None}
