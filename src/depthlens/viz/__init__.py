"""Renderers: coloured terminal text, a self-contained HTML page, PNG figures.

``heatmap_png`` and ``curves_png`` import matplotlib on first use.
"""
from __future__ import annotations

from typing import Any

from .html import render_html, write_html
from .terminal import render_terminal

__all__ = ["render_terminal", "render_html", "write_html", "heatmap_png", "curves_png"]


def __getattr__(name: str) -> Any:
    if name in ("heatmap_png", "curves_png"):
        from . import plots

        return getattr(plots, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
