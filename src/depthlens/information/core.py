"""fit_information: per-token H(X~_i | s) for every (sentence, target) of a batch in one run."""
from __future__ import annotations

from dataclasses import dataclass

import torch

from ..errors import InputError
from ..models.adapter import Batch, ModelAdapter
from .fit import FitSettings, NoiseFit, NoiseProblem, fit_noise
from .gaussian import gaussian_entropy
from .targets import decoder_problem, layer_problem, parse_target_state

VIEWS = ("discarded", "kept")


@dataclass
class InformationFit:
    """The learned Gaussians of B sentences for R targets.

    rows: R target names (layer names or 'step t'); log_sigma: (B, R, T, P) log
    noise scale per token (P = 1, or D per dimension; -inf at unperturbed
    positions); valid: (B, R) bool, False for decoder steps past a sentence's
    end; steps, loss: (B, R) Adam steps of the kept start and its final mean
    loss; total_steps: (B, R) Adam steps over all starts; sigma_max:
    (P,) the noise cap; dim: D; embeds: (B, T, D) the clean word embeddings.
    """

    rows: list[str]
    log_sigma: torch.Tensor
    valid: torch.Tensor
    steps: torch.Tensor
    loss: torch.Tensor
    total_steps: torch.Tensor
    sigma_max: torch.Tensor
    dim: int
    embeds: torch.Tensor

    @property
    def perturbed(self) -> torch.Tensor:
        """(B, R, T) bool: tokens that received noise (non-padding tokens of valid rows)."""
        return torch.isfinite(self.log_sigma[..., 0])

    def entropy(self) -> torch.Tensor:
        """H(X~_i | s) in nats, (B, R, T); 0 where nothing was perturbed."""
        h = gaussian_entropy(self.log_sigma.clamp(min=-1e4), self.dim)
        return torch.where(self.perturbed, h, torch.zeros_like(h))

    def kept(self) -> torch.Tensor:
        """Information kept, H_max - H(X~_i | s) = sum_d log(sigma_max,d / sigma_i,d) >= 0,
        in nats, (B, R, T); H_max is the entropy of the largest allowed noise. 0 where
        nothing was perturbed."""
        h_max = gaussian_entropy(torch.log(self.sigma_max), self.dim)
        return torch.where(self.perturbed, h_max - self.entropy(), torch.zeros(()))

    def view(self, view: str) -> torch.Tensor:
        """'discarded' -> :meth:`entropy`, 'kept' -> :meth:`kept`; (B, R, T)."""
        if view not in VIEWS:
            raise InputError(f"view must be one of {', '.join(VIEWS)}; got {view!r}")
        return self.entropy() if view == "discarded" else self.kept()

    def sentence_entropy(self) -> torch.Tensor:
        """H(X | s) = sum_i H(X~_i | s) over the perturbed tokens, (B, R)."""
        return self.entropy().sum(-1)


def fit_information(adapter: ModelAdapter, batch: Batch, layers: list[int] | None = None, *,
                    target_state: str | int = "tokens", steps: list[list[int]] | None = None,
                    max_noise: float = 10.0, seed: int = 0,
                    settings: FitSettings | None = None) -> InformationFit:
    """Learn sigma for every sentence of ``batch`` and every target in one optimisation.

    Layer targets (``layers``, state indices 0..L) are reduced by
    ``target_state`` ('tokens', 'cls', 'mean' or a position). With
    ``target_state='decoder'`` (seq2seq adapters) the targets are decoder
    steps: ``steps[i]`` lists the steps of example i (default: every step
    0..len_i), and rows are the union of the steps, invalid where an example
    has no such step. ``max_noise`` caps sigma at that many standard deviations
    of the embedding table (the authors recommend 10). Shapes: see
    :class:`InformationFit`.
    """
    settings = settings or FitSettings()
    settings.check()
    if not (isinstance(max_noise, (int, float)) and max_noise > 0):
        raise InputError(f"max_noise must be a number > 0; got {max_noise!r}")
    kind = parse_target_state(target_state, batch)
    b = len(batch)
    if kind == "decoder":
        if layers:
            raise InputError("layer must be None with target_state 'decoder' (rows are decoder "
                             f"steps); got layers {layers}")
        steps = steps if steps is not None else [list(range(n + 1)) for n in batch.lengths]
        if len(steps) != b:
            raise InputError(f"steps must have one list per text ({b}); got {len(steps)}")
        steps = [sorted(set(chosen)) for chosen in steps]
        keys = sorted({t for chosen in steps for t in chosen})
        valid = torch.tensor([[t in chosen for t in keys] for chosen in steps])
        problem = decoder_problem(adapter, batch, steps, max_noise, settings.per_dimension, seed)
        names = [f"step {t}" for t in keys]
    else:
        if not layers:
            raise InputError(f"layers must list at least one state in [0, {adapter.num_layers}]; "
                             f"got {layers!r}")
        valid = torch.ones(b, len(layers), dtype=torch.bool)
        problem = layer_problem(adapter, batch, layers, kind, max_noise, settings.per_dimension,
                                seed)
        names = [adapter.layer_names[l] for l in layers]
    fit = fit_noise(problem, settings)
    return _scatter(fit, problem, valid, names)


def _scatter(fit: NoiseFit, problem: NoiseProblem, valid: torch.Tensor,
             names: list[str]) -> InformationFit:
    """Place the fitted rows of the valid (example, target) pairs into (B, R, ...) tensors."""
    b, r = valid.shape
    t, p = fit.log_sigma.shape[1:]
    log_sigma = torch.full((b, r, t, p), float("-inf"))
    steps, total = torch.zeros(b, r, dtype=torch.long), torch.zeros(b, r, dtype=torch.long)
    loss = torch.full((b, r), float("nan"))
    log_sigma[valid], steps[valid], loss[valid] = fit.log_sigma, fit.steps, fit.loss
    total[valid] = fit.total_steps
    embeds = torch.zeros(b, t, problem.embeds.shape[-1])
    owner = valid.nonzero()[:, 0]
    embeds[owner] = problem.embeds
    return InformationFit(rows=names, log_sigma=log_sigma, valid=valid, steps=steps, loss=loss,
                          total_steps=total,
                          sigma_max=problem.sigma_max, dim=problem.embeds.shape[-1], embeds=embeds)
