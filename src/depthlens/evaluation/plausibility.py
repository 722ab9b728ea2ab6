"""Plausibility: agreement of scores with human rationales (ERASER's metrics).

Each example's scores (one row, at token or word level) are compared with
its rationale (character spans or token mask, see :mod:`.units`):

* token_f1 -- precision/recall/F1 of the top-k units (k = the number of
  rationale units unless given). Reported like ERASER's macro scores:
  F1 of the mean precision and mean recall over examples.
* iou_f1 -- predicted spans are the maximal runs of consecutive top-k units,
  human spans the runs of rationale units; a predicted span is a match when
  its best IOU with a human span is >= ``threshold`` (0.5). P = matches /
  predicted spans, R = matches / human spans, reported as F1 of mean P and R.
* auprc -- average precision of the scores against the rationale units
  (step-wise area under the precision-recall curve), mean over examples.

Examples without any rationale unit are left out (NaN per example).
"""
from __future__ import annotations

import math
from typing import Any, Sequence

import numpy as np

from ..errors import InputError
from ..explanation import Explanation
from ..models.adapter import ModelAdapter
from .result import MetricResult, Spec, nanmean, register
from .units import one_per_explanation, rationale_token_mask, unit_mask, units

TOKEN_F1 = Spec("token_f1", (0.0, 1.0), True,
                "token F1 of the top-k scored units against human rationales")
IOU_F1 = Spec("iou_f1", (0.0, 1.0), True,
              "ERASER IOU F1: spans of top-k units matching human spans at IOU >= 0.5")
AUPRC = Spec("auprc", (0.0, 1.0), True,
             "average precision of unit scores against human rationales")


def aligned(explanations: Sequence[Explanation], rationales: Sequence[Any],
            layer: int | str | None, level: str,
            aggregate: str) -> list[tuple[np.ndarray, np.ndarray] | None]:
    """Per example (scores (n,), rationale (n,) bool), or None without rationale units."""
    explanations = list(explanations)
    rationales = one_per_explanation(rationales, len(explanations), "rationales")
    out = []
    for e, r in zip(explanations, rationales):
        u = units(e, layer, level, aggregate)
        gold = unit_mask(u, rationale_token_mask(e, r))
        out.append((u.scores, gold) if gold.any() else None)
    return out


def top_k_mask(scores: np.ndarray, k: int) -> np.ndarray:
    """(n,) bool: the k highest scores (ties broken by position)."""
    mask = np.zeros(len(scores), dtype=bool)
    mask[np.argsort(-scores, kind="stable")[:k]] = True
    return mask


def runs(mask: np.ndarray) -> list[tuple[int, int]]:
    """Maximal runs [start, end) of consecutive True entries."""
    padded = np.concatenate([[False], mask, [False]]).astype(np.int8)
    edges = np.flatnonzero(np.diff(padded))
    return list(zip(edges[::2].tolist(), edges[1::2].tolist()))


def iou(a: tuple[int, int], b: tuple[int, int]) -> float:
    """Intersection over union of two index ranges [start, end)."""
    inter = max(0, min(a[1], b[1]) - max(a[0], b[0]))
    union = (a[1] - a[0]) + (b[1] - b[0]) - inter
    return inter / union if union else 0.0


def average_precision(scores: np.ndarray, gold: np.ndarray) -> float:
    """Sum over distinct thresholds of (recall step) x precision; 1.0 for a perfect ranking."""
    order = np.argsort(-scores, kind="stable")
    s, g = scores[order], gold[order].astype(np.float64)
    last = np.r_[np.flatnonzero(np.diff(s)), len(s) - 1]    # last index of each tie group
    tp = np.cumsum(g)[last]
    precision = tp / (last + 1)
    recall = tp / g.sum()
    return float(np.sum(np.diff(np.r_[0.0, recall]) * precision))


