"""Gradient saliency, gradient x input and SmoothGrad, at the input embeddings or any layer.

gradient and grad_x_input take all requested layers' gradients from one
forward and one backward pass; smoothgrad runs its noisy copies in chunks.
"""
from __future__ import annotations

import torch

from ..errors import InputError
from ..models.adapter import Batch, ModelAdapter
from ..registry import METHODS
from .base import Attribution, resolve_layers, target_score
from .batching import check_positive, example_noise, example_scale, gradient_rows, rows_per_chunk

NORMS = ("l1", "l2")


def input_and_layer_gradients(adapter: ModelAdapter, batch: Batch, target: torch.Tensor,
                              layers: list[int], inputs_embeds: torch.Tensor | None = None,
                              output: str = "logit"):
    """One forward + one backward.

    Returns (embeds, embed_grad, states, state_grads): the input embeddings
    (B, T, D) and their gradient, and for each of ``layers`` the state
    (B, T, D) and its gradient. With ``layers`` empty only the input part is set.
    """
    embeds = (adapter.embed(batch) if inputs_embeds is None else inputs_embeds).detach()
    embeds.requires_grad_(True)
    out = adapter.forward(batch, inputs_embeds=embeds, output_states=bool(layers))
    score = target_score(out.logits, target, output)
    states = [out.states[l] for l in layers]
    grads = torch.autograd.grad(score.sum(), [embeds, *states])
    return embeds.detach(), grads[0], [s.detach() for s in states], list(grads[1:])


def reduce_norm(x: torch.Tensor, norm: str) -> torch.Tensor:
    """(…, D) -> (…) by the L1 or L2 norm over the last dimension."""
    if norm == "l2":
        return x.norm(dim=-1)
    if norm == "l1":
        return x.abs().sum(dim=-1)
    raise InputError(f"norm must be one of {', '.join(NORMS)}; got {norm!r}")


def layer_rows(adapter: ModelAdapter, layers: list[int]) -> list[str]:
    """Row names: 'input' for the input embeddings, else the layer names."""
    names = adapter.layer_names
    return [names[l] for l in layers] if layers else ["input"]


@METHODS.register("gradient", "saliency: norm of d(target logit)/d(embedding) per token")
def gradient(adapter: ModelAdapter, batch: Batch, target: torch.Tensor, *, norm: str = "l2",
             layer: str | None = None, output: str = "logit") -> Attribution:
    """Gradient norm per token; ``layer='all'`` gives one row per layer state (0..L)."""
    layers = resolve_layers(adapter, layer)
    _, embed_grad, _, state_grads = input_and_layer_gradients(adapter, batch, target, layers,
                                                              output=output)
    grads = state_grads if layers else [embed_grad]
    scores = torch.stack([reduce_norm(g, norm) for g in grads], dim=1)
    return Attribution(scores, layer_rows(adapter, layers),
                       {"forward_passes": 1, "backward_passes": 1})


@torch.no_grad()
def representations(adapter: ModelAdapter, batch: Batch, layers: list[int],
                    inputs_embeds: torch.Tensor | None = None
                    ) -> tuple[list[tuple[int | None, torch.Tensor]], torch.Tensor]:
    """The attributed representations and the logits (B, C), from one no-grad forward.

    Returns [(None, input embeddings (B, T, D))] when ``layers`` is empty, else
    [(l, state l (B, T, D)) for l in layers]; ``inputs_embeds`` replaces the
    input embeddings (e.g. a baseline).
    """
    embeds = adapter.embed(batch) if inputs_embeds is None else inputs_embeds
    out = adapter.forward(batch, inputs_embeds=embeds, output_states=bool(layers))
    reps = [(l, out.states[l]) for l in layers] if layers else [(None, embeds)]
    return reps, out.logits


@METHODS.register("grad_x_input", "gradient times input, summed over the embedding dimension")
def grad_x_input(adapter: ModelAdapter, batch: Batch, target: torch.Tensor, *,
                 layer: str | None = None, output: str = "logit") -> Attribution:
    """sum_d x[t, d] * d score / d x[t, d] per token, (B, R, T); x is the input embedding
    or, with ``layer``, the state of that layer ('all': one row per state 0..L)."""
    layers = resolve_layers(adapter, layer)
    embeds, embed_grad, states, state_grads = input_and_layer_gradients(adapter, batch, target,
                                                                        layers, output=output)
    pairs = zip(states, state_grads) if layers else [(embeds, embed_grad)]
    scores = torch.stack([(x * g).sum(-1) for x, g in pairs], dim=1)
    return Attribution(scores, layer_rows(adapter, layers),
                       {"forward_passes": 1, "backward_passes": 1})


@METHODS.register("smoothgrad", "gradient norm averaged over Gaussian-noised copies of the input")
def smoothgrad(adapter: ModelAdapter, batch: Batch, target: torch.Tensor, *, n_samples: int = 10,
               noise: float = 0.1, norm: str = "l2", layer: str | None = None,
               output: str = "logit", seed: int = 0, internal_batch_size: int = 0,
               memory_mb: int = 1024) -> Attribution:
    """Mean over ``n_samples`` noisy copies of the gradient norm per token, (B, R, T).

    The noise is Gaussian with standard deviation ``noise`` times the standard
    deviation of the example's attributed representation (input embeddings, or
    state l with ``layer``; 'all' noises each state in turn, with the same draws).
    Cost: n_samples forward+backward rows per example and per row of output.
    """
    check_positive("n_samples", n_samples)
    if not noise >= 0:
        raise InputError(f"noise must be >= 0; got {noise!r}")
    if norm not in NORMS:
        raise InputError(f"norm must be one of {', '.join(NORMS)}; got {norm!r}")
    layers = resolve_layers(adapter, layer)
    reps = (representations(adapter, batch, layers)[0] if layers
            else [(None, adapter.embed(batch).detach())])
    b, t, d = reps[0][1].shape
    owner = torch.arange(b).repeat_interleave(n_samples)
    draws = example_noise(seed, batch, (d,), n_samples, reps[0][1])
    size = rows_per_chunk(adapter, t, internal_batch_size, memory_mb, backward=True)
    rows = []
    for l, x in reps:
        sigma = noise * example_scale(x, batch)

        def points(lo, hi, x=x, sigma=sigma):
            own = owner[lo:hi]
            return x[own] + sigma[own] * draws[lo:hi]

        values = gradient_rows(adapter, batch, target, owner, points, l, output, size,
                               lambda g, lo, hi: reduce_norm(g, norm))
        rows.append(values.view(b, n_samples, t).mean(1))
    passes = n_samples * len(reps) + (1 if layers else 0)
    return Attribution(torch.stack(rows, 1), layer_rows(adapter, layers),
                       {"forward_passes": passes, "backward_passes": n_samples * len(reps)})
