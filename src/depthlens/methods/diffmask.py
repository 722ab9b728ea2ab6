"""DiffMask (De Cao et al. 2020) as a method: per-layer keep probabilities from a fitted probe.

Fitting, probes, the toy model and the search references live in
:mod:`depthlens.diffmask`; this module only registers the explaining step.
"""
from __future__ import annotations

import torch

from ..diffmask.probes import DiffMaskProbe, load_probe
from ..errors import InputError
from ..models.adapter import Batch, ModelAdapter
from ..registry import METHODS
from .base import Attribution


def _missing_probe(adapter: ModelAdapter) -> InputError:
    return InputError(
        f"diffmask needs a fitted probe (probe=DIR); got none. Fit one with `depthlens fit "
        f"diffmask --model {adapter.name} --data sst2:train --gate input --out DIR`, then pass "
        f"--param probe=DIR")


@METHODS.register("diffmask", "DiffMask: probability each layer keeps each token (fitted probe)")
def diffmask(adapter: ModelAdapter, batch: Batch, target: torch.Tensor, *,
             probe: str | DiffMaskProbe = "") -> Attribution:
    """Expected keep probability P(z != 0) per layer and token, (B, L+1, T).

    ``probe``: a directory written by ``depthlens fit diffmask`` (loaded once
    per process) or a fitted :class:`DiffMaskProbe`. Input gates: row l is the
    probability that the input token is still needed according to layers
    0..l (vote product, eq. 2); hidden gates: row l is the probability that
    state l is needed. Gates explain the model's own output distribution, so
    ``target`` does not change the scores. Cost: one forward pass plus the probes.
    """
    if isinstance(probe, str):
        if not probe.strip():
            raise _missing_probe(adapter)
        probe = load_probe(probe)
    if not isinstance(probe, DiffMaskProbe):
        raise InputError(f"probe must be a directory or a DiffMaskProbe; got "
                         f"{type(probe).__name__}")
    if not probe.fitted:
        raise InputError("the DiffMaskProbe given as probe was never fitted; fit it with "
                         "depthlens.diffmask.fit(model, data) or load one written by "
                         "`depthlens fit diffmask`")
    with torch.no_grad():
        states = adapter.forward(batch, output_states=True).states
        probe.check_states(states, adapter)
        keep = probe.keep_probability(probe.gate_logits(states))
    return Attribution(keep, list(adapter.layer_names),
                       {"forward_passes": 1, "backward_passes": 0, "gate": probe.gate})
