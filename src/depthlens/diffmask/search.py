"""References for DiffMask (sec. 4.2.1): gates learned per example, and exact erasure search.

Both gate the real (non-special) positions of one representation, the input
word embeddings (``layer=None``) or state l (``layer=l``), replacing gated
positions by a fixed baseline vector b (D,); special tokens and padding are
always kept. A kept set *preserves* the prediction when the predicted class is
unchanged and, given a ``margin``, also KL(y || y_hat) <= margin.
"""
from __future__ import annotations

from dataclasses import dataclass
from itertools import combinations

import torch

from ..errors import InputError
from ..models.adapter import Batch, ModelAdapter
from . import gates
from .probes import INIT_LOGIT, gated_forward
from .training import MAX_MULTIPLIER, Lookahead

MAX_POSITIONS = 14


@dataclass
class SearchResult:
    """The exact erasure optimum of one example (tensors at the example's own length T_i).

    optima: (K, T_i) bool, every smallest kept set that preserves the
    prediction (special positions True); real: (T_i,) bool, the searched
    positions; size: kept real positions in each optimum; n: real positions;
    evaluated: subsets run through the model.
    """

    optima: torch.Tensor
    real: torch.Tensor
    size: int
    n: int
    evaluated: int

    def attribution(self) -> torch.Tensor:
        """(T_i,) mean keep indicator over the optima, 0 at special positions."""
        return self.optima.float().mean(0) * self.real


def preserved(logp: torch.Tensor, logq: torch.Tensor, margin: float | None) -> torch.Tensor:
    """(N,) bool: same argmax as the original log-probabilities logp (C,) and, with a
    margin, KL(p || q) <= margin; logq (N, C)."""
    same = logq.argmax(-1) == logp.argmax(-1)
    if margin is None:
        return same
    return same & ((logp.exp() * (logp - logq)).sum(-1) <= margin)


@torch.no_grad()
def exact_search(adapter: ModelAdapter, batch: Batch, baseline: torch.Tensor,
                 layer: int | None = None, margin: float | None = None,
                 max_positions: int = MAX_POSITIONS, chunk: int = 1024) -> list[SearchResult]:
    """Smallest preserving kept sets of every example, by exhaustive search.

    Sizes 0, 1, 2, ... are tried in turn, all subsets of one size in batched
    forwards of ``chunk`` rows, until a size has a preserving subset (at most
    2^n subsets for n real positions; n must be <= ``max_positions``).
    """
    logp = adapter.forward(batch).logits.log_softmax(-1)
    results = []
    for i in range(len(batch)):
        one = batch.select([i])
        real = (~one.special_mask[0]).nonzero()[:, 0]
        n = len(real)
        if n > max_positions:
            raise InputError(f"exact search needs at most {max_positions} real tokens; text {i} "
                             f"has {n} (use a shorter text)")
        evaluated = 0
        for k in range(n + 1):
            subsets = list(combinations(range(n), k))
            chosen = torch.tensor(subsets, dtype=torch.long).reshape(len(subsets), k)
            keep = one.special_mask.repeat(len(chosen), 1)
            keep[torch.arange(len(chosen))[:, None], real[chosen]] = True
            ok = torch.cat([
                preserved(logp[i], gated_forward(adapter, one.repeat(hi - lo),
                                                 {layer: (keep[lo:hi].float(), baseline)})
                          .log_softmax(-1), margin)
                for lo, hi in _spans(len(keep), chunk)])
            evaluated += len(keep)
            if ok.any():
                results.append(SearchResult(keep[ok], ~one.special_mask[0], k, n, evaluated))
                break
    return results


def _spans(n: int, size: int) -> list[tuple[int, int]]:
    return [(lo, min(n, lo + size)) for lo in range(0, n, size)]


@dataclass
class GateResult:
    """Per-example gates fitted without amortisation, (B, T) at the batch's width.

    keep: P(z != 0) (1 at special positions and padding); mask: keep > 0.5;
    kl: KL(y || y_hat) (B,) of the hard mask; preserved: (B,) bool, as defined
    in the module docstring.
    """

    keep: torch.Tensor
    mask: torch.Tensor
    kl: torch.Tensor
    preserved: torch.Tensor


def non_amortized(adapter: ModelAdapter, batch: Batch, baseline: torch.Tensor,
                  layer: int | None = None, margin: float = 0.1, steps: int = 300,
                  lr: float = 0.1, multiplier_lr: float = 0.1, seed: int = 0) -> GateResult:
    """DiffMask without amortisation: free gate locations per example and position.

    Each example's Lagrangian, kept fraction + lambda_i (KL_i - margin), is
    optimised for ``steps`` steps (Lookahead RMSprop on the gates, ascent on
    lambda_i), all examples of the batch in one forward per step.
    """
    if steps < 1:
        raise InputError(f"steps must be >= 1; got {steps}")
    with torch.no_grad():
        logp = adapter.forward(batch).logits.log_softmax(-1)
    real = ~batch.special_mask
    locations = torch.full(real.shape, INIT_LOGIT, requires_grad=True)
    multipliers = torch.ones(len(batch), requires_grad=True)
    optimizer = Lookahead(torch.optim.RMSprop([locations], lr=lr))
    ascent = torch.optim.RMSprop([multipliers], lr=multiplier_lr)
    generator = torch.Generator().manual_seed(seed)
    count = real.sum(1).clamp(min=1)
    for _ in range(steps):
        z = torch.where(real, gates.sample(locations, generator=generator), 1.0)
        logq = gated_forward(adapter, batch, {layer: (z, baseline)}).log_softmax(-1)
        kl = (logp.exp() * (logp - logq)).sum(-1)
        kept = (gates.log_prob_open(locations).exp() * real).sum(1) / count
        loss = (kept + multipliers * (kl - margin)).sum()
        optimizer.zero_grad()
        ascent.zero_grad(set_to_none=True)
        loss.backward()
        multipliers.grad.neg_()
        optimizer.step()
        ascent.step()
        with torch.no_grad():
            multipliers.clamp_(0.0, MAX_MULTIPLIER)
    with torch.no_grad():
        keep = torch.where(real, gates.log_prob_open(locations).exp(), 1.0)
        mask = keep > 0.5
        logq = gated_forward(adapter, batch, {layer: (mask.float(), baseline)}).log_softmax(-1)
        kl = (logp.exp() * (logp - logq)).sum(-1)
        ok = torch.stack([preserved(logp[i], logq[i:i + 1], margin)[0] for i in range(len(batch))])
    return GateResult(keep=keep, mask=mask, kl=kl, preserved=ok)
