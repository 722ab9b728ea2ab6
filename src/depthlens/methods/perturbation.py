"""Occlusion (leave-one-out erasure of token or word windows) and Li et al.'s dimension erasure.

Occlusion erases ids through :func:`depthlens.erasure.erase`; dimension
erasure zeroes coordinates of the input embeddings or of a layer's states.
Every perturbation of every example of a bucket is a row of one expanded
batch, scored forward-only in chunks.
"""
from __future__ import annotations

import torch

from ..models.adapter import Batch, ModelAdapter
from ..registry import METHODS
from .base import Attribution, resolve_layers, target_score
from .batching import (check_positive, coalition_scores, feature_groups, rows_per_chunk,
                       score_rows, spread)
from .gradient import layer_rows, representations


def windows(m: int, window: int) -> torch.Tensor:
    """(n_windows, m) float: row k covers features k .. k+window-1 (stride 1, clipped to m)."""
    w = min(window, m)
    starts = torch.arange(m - w + 1)
    cols = torch.arange(m)
    return ((cols[None] >= starts[:, None]) & (cols[None] < starts[:, None] + w)).float()


@METHODS.register("occlusion", "drop in the target score when a window of tokens or words is erased")
def occlusion(adapter: ModelAdapter, batch: Batch, target: torch.Tensor, *, unit: str = "token",
              window: int = 1, mode: str = "mask", output: str = "probability",
              internal_batch_size: int = 0, memory_mb: int = 1024) -> Attribution:
    """Leave-one-out erasure, (B, 1 row 'input', T).

    Windows of ``window`` consecutive features (tokens or words, ``unit``)
    slide with stride 1; each is erased with ``mode`` (mask | pad | unk |
    delete) and scores f(x) - f(x without the window), f the target's
    ``output`` (probability | logit | log_probability). A feature's score is
    the mean over the windows covering it; a word's score is split evenly over
    its tokens. Special tokens score 0. Cost: 1 + (m - window + 1) forwards
    for m features.
    """
    check_positive("window", window)
    groups = feature_groups(batch, unit)
    covers = [windows(g.shape[0], window) for g in groups]
    keeps = [torch.cat([torch.ones(1, c.shape[1]), 1.0 - c]) for c in covers]
    values = coalition_scores(adapter, batch, target, groups, keeps, mode, output,
                              internal_batch_size, memory_mb)
    scores = torch.zeros(batch.input_ids.shape)
    for i, (g, cover, v) in enumerate(zip(groups, covers, values)):
        scores[i] = spread((v[0] - v[1:]) @ cover / cover.sum(0).clamp(min=1), g)
    per_example = [{"forward_passes": len(v), "backward_passes": 0} for v in values]
    return Attribution(scores[:, None], ["input"], {}, per_example)


@METHODS.register("dimension_erasure",
                  "Li et al.: drop in the target score when embedding dimensions or tokens are zeroed")
def dimension_erasure(adapter: ModelAdapter, batch: Batch, target: torch.Tensor, *,
                      layer: str | None = None, output: str = "log_probability",
                      internal_batch_size: int = 0, memory_mb: int = 1024) -> Attribution:
    """Representation erasure (Li et al. 2016), (B, R, T).

    Per token: f(x) - f(x with that token's vector zeroed), the row's scores.
    Per dimension d: f(x) - f(x with coordinate d zeroed at every real token),
    stored per example as ``dimension_importance``: one list of D values per
    row (Li et al. further divide by f(x); the raw difference is kept here).
    The vectors are the input embeddings, or the states of ``layer`` ('all':
    every state 0..L). f is the target's ``output``, by default the log
    probability as in the paper. Special tokens are never zeroed.
    Cost: D + n_tokens forwards per example and row, plus 1.
    """
    layers = resolve_layers(adapter, layer)
    reps, logits = representations(adapter, batch, layers)
    full = target_score(logits, target, output).float()
    real = ~batch.special_mask
    b, t, d = reps[0][1].shape
    owner, kind, index = [], [], []
    for i in range(b):
        positions = real[i].nonzero()[:, 0].tolist()
        owner += [i] * (d + len(positions))
        kind += [0] * d + [1] * len(positions)
        index += list(range(d)) + positions
    owner, kind, index = torch.tensor(owner), torch.tensor(kind), torch.tensor(index)
    size = rows_per_chunk(adapter, t, internal_batch_size, memory_mb, backward=False)
    token_rows = kind == 1
    rows, importance = [], []
    for l, x in reps:
        def keep_mask(lo: int, hi: int, width: int) -> torch.Tensor:
            keep = torch.ones(hi - lo, width, x.shape[-1], dtype=x.dtype)
            k, idx, own = kind[lo:hi], index[lo:hi], owner[lo:hi]
            dims = (k == 0).nonzero()[:, 0]
            keep[dims[:, None], torch.arange(width)[None], idx[dims][:, None]] = \
                (~real[own[dims], :width]).to(x.dtype)
            toks = (k == 1).nonzero()[:, 0]
            keep[toks, idx[toks]] = 0
            return keep

        def perturb(sub: Batch, lo: int, hi: int, l=l) -> dict:
            keep = keep_mask(lo, hi, sub.input_ids.shape[1])
            if l is None:
                return {"inputs_embeds": adapter.embed(sub) * keep}
            return {"edits": {l: lambda state: state * keep}}

        drops = full[owner] - score_rows(adapter, batch, target, owner, perturb, output, size)
        score = torch.zeros(b, t)
        score[owner[token_rows], index[token_rows]] = drops[token_rows]
        rows.append(score)
        importance.append(drops[~token_rows].view(b, d))
    per_example = [{"dimension_importance": [imp[i].tolist() for imp in importance],
                    "forward_passes": 1 + len(reps) * int((owner == i).sum()),
                    "backward_passes": 0} for i in range(b)]
    return Attribution(torch.stack(rows, 1), layer_rows(adapter, layers), {}, per_example)
