"""Integrated Gradients (input or any layer, Riemann or Gauss-Legendre) and GradientSHAP.

Both integrate gradients along straight paths from a baseline x' to the input
x. All steps of all examples of a bucket are rows of one expanded batch, run
in chunks sized by ``internal_batch_size`` or by the ``memory_mb`` budget.
"""
from __future__ import annotations

import math

import numpy as np
import torch
from numpy.polynomial.legendre import leggauss

from ..errors import InputError
from ..models.adapter import Batch, ModelAdapter
from ..registry import METHODS
from .base import Attribution, resolve_layers, target_score
from .batching import (check_positive, example_noise, example_rng, example_scale, gradient_rows,
                       rows_per_chunk)
from .gradient import layer_rows, representations

RULES = ("gausslegendre", "riemann_left", "riemann_right", "riemann_middle", "riemann_trapezoid")
BASELINES = ("zero", "pad", "mask", "unk", "uniform")
FIRST_STEPS = 8  # the first step count tried in tolerance mode


def path_nodes(rule: str, steps: int) -> tuple[np.ndarray, np.ndarray]:
    """Quadrature of [0, 1] with ``steps`` nodes: (alphas (S,), weights (S,)), weights sum to 1.

    rule: 'gausslegendre' or 'riemann_left' | 'riemann_right' | 'riemann_middle' |
    'riemann_trapezoid' (Captum's names for its ``method`` argument).
    """
    if rule not in RULES:
        raise InputError(f"rule must be one of {', '.join(RULES)}; got {rule!r}")
    check_positive("steps", steps, 2 if rule == "riemann_trapezoid" else 1)
    k = np.arange(steps, dtype=np.float64)
    if rule == "gausslegendre":
        nodes, weights = leggauss(steps)
        return (nodes + 1) / 2, weights / 2
    if rule == "riemann_trapezoid":
        weights = np.full(steps, 1.0 / (steps - 1))
        weights[[0, -1]] /= 2
        return k / (steps - 1), weights
    shift = {"riemann_left": 0.0, "riemann_right": 1.0, "riemann_middle": 0.5}[rule]
    return (k + shift) / steps, np.full(steps, 1.0 / steps)


def baseline_embeddings(adapter: ModelAdapter, batch: Batch, embeds: torch.Tensor, baseline: str,
                        seed: int, samples: int = 1) -> torch.Tensor:
    """Baseline input embeddings (B*samples, T, D), rows grouped by example.

    'zero': zero vectors; 'pad' | 'mask' | 'unk': the embedding of that token
    (ids replaced through :func:`depthlens.erasure.erase`); 'uniform':
    U(-sqrt(3) s, sqrt(3) s) per coordinate with s the example's embedding
    standard deviation, a fresh draw per sample (seeded). Special tokens and
    padding keep their own embeddings in every baseline.
    """
    from ..erasure import erase

    if baseline not in BASELINES:
        raise InputError(f"baseline must be one of {', '.join(BASELINES)}; got {baseline!r}")
    owner = torch.arange(len(batch)).repeat_interleave(samples)
    if baseline == "zero":
        base = torch.zeros_like(embeds)[owner]
    elif baseline == "uniform":
        scale = math.sqrt(3) * example_scale(embeds, batch)[owner]
        base = scale * example_noise(seed, batch, (embeds.shape[-1],), samples, embeds,
                                     kind="uniform", stream=1)
    else:
        hidden = erase(adapter, batch, torch.ones_like(batch.attention_mask, dtype=torch.bool),
                       baseline)
        base = adapter.embed(hidden).detach()[owner]
    return torch.where(batch.special_mask[owner, :, None], embeds[owner], base)


