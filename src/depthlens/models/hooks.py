"""Forward hooks that capture or replace module outputs, only inside context managers.

The output of a hooked module may be a tensor or a tuple whose first element is
the hidden state (older HF layers, ``nn.LSTM``); both are handled.
"""
from __future__ import annotations

from contextlib import contextmanager
from typing import Callable, Iterator, Sequence

import torch
from torch import nn

Edit = Callable[[torch.Tensor], torch.Tensor]


def _first(output):
    return output[0] if isinstance(output, tuple) else output


def _with_first(output, value):
    return (value, *output[1:]) if isinstance(output, tuple) else value


@contextmanager
def layer_hooks(modules: Sequence[nn.Module], edits: dict[int, Edit] | None = None,
                capture: bool = True) -> Iterator[list[torch.Tensor | None]]:
    """Hook ``modules`` (one per layer): apply ``edits[l]`` to layer l's output and record it.

    Yields a list filled during the forward pass: entry l is the (possibly
    edited) state of layer l, shape (B, T, D), in the autograd graph (under
    grad mode a state of a frozen model is made to require grad).
    Hooks are removed on exit, also when the forward raises.
    """
    edits = edits or {}
    states: list[torch.Tensor | None] = [None] * len(modules)
    handles = []

    def make_hook(layer: int):
        def hook(_module, _inputs, output):
            value = _first(output)
            if layer in edits:
                value = edits[layer](value)
                output = _with_first(output, value)
            if capture:
                if torch.is_grad_enabled() and not value.requires_grad and value.is_floating_point():
                    value.requires_grad_(True)  # frozen model: make states differentiable
                states[layer] = value
            return output if layer in edits else None

        return hook

    try:
        for layer, module in enumerate(modules):
            if capture or layer in edits:
                handles.append(module.register_forward_hook(make_hook(layer)))
        yield states
    finally:
        for h in handles:
            h.remove()


def count_hooks(model: nn.Module) -> int:
    """Number of forward hooks registered anywhere in ``model`` (0 when clean)."""
    return sum(len(m._forward_hooks) + len(m._forward_pre_hooks) for m in model.modules())
