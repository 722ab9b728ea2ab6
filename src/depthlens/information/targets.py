"""The explained states s = Phi(x): layer states of any adapter, or seq2seq decoder states.

Each builder turns a batch of B sentences and R targets (layers or decoder
steps) into the B*R rows of a :class:`~depthlens.information.fit.NoiseProblem`
(row n = example n // R, target n % R), so one optimisation covers them all.

target_state for layers: 'tokens' (the whole layer: every non-padding position),
'cls' (position 0, the [CLS] state of BERT-like models), 'mean' (the mean over
non-padding positions, the pooled state of the built-in models) or an integer
position. The scale of row n is the spread of the target's states within its
sentence: the mean per-coordinate variance of layer l's states over the
sentence's non-padding positions (for decoder targets: of the decoder states
over the sentence's output steps). It is estimated from data, like the
authors' variance of Phi over sampled sentences, but from the sentence itself,
so an example's result does not depend on its batch. A sentence whose states
do not vary (one position) falls back to the mean squared state.
"""
from __future__ import annotations

import zlib

import numpy as np
import torch

from ..errors import InputError
from ..models.adapter import Batch, ModelAdapter
from .fit import NoiseProblem
from .gaussian import embedding_spread

STATE_KINDS = ("tokens", "cls", "mean")


def parse_target_state(target_state: str | int, batch: Batch) -> str | int:
    """'tokens' | 'cls' | 'mean' | 'decoder', or an int position valid for every example."""
    if isinstance(target_state, str) and target_state in (*STATE_KINDS, "decoder"):
        return target_state
    try:
        position = int(target_state)
    except (TypeError, ValueError):
        raise InputError(f"target_state must be one of {', '.join(STATE_KINDS)}, 'decoder' or an "
                         f"integer position; got {target_state!r}") from None
    shortest = min(batch.lengths)
    if not 0 <= position < shortest:
        raise InputError(f"target_state position must be in [0, {shortest - 1}] (the shortest "
                         f"text's token count); got {position}")
    return position


def row_keys(seed: int, batch: Batch, example: torch.Tensor, key: torch.Tensor,
             kind: int) -> list[int]:
    """One noise-stream seed per row (example[n], key[n]), from ``seed``, the example's token
    ids, the key (layer or step) and the target kind, so equal rows get equal streams."""
    if not isinstance(seed, int) or isinstance(seed, bool) or seed < 0:
        raise InputError(f"seed must be a non-negative integer; got {seed!r}")
    crc = [zlib.crc32(batch.input_ids[i, :n].numpy().astype(np.int64).tobytes())
           for i, n in enumerate(batch.lengths)]
    return [int(np.random.SeedSequence([seed, crc[i], k, kind]).generate_state(1)[0])
            for i, k in zip(example.tolist(), key.tolist())]