def integrate(adapter: ModelAdapter, batch: Batch, target: torch.Tensor, layer: int | None,
              x: torch.Tensor, base: torch.Tensor, steps: list[int], rule: str, output: str,
              size: int) -> torch.Tensor:
    """IG attributions (B, T) of representation ``x`` (B, T, D) against ``base``.

    Example i uses ``steps[i]`` quadrature nodes (0: skipped, attributions 0).
    ``layer`` as in :func:`gradient_rows`: None for input embeddings.
    """
    owner, alpha, weight = [], [], []
    for i, n in enumerate(steps):
        if n:
            a, w = path_nodes(rule, n)
            owner += [i] * n
            alpha.append(a)
            weight.append(w)
    attr = torch.zeros(x.shape[:2])
    if not owner:
        return attr
    owner = torch.tensor(owner)
    alpha = torch.from_numpy(np.concatenate(alpha)).to(x.dtype)[:, None, None]
    weight = torch.from_numpy(np.concatenate(weight)).to(x.dtype)[:, None]
    diff = x - base

    def points(lo: int, hi: int) -> torch.Tensor:
        own = owner[lo:hi]
        return base[own] + alpha[lo:hi] * diff[own]

    def reduce(grad: torch.Tensor, lo: int, hi: int) -> torch.Tensor:
        return (grad * diff[owner[lo:hi], :grad.shape[1]]).sum(-1) * weight[lo:hi]

    values = gradient_rows(adapter, batch, target, owner, points, layer, output, size, reduce)
    return attr.index_add_(0, owner, values)


def step_schedule(steps: int, tolerance: float) -> list[int]:
    """Step counts tried in turn: [steps], or with a tolerance 8, 16, ... up to ``steps``."""
    if not tolerance > 0:
        return [steps]
    counts = [FIRST_STEPS]
    while counts[-1] * 2 < steps:
        counts.append(counts[-1] * 2)
    return [n for n in counts if n < steps] + [steps]


@METHODS.register("integrated_gradients",
                  "path integral of gradients from a baseline, with a completeness check")
def integrated_gradients(adapter: ModelAdapter, batch: Batch, target: torch.Tensor, *,
                         steps: int = 50, rule: str = "gausslegendre", baseline: str = "zero",
                         layer: str | None = None, tolerance: float = 0.0,
                         output: str = "logit", seed: int = 0, internal_batch_size: int = 0,
                         memory_mb: int = 1024) -> Attribution:
    """IG per token, (B, R, T): (x - x') . integral of the gradient, summed over D.

    x is the input embedding or, with ``layer``, state l; x' is the baseline's
    embedding (see :func:`baseline_embeddings`) or the state l the baseline
    input produces, so completeness reads sum(attr) = f(x) - f(x') at every
    layer. ``rule``: the quadrature (:func:`path_nodes`). per_example diagnostics hold, per row, ``completeness_delta`` =
    |sum attr - (f(x) - f(x'))|, ``relative_delta`` (divided by |f(x) - f(x')|)
    and ``steps``. ``tolerance`` > 0 retries each example with 8, 16, ... nodes
    (at most ``steps``) until its relative delta is at most ``tolerance``.
    Cost: steps forward+backward rows per example and row, plus 2 forwards.
    """
    path_nodes(rule, steps)  # validates rule and steps before any forward pass
    if not tolerance >= 0:
        raise InputError(f"tolerance must be >= 0; got {tolerance!r}")
    layers = resolve_layers(adapter, layer)
    embeds = adapter.embed(batch).detach()
    base = baseline_embeddings(adapter, batch, embeds, baseline, seed)
    reps, logits = representations(adapter, batch, layers, embeds)
    base_reps, base_logits = representations(adapter, batch, layers, base)
    gap = (target_score(logits, target, output) - target_score(base_logits, target, output)).float()
    size = rows_per_chunk(adapter, embeds.shape[1], internal_batch_size, memory_mb, backward=True)
    b = len(batch)
    rows, deltas, relatives, used = [], [], [], []
    passes = torch.zeros(b, dtype=torch.long)
    for (l, x), (_, xb) in zip(reps, base_reps):
        attr = torch.zeros(x.shape[:2])
        todo = torch.ones(b, dtype=torch.bool)
        counts = torch.zeros(b, dtype=torch.long)
        for n in step_schedule(steps, tolerance):
            trial = integrate(adapter, batch, target, l, x, xb, (todo * n).tolist(), rule,
                              output, size)
            attr[todo] = trial[todo]
            counts[todo] = n
            passes += todo * n
            relative = _deltas(attr, gap)[1]
            todo &= relative > tolerance
            if not todo.any():
                break
        delta, relative = _deltas(attr, gap)
        rows.append(attr)
        deltas.append(delta)
        relatives.append(relative)
        used.append(counts)
    per_example = [{"completeness_delta": [float(d[i]) for d in deltas],
                    "relative_delta": [float(r[i]) for r in relatives],
                    "steps": [int(c[i]) for c in used],
                    "forward_passes": int(passes[i]) + 2, "backward_passes": int(passes[i])}
                   for i in range(b)]
    return Attribution(torch.stack(rows, 1), layer_rows(adapter, layers), {}, per_example)


