"""Gradient saliency, at the input embeddings or at the states of any layer.

All requested layers' gradients come from one forward and one backward pass.
"""
from __future__ import annotations

import torch

from ..errors import InputError
from ..models.adapter import Batch, ModelAdapter
from ..registry import METHODS
from .base import Attribution, resolve_layers, target_score

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
