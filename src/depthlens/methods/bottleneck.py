"""Per-sample information bottleneck (Schulz et al. 2020, "Restricting the flow").

At state l, each position's vector h (D,) is replaced by a noisy mix

    z = lam * h + (1 - lam) * eps,   eps ~ N(mu_t, diag(sigma^2)),   lam = sigmoid(alpha) (T, D)

alpha is fitted for each example by Adam on

    CE(target | z) + beta * mean_{t, d} KL(Q(z_td | h) || N(mu_td, sigma_d^2)).

The paper takes mu and sigma from the whole training set. depthlens has no
dataset inside a method, so it uses two per-example estimates. mu_t is the
state at position t of the same input with every real token erased (``baseline``:
[MASK] by default), which carries no content. sigma is the per-dimension
standard deviation of the example's own state-l vectors, which gives only the
scale. The mean of the example's own states would not do: it carries the
sentence's content, so pure noise would still predict well. With these
estimates, an example's result does not depend on the other examples in its batch.

and the score of position t is its capacity sum_d KL(...) in nats: how much
of h_t the model needs to keep to predict the target. In closed form, with
r = (h - mu) / sigma, KL = -log(1 - lam) + ((1 - lam)^2 + lam^2 r^2 - 1) / 2.
Defaults follow the paper: 10 Adam steps at lr 1, 10 noise samples per step,
alpha started at 5 (lam ~ 0.993: almost no noise). The exception is beta = 1,
with the KL averaged over the k features. The paper's beta = 10 / k with a
summed KL is beta = 10 here; on tiny-sst2 it scored a worse Hiding AUC (0.626
against 0.554 at beta = 1, 100 SST-2 dev sentences, docs/methods.md).
The DiffMask paper (seed 003, Table 1) compares against this method.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F

from ..erasure import erase
from ..errors import InputError
from ..models.adapter import Batch, ModelAdapter
from ..registry import METHODS
from .base import Attribution, resolve_layers
from .batching import check_positive, example_noise
from .gradient import layer_rows

ALPHA_START = 5.0


def capacity(lam_logit: torch.Tensor, standardised: torch.Tensor) -> torch.Tensor:
    """KL(N(lam r, (1 - lam)^2) || N(0, 1)) per element, lam = sigmoid(lam_logit) (B, T, D)."""
    lam = torch.sigmoid(lam_logit)
    return -F.logsigmoid(-lam_logit) + ((1 - lam) ** 2 + (lam * standardised) ** 2 - 1) / 2


def example_std(states: torch.Tensor, batch: Batch) -> torch.Tensor:
    """Per-example standard deviation of each dimension over the attended positions,
    (B, 1, D), floored at 1e-6."""
    mask = batch.attention_mask.bool()
    std = torch.stack([states[i][mask[i]].std(0, unbiased=False) for i in range(len(batch))])
    return std.clamp_min(1e-6)[:, None]


@METHODS.register("bottleneck",
                  "Schulz et al.: nats of each token's state-l vector the prediction needs "
                  "(per-sample information bottleneck)")
def bottleneck(adapter: ModelAdapter, batch: Batch, target: torch.Tensor, *,
               layer: str | int | None = None, beta: float = 1.0, steps: int = 10,
               lr: float = 1.0, n_samples: int = 10, baseline: str = "mask",
               seed: int = 0) -> Attribution:
    """Capacity per position (B, R, T) in nats, one row per chosen state (default: the middle
    one, num_layers // 2; 'all' fits every state separately).

    Cost per example and state: ``steps`` x ``n_samples`` forward+backward rows.
    """
    check_positive("steps", steps)
    check_positive("n_samples", n_samples)
    if not beta >= 0:
        raise InputError(f"beta must be >= 0; got {beta!r}")
    if not lr > 0:
        raise InputError(f"lr must be > 0; got {lr!r}")
    layers = resolve_layers(adapter, adapter.num_layers // 2 if layer is None else layer)
    if not layers:
        raise InputError("bottleneck acts on a hidden state: give layer as an integer in "
                         f"[0, {adapter.num_layers}] or 'all'; got {layer!r}")
    everything = torch.ones_like(batch.attention_mask, dtype=torch.bool)
    with torch.no_grad():
        states = adapter.forward(batch, output_states=True).states
        empty = adapter.forward(erase(adapter, batch, everything, baseline),
                                output_states=True).states
    real = batch.attention_mask.bool()
    repeated = batch.repeat(n_samples)
    labels = target.repeat_interleave(n_samples)
    rows = []
    for l in layers:
        h, mean = states[l].detach(), empty[l].detach()
        std = example_std(h, batch)
        standardised = (h - mean) / std
        alpha = torch.full_like(h, ALPHA_START, requires_grad=True)
        optimizer = torch.optim.Adam([alpha], lr=lr)
        h_rep, mean_rep, std_rep = (x.repeat_interleave(n_samples, 0) for x in (h, mean, std))
        for step in range(steps):
            noise = example_noise(seed, batch, (h.shape[-1],), n_samples, h, stream=step)
            lam = torch.sigmoid(alpha).repeat_interleave(n_samples, 0)
            mixed = lam * h_rep + (1 - lam) * (mean_rep + std_rep * noise)
            logits = adapter.forward(repeated, edits={l: lambda _, z=mixed: z}).logits
            ce = F.cross_entropy(logits, labels, reduction="none").view(-1, n_samples).mean(1)
            kl = (capacity(alpha, standardised) * real[..., None]).sum((1, 2))
            kl = kl / (real.sum(1) * h.shape[-1])
            optimizer.zero_grad()
            (ce + beta * kl).sum().backward()   # examples are independent: sum, not mean
            optimizer.step()
        with torch.no_grad():
            rows.append((capacity(alpha, standardised).sum(-1) * real).float())
    return Attribution(torch.stack(rows, 1), layer_rows(adapter, layers),
                       {"forward_passes": steps * n_samples * len(layers),
                        "backward_passes": steps * n_samples * len(layers)})
