"""Shapley value estimates over words or tokens: KernelSHAP and permutation sampling.

A coalition keeps some features and erases the others through
:func:`depthlens.erasure.erase`. Both methods satisfy efficiency exactly:
the scores of an example sum to f(x) - f(all features erased).
"""
from __future__ import annotations

import math
from itertools import combinations

import numpy as np
import torch

from ..models.adapter import Batch, ModelAdapter
from ..registry import METHODS
from .base import Attribution
from .batching import check_positive, coalition_scores, example_rng, feature_groups, spread


def shapley_kernel(m: int, size: np.ndarray) -> np.ndarray:
    """The Shapley kernel weight of coalitions of ``size`` (0 < size < m) out of m features."""
    return (m - 1) / (np.array([math.comb(m, int(s)) for s in size]) * size * (m - size))


def kernel_coalitions(rng: np.random.Generator, m: int, n_samples: int
                      ) -> tuple[np.ndarray, np.ndarray]:
    """Coalitions (n, m) 0/1 and their regression weights (n,); the first two rows are
    the full and the empty coalition.

    When all 2^m coalitions fit in ``n_samples`` they are enumerated with the
    exact kernel weights (the result is then the exact Shapley value).
    Otherwise sizes are drawn with probability proportional to the kernel mass
    (m-1)/(s(m-s)), members uniformly, each with its complement (paired
    sampling); all weights are then 1.
    """
    ends = np.stack([np.ones(m), np.zeros(m)])
    if 2 ** m <= n_samples:
        rows = [np.isin(np.arange(m), c) for s in range(1, m) for c in combinations(range(m), s)]
        middle = np.array(rows, dtype=np.float64).reshape(-1, m)
        return np.concatenate([ends, middle]), np.concatenate([[1.0, 1.0],
                                                               shapley_kernel(m, middle.sum(1))])
    sizes = np.arange(1, m)
    mass = (m - 1) / (sizes * (m - sizes))
    pairs = max(1, (n_samples - 2) // 2)
    half = np.zeros((pairs, m))
    for row, s in enumerate(rng.choice(sizes, size=pairs, p=mass / mass.sum())):
        half[row, rng.choice(m, size=s, replace=False)] = 1
    middle = np.concatenate([half, 1 - half])
    return np.concatenate([ends, middle]), np.ones(len(middle) + 2)


def constrained_fit(keep: np.ndarray, y: np.ndarray, weight: np.ndarray) -> np.ndarray:
    """Weighted least squares of y on the coalitions under the efficiency constraint.

    Rows 0 and 1 are the full and empty coalitions: phi sums to y[0] - y[1] and
    the intercept is y[1]. The last feature is eliminated by the constraint.
    """
    m = keep.shape[1]
    gap = y[0] - y[1]
    if m == 1:
        return np.array([gap])
    x, z, w = keep[2:], y[2:] - y[1], np.sqrt(weight[2:])
    design = (x[:, :-1] - x[:, -1:]) * w[:, None]
    phi = np.linalg.lstsq(design, (z - x[:, -1] * gap) * w, rcond=None)[0]
    return np.append(phi, gap - phi.sum())


@METHODS.register("kernel_shap", "Shapley values by weighted regression on sampled coalitions")
def kernel_shap(adapter: ModelAdapter, batch: Batch, target: torch.Tensor, *, n_samples: int = 200,
                unit: str = "word", mode: str = "mask", output: str = "probability",
                seed: int = 0, internal_batch_size: int = 0, memory_mb: int = 1024
                ) -> Attribution:
    """KernelSHAP (Lundberg & Lee 2017), (B, 1 row 'input', T).

    Coalitions of features (words or tokens, ``unit``) from
    :func:`kernel_coalitions`; the weighted regression is constrained so the
    scores sum to f(x) - f(empty), f the target's ``output``. Exact for
    examples with 2^m <= n_samples. A word's value is split evenly over its
    tokens. per_example diagnostics: ``base_value`` f(empty).
    Cost: at most n_samples forwards per example.
    """
    check_positive("n_samples", n_samples, 4)
    groups = feature_groups(batch, unit)
    drawn = [kernel_coalitions(example_rng(seed, batch, i), g.shape[0], n_samples)
             for i, g in enumerate(groups)]
    values = coalition_scores(adapter, batch, target, groups,
                              [torch.from_numpy(k) for k, _ in drawn], mode, output,
                              internal_batch_size, memory_mb)
    scores = torch.zeros(batch.input_ids.shape)
    for i, (g, (keep, weight), v) in enumerate(zip(groups, drawn, values)):
        phi = constrained_fit(keep, v.double().numpy(), weight)
        scores[i] = spread(torch.from_numpy(phi), g)
    per_example = [{"base_value": float(v[1]), "forward_passes": len(v), "backward_passes": 0}
                   for v in values]
    return Attribution(scores[:, None], ["input"], {}, per_example)


def permutation_coalitions(rng: np.random.Generator, m: int, n_permutations: int
                           ) -> tuple[np.ndarray, np.ndarray]:
    """Permutations (P, m) and coalitions (2 + P(m-1), m): full, empty, then for each
    permutation its first k features for k = 1 .. m-1."""
    perms = np.stack([rng.permutation(m) for _ in range(n_permutations)])
    rank = np.argsort(perms, axis=1)  # rank[p, j]: position of feature j in permutation p
    steps = np.arange(1, m)
    middle = (rank[:, None, :] < steps[None, :, None]).reshape(-1, m).astype(np.float64)
    return perms, np.concatenate([np.ones((1, m)), np.zeros((1, m)), middle])


@METHODS.register("shapley_sampling", "Shapley values averaged over sampled feature orderings")
def shapley_sampling(adapter: ModelAdapter, batch: Batch, target: torch.Tensor, *,
                     n_permutations: int = 25, unit: str = "word", mode: str = "mask",
                     output: str = "probability", seed: int = 0, internal_batch_size: int = 0,
                     memory_mb: int = 1024) -> Attribution:
    """Permutation sampling (Castro et al. 2009), (B, 1 row 'input', T).

    For each of ``n_permutations`` random orders, features are added one by one
    to the empty input (all erased with ``mode``); a feature's score is its
    mean marginal gain in f, the target's ``output``. The empty and full inputs
    are shared by all permutations. A word's value is split evenly over its
    tokens. Cost: 2 + n_permutations (m - 1) forwards for m features.
    """
    check_positive("n_permutations", n_permutations)
    groups = feature_groups(batch, unit)
    drawn = [permutation_coalitions(example_rng(seed, batch, i), g.shape[0], n_permutations)
             for i, g in enumerate(groups)]
    values = coalition_scores(adapter, batch, target, groups,
                              [torch.from_numpy(k) for _, k in drawn], mode, output,
                              internal_batch_size, memory_mb)
    scores = torch.zeros(batch.input_ids.shape)
    for i, (g, (perms, _), v) in enumerate(zip(groups, drawn, values)):
        m = g.shape[0]
        chain = torch.cat([v[1:2].expand(n_permutations, 1), v[2:].view(n_permutations, m - 1),
                           v[0:1].expand(n_permutations, 1)], 1)  # (P, m+1): f after k additions
        gains = (chain[:, 1:] - chain[:, :-1]).double().numpy()
        phi = np.zeros(m)
        np.add.at(phi, perms, gains)
        scores[i] = spread(torch.from_numpy(phi / n_permutations), g)
    per_example = [{"base_value": float(v[1]), "forward_passes": len(v), "backward_passes": 0}
                   for v in values]
    return Attribution(scores[:, None], ["input"], {}, per_example)
