"""The ``self_explaining`` method: a self-explaining model's own span weights.

Only for models built by :mod:`depthlens.self_explaining` (SIC + interpretation
layer); the explanation is read off one forward pass, no gradients.
"""
from __future__ import annotations

import torch

from ..errors import InputError, ModelCapabilityError
from ..models.adapter import Batch, ModelAdapter
from ..registry import METHODS
from ..self_explaining.model import SelfExplainingAdapter
from ..self_explaining.spans import token_coverage, top_spans
from .base import Attribution
from .batching import check_positive

SCORES = ("alpha", "contribution")


@METHODS.register("self_explaining",
                  "a self-explaining model's own span weights: top spans + token coverage")
def self_explaining(adapter: ModelAdapter, batch: Batch, target: torch.Tensor, *, top_k: int = 5,
                    score: str = "alpha") -> Attribution:
    """Top-k spans and token scores (B, 1, T) from the interpretation layer.

    score 'alpha': the span weights alpha(i, j) of eq. 2 (they do not depend on
    the target). 'contribution': alpha(i, j) u_target . h(i, j), the span's
    share of the target logit (summed over spans it gives the logit minus the
    output bias). Word score = sum of the span scores of the spans covering the
    word, split equally over the word's tokens (so token scores summed per word
    give it back; see :mod:`depthlens.self_explaining.spans`).
    """
    if not isinstance(adapter, SelfExplainingAdapter):
        raise ModelCapabilityError(
            f"method 'self_explaining' needs a self-explaining model; {adapter.name!r} is not one. "
            f"Train one with `depthlens train --self-explaining --lambda 1.0 --model ...` or "
            f"depthlens.self_explaining.make_self_explaining")
    check_positive("top_k", top_k)
    if score not in SCORES:
        raise InputError(f"score must be one of {', '.join(SCORES)}; got {score!r}")
    out = adapter.span_weights(batch)
    scores = out.alpha
    if score == "contribution":
        weights = adapter.head.output.weight[target]                              # (B, D)
        scores = out.alpha * torch.einsum("bnwd,bd->bnw", out.spans, weights)
    layout = adapter.layout
    tokens = token_coverage(scores, layout, batch.input_ids.shape[1])
    alpha = out.alpha.flatten(1)
    entropy = -(alpha * torch.log(alpha.clamp_min(1e-30))).sum(-1)
    per_example = [{"n_spans": int(out.mask[i].sum()), "top_alpha": float(alpha[i].max()),
                    "alpha_entropy": float(entropy[i]), "sum_alpha_squared": float(
                        (alpha[i] ** 2).sum())} for i in range(len(batch))]
    return Attribution(tokens[:, None], ["span coverage"],
                       {"forward_passes": 1, "backward_passes": 0}, per_example,
                       top_spans(scores, out.mask, layout, batch, top_k))
