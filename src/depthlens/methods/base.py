"""What a method returns, and helpers every method shares.

A method is registered with ``@METHODS.register(name, summary)`` and has the
signature ``fn(adapter, batch, target, *, <params>) -> Attribution`` where
``target`` is a (B,) long tensor of class indices. The pipeline in
:mod:`depthlens.api` encodes, batches, resolves targets and turns the
Attribution into Explanations (trimming padding), so methods only compute.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import torch

from ..explanation import Span
from ..models.adapter import Batch, ModelAdapter


@dataclass
class Attribution:
    """scores: (B, R, T) float tensor, row r named ``layers[r]``; padded positions are ignored.

    diagnostics: shared by the batch (e.g. ``forward_passes`` and
    ``backward_passes`` per example). per_example: optional list of B dicts
    merged into each Explanation's diagnostics. spans: optional B lists of Span.
    """

    scores: torch.Tensor
    layers: list[str]
    diagnostics: dict[str, Any] = field(default_factory=dict)
    per_example: list[dict[str, Any]] | None = None
    spans: list[list[Span]] | None = None


def target_score(logits: torch.Tensor, target: torch.Tensor, output: str = "logit") -> torch.Tensor:
    """The scalar explained per example, (B,): the target's logit or probability."""
    if output == "logit":
        return logits.gather(1, target[:, None])[:, 0]
    if output == "probability":
        return torch.softmax(logits, -1).gather(1, target[:, None])[:, 0]
    if output == "log_probability":
        return torch.log_softmax(logits, -1).gather(1, target[:, None])[:, 0]
    from ..errors import InputError

    raise InputError(f"output must be logit, probability or log_probability; got {output!r}")


def resolve_layers(adapter: ModelAdapter, layer: str | int | None) -> list[int]:
    """Parse a ``layer`` parameter: None/'input' -> [], 'all' -> 0..L, an int or 'a,b' -> those."""
    from ..errors import InputError

    n = adapter.num_layers
    if layer is None or layer == "input":
        return []
    if layer == "all":
        return list(range(n + 1))
    try:
        chosen = [int(x) for x in str(layer).split(",")]
    except ValueError:
        raise InputError(f"layer must be 'all', 'input' or integers in [0, {n}]; got {layer!r}") from None
    for c in chosen:
        if not 0 <= c <= n:
            raise InputError(f"layer must be in [0, {n}] for model {adapter.name!r}; got {c}")
    return chosen


def real_token_mask(batch: Batch) -> torch.Tensor:
    """(B, T) bool: True at real (non-special, non-pad) tokens."""
    return ~batch.special_mask