def choose_k(n: int, n_gold: int, k: int | float | str | None) -> int:
    """Units selected: the rationale size (None), a count (int >= 1) or a fraction in (0, 1)."""
    if isinstance(k, str):
        try:
            k = float(k) if "." in k else int(k)
        except ValueError:
            raise InputError(f"k must be a count or a fraction; got {k!r}") from None
    if k is None:
        return n_gold
    if isinstance(k, float) and 0 < k < 1:
        return min(n, math.ceil(k * n))
    if isinstance(k, (int, float)) and k >= 1 and float(k).is_integer():
        return min(n, int(k))
    raise InputError(f"k must be None, an integer >= 1 or a fraction in (0, 1); got {k!r}")


def _f1(p: float, r: float) -> float:
    return 0.0 if p + r == 0 or math.isnan(p + r) else 2 * p * r / (p + r)


def _prf_result(spec: Spec, p: np.ndarray, r: np.ndarray, **details: Any) -> MetricResult:
    """Macro scores: per-example F1 and F1 of mean precision and mean recall."""
    per_example = np.array([math.nan if math.isnan(a) else _f1(a, b) for a, b in zip(p, r)])
    mp, mr = nanmean(p), nanmean(r)
    return spec.result(_f1(mp, mr), per_example, precision=mp, recall=mr,
                       n_without_rationale=int(np.isnan(p).sum()), **details)


@register(TOKEN_F1)
def token_f1(adapter: ModelAdapter, explanations: Sequence[Explanation], *,
             rationales: Sequence[Any] | None = None, layer: int | str | None = None,
             level: str = "word", aggregate: str = "sum",
             k: int | float | None = None) -> MetricResult:
    """Token-level P/R/F1 of the top-k units (``adapter`` is not used)."""
    pairs = aligned(explanations, rationales, layer, level, aggregate)
    p, r = np.full(len(pairs), math.nan), np.full(len(pairs), math.nan)
    for i, pair in enumerate(pairs):
        if pair is not None:
            scores, gold = pair
            pred = top_k_mask(scores, choose_k(len(scores), int(gold.sum()), k))
            hits = float((pred & gold).sum())
            p[i], r[i] = (hits / pred.sum() if pred.any() else 0.0), hits / gold.sum()
    return _prf_result(TOKEN_F1, p, r, level=level)


@register(IOU_F1)
def iou_f1(adapter: ModelAdapter, explanations: Sequence[Explanation], *,
           rationales: Sequence[Any] | None = None, layer: int | str | None = None,
           level: str = "word", aggregate: str = "sum", k: int | float | None = None,
           threshold: float = 0.5) -> MetricResult:
    """ERASER partial-match IOU F1 of the runs of top-k units (``adapter`` is not used)."""
    if not 0 < threshold <= 1:
        raise InputError(f"threshold must be in (0, 1]; got {threshold}")
    pairs = aligned(explanations, rationales, layer, level, aggregate)
    p, r = np.full(len(pairs), math.nan), np.full(len(pairs), math.nan)
    for i, pair in enumerate(pairs):
        if pair is not None:
            scores, gold = pair
            predicted = runs(top_k_mask(scores, choose_k(len(scores), int(gold.sum()), k)))
            human = runs(gold)
            matches = sum(max(iou(s, h) for h in human) >= threshold for s in predicted)
            p[i] = matches / len(predicted) if predicted else 0.0
            r[i] = matches / len(human)
    return _prf_result(IOU_F1, p, r, level=level, threshold=threshold)


@register(AUPRC)
def auprc(adapter: ModelAdapter, explanations: Sequence[Explanation], *,
          rationales: Sequence[Any] | None = None, layer: int | str | None = None,
          level: str = "word", aggregate: str = "sum") -> MetricResult:
    """Mean average precision of the scores against rationale units (``adapter`` is not used)."""
    pairs = aligned(explanations, rationales, layer, level, aggregate)
    per_example = np.array([math.nan if pair is None else average_precision(*pair)
                            for pair in pairs])
    return AUPRC.result(nanmean(per_example), per_example, level=level,
                        n_without_rationale=int(np.isnan(per_example).sum()))
