"""The one erasure primitive: hide tokens of a batch by id replacement or deletion.

Occlusion, LIME/SHAP sampling, hiding/revealing games and ERASER metrics all
perturb inputs through :func:`erase`, at the level of token ids (never by
decoding to text and re-tokenising). Special tokens ([CLS], [SEP]) are never
erased.
"""
from __future__ import annotations

import torch

from .errors import InputError
from .models.adapter import Batch, ModelAdapter

MODES = ("mask", "pad", "unk", "delete")


def erase(adapter: ModelAdapter, batch: Batch, hide: torch.Tensor, mode: str = "mask",
          drop_attention: bool = False) -> Batch:
    """A copy of ``batch`` with the positions where ``hide`` (B, T) is True erased.

    mode: 'mask' | 'pad' | 'unk' replace the ids by that special token;
    'delete' removes the tokens and shifts the rest left (re-padding).
    drop_attention: with a replacement mode, also zero the attention mask at
    erased positions so no token attends to them (the decoded-saliency
    paper's [MASK] protocol). As no other token sees them, models with
    absolute position ids (``adapter.first_position_id``) get them removed
    instead, the kept tokens keeping their original positions: the same
    output from a shorter input.
    Token lists, offsets and word ids of the result describe the kept tokens
    for 'delete' and for removed tokens; otherwise they are unchanged.
    """
    if mode not in MODES:
        raise InputError(f"erasure mode must be one of {', '.join(MODES)}; got {mode!r}")
    if hide.shape != batch.input_ids.shape:
        raise InputError(f"hide must have shape {tuple(batch.input_ids.shape)}; "
                         f"got {tuple(hide.shape)}")
    hide = hide.bool() & ~batch.special_mask
    if mode == "delete":
        return _delete(batch, hide, adapter.special_ids.get("pad", 0))
    ids = adapter.special_ids
    if mode not in ids:
        raise InputError(f"model {adapter.name!r} has no [{mode.upper()}] token; "
                         f"use another erasure mode ({', '.join(m for m in MODES if m in ids)})")
    if removes_tokens(adapter, mode, drop_attention):
        return _delete(batch, hide, ids.get("pad", 0), adapter.first_position_id)
    input_ids = batch.input_ids.masked_fill(hide, ids[mode])
    attention = batch.attention_mask.masked_fill(hide, 0) if drop_attention else batch.attention_mask
    return _replace(batch, input_ids=input_ids, attention_mask=attention)


def removes_tokens(adapter: ModelAdapter, mode: str, drop_attention: bool) -> bool:
    """Whether :func:`erase` shortens the inputs (deletion, or removal of unattended tokens)."""
    return mode == "delete" or (drop_attention and adapter.first_position_id is not None)


def _replace(batch: Batch, **changes) -> Batch:
    fields = dict(batch.__dict__)
    fields.update(changes)
    return Batch(**fields)


def _delete(batch: Batch, hide: torch.Tensor, pad_id: int,
            first_position: int | None = None) -> Batch:
    """Remove hidden positions; keep per-example lists aligned with the kept tokens.

    With ``first_position`` the kept tokens keep their original position ids
    (``first_position`` + original index) instead of being renumbered.
    """
    keep = (~hide) & batch.attention_mask.bool()
    lengths = keep.sum(1)
    width = int(lengths.max())
    b = len(batch)
    input_ids = torch.full((b, width), pad_id, dtype=batch.input_ids.dtype)
    attention = torch.zeros((b, width), dtype=batch.attention_mask.dtype)
    types = None if batch.token_type_ids is None else torch.zeros((b, width),
                                                                   dtype=batch.token_type_ids.dtype)
    positions = None if first_position is None else torch.zeros((b, width), dtype=torch.long)
    tokens, offsets, word_ids, seq_ids = [], [], [], []
    for i in range(b):
        pos = keep[i].nonzero()[:, 0]
        n = len(pos)
        input_ids[i, :n] = batch.input_ids[i, pos]
        attention[i, :n] = 1
        if types is not None:
            types[i, :n] = batch.token_type_ids[i, pos]
        if positions is not None:
            original = pos if batch.position_ids is None else batch.position_ids[i, pos] - first_position
            positions[i, :n] = original + first_position
        kept = pos.tolist()
        tokens.append([batch.tokens[i][j] for j in kept])
        offsets.append([batch.offsets[i][j] for j in kept])
        word_ids.append([batch.word_ids[i][j] for j in kept])
        seq_ids.append([batch.sequence_ids[i][j] for j in kept])
    return _replace(batch, input_ids=input_ids, attention_mask=attention, token_type_ids=types,
                    position_ids=positions, tokens=tokens, offsets=offsets, word_ids=word_ids, sequence_ids=seq_ids)