def _deltas(attr: torch.Tensor, gap: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Completeness error per example (B,) and relative to |f(x) - f(x')| (B,)."""
    delta = (attr.sum(1) - gap).abs()
    return delta, delta / gap.abs().clamp(min=1e-12)


@METHODS.register("gradient_shap", "expected gradients from random baselines and noisy inputs")
def gradient_shap(adapter: ModelAdapter, batch: Batch, target: torch.Tensor, *, n_samples: int = 5,
                  noise: float = 0.0, baseline: str = "uniform", layer: str | None = None,
                  output: str = "logit", seed: int = 0, internal_batch_size: int = 0,
                  memory_mb: int = 1024) -> Attribution:
    """GradientSHAP per token, (B, R, T), summed over D.

    Sample s draws a baseline b_s (``baseline`` from the IG catalogue; 'uniform'
    draws a new one per sample), alpha_s ~ U(0, 1) and Gaussian noise of
    standard deviation ``noise`` times the example's representation std, and
    scores (x + noise - b_s) . grad f(b_s + alpha_s (x + noise - b_s)); the
    result is the mean over samples. x is the input embedding or, with
    ``layer``, state l (b_s is then the state l that baseline input produces;
    'all': one row per state). Cost: n_samples forward+backward rows per
    example and row, plus 1 + n_samples forwards with ``layer``.
    """
    check_positive("n_samples", n_samples)
    if not noise >= 0:
        raise InputError(f"noise must be >= 0; got {noise!r}")
    layers = resolve_layers(adapter, layer)
    embeds = adapter.embed(batch).detach()
    b, t, _ = embeds.shape
    owner = torch.arange(b).repeat_interleave(n_samples)
    base = baseline_embeddings(adapter, batch, embeds, baseline, seed, n_samples)
    if layers:
        reps = representations(adapter, batch, layers, embeds)[0]
        repeated = batch.select(owner.tolist())  # trims padding to the longest example
        width = repeated.input_ids.shape[1]
        base_reps = [(l, torch.nn.functional.pad(xb, (0, 0, 0, t - width))) for l, xb in
                     representations(adapter, repeated, layers, base[:, :width])[0]]
    else:
        reps, base_reps = [(None, embeds)], [(None, base)]
    alpha = torch.from_numpy(np.concatenate([
        example_rng(seed, batch, i, stream=3).uniform(size=n_samples) for i in range(b)
    ])).to(embeds.dtype)[:, None, None]
    size = rows_per_chunk(adapter, t, internal_batch_size, memory_mb, backward=True)
    rows = []
    for (l, x), (_, xb) in zip(reps, base_reps):
        sigma = (noise * example_scale(x, batch))[owner]
        diff = x[owner] + sigma * example_noise(seed, batch, (x.shape[-1],), n_samples, x,
                                                stream=2) - xb

        def points(lo: int, hi: int, xb=xb, diff=diff) -> torch.Tensor:
            return xb[lo:hi] + alpha[lo:hi] * diff[lo:hi]

        def reduce(grad: torch.Tensor, lo: int, hi: int, diff=diff) -> torch.Tensor:
            return (grad * diff[lo:hi, :grad.shape[1]]).sum(-1)

        values = gradient_rows(adapter, batch, target, owner, points, l, output, size, reduce)
        rows.append(values.view(b, n_samples, t).mean(1))
    passes = n_samples * len(reps)
    return Attribution(torch.stack(rows, 1), layer_rows(adapter, layers),
                       {"forward_passes": passes + (1 + n_samples if layers else 0),
                        "backward_passes": passes})
