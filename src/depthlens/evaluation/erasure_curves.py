"""The one hide/reveal curve engine, shared by the Hiding/Revealing games and ERASER metrics.

Tokens are ranked by one row of each explanation's scores. At fraction f of
the n real tokens of an example (special tokens and padding never count and
are never hidden), k = ceil(f * n) tokens are acted on:

* ``hide``   -- the top-k tokens are erased (Hiding game; ERASER x \\ r),
* ``reveal`` -- every real token except the top-k is erased (Revealing game;
  ERASER r alone).

All perturbed inputs of all examples, fractions, games and token orders are
built as one expanded set of rows, erased through :func:`depthlens.erasure.erase`
(ids only, never re-tokenised) and forwarded in chunks of ``batch_size``;
identical perturbed inputs (e.g. f = 0 or 1 under every random order) are
forwarded once.
"""
from __future__ import annotations

import math
import zlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Sequence

import numpy as np
import torch
from tqdm.auto import tqdm

from ..erasure import erase, removes_tokens
from ..errors import InputError
from ..explanation import Explanation
from ..models.adapter import Batch, ModelAdapter
from .external import encode_explanations, targets_of
from .result import MetricResult, Spec, register
from .units import real_positions, row_index

GAMES = ("hide", "reveal")
ORDERS = ("explanation", "inverse", "random")
DEFAULT_FRACTIONS = tuple(round(0.1 * i, 1) for i in range(11))
RANDOM_ORDERS = 20


@dataclass
class Curve:
    """One game under one token order, over N examples and F fractions.

    probability: (N, F) probability of each explanation's target class.
    correct: (N, F) 1.0 where the predicted class equals the reference label
    (for the random order both are means over the random orders).
    """

    fractions: np.ndarray
    probability: np.ndarray
    correct: np.ndarray

    def values(self, score: str = "accuracy") -> np.ndarray:
        """(N, F) per-example curve of ``score`` ('accuracy' or 'probability')."""
        if score == "accuracy":
            return self.correct
        if score == "probability":
            return self.probability
        raise InputError(f"score must be 'accuracy' or 'probability'; got {score!r}")

    def mean(self, score: str = "accuracy") -> np.ndarray:
        """(F,) the curve averaged over examples."""
        return self.values(score).mean(axis=0)

    def auc(self, score: str = "accuracy") -> float:
        """Area under the mean curve (normalised by the fraction range, so in [0, 1])."""
        return float(auc(self.fractions, self.mean(score)))

    def per_example_auc(self, score: str = "accuracy") -> np.ndarray:
        """(N,) area under each example's curve; their mean equals :meth:`auc`."""
        return auc(self.fractions, self.values(score))

    def to_dict(self) -> dict:
        return {"fractions": self.fractions.tolist(), "accuracy": self.mean("accuracy").tolist(),
                "probability": self.mean("probability").tolist()}


@dataclass
class GameRun:
    """Curves keyed by (game, order), the unperturbed target probabilities (N,),
    the reference labels (N,) and the cost (forwarded inputs and batches)."""

    curves: dict[tuple[str, str], Curve]
    full_probability: np.ndarray
    reference: np.ndarray
    cost: dict[str, int] = field(default_factory=dict)


def auc(fractions: Sequence[float], values: np.ndarray) -> np.ndarray | float:
    """Trapezoid area over ``fractions`` along the last axis of ``values`` (…, F),
    divided by the width max(f) - min(f); a single fraction gives the value itself."""
    x = np.asarray(fractions, dtype=np.float64)
    y = np.asarray(values, dtype=np.float64)
    if x.size == 1:
        return y[..., 0]
    area = ((x[1:] - x[:-1]) * (y[..., 1:] + y[..., :-1]) / 2).sum(axis=-1)
    return area / (x[-1] - x[0])


def check_fractions(fractions: Sequence[float] | str) -> np.ndarray:
    """Sorted fractions in [0, 1]; a CLI string '0,0.1,0.5' is accepted."""
    if isinstance(fractions, str):
        try:
            fractions = [float(x) for x in fractions.split(",") if x.strip()]
        except ValueError:
            raise InputError(f"fractions must be numbers separated by commas; got {fractions!r}") \
                from None
    arr = np.asarray(sorted(set(float(f) for f in fractions)), dtype=np.float64)
    if arr.size == 0 or arr[0] < 0 or arr[-1] > 1:
        raise InputError(f"fractions must be a non-empty list of numbers in [0, 1]; got {fractions}")
    return arr


