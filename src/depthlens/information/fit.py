"""Learning the noise scales: many (sentence, target) rows in one batched, converging Adam run.

A *row* is one sentence paired with one target state s = Phi(x) (a layer, or a
decoder step). For row n with perturbed positions i and sigma_i =
sigma_max * sigmoid(rho_i), the loss is

    L_n = E_eps ||Phi(x + eps) - s||_w^2 / (|w| * scale_n)
          + lam * mean_{i,d} log(sigma_max,d / sigma_i,d)

(||.||_w: squared error summed over the row's valid output coordinates w).
This is the poster's L(sigma) = E||Phi(x~) - s||^2 / scale - lambda sum_i H(X~_i | s)
divided by the number of output coordinates, with the entropy term averaged
over words and dimensions (as in the authors' code, so ``lam`` does not depend
on sentence length or width) and shifted by a constant so that L_n >= 0, which
makes a relative convergence test meaningful: the second term is lam times the
information kept per word and dimension.

The loss has several local minima: a word's sigma can settle small, or at the
cap where a saturating network (LayerNorm, tanh) no longer feels the noise, and
gradient descent keeps the side it starts on. Every row is therefore fitted
from each of ``starts`` (initial rho for all words; the default -4 and 0 start
at 1.8% and 50% of the cap) and keeps the start with the lowest final loss.

Every (row, start) *slot* has its own noise stream (a generator seeded from the
row's key), its own Adam moments and its own stopping time, so a row's result
does not depend on which other rows share the run. A slot stops when the mean
loss of a window of ``window`` steps changed by less than ``tol`` (relative)
from the previous window, or at ``max_steps``; its result is the mean of rho
over its last window.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import torch
import torch.nn.functional as F

from ..errors import InputError

Phi = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]
ADAM_BETAS, ADAM_EPS = (0.9, 0.999), 1e-8
SALT_STEP = 0x9E3779B97F4A7C15  # odd 64-bit constant: salted seeds differ from the originals


@dataclass
class NoiseProblem:
    """N rows to fit.

    embeds: (N, T, D) clean word embeddings; perturb: (N, T) bool, the positions
    that receive noise (a row's noise is drawn for its first ``lengths[n]``
    positions only, so it does not depend on padding); phi(index (M,), x (M, T, D))
    -> (M, K): the target states of rows ``index`` at embeddings x, differentiable;
    target: (N, K) clean Phi(x); weight: (N, K) 1 at the coordinates that count;
    scale: (N,) spread of Phi; sigma_max: (P,) the largest noise scale (P = 1 or D);
    keys: N integer seeds, one noise stream per row.
    """

    embeds: torch.Tensor
    perturb: torch.Tensor
    lengths: list[int]
    phi: Phi
    target: torch.Tensor
    weight: torch.Tensor
    scale: torch.Tensor
    sigma_max: torch.Tensor
    keys: list[int]


@dataclass
class FitSettings:
    """Optimisation settings; see the module docstring for their role.

    lam = 0.1 is the authors' ``rate``. Larger values make every word's
    entropy worth more than the states' distortion: around lam = 1 the trivial
    optimum "noise at the cap everywhere" wins for the low layers of tiny-sst2
    and for the seq2seq decoder (docs/reproductions/information.md).
    """

    lam: float = 0.1
    n_samples: int = 4
    lr: float = 0.1
    max_steps: int = 1000
    tol: float = 0.005
    window: int = 25
    per_dimension: bool = False
    chunk_rows: int = 64
    starts: tuple[float, ...] = (-4.0, 0.0)

    def check(self) -> None:
        """Raise InputError on an invalid setting."""
        for name, low in (("n_samples", 1), ("max_steps", 1), ("window", 1), ("chunk_rows", 1)):
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool) or value < low:
                raise InputError(f"{name} must be an integer >= {low}; got {value!r}")
        for name in ("lam", "lr", "tol"):
            value = getattr(self, name)
            if not (isinstance(value, (int, float)) and value >= 0 and value == value):
                raise InputError(f"{name} must be a number >= 0; got {value!r}")
        if self.lr == 0:
            raise InputError("lr must be > 0; got 0")
        if not self.starts or not all(isinstance(v, (int, float)) and abs(v) < 30
                                      for v in self.starts):
            raise InputError(f"starts must be a non-empty tuple of numbers in (-30, 30); "
                             f"got {self.starts!r}")


@dataclass
class NoiseFit:
    """log_sigma: (N, T, P) learned log noise scales (-inf where a position is not perturbed);
    steps: (N,) Adam steps of the kept start; loss: (N,) its mean loss over its last
    window; total_steps: (N,) Adam steps over all starts (the cost)."""

    log_sigma: torch.Tensor
    steps: torch.Tensor
    loss: torch.Tensor
    total_steps: torch.Tensor


def row_losses(problem: NoiseProblem, rows: torch.Tensor, rho: torch.Tensor,
               eps: torch.Tensor, lam: float) -> torch.Tensor:
    """Loss (len(rows),) of ``rows`` at parameters rho (n, T, P) with noise eps (n*S, T, D)."""
    n, samples = len(rows), eps.shape[0] // len(rows)
    mask = problem.perturb[rows][..., None].to(rho.dtype)                      # (n, T, 1)
    sigma = problem.sigma_max * torch.sigmoid(rho) * mask
    x = (problem.embeds[rows][:, None] + sigma[:, None] * eps.view(n, samples, *eps.shape[1:]))
    out = problem.phi(rows.repeat_interleave(samples), x.flatten(0, 1)).view(n, samples, -1)
    weight = problem.weight[rows]
    error = ((out - problem.target[rows][:, None]) ** 2 * weight[:, None]).sum(-1).mean(1)
    distortion = error / (weight.sum(-1) * problem.scale[rows])
    kept = (-F.logsigmoid(rho) * mask).sum((1, 2)) / (mask.sum((1, 2)) * rho.shape[-1]).clamp(min=1)
    return distortion + lam * kept


def salted(key: int, salt: int) -> int:
    """A seed derived from ``key``: the key itself for salt 0, an unrelated one otherwise."""
    return (int(key) + salt * SALT_STEP) % 2**63


class NoiseStreams:
    """One generator per slot: standard normal draws (S, T, D), zero beyond the slot's length."""

    def __init__(self, seeds: list[int], lengths: list[int], shape: tuple[int, int], samples: int):
        self.lengths, self.samples, self.shape = lengths, samples, shape
        self.generators = [torch.Generator().manual_seed(seed) for seed in seeds]

    def draw(self, slots: torch.Tensor) -> torch.Tensor:
        """(len(slots) * S, T, D) fresh draws for ``slots``, grouped by slot."""
        t, d = self.shape
        out = torch.zeros(len(slots), self.samples, t, d)
        for j, r in enumerate(slots.tolist()):
            out[j, :, :self.lengths[r]] = torch.randn(
                (self.samples, self.lengths[r], d), generator=self.generators[r])
        return out.flatten(0, 1)


