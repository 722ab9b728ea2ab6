"""Guan et al. (2019) row of DiffMask's Table 1: the information measure applied to hidden states.

The toy model's feed-forward states h = state 1 (B, T, 2) are treated as the
perturbed "input" (Gaussian noise on every digit position, sigma_i =
sigma_max * sigmoid(rho_i), isotropic) and the explained state s is the GRU's
last state, the vector the classifier reads. The noise scales are learned
with the information module's own optimiser (:func:`depthlens.information.fit_noise`,
default :class:`~depthlens.information.FitSettings`, lam = 0.1), so only the
problem differs from the registered ``information`` method, which perturbs
word embeddings.

Attribution = information kept about position i,
K_i = H_max - H(H~_i | s) = D * log(sigma_max / sigma_i) >= 0 (D = 2), normalised
over the digit positions by the caller.
"""
from __future__ import annotations

import torch

from depthlens.diffmask.toy import QUERY
from depthlens.information import FitSettings, fit_noise
from depthlens.information.fit import NoiseProblem
from depthlens.information.targets import row_keys, spread

FF, GRU = 1, 2
MAX_NOISE = 10.0  # sigma_max in standard deviations of the state-1 values (authors' default)


def hidden_noise_problem(adapter, batch, seed: int = 0) -> NoiseProblem:
    """Rows = examples; perturbed 'embeddings' = state 1 at the digit positions;
    Phi = the GRU state at the last position (B, 64)."""
    last = torch.tensor(batch.lengths) - 1

    def phi(index: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        sub = batch.select(index.tolist())
        width = sub.input_ids.shape[1]
        states = adapter.forward(sub, edits={FF: lambda h: x[:, :width]},
                                 output_states=True).states
        return states[GRU][torch.arange(len(index)), last[index]]

    mask = batch.attention_mask.bool()
    perturb = mask.clone()
    perturb[:, :QUERY] = False
    with torch.no_grad():
        states = adapter.forward(batch, output_states=True).states
        target = states[GRU][torch.arange(len(batch)), last]
    digits = states[FF][perturb]
    return NoiseProblem(
        embeds=states[FF].detach(), perturb=perturb, lengths=batch.lengths, phi=phi,
        target=target, weight=torch.ones_like(target), scale=spread(states[GRU], perturb),
        sigma_max=MAX_NOISE * digits.var(0).mean().sqrt()[None],
        keys=row_keys(seed, batch, torch.arange(len(batch)), torch.full((len(batch),), GRU), 0))


def guan_hidden_kept(adapter, texts: list[str], settings: FitSettings | None = None,
                     seed: int = 0) -> tuple[list[torch.Tensor], dict]:
    """Per text, the information kept K_i (T,) in nats (0 at the query and padding),
    and fit diagnostics (mean Adam steps, mean final loss)."""
    batch = adapter.encode(texts)
    problem = hidden_noise_problem(adapter, batch, seed)
    settings = settings or FitSettings(chunk_rows=512)
    fit = fit_noise(problem, settings)
    dim = problem.embeds.shape[-1]
    kept = dim * (torch.log(problem.sigma_max) - fit.log_sigma[..., 0])
    kept = torch.where(problem.perturb, kept, torch.zeros(()))
    rows = [kept[i, :n] for i, n in enumerate(batch.lengths)]
    return rows, {"mean_steps": float(fit.steps.float().mean()),
                  "mean_loss": float(fit.loss.mean()), "lam": settings.lam,
                  "sigma_max": float(problem.sigma_max)}