def token_counts(n_real: np.ndarray, fractions: np.ndarray) -> np.ndarray:
    """(B, F) number of tokens acted on: ceil(f * n), so any f > 0 acts on >= 1 token."""
    return np.ceil(np.outer(n_real, fractions) - 1e-9).astype(np.int64)


def rankings(explanations: Sequence[Explanation], layer: int | str | None, order: str,
             random_orders: int = RANDOM_ORDERS, seed: int = 0) -> list[list[np.ndarray]]:
    """S x B rankings (real positions, most important first).

    order: 'explanation' (descending score, ties by position), 'inverse'
    (ascending) or 'random' (``random_orders`` permutations from a generator
    seeded by ``seed`` and the example's text, so they do not depend on the
    other examples evaluated with it).
    """
    if order == "random":
        per_example = []
        for e in explanations:
            rng = np.random.default_rng([seed, zlib.crc32(f"{e.text}\x00{e.pair}".encode())])
            pos = real_positions(e)
            per_example.append([rng.permutation(pos) for _ in range(random_orders)])
        return [list(orders) for orders in zip(*per_example)]
    if order not in ORDERS:
        raise InputError(f"order must be one of {', '.join(ORDERS)}; got {order!r}")
    sign = -1.0 if order == "explanation" else 1.0
    out = []
    for e in explanations:
        pos = real_positions(e)
        row = e.scores[row_index(e, layer), pos]
        if not np.isfinite(row).all():
            raise InputError(f"explanation of {e.text[:30]!r} has NaN or infinite scores")
        out.append(pos[np.argsort(sign * row, kind="stable")])
    return [out]


def rank_tensor(rank_lists: list[list[np.ndarray]], width: int) -> torch.Tensor:
    """(S, B, T) rank of each position (0 = most important); +inf at non-real positions."""
    ranks = torch.full((len(rank_lists), len(rank_lists[0]), width), math.inf)
    for s, per_example in enumerate(rank_lists):
        for b, order in enumerate(per_example):
            ranks[s, b, torch.from_numpy(order)] = torch.arange(len(order), dtype=torch.float32)
    return ranks


def game_masks(ranks: torch.Tensor, real: torch.Tensor, counts: torch.Tensor,
               game: str) -> torch.Tensor:
    """(S, B, F, T) hide masks from ranks (S, B, T), real (B, T) and counts (B, F)."""
    top = ranks[:, :, None, :] < counts[None, :, :, None]
    if game == "hide":
        return top
    if game == "reveal":
        return real[None, :, None, :] & ~top
    raise InputError(f"game must be one of {', '.join(GAMES)}; got {game!r}")


PROGRESS_BATCHES = 50


def erased_lengths(batch: Batch, example: torch.Tensor, hide: torch.Tensor,
                   shortened: bool) -> np.ndarray:
    """(R,) token count of each perturbed row once erased (``shortened``: hidden tokens removed)."""
    lengths = torch.tensor(batch.lengths)[example]
    if shortened:
        lengths = lengths - (hide & ~batch.special_mask[example]).sum(1)
    return lengths.numpy()


