"""Hard Concrete gates (De Cao et al. 2020, appendix B) and the vote product (eq. 2).

A Binary Concrete sample s = sigmoid((log u - log(1 - u) + gamma) / tau),
u ~ U(0, 1), is stretched to (l, r) and rectified to [0, 1] (eq. 11). With the
paper's modification r = 1 the support is [0, 1): there is a point mass at 0
(the gate closes and the input is fully replaced by the baseline) but none at
1, since only "zero" versus "non-zero" matters. Eq. 11 as printed maps s to
s (l - r) + r, which would let a positive location push samples to 0; we use
the stretch of Louizos et al. (2018), s (r - l) + l, where a positive location
keeps the gate open, as the appendix's text describes.

The probability that a gate is open (non-zero), used for the expected L0
(eq. 7) and as the attribution, is

    P(z != 0) = sigmoid(gamma - tau * log(-l / r)).
"""
from __future__ import annotations

import math

import torch
from torch.nn import functional as F

from ..errors import InputError

STRETCH_LOW = -0.2     # l: the mass of (l, 0] collapses onto 0
STRETCH_HIGH = 1.0     # r: 1, so there is no point mass at 1 (the paper's modification)
TEMPERATURE = 0.2      # tau, as in the authors' release
EPSILON = 1e-6         # keeps u away from 0 and 1


def _check(low: float, high: float, temperature: float) -> None:
    if not (low < 0 and high >= 1 and temperature > 0):
        raise InputError(f"Hard Concrete parameters must satisfy l < 0, r >= 1, tau > 0; "
                         f"got l={low}, r={high}, tau={temperature}")


def sample(logits: torch.Tensor, temperature: float = TEMPERATURE, low: float = STRETCH_LOW,
           high: float = STRETCH_HIGH, generator: torch.Generator | None = None) -> torch.Tensor:
    """Reparameterised Hard Concrete samples, same shape as ``logits`` (any shape), in [0, 1).

    Gradients flow to ``logits`` through the sigmoid wherever the sample is
    not clipped to 0 (or to 1 when r > 1).
    """
    _check(low, high, temperature)
    u = torch.rand(logits.shape, generator=generator, dtype=logits.dtype)
    u = u.clamp(EPSILON, 1 - EPSILON).to(logits.device)
    s = torch.sigmoid((torch.log(u) - torch.log1p(-u) + logits) / temperature)
    z = (s * (high - low) + low).clamp(min=0.0)
    if high > 1:
        return z.clamp(max=1.0)
    # r = 1: s < 1 in exact arithmetic, but the sigmoid rounds to 1 for large arguments;
    # such samples become the largest float below 1, so 1 itself is never drawn
    one = torch.ones((), dtype=z.dtype, device=z.device)
    return torch.minimum(z, torch.nextafter(one, torch.zeros_like(one)))


def log_prob_open(logits: torch.Tensor, temperature: float = TEMPERATURE, low: float = STRETCH_LOW,
                  high: float = STRETCH_HIGH) -> torch.Tensor:
    """log P(z != 0) per gate, same shape as ``logits``; its exp is the expected L0 term."""
    _check(low, high, temperature)
    return F.logsigmoid(logits - temperature * math.log(-low / high))


def vote_product(votes: torch.Tensor, dim: int = 1) -> torch.Tensor:
    """Eq. 2: z^(l) = prod_{k <= l} v^(k) along ``dim`` (the layer axis), same shape as ``votes``.

    A token is masked at depth l as soon as one layer up to l votes 0.
    """
    return torch.cumprod(votes, dim=dim)


def keep_probability(logits: torch.Tensor, cumulative: bool, dim: int = 1) -> torch.Tensor:
    """P(z != 0) from gate locations: per layer, or with ``cumulative`` of the vote product.

    logits: (B, L+1, T) with layers along ``dim``. Votes are independent, so
    P(prod_k v^(k) != 0) = prod_k P(v^(k) != 0), summed in log space.
    """
    logp = log_prob_open(logits)
    return torch.exp(torch.cumsum(logp, dim=dim) if cumulative else logp)
