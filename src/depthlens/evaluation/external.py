"""Bring explanations to the evaluators: re-encode them, or build them from raw arrays.

Evaluators perturb the token ids the explanation was computed on, so each
explanation's text is encoded once with the model's tokenizer and must give
exactly the explanation's tokens (no re-tokenisation of perturbed text ever).
:func:`from_scores` wraps an array from any other library (e.g. Captum) as an
:class:`Explanation`.
"""
from __future__ import annotations

from typing import Sequence

import numpy as np
import torch

from ..errors import InputError
from ..explanation import Explanation, Target
from ..models.adapter import Batch, ModelAdapter


def encode_explanations(adapter: ModelAdapter, explanations: Sequence[Explanation]) -> Batch:
    """One Batch (B = len(explanations)) whose tokens equal each explanation's tokens."""
    exps = list(explanations)
    if not exps:
        raise InputError("explanations must hold at least one Explanation; got none")
    with_pair = {e.pair is not None for e in exps}
    if len(with_pair) > 1:
        raise InputError("explanations must all have a pair or all have none; got a mix "
                         "(evaluate single texts and pairs separately)")
    pairs = [e.pair for e in exps] if True in with_pair else None
    batch = adapter.encode([e.text for e in exps], pairs, truncate=True)
    for i, e in enumerate(exps):
        if batch.tokens[i] != list(e.tokens):
            raise InputError(
                f"explanation {i} has tokens {e.tokens[:6]}… but model {adapter.name!r} "
                f"tokenises its text as {batch.tokens[i][:6]}…; evaluate with the model "
                f"that was explained (explanation model: {e.model!r})")
        adapter.label_index(e.target.index)
    return batch


def targets_of(explanations: Sequence[Explanation]) -> torch.Tensor:
    """(B,) long tensor of the explained classes."""
    return torch.tensor([e.target.index for e in explanations], dtype=torch.long)


def from_scores(adapter: ModelAdapter, text: str, scores, *, pair: str | None = None,
                target: int | str | None = None, method: str = "external",
                layers: Sequence[str] | None = None) -> Explanation:
    """An Explanation of ``text`` from a raw score array.

    scores: array-like (T,) or (R, T) over the T tokens of
    ``adapter.encode([text])`` including special tokens (Captum's layout), or
    over the real tokens only (then special tokens get score 0).
    target: the explained class (index or name); None = the predicted class.
    layers: names of the R rows (default 'input', or 'row r').
    """
    batch = adapter.encode([text], None if pair is None else [pair], truncate=True)
    arr = np.asarray(scores.detach().cpu().numpy() if isinstance(scores, torch.Tensor) else scores,
                     dtype=np.float64)
    if arr.ndim == 1:
        arr = arr[None, :]
    if arr.ndim != 2:
        raise InputError(f"scores must have shape (T,) or (R, T); got {arr.shape}")
    n = batch.lengths[0]
    real = [w is not None for w in batch.word_ids[0]]
    if arr.shape[1] == sum(real) and arr.shape[1] != n:
        full = np.zeros((arr.shape[0], n))
        full[:, real] = arr
        arr = full
    if arr.shape[1] != n:
        raise InputError(f"scores must have {n} columns (tokens incl. special) or {sum(real)} "
                         f"(real tokens) for this text; got {arr.shape[1]}")
    if not np.isfinite(arr).all():
        raise InputError("scores must be finite; got NaN or infinity")
    if layers is None:
        layers = ["input"] if arr.shape[0] == 1 else [f"row {r}" for r in range(arr.shape[0])]
    if len(layers) != arr.shape[0]:
        raise InputError(f"layers must name the {arr.shape[0]} score rows; got {len(layers)} names")
    probs = adapter.predict_proba(batch)[0]
    t = int(probs.argmax()) if target is None else adapter.label_index(target)
    return Explanation(
        text=text, pair=pair, tokens=batch.tokens[0], offsets=batch.offsets[0],
        word_ids=batch.word_ids[0], sequence_ids=batch.sequence_ids[0], scores=arr,
        layers=list(layers), target=Target(t, adapter.labels[t], float(probs[t])),
        method=method, model=adapter.name, probabilities=[float(p) for p in probs],
        labels=list(adapter.labels))