def spread(states: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Mean per-coordinate variance over the masked positions (or, where that is 0, the mean
    square): states (N, T, D), mask (N, T) -> (N,)."""
    w = mask[..., None].to(states.dtype)
    count = w.sum(1).clamp(min=1)
    centre = (states * w).sum(1) / count
    var = (((states - centre[:, None]) ** 2) * w).sum((1, 2)) / (count[:, 0] * states.shape[-1])
    square = ((states ** 2) * w).sum((1, 2)) / (count[:, 0] * states.shape[-1])
    return torch.where(var > 1e-12, var, square).clamp(min=1e-12)


def _reduce(h: torch.Tensor, mask: torch.Tensor, target_state: str | int) -> torch.Tensor:
    """A layer's states (M, T, D) -> the explained vector(s) flattened to (M, K)."""
    if target_state == "tokens":
        return h.flatten(1)
    if target_state == "cls":
        return h[:, 0]
    if target_state == "mean":
        w = mask[..., None].to(h.dtype)
        return (h * w).sum(1) / w.sum(1).clamp(min=1)
    return h[:, target_state]


def layer_problem(adapter: ModelAdapter, batch: Batch, layers: list[int], target_state: str | int,
                  max_noise: float, per_dimension: bool, seed: int) -> NoiseProblem:
    """Rows (example, layer) for every example of ``batch`` and every layer in ``layers``.

    Phi of a row is state l of ``adapter.forward(inputs_embeds=x)`` reduced by
    ``target_state``; all rows, whatever their layer, share one forward pass.
    """
    r = len(layers)
    example = torch.arange(len(batch)).repeat_interleave(r)
    layer = torch.tensor(layers).repeat(len(batch))
    rows = batch.select(example.tolist())
    mask = rows.attention_mask.bool()
    width = mask.shape[1]

    def phi(index: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        sub = rows.select(index.tolist())
        w = sub.input_ids.shape[1]
        states = adapter.forward(sub, inputs_embeds=x[:, :w], output_states=True).states
        h = torch.stack(states)[layer[index], torch.arange(len(index))]
        h = torch.nn.functional.pad(h, (0, 0, 0, width - w))
        return _reduce(h, mask[index], target_state)

    with torch.no_grad():
        embeds = adapter.embed(rows).detach()
        clean = adapter.forward(rows, inputs_embeds=embeds, output_states=True).states
        h = torch.stack(clean)[layer, torch.arange(len(layer))]
        target = _reduce(h, mask, target_state)
    weight = (mask[..., None].expand_as(h).flatten(1) if target_state == "tokens"
              else torch.ones_like(target)).float()
    return NoiseProblem(
        embeds=embeds, perturb=mask, lengths=rows.lengths, phi=phi, target=target, weight=weight,
        scale=spread(h, mask), sigma_max=max_noise * embedding_spread(adapter, per_dimension),
        keys=row_keys(seed, batch, example, layer, 0))


def decoder_problem(adapter, batch: Batch, steps: list[list[int]], max_noise: float,
                    per_dimension: bool, seed: int) -> NoiseProblem:
    """Rows (example i, output step t) for t in ``steps[i]`` of a seq2seq adapter
    (one with ``decoder_state(batch, step, inputs_embeds=None) -> (B, D)``).

    Phi of a row is the decoder state at its step; rows are grouped by step,
    one decoder run per distinct step. The scale of example i is the spread of
    its decoder states over steps 0..len_i.
    """
    if not hasattr(adapter, "decoder_state"):
        raise InputError(f"target_state 'decoder' needs a seq2seq model with decoder states; "
                         f"model {adapter.name!r} has none")
    for i, chosen in enumerate(steps):
        bad = [t for t in chosen if not 0 <= t <= batch.lengths[i]]
        if bad:
            raise InputError(f"step must be in [0, {batch.lengths[i]}] for text {i}; got {bad[0]}")
    example = torch.tensor([i for i, chosen in enumerate(steps) for _ in chosen], dtype=torch.long)
    step = torch.tensor([t for chosen in steps for t in chosen], dtype=torch.long)
    rows = batch.select(example.tolist())

    def phi(index: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        out = x.new_zeros(len(index), x.shape[-1])
        for t in step[index].unique().tolist():
            at = (step[index] == t).nonzero()[:, 0]
            sub = rows.select(index[at].tolist())
            out[at] = adapter.decoder_state(sub, t, inputs_embeds=x[at, :sub.input_ids.shape[1]])
        return out

    with torch.no_grad():
        embeds = adapter.embed(rows).detach()
        target = phi(torch.arange(len(step)), embeds)
        scale = torch.stack([spread(h[None], torch.ones(1, len(h)))[0]
                             for h in clean_decoder_states(adapter, batch)])
    return NoiseProblem(
        embeds=embeds, perturb=rows.attention_mask.bool(), lengths=rows.lengths, phi=phi,
        target=target, weight=torch.ones_like(target), scale=scale[example],
        sigma_max=max_noise * embedding_spread(adapter, per_dimension),
        keys=row_keys(seed, batch, example, step, 1))


def clean_decoder_states(adapter, batch: Batch) -> list[torch.Tensor]:
    """Per example i, its decoder states at steps 0..len_i: a list of (len_i + 1, D)."""
    found: list[list[torch.Tensor]] = [[] for _ in range(len(batch))]
    for t in range(max(batch.lengths) + 1):
        examples = [i for i, n in enumerate(batch.lengths) if n >= t]
        for i, h in zip(examples, adapter.decoder_state(batch.select(examples), t)):
            found[i].append(h)
    return [torch.stack(h) for h in found]
