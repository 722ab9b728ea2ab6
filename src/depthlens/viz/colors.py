"""The colour scale shared by the terminal, HTML and PNG renderers.

Normalisation: each row (layer) of an explanation is divided by that row's own
max |score|, so every layer uses the full colour range. Colours therefore
compare words *within* a layer; compare numbers, not colours, across layers.
Signed explanations (any score < 0 in any row) use a diverging scale
(blue < 0 < red, white at 0); non-negative ones a sequential white-to-red scale.
Non-finite scores are coloured as 0.
"""
from __future__ import annotations

import numpy as np

RGB = tuple[int, int, int]

_POSITIVE = ((247, 247, 247), (244, 165, 130), (178, 24, 43))
_NEGATIVE = ((247, 247, 247), (146, 197, 222), (33, 102, 172))
_SEQUENTIAL = ((255, 255, 255), (253, 174, 97), (189, 0, 38))


def scale_rows(matrix: np.ndarray) -> tuple[np.ndarray, np.ndarray, bool]:
    """Scale each row by its max |score|: (scaled in [-1, 1], row max |score|, signed)."""
    m = np.where(np.isfinite(matrix), matrix, 0.0)
    row_max = np.abs(m).max(axis=1) if m.shape[1] else np.zeros(m.shape[0])
    scaled = np.divide(m, row_max[:, None], out=np.zeros_like(m), where=row_max[:, None] > 0)
    return scaled, row_max, bool((m < 0).any())


def rgb(value: float, signed: bool) -> RGB:
    """The colour of a scaled value (in [-1, 1], or [0, 1] when not signed)."""
    value = float(np.clip(value, -1.0, 1.0))
    stops = (_NEGATIVE if value < 0 else _POSITIVE) if signed else _SEQUENTIAL
    t = abs(value) * 2
    lo, hi = (stops[0], stops[1]) if t <= 1 else (stops[1], stops[2])
    t = t if t <= 1 else t - 1
    return tuple(round(a + (b - a) * t) for a, b in zip(lo, hi))  # type: ignore[return-value]


def ink(background: RGB) -> RGB:
    """Black or white text, whichever reads better on ``background``."""
    r, g, b = background
    return (0, 0, 0) if 0.299 * r + 0.587 * g + 0.114 * b > 140 else (255, 255, 255)


def hex_color(color: RGB) -> str:
    return "#%02x%02x%02x" % color


def gradient(signed: bool, n: int = 9) -> list[RGB]:
    """``n`` colours from the scale's low end (-1, or 0 when not signed) to +1."""
    low = -1.0 if signed else 0.0
    return [rgb(v, signed) for v in np.linspace(low, 1.0, n)]
