"""ERASER faithfulness (DeYoung et al., 2020): comprehensiveness and sufficiency.

With p the probability of the explanation's target class and r a rationale,

* comprehensiveness = p(x) - p(x \\ r)   (the rationale was needed; higher is better)
* sufficiency       = p(x) - p(r)       (the rationale alone suffices; lower is better)

r is either the top ceil(b * n) real tokens for each bin b, averaged over
bins (AOPC; ERASER bins {1, 5, 10, 20, 50}%), or the explanation's discrete
rationale, ``spans``: per example character spans or a token mask, or
'explanation' for each Explanation's own ``spans``. Both reuse the hide/reveal
engine of :mod:`.erasure_curves`: x \\ r is the Hiding game at fraction b and
r alone is the Revealing game. The default erasure deletes the tokens, as
ERASER does.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Sequence

import numpy as np
import torch

from ..errors import InputError
from ..explanation import Explanation
from ..models.adapter import ModelAdapter
from .erasure_curves import GAMES, game_curves, perturbed_probabilities
from .external import encode_explanations, targets_of
from .result import MetricResult, Spec, nanmean, register
from .units import one_per_explanation, rationale_token_mask

ERASER_BINS = (0.01, 0.05, 0.1, 0.2, 0.5)

COMPREHENSIVENESS = Spec(
    "comprehensiveness", (-1.0, 1.0), True,
    "ERASER comprehensiveness p(x) - p(x without r): AOPC over top-token bins, or given spans")
SUFFICIENCY = Spec(
    "sufficiency", (-1.0, 1.0), False,
    "ERASER sufficiency p(x) - p(r alone): AOPC over top-token bins, or given spans")


@dataclass
class Faithfulness:
    """Target probabilities of N examples over K rationales (K bins, or K = 1 given rationale).

    full: (N,) unperturbed; without: (N, K) rationale erased; alone: (N, K)
    everything but the rationale erased. Rows with no rationale are NaN.
    """

    full: np.ndarray
    without: np.ndarray
    alone: np.ndarray
    bins: list[float] | None
    cost: dict[str, int] = field(default_factory=dict)

    @property
    def comprehensiveness(self) -> np.ndarray:
        """(N, K) p(x) - p(x \\ r)."""
        return self.full[:, None] - self.without

    @property
    def sufficiency(self) -> np.ndarray:
        """(N, K) p(x) - p(r)."""
        return self.full[:, None] - self.alone


def faithfulness(adapter: ModelAdapter, explanations: Sequence[Explanation], *,
                 bins: Sequence[float] | str = ERASER_BINS, layer: int | str | None = None,
                 spans: Sequence[Any] | str | None = None, mode: str = "delete",
                 drop_attention: bool = False, batch_size: int = 64) -> Faithfulness:
    """Erase the rationales of all examples in one batched pass.

    spans: None = top-token bins of ``layer``'s scores; 'explanation' = each
    Explanation's own ``spans``; else one discrete rationale per example
    (character spans or a token mask, see :mod:`.units`).
    """
    explanations = list(explanations)
    if spans is None:
        run = game_curves(adapter, explanations, games=GAMES, fractions=bins, layer=layer,
                          orders=("explanation",), mode=mode, drop_attention=drop_attention,
                          batch_size=batch_size)
        hide, reveal = run.curves[("hide", "explanation")], run.curves[("reveal", "explanation")]
        return Faithfulness(run.full_probability, hide.probability, reveal.probability,
                            hide.fractions.tolist(), run.cost)
    if spans == "explanation":
        spans = [e.spans for e in explanations]
    elif isinstance(spans, str):
        raise InputError(f"spans must be 'explanation' or one rationale per example; got {spans!r}")
    spans = one_per_explanation(spans, len(explanations), "spans")
    batch = encode_explanations(adapter, explanations)
    real = ~batch.special_mask
    mask = torch.zeros_like(real)
    for i, (e, r) in enumerate(zip(explanations, spans)):
        mask[i, :len(e.tokens)] = torch.from_numpy(rationale_token_mask(e, r))
    n = len(explanations)
    hide = torch.cat([torch.zeros_like(real), mask, real & ~mask])
    probs, cost = perturbed_probabilities(adapter, batch, torch.arange(n).repeat(3), hide,
                                          mode=mode, drop_attention=drop_attention,
                                          batch_size=batch_size)
    target = targets_of(explanations).repeat(3)
    p = probs.gather(1, target[:, None])[:, 0].reshape(3, n).numpy().astype(np.float64)
    empty = ~mask.any(1).numpy()
    without, alone = p[1].copy(), p[2].copy()
    without[empty] = alone[empty] = np.nan
    return Faithfulness(p[0], without[:, None], alone[:, None], None, cost)


@register(COMPREHENSIVENESS)
def comprehensiveness(adapter: ModelAdapter, explanations: Sequence[Explanation], *,
                      bins: Sequence[float] | str = ERASER_BINS, layer: int | str | None = None,
                      spans: Sequence[Any] | str | None = None, mode: str = "delete",
                      drop_attention: bool = False, batch_size: int = 64) -> MetricResult:
    """AOPC comprehensiveness over ``bins`` (or for the discrete ``spans``); see module doc."""
    f = faithfulness(adapter, explanations, bins=bins, layer=layer, spans=spans,
                     mode=mode, drop_attention=drop_attention, batch_size=batch_size)
    return _result(COMPREHENSIVENESS, f, f.comprehensiveness, mode, drop_attention)


@register(SUFFICIENCY)
def sufficiency(adapter: ModelAdapter, explanations: Sequence[Explanation], *,
                bins: Sequence[float] | str = ERASER_BINS, layer: int | str | None = None,
                spans: Sequence[Any] | str | None = None, mode: str = "delete",
                drop_attention: bool = False, batch_size: int = 64) -> MetricResult:
    """AOPC sufficiency over ``bins`` (or for the discrete ``spans``); see module doc."""
    f = faithfulness(adapter, explanations, bins=bins, layer=layer, spans=spans,
                     mode=mode, drop_attention=drop_attention, batch_size=batch_size)
    return _result(SUFFICIENCY, f, f.sufficiency, mode, drop_attention)


def _result(spec: Spec, f: Faithfulness, values: np.ndarray, mode: str,
            drop_attention: bool) -> MetricResult:
    per_example = values.mean(axis=1)
    details: dict[str, Any] = {"aopc": f.bins is not None, "mode": mode,
                               "drop_attention": drop_attention, "cost": f.cost,
                               "n_without_spans": int(np.isnan(per_example).sum())}
    if f.bins is not None:
        details["bins"] = f.bins
        details["per_bin"] = values.mean(axis=0).tolist()
    return spec.result(nanmean(per_example), per_example, **details)