def perturbed_probabilities(adapter: ModelAdapter, batch: Batch, example: torch.Tensor,
                            hide: torch.Tensor, *, mode: str = "mask",
                            drop_attention: bool = False,
                            batch_size: int = 64) -> tuple[torch.Tensor, dict[str, int]]:
    """Class probabilities (R, C) of R perturbed inputs.

    example: (R,) index into ``batch``; hide: (R, T) bool over ``batch``'s
    padded width. Duplicate rows are forwarded once; rows are forwarded in
    chunks of ``batch_size`` sorted by their erased length to limit padding; a progress bar
    (on a terminal only) when that takes more than PROGRESS_BATCHES chunks.
    Returns the probabilities and the cost {'forward_inputs', 'forward_batches'}.
    """
    if batch_size < 1:
        raise InputError(f"batch_size must be >= 1; got {batch_size}")
    ex = example.numpy().astype(">u4").view(np.uint8).reshape(len(example), 4)
    keys = np.concatenate([ex, np.packbits(hide.numpy(), axis=1)], axis=1)
    _, first, inverse = np.unique(keys, axis=0, return_index=True, return_inverse=True)
    shortened = removes_tokens(adapter, mode, drop_attention)
    by_length = np.argsort(erased_lengths(batch, example[first], hide[first], shortened),
                           kind="stable")
    unique_rows = first[by_length]
    probs = torch.empty(len(unique_rows), len(adapter.labels))
    n_batches = 0
    starts = range(0, len(unique_rows), batch_size)
    for start in tqdm(starts, desc="forward erased inputs", unit="batch", leave=False,
                      disable=None if len(starts) > PROGRESS_BATCHES else True):
        rows = unique_rows[start:start + batch_size]
        sub = batch.select(example[rows].tolist())
        width = sub.input_ids.shape[1]
        erased = erase(adapter, sub, hide[rows, :width], mode=mode, drop_attention=drop_attention)
        probs[start:start + len(rows)] = adapter.predict_proba(erased).float()
        n_batches += 1
    slot = np.empty(len(first), dtype=np.int64)
    slot[by_length] = np.arange(len(first))           # unique key -> row of probs
    return probs[torch.from_numpy(slot[inverse.reshape(-1)])], {
        "forward_inputs": len(unique_rows), "forward_batches": n_batches}


def reference_labels(adapter: ModelAdapter, labels: Sequence[int | str] | None,
                     predicted: torch.Tensor) -> torch.Tensor:
    """(N,) labels accuracy is measured against: gold ``labels`` or the unperturbed prediction."""
    if labels is None:
        return predicted
    labels = list(labels)
    if len(labels) != len(predicted):
        raise InputError(f"labels must have one entry per explanation ({len(predicted)}); "
                         f"got {len(labels)}")
    return torch.tensor([adapter.label_index(l) for l in labels], dtype=torch.long)


def game_curves(adapter: ModelAdapter, explanations: Sequence[Explanation], *,
                games: Sequence[str] = GAMES, fractions: Sequence[float] = DEFAULT_FRACTIONS,
                layer: int | str | None = None, orders: Sequence[str] = ("explanation", "random"),
                random_orders: int = RANDOM_ORDERS, seed: int = 0,
                labels: Sequence[int | str] | None = None, mode: str = "mask",
                drop_attention: bool = True, batch_size: int = 64,
                layers: Sequence[int | str] | None = None) -> GameRun:
    """Run ``games`` x ``orders`` at ``fractions`` for all explanations in one batched pass.

    layers: instead of one ``layer``, rank by each of these score rows; the
    score-based orders are then keyed ``(game, f"{order}@{layer}")`` (the
    random order, which ignores the scores, once as ``(game, "random")``), and
    all layers share the batched, de-duplicated forwards.
    """
    explanations = list(explanations)
    fractions = check_fractions(fractions)
    if "random" in orders and random_orders < 1:
        raise InputError(f"random_orders must be >= 1; got {random_orders}")
    batch = encode_explanations(adapter, explanations)
    real = ~batch.special_mask
    counts = torch.from_numpy(token_counts(real.sum(1).numpy(), fractions))
    n, f, width = len(explanations), len(fractions), real.shape[1]
    blocks, masks = [], [torch.zeros(n, width, dtype=torch.bool)]   # row block 0: unperturbed
    ranked = [(order, layer, order) for order in orders] if layers is None else [
        (order, row, order if order == "random" else f"{order}@{row}")
        for order in orders for row in ([None] if order == "random" else layers)]
    for order, row, key in ranked:
        ranks = rank_tensor(rankings(explanations, row, order, random_orders, seed), width)
        for game in games:
            blocks.append((game, key, ranks.shape[0]))
            masks.append(game_masks(ranks, real, counts, game).reshape(-1, width))
    hide = torch.cat(masks)
    example = torch.cat([torch.arange(n)] + [torch.arange(n).repeat_interleave(f).repeat(s)
                                             for _, _, s in blocks])
    probs, cost = perturbed_probabilities(adapter, batch, example, hide, mode=mode,
                                          drop_attention=drop_attention, batch_size=batch_size)
    target = targets_of(explanations)
    reference = reference_labels(adapter, labels, probs[:n].argmax(1))
    cost["perturbed_inputs"] = len(hide)
    curves, start = {}, n
    for game, order, s in blocks:
        p = probs[start:start + s * n * f].reshape(s, n, f, -1)
        start += s * n * f
        target_p = p.gather(3, target[None, :, None, None].expand(s, n, f, 1))[..., 0]
        correct = (p.argmax(3) == reference[None, :, None]).float()
        curves[(game, order)] = Curve(fractions, target_p.mean(0).numpy().astype(np.float64),
                                      correct.mean(0).numpy().astype(np.float64))
    full = probs[:n].gather(1, target[:, None])[:, 0].numpy().astype(np.float64)
    return GameRun(curves, full, reference.numpy(), cost)


