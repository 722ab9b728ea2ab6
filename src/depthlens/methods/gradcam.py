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
from .base import Attribution, real_token_mask, resolve_layers
from .gradient import input_and_layer_gradients, layer_rows

LAYER_SCORES = ("gradcam", "grad_x_activation", "grad_norm")


def chosen_layers(adapter: ModelAdapter, layer: str | int) -> list[int]:
    """The states 0..L named by a ``layer`` parameter ('all', an index or 'a,b')."""
    layers = resolve_layers(adapter, layer)
    if not layers:
        raise InputError(f"layer must be 'all' or layer indices in [0, {adapter.num_layers}] "
                         f"(Grad-CAM has no separate input row); got {layer!r}")
    return layers


def layer_scores(adapter: ModelAdapter, batch: Batch, target: torch.Tensor, score: str,
                 layers: list[int] | None = None):
    """Position scores (B, R, T) and states (R x (B, T, D)) of ``layers`` (default all
    L+1 states), from one backward."""
    if score not in LAYER_SCORES:
        raise InputError(f"score must be one of {', '.join(LAYER_SCORES)}; got {score!r}")
    layers = list(range(adapter.num_layers + 1)) if layers is None else layers
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
            score: str = "gradcam", layer: str = "all") -> Attribution:
    """Rows embeddings, layer 1..L (or the ``layer`` indices); ``score`` may be gradcam,
    grad_x_activation or grad_norm."""
    layers = chosen_layers(adapter, layer)
    scores, _ = layer_scores(adapter, batch, target, score, layers)
    return Attribution(scores, layer_rows(adapter, layers),
                       {"forward_passes": 1, "backward_passes": 1})


PRECISIONS = ("float32", "bfloat16")
HEAD_ROWS, SOFTMAX_ROWS = 256, 32     # states per head product / per normaliser (cache-sized)


def decode_columns(adapter: ModelAdapter, states: torch.Tensor, ids: torch.Tensor,
                   precision: str = "float32") -> torch.Tensor:
    """(N, T): P(token ids[n, i] | state n) via the MLM head; states (N, D), ids (N, T).

    These are the columns j of D_l = P_l[j, token i], one per decoded position;
    the softmax normaliser still needs the logits of the whole vocabulary. The
    states go through the head HEAD_ROWS at a time and the (rows, V) logits are
    normalised SOFTMAX_ROWS rows at a time (a logsumexp, no (N, V) softmax is
    written), which keeps the memory-bound part in cache and the peak at
    HEAD_ROWS x V. ``precision='bfloat16'`` runs the head's matrix products in
    bfloat16 (CPU autocast; several times faster where the CPU has bfloat16
    instructions), the normaliser in float32.
    """
    out = torch.empty(ids.shape, dtype=torch.float32)
    for start in range(0, len(states), HEAD_ROWS):
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=precision == "bfloat16"):
            logits = adapter.mlm_logits(states[start:start + HEAD_ROWS])   # (rows, V)
        for first in range(0, len(logits), SOFTMAX_ROWS):
            part = logits[first:first + SOFTMAX_ROWS].float()
            rows = slice(start + first, start + first + len(part))
            out[rows] = (part.gather(1, ids[rows]) - part.logsumexp(-1, keepdim=True)).exp_()
    return out


def keep_top_tau(decoded: torch.Tensor, candidates: torch.Tensor, tau: int) -> torch.Tensor:
    """Zero all but the top-tau candidate tokens in every column (N, T_i) of D.

    candidates: (N, T_i) bool, True at the first occurrence of each unique real token.
    """
    d = decoded.masked_fill(~candidates, 0.0)
    top = d.topk(min(tau, d.shape[1]), dim=1).indices
    return d * torch.zeros_like(d, dtype=torch.bool).scatter_(1, top, True)


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
                    tau: int = 3, score: str = "gradcam", layer: str = "all",
                    precision: str = "float32") -> Attribution:
    """One row per layer 0..L (or per ``layer`` index): s_l = topk_tau(D_l) alpha_l.

    precision: 'float32' (exact) or 'bfloat16' (the MLM head's products in bfloat16:
    faster, scores within about 1 % of float32; see :func:`decode_columns`).

    Only the positions j with alpha_l[j] != 0 are decoded (the others add nothing to
    s_l): with the ReLU of Grad-CAM this skips padding and the negative positions.
    """
    if tau < 1:
        raise InputError(f"tau must be >= 1; got {tau}")
    if precision not in PRECISIONS:
        raise InputError(f"precision must be one of {', '.join(PRECISIONS)}; got {precision!r}")
    if not adapter.has_mlm_head:
        adapter.mlm_logits(torch.zeros(1, 1, 1))  # raises the capability error with the fix
    layers = chosen_layers(adapter, layer)
    alphas, states = layer_scores(adapter, batch, target, score, layers)
    candidates, owner = first_occurrence(batch)
    rows = []
    with torch.no_grad():
        for r, h in enumerate(states):
            alpha = alphas[:, r]                                       # (B, T)
            b, j = alpha.nonzero(as_tuple=True)     # only positions with alpha != 0 contribute
            d = keep_top_tau(decode_columns(adapter, h[b, j], batch.input_ids[b], precision),
                             candidates[b], tau)                       # (N, T_i)
            s = torch.zeros_like(alpha).index_add_(0, b, d * alpha[b, j, None])   # (B, T)
            rows.append(s.gather(1, owner) * real_token_mask(batch))
    return Attribution(torch.stack(rows, dim=1), layer_rows(adapter, layers),
                       {"forward_passes": 1, "backward_passes": 1, "mlm_head_passes": len(states)})
