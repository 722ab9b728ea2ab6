"""PNG figures: a layers x words heatmap and score curves, written atomically.

Figures are drawn with matplotlib's object API (``Figure``, rendered by Agg),
never pyplot, so no display or global backend is touched. Text from the data
is drawn literally (no mathtext for ``$``).
"""
from __future__ import annotations

from pathlib import Path
from typing import Sequence

import matplotlib
import numpy as np
from matplotlib.colors import ListedColormap
from matplotlib.figure import Figure
from matplotlib.text import Text

from ..errors import InputError
from ..explanation import Explanation
from ..io import atomic_path
from .colors import gradient, scale_rows
from .units import target_text, units

MAX_LABELLED = 80  # heatmaps with more columns get sparse x ticks instead of every word


def heatmap_png(exp: Explanation, path: str | Path, level: str = "word") -> Path:
    """Layers x words (or tokens) heatmap, each row scaled by its max |score|."""
    shown, matrix = units(exp, level)
    scaled, row_max, signed = scale_rows(matrix)
    n_rows, n_cols = scaled.shape
    labelled = n_cols <= MAX_LABELLED
    fig = Figure(figsize=(min(max(4 + 0.28 * n_cols, 6), 30) if labelled else 16,
                          1.6 + 0.35 * n_rows + (1.2 if labelled else 0.4)), dpi=110)
    ax = fig.add_subplot()
    cmap = ListedColormap([tuple(c / 255 for c in rgb) for rgb in gradient(signed, 256)])
    image = ax.imshow(scaled, cmap=cmap, vmin=-1 if signed else 0, vmax=1,
                      aspect="auto", interpolation="nearest")
    ax.set_yticks(range(n_rows), [f"{name}  ({m:.3g})" for name, m in zip(exp.layers, row_max)])
    if labelled:
        ax.set_xticks(range(n_cols), [u.label for u in shown], rotation=90)
    else:
        ax.set_xticks(np.unique(np.linspace(0, n_cols - 1, 20).round().astype(int)))
        ax.set_xlabel(f"{level} index")
    ax.set_title(f"{exp.method} | {exp.model} | target {target_text(exp.target)}", fontsize=10)
    ax.set_ylabel("layer (max |score|)")
    fig.colorbar(image, ax=ax, label="score / row max |score|", pad=0.01)
    return _save(fig, path)


def matrix_png(matrix: np.ndarray, rows: Sequence[str], columns: Sequence[str],
               path: str | Path, title: str = "", label: str = "") -> Path:
    """A labelled (rows x columns) heatmap of values in [-1, 1] (or [0, 1] if none is < 0),
    each cell printed, e.g. mean scaled score by layer and POS tag."""
    matrix = np.asarray(matrix, dtype=float)
    if matrix.shape != (len(rows), len(columns)) or not matrix.size:
        raise InputError(f"matrix must be non-empty and (rows, columns) = ({len(rows)}, "
                         f"{len(columns)}); got shape {matrix.shape}")
    signed = bool((matrix < 0).any())
    fig = Figure(figsize=(max(5.0, 1.6 + 0.7 * len(columns)), 1.6 + 0.4 * len(rows)), dpi=110)
    ax = fig.add_subplot()
    cmap = ListedColormap([tuple(c / 255 for c in rgb) for rgb in gradient(signed, 256)])
    image = ax.imshow(matrix, cmap=cmap, vmin=-1 if signed else 0, vmax=1, aspect="auto",
                      interpolation="nearest")
    for (i, j), value in np.ndenumerate(matrix):
        ax.text(j, i, f"{value:.2f}", ha="center", va="center", fontsize=7)
    ax.set_xticks(range(len(columns)), list(columns), rotation=45, ha="right")
    ax.set_yticks(range(len(rows)), list(rows))
    ax.set_title(title, fontsize=10)
    fig.colorbar(image, ax=ax, label=label, pad=0.01)
    return _save(fig, path)


def curves_png(curves: dict[str, tuple[Sequence[float], Sequence[float]]], path: str | Path,
               xlabel: str = "fraction of words", ylabel: str = "score",
               title: str = "") -> Path:
    """Line plot of named (xs, ys) curves, e.g. hiding/revealing or overlap curves."""
    if not curves:
        raise InputError("curves must hold at least one (xs, ys) curve; got none")
    fig = Figure(figsize=(6.4, 4.2), dpi=110)
    ax = fig.add_subplot()
    if len(curves) > 10:  # the default cycle repeats after 10 colours
        ax.set_prop_cycle(color=[matplotlib.colormaps["tab20"](i) for i in range(20)])
    for name, (xs, ys) in curves.items():
        if len(xs) != len(ys):
            raise InputError(f"curve {name!r} must have as many xs as ys; "
                             f"got {len(xs)} and {len(ys)}")
        ax.plot(xs, ys, label=name, marker="o" if len(xs) <= 20 else None, markersize=3)
    ax.set(xlabel=xlabel, ylabel=ylabel, title=title)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    return _save(fig, path)


def _save(fig: Figure, path: str | Path) -> Path:
    for text in fig.findobj(Text):
        text.set_parse_math(False)
    fig.tight_layout()
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png")
    return Path(path)
