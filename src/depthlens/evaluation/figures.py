"""PNG figures of evaluation results: hide/reveal curves and per-class word clouds.

Drawn on matplotlib's Agg canvas directly (no pyplot state, any backend).
The word-cloud layout is our own (the ``wordcloud`` package is not needed):
words are sized linearly by weight and placed greedily, heaviest first, at
the first point of a spiral (out from the centre) where their box overlaps no
placed word; box sizes are measured once per word, the search is vectorised.
"""
from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Mapping, Sequence

import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from ..errors import InputError
from ..io import atomic_path

if TYPE_CHECKING:
    from .erasure_curves import Curve


def plot_curves(curves: Mapping[str, "Curve"], path: str | Path, title: str = "",
                score: str = "accuracy") -> str:
    """One line per token order (mean ``score`` vs fraction), AUC in the legend; returns the path."""
    fig = Figure(figsize=(5, 3.6), dpi=120)
    ax = fig.add_subplot()
    for order, curve in curves.items():
        style = "--" if order == "random" else "-"
        ax.plot(curve.fractions, curve.mean(score), style, marker="o", markersize=3,
                label=f"{order} (AUC {curve.auc(score):.3f})")
    ax.set_xlabel("fraction of tokens")
    ax.set_ylabel(score)
    ax.set_ylim(-0.02, 1.02)
    ax.set_title(title)
    ax.legend(fontsize=8)
    fig.tight_layout()
    return _save(fig, path)


def word_cloud(weights: Sequence[tuple[str, float]], path: str | Path, title: str = "",
               max_words: int = 50, min_size: float = 8.0, max_size: float = 44.0) -> str:
    """Draw the ``max_words`` heaviest (word, weight) pairs with positive weight; returns the path.

    Font size is linear in weight between ``min_size`` and ``max_size``;
    words that find no free place on the canvas are left out.
    """
    if max_words < 1:
        raise InputError(f"max_words must be >= 1; got {max_words}")
    items = sorted(((w, float(s)) for w, s in weights if float(s) > 0 and w.strip()),
                   key=lambda ws: -ws[1])[:max_words]
    fig = Figure(figsize=(6, 4), dpi=100)
    canvas = FigureCanvasAgg(fig)
    ax = fig.add_axes((0, 0, 1, 0.9 if title else 1))
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1)
    ax.axis("off")
    if title:
        fig.suptitle(title)
    renderer = canvas.get_renderer()
    frame = ax.get_window_extent(renderer)
    placed = np.zeros((0, 4))                       # x0, y0, x1, y1 in display units
    top = items[0][1] if items else 1.0
    low = items[-1][1] if items else 0.0
    colours = ["#1b4f72", "#7b241c", "#186a3b", "#6c3483", "#b9770e", "#17202a"]
    spiral = _spiral()
    for i, (word, weight) in enumerate(items):
        rel = 1.0 if top == low else (weight - low) / (top - low)
        text = ax.text(0.5, 0.5, word, fontsize=min_size + rel * (max_size - min_size),
                       ha="center", va="center", color=colours[i % len(colours)])
        box = text.get_window_extent(renderer)
        half = np.array([box.width * 0.52, box.height * 0.54])
        centres = np.c_[frame.x0 + spiral[:, 0] * frame.width, frame.y0 + spiral[:, 1] * frame.height]
        lo, hi = centres - half, centres + half
        fits = ((lo[:, 0] >= frame.x0) & (lo[:, 1] >= frame.y0)
                & (hi[:, 0] <= frame.x1) & (hi[:, 1] <= frame.y1))
        for b in placed:
            fits &= (hi[:, 0] <= b[0]) | (lo[:, 0] >= b[2]) | (hi[:, 1] <= b[1]) | (lo[:, 1] >= b[3])
        free = np.flatnonzero(fits)
        if free.size == 0:
            text.remove()
            continue
        j = free[0]
        text.set_position(tuple(spiral[j]))
        placed = np.vstack([placed, np.r_[lo[j], hi[j]]])
    return _save(fig, path)


def _spiral(steps: int = 3000) -> np.ndarray:
    """(steps, 2) points in axes coordinates on a spiral out from the centre."""
    t = 0.1 * np.arange(steps)
    r = 0.003 * t
    return np.c_[0.5 + 1.4 * r * np.cos(t), 0.5 + r * np.sin(t)]


def _save(fig: Figure, path: str | Path) -> str:
    path = Path(path)
    if path.suffix.lower() != ".png":
        raise InputError(f"figure path must end in .png; got {str(path)!r}")
    FigureCanvasAgg(fig)
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png")
    return str(path)
