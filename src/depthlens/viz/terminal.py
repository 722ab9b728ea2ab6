"""Explanations as coloured terminal text (ANSI 256-colour or 24-bit), readable uncoloured."""
from __future__ import annotations

import os
import re

import numpy as np

from ..errors import InputError
from ..explanation import Explanation
from .colors import RGB, gradient, ink, rgb, scale_rows
from .units import mismatch, ranked, segments, sequences, target_text, units

_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")
_MODES = ("truecolor", "256")


def render_terminal(exp: Explanation, layer: int | str = -1, level: str = "word",
                    color: bool | str = True, width: int = 100, top: int = 10) -> str:
    """The text with each word (or token) coloured by its score at ``layer``.

    Then a ranked list of the ``top`` units with their scores and, for
    layer-resolved explanations, the top 3 units of every layer. color: True
    (24-bit if $COLORTERM says so, else 256 colours), "truecolor", "256" or
    False. Colours follow :mod:`depthlens.viz.colors` (per-layer scaling).
    """
    mode = _mode(color)
    if width < 20:
        raise InputError(f"width must be >= 20; got {width}")
    shown, matrix = units(exp, level)
    row = exp.layer_index(layer)
    scaled, row_max, signed = scale_rows(matrix)
    values, labels = matrix[row], [_clean(u.label) for u in shown]
    colors = [rgb(v, signed) for v in scaled[row]]
    lines = [_header(exp), _legend(exp, row, values, row_max[row], signed, mode), ""]
    for seq in sequences(exp):
        pieces = [(text, None if i is None else colors[i]) for text, i in segments(exp, shown, seq)]
        lines += (["pair:"] if seq == 1 else []) + _wrap(pieces, width, mode)
    lines += ["", f"top {level}s at {_clean(exp.layers[row])}:"]
    picked = ranked(values, top)
    pad = min(max((len(labels[i]) for i in picked), default=0), 30)
    for rank, i in enumerate(picked, 1):
        label = _paint(labels[i][:30], colors[i], mode) + " " * (pad - len(labels[i][:30]))
        lines.append(f"{rank:>4}. {label}  {values[i]:+.4f}")
    if exp.spans:
        lines += ["", "top spans:"] + [_span_line(rank, span, width)
                                       for rank, span in enumerate(exp.spans[:top], 1)]
    if len(exp.layers) > 1:
        lines += ["", f"top 3 {level}s per layer:"]
        pad = min(max(len(_clean(name)) for name in exp.layers), 18)
        lines += [_layer_line(exp.layers[r], pad, matrix[r], scaled[r], labels, signed, r == row,
                              width, mode) for r in range(len(exp.layers))]
    return "\n".join(lines)


def _mode(color: bool | str) -> str | None:
    if color is True:
        return "truecolor" if os.environ.get("COLORTERM", "") in ("truecolor", "24bit") else "256"
    if color is False or color is None:
        return None
    if color not in _MODES:
        raise InputError(f"color must be True, False, 'truecolor' or '256'; got {color!r}")
    return color


def _header(exp: Explanation) -> str:
    parts = [f"{exp.method} on {exp.model or '(unnamed model)'}",
             f"target {target_text(exp.target)}"]
    predicted = mismatch(exp)
    if predicted is not None:
        parts.append(f"predicted {target_text(predicted)}")
    return _clean(" | ".join(parts))


def _legend(exp: Explanation, row: int, values: np.ndarray, row_max: float, signed: bool,
            mode: str | None) -> str:
    bar = "".join(_paint("  ", c, mode) for c in gradient(signed)) if mode else ".."
    low = f"{-row_max:+.4f}" if signed else "0"
    return (f"layer {_clean(exp.layers[row])} ({row + 1}/{len(exp.layers)}) | "
            f"min {np.nanmin(values) if values.size else 0:+.4f}, "
            f"max {np.nanmax(values) if values.size else 0:+.4f} | "
            f"colour {low} {bar} {row_max:+.4f} (this layer's max |score|)")


def _span_line(rank: int, span, width: int) -> str:
    """'   1. +0.4210  "span text"' (with ' (pair)' for spans of the second text)."""
    head = f"{rank:>4}. {span.score:+.4f}  "
    where = " (pair)" if span.sequence == 1 else ""
    text = _clean(span.text)
    room = max(width - len(head) - len(where) - 2, 10)
    text = text if len(text) <= room else text[:room - 3] + "..."
    return f'{head}"{text}"{where}'


def _layer_line(name: str, pad: int, values: np.ndarray, scaled: np.ndarray, labels: list[str],
                signed: bool, current: bool, width: int, mode: str | None) -> str:
    line = f"{'>' if current else ' '} {_clean(name)[:pad]:<{pad}}"
    used = len(line)
    for i in ranked(values, 3):
        item = f"{labels[i][:20]} {values[i]:+.3f}"
        if used + 2 + len(item) > width:
            break
        line += "  " + _paint(item, rgb(scaled[i], signed), mode)
        used += 2 + len(item)
    return line


def _wrap(pieces: list[tuple[str, RGB | None]], width: int, mode: str | None) -> list[str]:
    """Greedy line filling at whitespace; pieces not split by whitespace stay together."""
    chunks: list[list[tuple[str, RGB | None]]] = [[]]
    for text, color in pieces:
        for part in re.split(r"(\s+)", text):
            if part.isspace():
                chunks.append([])
            elif part:
                chunks[-1].append((_clean(part), color))
    lines: list[str] = []
    line, used = "", 0
    for chunk in filter(None, chunks):
        size = sum(len(t) for t, _ in chunk)
        if used and used + 1 + size > width:
            lines.append(line)
            line, used = "", 0
        if used:
            line, used = line + " ", used + 1
        line += "".join(_paint(t, c, mode) for t, c in chunk)
        used += size
    return lines + ([line] if used else [])


def _paint(text: str, background: RGB | None, mode: str | None) -> str:
    if mode is None or background is None:
        return text
    return f"{_sgr(background, 48, mode)}{_sgr(ink(background), 38, mode)}{text}\x1b[0m"


def _sgr(color: RGB, base: int, mode: str) -> str:
    if mode == "truecolor":
        return "\x1b[%d;2;%d;%d;%dm" % (base, *color)
    r, g, b = (round(c / 255 * 5) for c in color)
    return f"\x1b[{base};5;{16 + 36 * r + 6 * g + b}m"


def _clean(text: str) -> str:
    """Control characters (e.g. ESC from untrusted text) shown as U+FFFD."""
    return _CONTROL.sub("\ufffd", text)
