"""What an explanation is judged on: tokens or words, their scores, and human rationales.

A rationale for one example is either a list of character spans
``(start, end)`` / ``(start, end, sequence)`` (or :class:`~depthlens.explanation.Span`)
in the explanation's text (sequence 0) or pair (1), or a 0/1 mask with one
entry per token of the explanation. Spans are aligned through the
explanation's offsets: a token belongs to the rationale if its characters
overlap a span. A word belongs if any of its tokens does.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Sequence

import numpy as np

from ..errors import InputError
from ..explanation import Explanation

LEVELS = ("token", "word")


@dataclass
class Units:
    """n scored units of one explanation.

    scores: (n,). positions: the token positions of each unit.
    """

    scores: np.ndarray
    positions: list[list[int]]


def row_index(explanation: Explanation, layer: int | str | None) -> int:
    """The score row for ``layer``: None = last row; '3' from the CLI = row 3."""
    if layer is None:
        return explanation.layer_index(-1)
    if isinstance(layer, str) and layer.lstrip("-").isdigit():
        layer = int(layer)
    return explanation.layer_index(layer)


def real_positions(explanation: Explanation) -> np.ndarray:
    """Positions of the real (non-special) tokens, in order."""
    return np.array([i for i, w in enumerate(explanation.word_ids) if w is not None], dtype=np.int64)


def units(explanation: Explanation, layer: int | str | None = None, level: str = "word",
          aggregate: str = "sum") -> Units:
    """Scores of one row at token or word level (words aggregate their tokens)."""
    row = row_index(explanation, layer)
    if level == "token":
        pos = real_positions(explanation)
        return Units(explanation.scores[row, pos], [[int(p)] for p in pos])
    if level == "word":
        words, scores = explanation.word_scores(aggregate)
        return Units(scores[row], [w.positions for w in words])
    raise InputError(f"level must be one of {', '.join(LEVELS)}; got {level!r}")


def rationale_token_mask(explanation: Explanation, rationale: Any) -> np.ndarray:
    """(n_tokens,) bool: tokens inside the rationale (special tokens always False)."""
    n = len(explanation.tokens)
    real = np.array([w is not None for w in explanation.word_ids])
    items = list(rationale.tolist() if hasattr(rationale, "tolist") else rationale)
    if items and all(np.isscalar(x) for x in items):
        if len(items) != n:
            raise InputError(f"a rationale mask must have one entry per token ({n}); "
                             f"got {len(items)}")
        return np.asarray(items, dtype=bool) & real
    mask = np.zeros(n, dtype=bool)
    starts = np.array([s for s, _ in explanation.offsets])
    ends = np.array([e for _, e in explanation.offsets])
    seqs = np.array([-1 if s is None else s for s in explanation.sequence_ids])
    for span in items:
        start, end, seq = _span(span)
        mask |= real & (seqs == seq) & (starts < end) & (ends > start)
    return mask


def unit_mask(u: Units, token_mask: np.ndarray) -> np.ndarray:
    """(n_units,) bool: units with at least one token in ``token_mask``."""
    return np.array([bool(token_mask[p].any()) for p in u.positions], dtype=bool)


def spans_from_token_labels(char_spans: Sequence[tuple[int, int]],
                            labels: Sequence[int]) -> list[tuple[int, int]]:
    """Character spans of the tokens labelled 1 (e.g. SST ``meta['char_spans']``/``['rationale']``)."""
    if len(char_spans) != len(labels):
        raise InputError(f"labels must have one entry per span ({len(char_spans)}); "
                         f"got {len(labels)}")
    return [tuple(s) for s, keep in zip(char_spans, labels) if keep]


def one_per_explanation(values: Sequence[Any] | None, n: int, what: str) -> list[Any]:
    """Check that a per-example argument has exactly n entries."""
    if values is None:
        raise InputError(f"{what} must be given, one entry per explanation ({n})")
    values = list(values)
    if len(values) != n:
        raise InputError(f"{what} must have one entry per explanation ({n}); got {len(values)}")
    return values


def _span(span: Any) -> tuple[int, int, int]:
    if hasattr(span, "start") and hasattr(span, "end"):
        return int(span.start), int(span.end), int(getattr(span, "sequence", 0))
    try:
        parts = [int(x) for x in span]
    except (TypeError, ValueError):
        raise InputError(f"a rationale span must be (start, end) or (start, end, sequence); "
                         f"got {span!r}") from None
    if len(parts) not in (2, 3) or parts[0] > parts[1]:
        raise InputError(f"a rationale span must be (start, end) or (start, end, sequence) with "
                         f"start <= end; got {span!r}")
    return parts[0], parts[1], parts[2] if len(parts) == 3 else 0
