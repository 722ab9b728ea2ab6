"""Agreement between two explanation sets of the same texts (e.g. attention vs gradient).

Per example, the two score vectors over the same units are compared by
Kendall tau-b or Spearman rho (scipy, with two-sided p-values; the fraction
of examples with p < ``alpha`` is Jain & Wallace's "fraction significant"),
or by the share of the top-k units both rank highest. Agreement is not
correctness: higher means the two methods agree more.
"""
from __future__ import annotations

import math
import warnings
from typing import Callable, Sequence

import numpy as np
from scipy import stats

from ..errors import InputError
from ..explanation import Explanation
from ..models.adapter import ModelAdapter
from .result import MetricResult, Spec, nanmean, register
from .units import units

KENDALL = Spec("kendall_tau", (-1.0, 1.0), True,
               "Kendall tau-b between two explanation sets per example, with fraction significant")
SPEARMAN = Spec("spearman", (-1.0, 1.0), True,
                "Spearman rho between two explanation sets per example, with fraction significant")
TOPK = Spec("topk_intersection", (0.0, 1.0), True,
            "share of the top-k units of one explanation set also in the other's top-k")


def paired(explanations: Sequence[Explanation], reference: Sequence[Explanation] | None,
           layer: int | str | None = None, reference_layer: int | str | None = None,
           level: str = "token", aggregate: str = "sum") -> list[tuple[np.ndarray, np.ndarray]]:
    """Per example the two score vectors (n,) over the same units."""
    explanations = list(explanations)
    if reference is None:
        raise InputError("reference must be given: the explanation set to compare with")
    reference = list(reference)
    if len(reference) != len(explanations):
        raise InputError(f"reference must have one explanation per explanation "
                         f"({len(explanations)}); got {len(reference)}")
    out = []
    for i, (a, b) in enumerate(zip(explanations, reference)):
        if a.tokens != b.tokens or a.text != b.text or a.pair != b.pair:
            raise InputError(f"explanation {i} and its reference must explain the same text with "
                             f"the same tokens; got {a.text[:30]!r} and {b.text[:30]!r}")
        out.append((units(a, layer, level, aggregate).scores,
                    units(b, reference_layer, level, aggregate).scores))
    return out


def correlations(pairs: Sequence[tuple[np.ndarray, np.ndarray]],
                 fn: Callable = stats.kendalltau) -> tuple[np.ndarray, np.ndarray]:
    """(statistic (N,), p-value (N,)); NaN where undefined (< 2 units or a constant vector)."""
    stat, pval = np.full(len(pairs), math.nan), np.full(len(pairs), math.nan)
    for i, (a, b) in enumerate(pairs):
        if len(a) >= 2 and np.ptp(a) > 0 and np.ptp(b) > 0:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                res = fn(a, b)
            stat[i], pval[i] = float(res[0]), float(res[1])
    return stat, pval


def topk_overlap(a: np.ndarray, b: np.ndarray, k: int) -> float:
    """|top-k(a) & top-k(b)| / k with k capped at the number of units (ties by position)."""
    k = min(k, len(a))
    if k == 0:
        return math.nan
    top_a = set(np.argsort(-a, kind="stable")[:k].tolist())
    return len(top_a & set(np.argsort(-b, kind="stable")[:k].tolist())) / k


def _correlation_result(spec: Spec, fn: Callable, explanations, reference, layer,
                        reference_layer, level, aggregate, alpha: float) -> MetricResult:
    if not 0 < alpha < 1:
        raise InputError(f"alpha must be in (0, 1); got {alpha}")
    stat, pval = correlations(paired(explanations, reference, layer, reference_layer, level,
                                     aggregate), fn)
    defined = ~np.isnan(stat)
    significant = float((pval[defined] < alpha).mean()) if defined.any() else math.nan
    return spec.result(nanmean(stat), stat, p_values=pval.tolist(), alpha=alpha,
                       fraction_significant=significant, n_undefined=int((~defined).sum()),
                       level=level)


@register(KENDALL)
def kendall_tau(adapter: ModelAdapter, explanations: Sequence[Explanation], *,
                reference: Sequence[Explanation] | None = None, layer: int | str | None = None,
                reference_layer: int | str | None = None, level: str = "token",
                aggregate: str = "sum", alpha: float = 0.05) -> MetricResult:
    """Mean Kendall tau-b with ``reference`` and the fraction with p < alpha."""
    return _correlation_result(KENDALL, stats.kendalltau, explanations, reference, layer,
                               reference_layer, level, aggregate, alpha)


@register(SPEARMAN)
def spearman(adapter: ModelAdapter, explanations: Sequence[Explanation], *,
             reference: Sequence[Explanation] | None = None, layer: int | str | None = None,
             reference_layer: int | str | None = None, level: str = "token",
             aggregate: str = "sum", alpha: float = 0.05) -> MetricResult:
    """Mean Spearman rho with ``reference`` and the fraction with p < alpha."""
    return _correlation_result(SPEARMAN, stats.spearmanr, explanations, reference, layer,
                               reference_layer, level, aggregate, alpha)


@register(TOPK)
def topk_intersection(adapter: ModelAdapter, explanations: Sequence[Explanation], *,
                      reference: Sequence[Explanation] | None = None,
                      layer: int | str | None = None, reference_layer: int | str | None = None,
                      level: str = "token", aggregate: str = "sum", k: int = 5) -> MetricResult:
    """Mean share of shared top-k units with ``reference``."""
    if k < 1:
        raise InputError(f"k must be >= 1; got {k}")
    pairs = paired(explanations, reference, layer, reference_layer, level, aggregate)
    values = np.array([topk_overlap(a, b, k) for a, b in pairs])
    return TOPK.result(nanmean(values), values, k=k, level=level)