def fit_noise(problem: NoiseProblem, settings: FitSettings) -> NoiseFit:
    """Minimise every row's loss from every start, with per-slot Adam and stopping; keep
    each row's best start (module docstring)."""
    settings.check()
    n, t = problem.perturb.shape
    k = len(settings.starts)
    p = problem.embeds.shape[-1] if settings.per_dimension else 1
    owner = torch.arange(n).repeat_interleave(k)                  # slot -> row
    rho = torch.tensor(settings.starts, dtype=torch.float32).repeat(n)[:, None, None]
    rho = rho.expand(n * k, t, p).clone()
    streams = NoiseStreams(
        [salted(problem.keys[r], 0 if j == 0 else j + 1) for r in range(n) for j in range(k)],
        [problem.lengths[r] for r in owner.tolist()], tuple(problem.embeds.shape[1:]),
        settings.n_samples)
    steps, final = adam_until_converged(problem, settings, owner, rho, streams)
    best = final.view(n, k).argmin(1) + torch.arange(n) * k
    mask = problem.perturb[..., None]
    log_sigma = torch.where(mask, torch.log(problem.sigma_max) + F.logsigmoid(rho[best]),
                            torch.tensor(float("-inf")))
    return NoiseFit(log_sigma=log_sigma, steps=steps[best], loss=final[best],
                    total_steps=steps.view(n, k).sum(1))


