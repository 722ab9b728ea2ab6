"""Grad-CAM at every layer, and decoded layer saliency (seed 002, eq. 1, eq. 5, Algorithm 1).

gradcam: alpha_l = ReLU(sum_k dy/dh_l^k * h_l^k) for every state l = 0..L from ONE
forward and ONE backward pass (y = target logit, before softmax).

decoded_gradcam: the hidden positions j of layer l are decoded to the input's
tokens with the model's MLM head, P_l = softmax(f_lm(h_l)); D_l[i, j] =
P_l[j, token i] over the unique real input tokens i; for each position j only
the top-tau tokens keep their weight (Algorithm 1, lines 6-12); s_l = D_l alpha_l
(eq. 5). Positions that repeat a token share its score. Special tokens and
padding receive no score but special positions j still pass theirs on.
"""
from __future__ import annotations

import torch

from ..errors import InputError
from ..models.adapter import Batch, ModelAdapter
from ..registry import METHODS
from .base import Attribution, real_token_mask
from .gradient import input_and_layer_gradients

LAYER_SCORES = ("gradcam", "grad_x_activation", "grad_norm")


def layer_scores(adapter: ModelAdapter, batch: Batch, target: torch.Tensor, score: str):
    """Per-layer position scores (B, L+1, T) and the states (L+1 x (B, T, D)), one backward."""
    if score not in LAYER_SCORES:
        raise InputError(f"score must be one of {', '.join(LAYER_SCORES)}; got {score!r}")
    layers = list(range(adapter.num_layers + 1))
    _, _, states, grads = input_and_layer_gradients(adapter, batch, target, layers)
    rows = []
    for h, g in zip(states, grads):
        if score == "grad_norm":
            rows.append(g.norm(dim=-1))
        else:
            s = (g * h).sum(-1)
            rows.append(torch.relu(s) if score == "gradcam" else s)
    mask = batch.attention_mask.bool()[:, None, :]
    return torch.stack(rows, dim=1) * mask, states


@METHODS.register("gradcam", "Grad-CAM ReLU(sum_k dy/dh_l^k h_l^k) at every layer, one backward")
def gradcam(adapter: ModelAdapter, batch: Batch, target: torch.Tensor, *,
            score: str = "gradcam") -> Attribution:
    """Rows embeddings, layer 1..L; ``score`` may be gradcam, grad_x_activation or grad_norm."""
    scores, _ = layer_scores(adapter, batch, target, score)
    return Attribution(scores, adapter.layer_names, {"forward_passes": 1, "backward_passes": 1})


def decode_to_tokens(adapter: ModelAdapter, states: torch.Tensor, batch: Batch) -> torch.Tensor:
    """D: (B, T_i, T_j), D[b, i, j] = P(token at position i | state at position j) via the MLM head."""
    logits = adapter.mlm_logits(states)                              # (B, T, V)
    log_norm = torch.logsumexp(logits, dim=-1, keepdim=True)         # (B, T, 1)
    ids = batch.input_ids[:, None, :].expand(-1, logits.shape[1], -1)
    return torch.exp(logits.gather(2, ids) - log_norm).transpose(1, 2)


def keep_top_tau(decoded: torch.Tensor, candidates: torch.Tensor, tau: int) -> torch.Tensor:
    """Zero all but the top-tau candidate tokens in every column j of D (B, T_i, T_j).

    candidates: (B, T_i) bool, True at the first occurrence of each unique real token.
    """
    d = decoded.masked_fill(~candidates[:, :, None], 0.0)
    k = min(tau, d.shape[1])
    top = d.topk(k, dim=1).indices
    keep = torch.zeros_like(d, dtype=torch.bool).scatter_(1, top, True)
    return d * keep


def first_occurrence(batch: Batch) -> tuple[torch.Tensor, torch.Tensor]:
    """(candidates (B, T) bool at each unique real token's first position,
    owner (B, T) long: the first position holding the same token id)."""
    ids = batch.input_ids
    same = ids[:, :, None] == ids[:, None, :]                         # (B, T, T)
    real = real_token_mask(batch)
    same &= real[:, :, None] & real[:, None, :]
    owner = torch.where(real, same.float().argmax(dim=2), torch.arange(ids.shape[1]))
    candidates = real & (owner == torch.arange(ids.shape[1])[None, :])
    return candidates, owner


@METHODS.register("decoded_gradcam",
                  "layer scores decoded to input tokens through the MLM head (top-tau, eq. 5)")
def decoded_gradcam(adapter: ModelAdapter, batch: Batch, target: torch.Tensor, *,
                    tau: int = 3, score: str = "gradcam") -> Attribution:
    """One row per layer 0..L: s_l = topk_tau(D_l) alpha_l."""
    if tau < 1:
        raise InputError(f"tau must be >= 1; got {tau}")
    if not adapter.has_mlm_head:
        adapter.mlm_logits(torch.zeros(1, 1, 1))  # raises the capability error with the fix
    alphas, states = layer_scores(adapter, batch, target, score)
    candidates, owner = first_occurrence(batch)
    rows = []
    with torch.no_grad():
        for layer, h in enumerate(states):
            d = keep_top_tau(decode_to_tokens(adapter, h, batch), candidates, tau)
            s = torch.einsum("bij,bj->bi", d, alphas[:, layer])         # (B, T)
            rows.append(s.gather(1, owner) * real_token_mask(batch))
    return Attribution(torch.stack(rows, dim=1), adapter.layer_names,
                       {"forward_passes": 1, "backward_passes": 1, "mlm_head_passes": len(states)})
