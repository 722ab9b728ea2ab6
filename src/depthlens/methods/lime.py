"""LIME for text (own implementation) and SP-LIME, its submodular pick of examples.

LIME (Ribeiro et al. 2016): sample binary masks over words, erase the hidden
words through :func:`depthlens.erasure.erase`, weight each sample by an
exponential kernel on its cosine distance to the full input, and fit a
weighted ridge regression in closed form. All samples of all examples of a
bucket run as one expanded batch; all regressions are solved together.
"""
from __future__ import annotations

import numpy as np
import torch

from ..errors import InputError
from ..explanation import Explanation
from ..models.adapter import Batch, ModelAdapter
from ..registry import METHODS
from .base import Attribution
from .batching import check_positive, coalition_scores, example_rng, feature_groups, spread


def lime_masks(rng: np.random.Generator, m: int, n_samples: int) -> np.ndarray:
    """(n_samples, m) 0/1 kept-feature masks: row 0 keeps all; each other row hides
    k ~ U{1..m} features chosen uniformly (the lime package's text sampler)."""
    keep = np.ones((n_samples, m))
    for row, k in enumerate(rng.integers(1, m + 1, size=n_samples - 1), start=1):
        keep[row, rng.choice(m, size=k, replace=False)] = 0
    return keep


def weighted_ridge(x: torch.Tensor, y: torch.Tensor, w: torch.Tensor, alpha: float
                   ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Batched weighted ridge with an unpenalised intercept, in closed form.

    x: (B, S, M), y: (B, S), w: (B, S) float64. Returns coefficients (B, M),
    intercepts (B,) and the weighted R^2 (B,). All-zero columns (padding of
    examples with fewer features) get coefficient 0.
    """
    total = w.sum(1, keepdim=True)
    x_mean = (w[..., None] * x).sum(1, keepdim=True) / total[..., None]
    y_mean = (w * y).sum(1, keepdim=True) / total
    xc, yc = x - x_mean, y - y_mean
    gram = xc.transpose(1, 2) @ (w[..., None] * xc)
    eye = torch.eye(x.shape[2], dtype=x.dtype)
    coef = torch.linalg.solve(gram + alpha * eye, (xc.transpose(1, 2) @ (w * yc)[..., None]))[..., 0]
    intercept = y_mean[:, 0] - (x_mean[:, 0] * coef).sum(1)
    residual = yc - (xc @ coef[..., None])[..., 0]
    r2 = 1 - (w * residual ** 2).sum(1) / (w * yc ** 2).sum(1).clamp(min=1e-30)
    return coef, intercept, r2


@METHODS.register("lime", "weighted ridge regression on randomly erased words (LIME)")
def lime(adapter: ModelAdapter, batch: Batch, target: torch.Tensor, *, n_samples: int = 200,
         unit: str = "word", kernel_width: float = 25.0, alpha: float = 1.0, mode: str = "mask",
         output: str = "probability", seed: int = 0, internal_batch_size: int = 0,
         memory_mb: int = 1024) -> Attribution:
    """LIME coefficients, (B, 1 row 'input', T).

    Each of ``n_samples`` samples (the first is the input itself) keeps a
    random subset of the features (words or tokens, ``unit``) and erases the
    rest with ``mode``. Its weight is sqrt(exp(-d^2 / kernel_width^2)) with d
    = 100 x the cosine distance between its 0/1 mask and the all-ones mask
    (the lime package's text kernel). The coefficients of a ridge regression
    (penalty ``alpha``, unpenalised intercept) of f, the target's ``output``,
    on the masks are the feature scores; a word's coefficient is split evenly
    over its tokens, so summing them gives the coefficient back.
    per_example diagnostics: ``intercept`` and the weighted fit ``r2``.
    Cost: n_samples forwards per example.
    """
    check_positive("n_samples", n_samples, 2)
    if not kernel_width > 0 or not alpha >= 0:
        raise InputError(f"kernel_width must be > 0 and alpha >= 0; got {kernel_width!r}, {alpha!r}")
    groups = feature_groups(batch, unit)
    width = max(g.shape[0] for g in groups)
    masks = torch.zeros(len(batch), n_samples, width, dtype=torch.float64)
    for i, g in enumerate(groups):
        masks[i, :, :g.shape[0]] = torch.from_numpy(
            lime_masks(example_rng(seed, batch, i), g.shape[0], n_samples))
    keeps = [masks[i, :, :g.shape[0]] for i, g in enumerate(groups)]
    y = torch.stack(coalition_scores(adapter, batch, target, groups, keeps, mode, output,
                                     internal_batch_size, memory_mb)).double()
    m = torch.tensor([g.shape[0] for g in groups], dtype=torch.float64)[:, None]
    distance = 100 * (1 - torch.sqrt(masks.sum(2) / m))
    weight = torch.sqrt(torch.exp(-distance ** 2 / kernel_width ** 2))
    coef, intercept, r2 = weighted_ridge(masks, y, weight, alpha)
    scores = torch.stack([spread(coef[i, :g.shape[0]], g) for i, g in enumerate(groups)])
    per_example = [{"intercept": float(intercept[i]), "r2": float(r2[i]),
                    "forward_passes": n_samples, "backward_passes": 0} for i in range(len(batch))]
    return Attribution(scores[:, None], ["input"], {}, per_example)


def lime_submodular_pick(explanations: list[Explanation], budget: int, layer: int | str = -1
                         ) -> list[int]:
    """SP-LIME: indices of ``budget`` explanations that together cover the most important words.

    Builds the n x d' matrix W of |word score| (words compared lowercased;
    a word's score is the sum of its tokens' scores at ``layer``), the global
    importance I_j = sqrt(sum_i W_ij), and greedily adds the example with the
    largest gain in coverage sum_j I_j [some picked example has W_ij > 0]
    (Ribeiro et al. 2016, Algorithm 2). Returns indices in pick order.
    """
    if not isinstance(budget, int) or not 0 < budget <= len(explanations):
        raise InputError(f"budget must be an integer in [1, {len(explanations)}]; got {budget!r}")
    vocabulary: dict[str, int] = {}
    entries = []
    for e in explanations:
        words, scores = e.word_scores("sum")
        row = scores[e.layer_index(layer)]
        entries.append([(vocabulary.setdefault(w.text.lower(), len(vocabulary)), abs(s))
                        for w, s in zip(words, row)])
    matrix = np.zeros((len(explanations), len(vocabulary)))
    for i, entry in enumerate(entries):
        for j, s in entry:
            matrix[i, j] = max(matrix[i, j], s)
    importance = np.sqrt(matrix.sum(0))
    covered = np.zeros(len(vocabulary), dtype=bool)
    picked: list[int] = []
    for _ in range(budget):
        gains = ((matrix > 0) & ~covered) @ importance
        gains[picked] = -1
        best = int(np.argmax(gains))
        picked.append(best)
        covered |= matrix[best] > 0
    return picked
