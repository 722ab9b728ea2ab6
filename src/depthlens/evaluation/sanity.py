"""Sanity checks (Adebayo et al., 2018): do explanations depend on the model and not on luck?

* randomisation -- re-explain with a deep copy of the model whose classifier
  head (``part='head'``: every parameter outside the embedding/layer modules)
  or head plus top ``top_layers`` blocks (``part='top'``, cascading) is
  re-initialised (PyTorch's default initialisers, seeded); value is the mean
  Spearman rho between original and new scores. An explanation that ignores
  the model keeps rho near 1; lower is better.
* stability -- the standard deviation across seeds of each unit's
  L1-normalised score, averaged over units and examples; lower is better.
  Runs come from re-running a seeded method, or are given (e.g. explanations
  of models trained with different seeds).
"""
from __future__ import annotations

import copy
from itertools import combinations
from typing import Any, Sequence

import numpy as np
import torch
from scipy.stats import spearmanr
from torch import nn

from ..errors import InputError, ModelCapabilityError
from ..explanation import Explanation
from ..models.adapter import ModelAdapter
from ..registry import METHODS
from .agreement import correlations, paired
from .groundtruth import normalise
from .result import MetricResult, Spec, nanmean, register
from .units import units

PARTS = ("head", "top")

RANDOMISATION = Spec("randomisation", (-1.0, 1.0), False,
                     "Spearman between explanations before and after re-initialising the head "
                     "(and top layers)")
STABILITY = Spec("stability", (0.0, 1.0), False,
                 "std over seeds of L1-normalised unit scores, mean over units and examples")


def randomised_copy(adapter: ModelAdapter, part: str = "head", top_layers: int = 1,
                    seed: int = 0) -> ModelAdapter:
    """A deep copy of ``adapter`` (tokenizer shared) with the head (and top layers) re-initialised."""
    if part not in PARTS:
        raise InputError(f"part must be one of {', '.join(PARTS)}; got {part!r}")
    if part == "top" and not 1 <= top_layers <= adapter.num_layers:
        raise InputError(f"top_layers must be in [1, {adapter.num_layers}]; got {top_layers}")
    clone = copy.deepcopy(adapter, memo={id(adapter.tokenizer): adapter.tokenizer})
    layers = clone.layer_modules()
    inside = {id(p) for m in [*layers, clone.word_embeddings()] for p in m.parameters()}
    targets = [m for m in clone.model.modules()
               if any(id(p) not in inside for p in m.parameters(recurse=False))]
    if not targets:
        raise ModelCapabilityError(f"model {adapter.name!r} has no parameters outside its layers "
                                   f"to re-initialise; use part='top'")
    if part == "top":
        targets += [sub for block in layers[-top_layers:] for sub in block.modules()]
    with torch.random.fork_rng(), torch.no_grad():
        torch.manual_seed(seed)
        for module in targets:
            _reinitialise(module)
    return clone


def _reinitialise(module: nn.Module) -> None:
    if hasattr(module, "reset_parameters"):
        module.reset_parameters()
        return
    for p in module.parameters(recurse=False):
        nn.init.normal_(p, std=0.02)


def rerun(adapter: ModelAdapter, explanations: Sequence[Explanation], method: str = "",
          **overrides: Any) -> list[Explanation]:
    """Explain the same texts, targets and method parameters again (with ``overrides``)."""
    from ..api import explain_many

    explanations = list(explanations)
    methods = {e.method for e in explanations}
    name = method or (methods.pop() if len(methods) == 1 else "")
    if not name:
        raise InputError(f"method must be given: the explanations come from several methods "
                         f"({', '.join(sorted(methods))})")
    if name not in METHODS.names():
        raise InputError(f"method must be a depthlens method to re-run; got {name!r} "
                         f"(explanations built from raw scores cannot be re-run: pass method=)")
    params = {**(explanations[0].params if not method else {}), **overrides}
    pairs = [e.pair for e in explanations] if explanations[0].pair is not None else None
    return list(explain_many(adapter, [e.text for e in explanations], name, pairs=pairs,
                             targets=[e.target.index for e in explanations], truncate=True,
                             **params))


@register(RANDOMISATION)
def randomisation(adapter: ModelAdapter, explanations: Sequence[Explanation], *,
                  part: str = "head", top_layers: int = 1, seed: int = 0, method: str = "",
                  layer: int | str | None = None) -> MetricResult:
    """Mean Spearman rho between explanations of ``adapter`` and of its randomised copy."""
    clone = randomised_copy(adapter, part, top_layers, seed)
    again = rerun(clone, explanations, method)
    pairs = paired(explanations, again, layer, layer)
    rho, _ = correlations(pairs, spearmanr)
    rho_abs, _ = correlations([(np.abs(a), np.abs(b)) for a, b in pairs], spearmanr)
    return RANDOMISATION.result(nanmean(rho), rho, spearman_abs=nanmean(rho_abs), part=part,
                                top_layers=top_layers if part == "top" else 0,
                                n_undefined=int(np.isnan(rho).sum()))


@register(STABILITY)
def stability(adapter: ModelAdapter, explanations: Sequence[Explanation], *,
              runs: Sequence[Sequence[Explanation]] | None = None,
              seeds: Sequence[int] | str = (0, 1, 2), method: str = "",
              layer: int | str | None = None, level: str = "token") -> MetricResult:
    """Std over runs of normalised scores. runs: further explanation sets of the same texts
    (compared with ``explanations``); None = re-run the seeded method once per seed."""
    explanations = list(explanations)
    if runs is None:
        seeds = [int(s) for s in seeds.split(",")] if isinstance(seeds, str) else list(seeds)
        name = method or explanations[0].method
        if name in METHODS.names() and "seed" not in METHODS.get(name).params:
            raise InputError(f"method {name!r} has no seed parameter, so it does not vary over "
                             f"seeds; pass runs= (e.g. explanations from differently seeded models)")
        sets = [rerun(adapter, explanations, method, seed=s) for s in seeds]
    else:
        sets = [explanations, *[list(r) for r in runs]]
    if len(sets) < 2:
        raise InputError(f"stability needs at least 2 runs; got {len(sets)}")
    for other in sets[1:]:
        paired(sets[0], other)          # same texts and tokens, else InputError
    per_example = np.full(len(explanations), np.nan)
    for i in range(len(explanations)):
        rows = np.stack([normalise(units(s[i], layer, level).scores) for s in sets])
        if rows.shape[1]:
            per_example[i] = rows.std(axis=0).mean()
    rhos = [nanmean(correlations(paired(a, b, layer, layer, level), spearmanr)[0])
            for a, b in combinations(sets, 2)]
    return STABILITY.result(nanmean(per_example), per_example, runs=len(sets),
                            mean_pairwise_spearman=nanmean(rhos), level=level)
