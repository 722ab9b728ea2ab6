"""What the renderers show: words or tokens, their scores and their place in the text."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..errors import InputError
from ..explanation import Explanation, Target

LEVELS = ("word", "token")


@dataclass
class Unit:
    """A shown word or token: its label and its characters in sequence 0 (text) or 1 (pair)."""

    label: str
    start: int
    end: int
    sequence: int


def units(exp: Explanation, level: str = "word") -> tuple[list[Unit], np.ndarray]:
    """Words (token scores summed) or non-special tokens: (units, array (n_layers, n_units))."""
    if level == "word":
        words, scores = exp.word_scores("sum")
        return [Unit(w.text, w.start, w.end, w.sequence) for w in words], scores
    if level == "token":
        kept = real_tokens(exp)
        shown = [Unit(exp.tokens[i], *exp.offsets[i], exp.sequence_ids[i] or 0) for i in kept]
        return shown, exp.scores[:, kept]
    raise InputError(f"level must be one of {LEVELS}; got {level!r}")


def real_tokens(exp: Explanation) -> list[int]:
    """Positions of the non-special tokens."""
    return [i for i, w in enumerate(exp.word_ids) if w is not None]


def shown_layer(exp: Explanation) -> int:
    """The row a page colours the text by first (and rates with metrics): the last layer with
    a non-zero score at a real token (gradients after the last block are 0 at every token but
    [CLS]), else the last layer."""
    real = np.abs(np.nan_to_num(exp.scores[:, real_tokens(exp)]))
    nonzero = np.flatnonzero(real.max(axis=1, initial=0.0) > 0)
    return int(nonzero[-1]) if len(nonzero) else len(exp.layers) - 1


def sequences(exp: Explanation) -> list[int]:
    """The shown sequences: 0 (text), and 1 (pair) when there is a pair."""
    return [0, 1] if exp.pair is not None else [0]


def segments(exp: Explanation, shown: list[Unit], sequence: int) -> list[tuple[str, int | None]]:
    """The source text of ``sequence`` cut into (text, unit index, or None between units)."""
    source = (exp.pair or "") if sequence == 1 else exp.text
    out: list[tuple[str, int | None]] = []
    cursor = 0
    mine = sorted((i for i, u in enumerate(shown) if u.sequence == sequence),
                  key=lambda i: shown[i].start)
    for i in mine:
        start, end = max(shown[i].start, cursor), shown[i].end
        if end <= start:
            continue
        if start > cursor:
            out.append((source[cursor:start], None))
        out.append((source[start:end], i))
        cursor = end
    if cursor < len(source):
        out.append((source[cursor:], None))
    return out


def ranked(values: np.ndarray, k: int) -> list[int]:
    """Indices of the ``k`` highest values, highest first (NaN last, ties in text order)."""
    return [int(i) for i in np.argsort(-values, kind="stable")[:k]]


def target_text(target: Target) -> str:
    """``name (p=0.912)``, or just the name when no probability was recorded."""
    name = target.name or str(target.index)
    return name if target.probability is None else f"{name} (p={target.probability:.3f})"


def mismatch(exp: Explanation) -> Target | None:
    """The predicted class when it differs from the explained target, else None."""
    predicted = exp.predicted
    return predicted if predicted is not None and predicted.index != exp.target.index else None
