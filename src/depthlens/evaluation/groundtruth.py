"""Ground truth: divergence between attributions and a known attribution (toy tasks).

Both the explanation's row and the known attribution are turned into
distributions over the example's units (real tokens or words) by the same
``normalise`` rule, then compared:

* kl_divergence -- KL(known || attribution) in nats; the attribution is
  smoothed by ``eps`` so KL stays finite. Range [0, inf), lower is better.
* js_divergence -- Jensen-Shannon divergence in nats, symmetric and bounded
  by ln 2. Lower is better.
"""
from __future__ import annotations

import math
from typing import Sequence

import numpy as np

from ..errors import InputError
from ..explanation import Explanation
from ..models.adapter import ModelAdapter
from .result import MetricResult, Spec, nanmean, register
from .units import Units, one_per_explanation, real_positions, units

NORMALISATIONS = ("abs", "positive", "softmax")

KL = Spec("kl_divergence", (0.0, math.inf), False,
          "KL(known || attribution) of the normalised attributions, in nats")
JS = Spec("js_divergence", (0.0, math.log(2)), False,
          "Jensen-Shannon divergence of normalised and known attributions, in nats")


def normalise(x: np.ndarray, how: str = "abs") -> np.ndarray:
    """A distribution (n,) from scores (n,): |x| / sum, max(x, 0) / sum or softmax.

    An all-zero vector (after abs/positive) becomes uniform.
    """
    x = np.asarray(x, dtype=np.float64)
    if how == "softmax":
        e = np.exp(x - x.max())
        return e / e.sum()
    if how == "abs":
        w = np.abs(x)
    elif how == "positive":
        w = np.clip(x, 0, None)
    else:
        raise InputError(f"normalise must be one of {', '.join(NORMALISATIONS)}; got {how!r}")
    total = w.sum()
    return w / total if total > 0 else np.full(len(w), 1.0 / len(w))


def kl_div(p: np.ndarray, q: np.ndarray, eps: float = 1e-12) -> float:
    """KL(p || q) in nats for distributions (n,); q is smoothed by eps and renormalised."""
    q = (q + eps) / (q + eps).sum()
    keep = p > 0
    return float(np.sum(p[keep] * np.log(p[keep] / q[keep])))


def js_div(p: np.ndarray, q: np.ndarray) -> float:
    """Jensen-Shannon divergence in nats: symmetric, in [0, ln 2]."""
    m = (p + q) / 2
    return 0.5 * kl_div(p, m, eps=0.0) + 0.5 * kl_div(q, m, eps=0.0)


def known_vector(e: Explanation, u: Units, known, level: str) -> np.ndarray:
    """The known attribution over ``u``'s units: given per unit, or per token (all tokens)
    at token level."""
    known = np.asarray(known, dtype=np.float64)
    if level == "token" and len(known) == len(e.tokens) != len(u.scores):
        known = known[real_positions(e)]
    if known.shape != u.scores.shape:
        raise InputError(f"a known attribution must have one value per {level} "
                         f"({len(u.scores)}{' or per token incl. special' if level == 'token' else ''}"
                         f"); got shape {known.shape}")
    return known


def _divergences(explanations: Sequence[Explanation], truth, layer, level: str, aggregate: str,
                 how: str, fn) -> np.ndarray:
    explanations = list(explanations)
    truth = one_per_explanation(truth, len(explanations), "truth")
    out = np.full(len(explanations), math.nan)
    for i, (e, t) in enumerate(zip(explanations, truth)):
        u = units(e, layer, level, aggregate)
        if len(u.scores):
            out[i] = fn(normalise(known_vector(e, u, t, level), how), normalise(u.scores, how))
    return out


@register(KL)
def kl_divergence(adapter: ModelAdapter, explanations: Sequence[Explanation], *,
                  truth: Sequence[Sequence[float]] | None = None,
                  layer: int | str | None = None, level: str = "token", aggregate: str = "sum",
                  normalise_with: str = "abs", eps: float = 1e-12) -> MetricResult:
    """Mean KL(known || attribution) over examples (``adapter`` is not used)."""
    values = _divergences(explanations, truth, layer, level, aggregate, normalise_with,
                          lambda p, q: kl_div(p, q, eps))
    return KL.result(nanmean(values), values, level=level, normalise=normalise_with)


@register(JS)
def js_divergence(adapter: ModelAdapter, explanations: Sequence[Explanation], *,
                  truth: Sequence[Sequence[float]] | None = None,
                  layer: int | str | None = None, level: str = "token", aggregate: str = "sum",
                  normalise_with: str = "abs") -> MetricResult:
    """Mean Jensen-Shannon divergence over examples (``adapter`` is not used)."""
    values = _divergences(explanations, truth, layer, level, aggregate, normalise_with, js_div)
    return JS.result(nanmean(values), values, level=level, normalise=normalise_with)
