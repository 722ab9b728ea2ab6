"""Attention-based scores: raw attention, attention rollout and norm-based attention.

All three read one no-grad forward through ``adapter.attention_parts`` (models
without attention raise ModelCapabilityError there) and give one row per block
1..L: how much the query ([CLS], or every real query on average) draws on each
token at that layer.
"""
from __future__ import annotations

import torch

from ..errors import InputError
from ..models.adapter import Batch, ModelAdapter
from ..registry import METHODS
from .base import Attribution

POSITIONS = ("cls", "mean")
QUERY_CHUNK = 16  # query positions per step of attention_norm's 'mean' (memory: B x 16 x T x D)


def check_position(from_position: str) -> None:
    if from_position not in POSITIONS:
        raise InputError(f"from_position must be one of {', '.join(POSITIONS)}; "
                         f"got {from_position!r}")


def read_queries(matrix: torch.Tensor, batch: Batch, from_position: str) -> torch.Tensor:
    """(B, L, T_query, T_key) -> (B, L, T_key): the row of query 0 ('cls') or the mean
    of the rows of the real (non-pad) queries ('mean')."""
    check_position(from_position)
    if from_position == "cls":
        return matrix[:, :, 0]
    mask = batch.attention_mask.to(matrix.dtype)[:, None, :, None]
    return (matrix * mask).sum(2) / mask.sum(2)


def rollout(attentions: torch.Tensor, residual: float = 0.5) -> torch.Tensor:
    """Attention rollout (Abnar & Zuidema 2020): (B, L, T, T) head-averaged attentions ->
    (B, L, T, T) where entry l is A'_l ... A'_1 with A'_l = row-normalised
    (1 - residual) A_l + residual I."""
    if not 0 <= residual <= 1:
        raise InputError(f"residual must be in [0, 1]; got {residual!r}")
    eye = torch.eye(attentions.shape[-1], dtype=attentions.dtype)
    mixed = (1 - residual) * attentions + residual * eye
    mixed = mixed / mixed.sum(-1, keepdim=True)
    out, current = [], None
    for layer in mixed.unbind(1):
        current = layer if current is None else layer @ current
        out.append(current)
    return torch.stack(out, 1)


def _head_mean(adapter: ModelAdapter, batch: Batch) -> torch.Tensor:
    """Head-averaged attention probabilities (B, L, T, T)."""
    return torch.stack([p.mean(1) for p in adapter.attention_parts(batch).probs], 1)


def _result(adapter: ModelAdapter, scores: torch.Tensor) -> Attribution:
    return Attribution(scores.float(), adapter.layer_names[1:],
                       {"forward_passes": 1, "backward_passes": 0})


@METHODS.register("attention", "head-averaged attention weights from [CLS] (or all queries), per layer")
def attention(adapter: ModelAdapter, batch: Batch, target: torch.Tensor, *,
              from_position: str = "cls") -> Attribution:
    """Raw attention alpha, averaged over heads, (B, L rows, T); each row sums to 1."""
    check_position(from_position)
    return _result(adapter, read_queries(_head_mean(adapter, batch), batch, from_position))


@METHODS.register("attention_rollout", "attention rolled out through the layers with residuals")
def attention_rollout(adapter: ModelAdapter, batch: Batch, target: torch.Tensor, *,
                      from_position: str = "cls", residual: float = 0.5) -> Attribution:
    """Row l: the rollout of layers 1..l read from the query, (B, L rows, T); rows sum to 1."""
    check_position(from_position)
    return _result(adapter, read_queries(rollout(_head_mean(adapter, batch), residual), batch,
                                         from_position))


@METHODS.register("attention_norm", "Kobayashi et al.: norm of the attention-weighted value vectors")
def attention_norm(adapter: ModelAdapter, batch: Batch, target: torch.Tensor, *,
                   from_position: str = "cls") -> Attribution:
    """||sum_h alpha_h[i, j] f_h(x_j)|| for query i, (B, L rows, T).

    f_h(x) is head h's value vector mapped by the output projection
    (``adapter.attention_parts``); heads are summed before the norm (Kobayashi
    et al. 2020's vector-norm merge). 'mean' averages the norms over real queries.
    """
    check_position(from_position)
    parts = adapter.attention_parts(batch)
    mask = batch.attention_mask.float()
    rows = []
    for probs, values in zip(parts.probs, parts.values):
        if from_position == "cls":
            rows.append(torch.einsum("bhj,bhjd->bjd", probs[:, :, 0], values).norm(dim=-1))
            continue
        total = torch.zeros(probs.shape[0], probs.shape[-1])
        for lo in range(0, probs.shape[2], QUERY_CHUNK):
            block = torch.einsum("bhij,bhjd->bijd", probs[:, :, lo:lo + QUERY_CHUNK], values)
            total += (block.norm(dim=-1) * mask[:, lo:lo + QUERY_CHUNK, None]).sum(1)
        rows.append(total / mask.sum(1, keepdim=True))
    return _result(adapter, torch.stack(rows, 1))
