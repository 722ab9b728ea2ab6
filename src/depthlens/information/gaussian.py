"""Closed forms for the Gaussian perturbation model of the information measure (Guan et al., 2019).

The perturbed word is X~_i = x_i + eps_i, eps_i ~ N(0, diag(sigma_i^2)) with
sigma_i a scalar (isotropic, shape (..., 1)) or one value per embedding
dimension (shape (..., D)). Everything here is in nats.
"""
from __future__ import annotations

import math

import torch

from ..errors import InputError
from ..models.adapter import ModelAdapter

HALF_LOG_2PI_E = 0.5 * math.log(2 * math.pi * math.e)


def gaussian_entropy(log_sigma: torch.Tensor, dim: int) -> torch.Tensor:
    """Differential entropy (nats) of N(0, diag(sigma^2)) in ``dim`` dimensions.

    log_sigma: (..., P) with P = 1 (one sigma shared by all ``dim`` coordinates)
    or P = dim. Returns (...): sum_d [log sigma_d + 1/2 log(2 pi e)].
    """
    p = log_sigma.shape[-1]
    if p not in (1, dim):
        raise InputError(f"log_sigma must have last dimension 1 or {dim}; got {p}")
    return log_sigma.sum(-1) * (dim // p) + dim * HALF_LOG_2PI_E


def embedding_spread(adapter: ModelAdapter, per_dimension: bool) -> torch.Tensor:
    """Standard deviation of the model's word-embedding table: (D,) per dimension or (1,).

    The isotropic value is the root of the mean per-dimension variance. It is
    a property of the model, not of the batch, so results do not depend on
    what an example is batched with.
    """
    table = adapter.word_embeddings().weight.detach().float()
    var = table.var(dim=0)
    return var.sqrt() if per_dimension else var.mean().sqrt()[None]


def attribute_terms(x: torch.Tensor, log_sigma: torch.Tensor, reference: torch.Tensor,
                    concept: torch.Tensor) -> dict[str, torch.Tensor]:
    """Word attributes (poster, "fine-grained analysis").

    The learned Gaussian gives p(x' | s) = N(x'; x_i, diag sigma_i^2).

    x: (..., D) the words' embeddings; log_sigma: (..., P) their learned noise
    scales; reference, concept: (n, D) embeddings of random words X_i (e.g. the
    vocabulary) and of the concept's words X_c. With q(x') = sum_d (x'_d - x_d)^2
    / (2 sigma_d^2), log p(x' | s) = const - q(x'), hence

    A_i  = log p(x_i | s) - E_{x' in X_i} log p(x' | s)      = E_ref q
    A_c  = E_{x' in X_c} log p(x' | s) - E_{x' in X_i} log p(x' | s) = E_ref q - E_c q
    r_ic = A_i - A_c                                          = E_c q

    The expectations are exact from each set's mean and per-dimension variance.
    Returns {"A_i", "A_c", "r_ic"}, each (...).
    """
    inv = torch.exp(-2 * log_sigma) / 2

    def expected_q(words: torch.Tensor) -> torch.Tensor:
        mean, var = words.mean(0), words.var(0, unbiased=False)
        return ((var + (x - mean) ** 2) * inv).sum(-1)

    a_i, on_concept = expected_q(reference), expected_q(concept)
    return {"A_i": a_i, "A_c": a_i - on_concept, "r_ic": on_concept}
