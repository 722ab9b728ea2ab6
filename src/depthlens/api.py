"""The one-line Python API: load_model, explain, explain_many.

explain_many encodes all texts once, buckets them by token length, resolves
targets with one no-grad forward per bucket, runs the method on the bucket and
cuts each example's rows back to its own tokens, so results do not depend on
batch composition or padding.
"""
from __future__ import annotations

import time
from typing import Any, Sequence

import numpy as np
import torch
from tqdm.auto import tqdm

from . import methods as _methods  # noqa: F401  (registers the methods)
from .errors import InputError
from .explanation import Explanation, ExplanationSet, Target
from .models.adapter import Batch, ModelAdapter
from .models.loading import load_model
from .registry import METHODS

__all__ = ["load_model", "explain", "explain_many"]

Label = int | str | None


def explain(model: ModelAdapter | str, text: str, method: str = "gradient", *,
            pair: str | None = None, target: Label = None, truncate: bool = False,
            **params: Any) -> Explanation:
    """Explain one text (and optional pair) with ``method``; see explain_many."""
    return explain_many(model, [text], method, pairs=None if pair is None else [pair],
                        targets=[target], truncate=truncate, **params)[0]


def explain_many(model: ModelAdapter | str, texts: Sequence[str], method: str = "gradient", *,
                 pairs: Sequence[str] | None = None, targets: Sequence[Label] | Label = None,
                 batch_size: int = 16, truncate: bool = False, progress: bool = False,
                 **params: Any) -> ExplanationSet:
    """Explain many texts; returns Explanations in input order.

    targets: one label (index or name) for all, one per text, or None for the
    predicted class. params: the method's parameters (``depthlens methods``).
    """
    adapter = load_model(model) if isinstance(model, str) else model
    entry = METHODS.get(method)
    params = entry.check_params(params)
    if isinstance(texts, str):
        raise InputError("texts must be a list of strings; got one string (use explain())")
    if batch_size < 1:
        raise InputError(f"batch_size must be >= 1; got {batch_size}")
    wanted = _targets(adapter, targets, len(texts))
    batch = adapter.encode(texts, pairs, truncate=truncate)
    order = sorted(range(len(texts)), key=lambda i: batch.lengths[i])
    results: list[Explanation | None] = [None] * len(texts)
    buckets = [order[i:i + batch_size] for i in range(0, len(order), batch_size)]
    for index in tqdm(buckets, desc=f"{method}", disable=not progress, unit="batch"):
        sub = batch.select(index)
        for i, exp in zip(index, _explain_batch(adapter, sub, [wanted[i] for i in index],
                                                method, params)):
            results[i] = exp
    return ExplanationSet(results)


def _explain_batch(adapter: ModelAdapter, batch: Batch, wanted: list[int | None], method: str,
                   params: dict[str, Any]) -> list[Explanation]:
    entry = METHODS.get(method)
    probs = adapter.predict_proba(batch)
    target = torch.tensor([int(probs[i].argmax()) if w is None else w
                           for i, w in enumerate(wanted)], dtype=torch.long)
    start = time.perf_counter()
    attribution = entry.fn(adapter, batch, target, **params)
    seconds = (time.perf_counter() - start) / len(batch)
    scores = attribution.scores.detach().float().cpu().numpy()
    recorded = {k: v for k, v in params.items()}
    out = []
    for i in range(len(batch)):
        n = batch.lengths[i]
        diagnostics = dict(attribution.diagnostics, seconds=seconds)
        if attribution.per_example:
            diagnostics.update(attribution.per_example[i])
        if batch.warnings and batch.warnings[i]:
            diagnostics["warnings"] = list(batch.warnings[i])
        t = int(target[i])
        out.append(Explanation(
            text=batch.texts[i], pair=batch.pairs[i] if batch.pairs else None,
            tokens=batch.tokens[i], offsets=batch.offsets[i], word_ids=batch.word_ids[i],
            sequence_ids=batch.sequence_ids[i], scores=np.array(scores[i, :, :n]),
            layers=list(attribution.layers),
            target=Target(t, adapter.labels[t], float(probs[i, t])),
            method=method, model=adapter.name, params=recorded, diagnostics=diagnostics,
            seed=params.get("seed", _default_seed(entry)),
            probabilities=[float(p) for p in probs[i]], labels=list(adapter.labels),
            spans=attribution.spans[i] if attribution.spans else [],
        ))
    return out


def _default_seed(entry) -> int | None:
    p = entry.params.get("seed")
    return None if p is None else p.default


def _targets(adapter: ModelAdapter, targets, n: int) -> list[int | None]:
    if targets is None or isinstance(targets, (int, str)):
        targets = [targets] * n
    targets = list(targets)
    if len(targets) != n:
        raise InputError(f"targets must have one entry per text ({n}); got {len(targets)}")
    return [None if t is None else adapter.label_index(t) for t in targets]