# ----------------------------------------------------------------- the two games
HIDING = Spec("hiding", (0.0, 1.0), False,
              "Hiding game: area under accuracy as the top-scored tokens are erased first")
REVEALING = Spec("revealing", (0.0, 1.0), True,
                 "Revealing game: area under accuracy as the top-scored tokens are revealed first")


@register(HIDING)
def hiding(adapter: ModelAdapter, explanations: Sequence[Explanation], *,
           fractions: Sequence[float] | str = DEFAULT_FRACTIONS, layer: int | str | None = None,
           score: str = "accuracy", mode: str = "mask", drop_attention: bool = True,
           random_orders: int = RANDOM_ORDERS, seed: int = 0,
           labels: Sequence[int | str] | None = None, batch_size: int = 64,
           out_dir: str = "") -> MetricResult:
    """Hiding game (decoded-saliency paper, 3.1): erase the top ceil(f*n) tokens for each f.

    value: AUC of the ``score`` curve ('accuracy' against ``labels``, or against
    the unperturbed prediction when no labels are given; or 'probability' of
    the target). details hold both AUCs, the random-order baseline (mean of
    ``random_orders`` seeded orders), the curves and the forward-pass cost;
    with ``out_dir`` the curves are written to ``out_dir/hiding.png``.
    """
    return _game_metric(HIDING, "hide", adapter, explanations, score, out_dir,
                        fractions=fractions, layer=layer, mode=mode,
                        drop_attention=drop_attention, random_orders=random_orders,
                        seed=seed, labels=labels, batch_size=batch_size)


@register(REVEALING)
def revealing(adapter: ModelAdapter, explanations: Sequence[Explanation], *,
              fractions: Sequence[float] | str = DEFAULT_FRACTIONS,
              layer: int | str | None = None, score: str = "accuracy", mode: str = "mask",
              drop_attention: bool = True, random_orders: int = RANDOM_ORDERS, seed: int = 0,
              labels: Sequence[int | str] | None = None, batch_size: int = 64,
              out_dir: str = "") -> MetricResult:
    """Revealing game: erase every real token except the top ceil(f*n); see :func:`hiding`."""
    return _game_metric(REVEALING, "reveal", adapter, explanations, score, out_dir,
                        fractions=fractions, layer=layer, mode=mode,
                        drop_attention=drop_attention, random_orders=random_orders,
                        seed=seed, labels=labels, batch_size=batch_size)


def _game_metric(spec: Spec, game: str, adapter: ModelAdapter,
                 explanations: Sequence[Explanation], score: str, out_dir: str,
                 random_orders: int, **engine) -> MetricResult:
    orders = ("explanation", "random") if random_orders > 0 else ("explanation",)
    run = game_curves(adapter, explanations, games=(game,), orders=orders,
                      random_orders=max(random_orders, 1), **engine)
    curves = {order: run.curves[(game, order)] for order in orders}
    ours = curves["explanation"]
    details = {
        "score": score, "cost": run.cost, "mode": engine["mode"],
        "drop_attention": engine["drop_attention"], "random_orders": random_orders,
        "curves": {order: c.to_dict() for order, c in curves.items()},
    }
    for order, c in curves.items():
        prefix = "" if order == "explanation" else f"{order}_"
        details[f"{prefix}auc_accuracy"] = c.auc("accuracy")
        details[f"{prefix}auc_probability"] = c.auc("probability")
    if out_dir:
        from .figures import plot_curves

        details["figure"] = plot_curves(curves, Path(out_dir) / f"{spec.name}.png",
                                        title=spec.summary.split(":")[0], score=score)
    return spec.result(ours.auc(score), ours.per_example_auc(score), **details)