def adam_until_converged(problem: NoiseProblem, settings: FitSettings, owner: torch.Tensor,
                         rho: torch.Tensor, streams: NoiseStreams) -> tuple[torch.Tensor, ...]:
    """Adam on every slot's rho (in place) until its window-mean loss stops changing.

    Slot j optimises row owner[j]. Returns (steps (J,), final window-mean loss (J,));
    rho ends as each slot's mean over its last window.
    """
    n, t, p = rho.shape
    first, second = torch.zeros_like(rho), torch.zeros_like(rho)
    window_rho, window_loss = torch.zeros_like(rho), torch.zeros(n)
    previous = torch.full((n,), float("nan"))
    steps, final = torch.zeros(n, dtype=torch.long), torch.zeros(n)
    active = torch.arange(n)
    (b1, b2), lr = ADAM_BETAS, settings.lr
    for step in range(1, settings.max_steps + 1):
        grad, loss = torch.zeros(len(active), t, p), torch.zeros(len(active))
        for lo in range(0, len(active), settings.chunk_rows):
            slots = active[lo:lo + settings.chunk_rows]
            r = rho[slots].requires_grad_(True)
            values = row_losses(problem, owner[slots], r, streams.draw(slots), settings.lam)
            grad[lo:lo + len(slots)] = torch.autograd.grad(values.sum(), r)[0]
            loss[lo:lo + len(slots)] = values.detach()
        first[active] = b1 * first[active] + (1 - b1) * grad
        second[active] = b2 * second[active] + (1 - b2) * grad ** 2
        rho[active] -= lr * (first[active] / (1 - b1 ** step)) / (
            (second[active] / (1 - b2 ** step)).sqrt() + ADAM_EPS)
        steps[active] = step
        window_rho[active] += rho[active]
        window_loss[active] += loss
        if step % settings.window and step < settings.max_steps:
            continue
        count = settings.window if step % settings.window == 0 else step % settings.window
        mean = window_loss[active] / count
        done = ((mean - previous[active]).abs() <= settings.tol * previous[active])
        done |= step == settings.max_steps
        finished = active[done]
        rho[finished] = window_rho[finished] / count
        final[finished] = mean[done]
        previous[active] = mean
        window_rho[active], window_loss[active] = 0.0, 0.0
        active = active[~done]
        if not len(active):
            break
    return steps, final


@torch.no_grad()
def evaluate_loss(problem: NoiseProblem, log_sigma: torch.Tensor, lam: float,
                  samples: int = 64, chunk_rows: int = 8) -> torch.Tensor:
    """Monte-Carlo loss (N,) of every row at given noise scales (N, T, P), with ``samples``
    draws from streams independent of the fitting ones: a common yardstick for comparing fits."""
    sigma_ratio = (log_sigma - torch.log(problem.sigma_max)).exp().clamp(1e-30, 1 - 1e-7)
    rho = torch.log(sigma_ratio) - torch.log1p(-sigma_ratio)
    streams = NoiseStreams([salted(key, 1) for key in problem.keys], problem.lengths,
                           tuple(problem.embeds.shape[1:]), samples)
    out = torch.zeros(len(problem.keys))
    for lo in range(0, len(out), chunk_rows):
        rows = torch.arange(lo, min(len(out), lo + chunk_rows))
        out[rows] = row_losses(problem, rows, rho[rows], streams.draw(rows), lam)
    return out
