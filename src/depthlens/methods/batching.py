"""Shared machinery of the step- and perturbation-based methods.

Every such method expands its bucket of B examples into N rows (steps,
samples, perturbations), each row owned by one example (``owner`` (N,) long),
and runs the rows through the model in chunks. Chunk sizes come from an
``internal_batch_size`` parameter or, when that is 0, from a memory budget.
Random draws come from one generator per example, seeded by the method's
``seed`` and the example's token ids, so an example gets the same draws alone,
in any batch and at any padding.
"""
from __future__ import annotations

import zlib
from typing import Callable, Iterator

import numpy as np
import torch

from ..errors import InputError
from ..models.adapter import Batch, ModelAdapter
from .base import target_score

UNITS = ("token", "word")
BYTES = 4  # float32 activations
CHUNK_VALUES = 2**19  # hidden-state values per chunk: larger chunks are slower on CPU (cache)


# ------------------------------------------------------------------ chunking
def check_positive(name: str, value: int, minimum: int = 1) -> None:
    """Raise InputError unless ``value`` is an int >= ``minimum``."""
    if not isinstance(value, int) or value < minimum:
        raise InputError(f"{name} must be an integer >= {minimum}; got {value!r}")


def rows_per_chunk(adapter: ModelAdapter, width: int, internal_batch_size: int,
                   memory_mb: int, backward: bool) -> int:
    """Rows per forward(+backward) chunk: ``internal_batch_size`` if > 0, else automatic.

    Automatic: the rows whose activations fit in ``memory_mb``, counting what
    one row of ``width`` tokens keeps for the backward pass (every layer) or,
    forward only, the largest transient of one layer (hidden states, the
    feed-forward intermediate, the (heads, T, T) attention scores); capped at
    CHUNK_VALUES hidden-state values per chunk, since on CPU larger chunks
    run slower per row.
    """
    check_positive("internal_batch_size", internal_batch_size, 0)
    if internal_batch_size:
        return internal_batch_size
    check_positive("memory_mb", memory_mb)
    config = getattr(adapter.model, "config", None)
    dim = adapter.word_embeddings().embedding_dim
    heads = getattr(config, "num_attention_heads", 1)
    inner = getattr(config, "intermediate_size", 4 * dim)
    per_layer = width * (8 * dim + 2 * inner + 3 * heads * width)
    layers = adapter.num_layers + 1 if backward else 2
    fits = memory_mb * 2**20 // (BYTES * per_layer * layers)
    return max(1, min(fits, CHUNK_VALUES // (width * dim)))


def chunks(batch: Batch, owner: torch.Tensor, size: int) -> Iterator[tuple[int, int, Batch]]:
    """(lo, hi, sub-batch of rows lo:hi) for the N rows ``owner`` maps to examples of ``batch``.

    Sub-batches are trimmed to their longest row, so short rows are not padded
    to the bucket's width.
    """
    n = len(owner)
    for lo in range(0, n, size):
        hi = min(n, lo + size)
        yield lo, hi, batch.select(owner[lo:hi].tolist())


@torch.no_grad()
def score_rows(adapter: ModelAdapter, batch: Batch, target: torch.Tensor, owner: torch.Tensor,
               perturb: Callable[[Batch, int, int], dict], output: str, size: int) -> torch.Tensor:
    """Target score (N,) of N perturbed rows, forward only, ``size`` rows at a time.

    ``perturb(sub, lo, hi)`` returns the keyword arguments of
    ``adapter.forward`` for rows lo:hi (``batch=`` erased ids,
    ``inputs_embeds=`` or ``edits=``).
    """
    out = torch.empty(len(owner))
    for lo, hi, sub in chunks(batch, owner, size):
        kwargs = {"batch": sub, **perturb(sub, lo, hi)}
        logits = adapter.forward(**kwargs).logits
        out[lo:hi] = target_score(logits, target[owner[lo:hi]], output).float()
    return out


def gradient_rows(adapter: ModelAdapter, batch: Batch, target: torch.Tensor, owner: torch.Tensor,
                  points: Callable[[int, int], torch.Tensor], layer: int | None, output: str,
                  size: int, reduce: Callable[[torch.Tensor, int, int], torch.Tensor]
                  ) -> torch.Tensor:
    """Per-token values (N, T) from the target score's gradient at N points.

    ``points(lo, hi)`` gives rows lo:hi, (n, T, D), built lazily so only one
    chunk of points is in memory. ``layer`` None: the points are input
    embeddings; an int l: they replace state l (``adapter.forward(edits=...)``).
    ``reduce(grad, lo, hi)`` maps the gradient (n, w, D) at the chunk's width w
    to (n, w); positions beyond a row's width get 0.
    """
    values = torch.zeros(owner.shape[0], batch.input_ids.shape[1])
    for lo, hi, sub in chunks(batch, owner, size):
        width = sub.input_ids.shape[1]
        z = points(lo, hi)[:, :width].detach().requires_grad_(True)
        if layer is None:
            out = adapter.forward(sub, inputs_embeds=z)
        else:
            out = adapter.forward(sub, edits={layer: lambda _state, z=z: z})
        score = target_score(out.logits, target[owner[lo:hi]], output)
        grad = torch.autograd.grad(score.sum(), z)[0]
        values[lo:hi, :width] = reduce(grad, lo, hi).detach().float()
    return values


# ---------------------------------------------------------------- randomness
def example_rng(seed: int, batch: Batch, i: int, stream: int = 0) -> np.random.Generator:
    """The generator of example i: seeded by ``seed``, the example's real token ids and
    ``stream`` (independent draws for independent uses within one method)."""
    if not isinstance(seed, int) or seed < 0:
        raise InputError(f"seed must be a non-negative integer; got {seed!r}")
    ids = batch.input_ids[i, :batch.lengths[i]].numpy().astype(np.int64)
    return np.random.default_rng([seed, zlib.crc32(ids.tobytes()), stream])


def example_noise(seed: int, batch: Batch, shape_per_token: tuple[int, ...], samples: int,
                  like: torch.Tensor, kind: str = "normal", stream: int = 0) -> torch.Tensor:
    """Noise (B*samples, T, *shape_per_token), rows grouped by example, zero at padding.

    kind: 'normal' (standard Gaussian) or 'uniform' (U(-1, 1)).
    """
    b, t = batch.input_ids.shape
    out = torch.zeros((b * samples, t, *shape_per_token), dtype=like.dtype)
    for i in range(b):
        rng = example_rng(seed, batch, i, stream)
        n = batch.lengths[i]
        size = (samples, n, *shape_per_token)
        draw = rng.standard_normal(size) if kind == "normal" else rng.uniform(-1.0, 1.0, size)
        out[i * samples:(i + 1) * samples, :n] = torch.from_numpy(draw)
    return out


def example_scale(x: torch.Tensor, batch: Batch) -> torch.Tensor:
    """Standard deviation of each example's vectors over its real positions: (B, 1, 1)."""
    mask = batch.attention_mask.bool()
    return torch.stack([x[i][mask[i]].std() for i in range(len(batch))])[:, None, None]


# ------------------------------------------------------------------ features
def feature_groups(batch: Batch, unit: str) -> list[torch.Tensor]:
    """Per example, a (m_i, T) float matrix G: G[k, j] = 1 if token j belongs to feature k.

    unit 'token': each real (non-special) token is a feature; 'word': the
    tokens of one word form one feature. Special tokens and padding belong to none.
    """
    if unit not in UNITS:
        raise InputError(f"unit must be one of {', '.join(UNITS)}; got {unit!r}")
    width = batch.input_ids.shape[1]
    groups = []
    for wids in batch.word_ids:
        real = [j for j, w in enumerate(wids) if w is not None]
        keys = real if unit == "token" else [wids[j] for j in real]
        index = {k: n for n, k in enumerate(dict.fromkeys(keys))}
        g = torch.zeros((len(index), width))
        for j, k in zip(real, keys):
            g[index[k], j] = 1.0
        groups.append(g)
    return groups


def hide_from_keep(keep: torch.Tensor, groups: torch.Tensor) -> torch.Tensor:
    """(n, m) kept-feature indicators and (m, T) groups -> (n, T) bool positions to hide."""
    return ((1.0 - keep.float()) @ groups) > 0


def spread(values: torch.Tensor, groups: torch.Tensor) -> torch.Tensor:
    """Feature scores (..., m) -> token scores (..., T), each feature's score split evenly
    over its tokens, so summing a word's token scores gives the word's score back."""
    return values.float() @ (groups / groups.sum(1, keepdim=True).clamp(min=1))


def erasure_scores(adapter: ModelAdapter, batch: Batch, target: torch.Tensor, owner: torch.Tensor,
                   hide: torch.Tensor, mode: str, output: str, size: int) -> torch.Tensor:
    """Target score (N,) of row n = example owner[n] with positions hide[n] (N, T) erased."""
    from ..erasure import erase

    def perturb(sub: Batch, lo: int, hi: int) -> dict:
        return {"batch": erase(adapter, sub, hide[lo:hi, :sub.input_ids.shape[1]], mode)}

    return score_rows(adapter, batch, target, owner, perturb, output, size)


def coalition_scores(adapter: ModelAdapter, batch: Batch, target: torch.Tensor,
                     groups: list[torch.Tensor], keeps: list[torch.Tensor], mode: str, output: str,
                     internal_batch_size: int, memory_mb: int) -> list[torch.Tensor]:
    """Scores of feature coalitions, all examples' rows in one chunked run.

    groups[i]: (m_i, T) features of example i (:func:`feature_groups`);
    keeps[i]: (n_i, m_i) 0/1, the features each of its n_i rows keeps (the
    others are erased with ``mode``). Returns per example the (n_i,) target scores.
    """
    owner = torch.cat([torch.full((k.shape[0],), i) for i, k in enumerate(keeps)])
    hide = torch.cat([hide_from_keep(k, g) for k, g in zip(keeps, groups)])
    size = rows_per_chunk(adapter, batch.input_ids.shape[1], internal_batch_size, memory_mb,
                          backward=False)
    values = erasure_scores(adapter, batch, target, owner, hide, mode, output, size)
    return list(values.split([k.shape[0] for k in keeps]))
