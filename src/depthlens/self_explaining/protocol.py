"""Span experiments: extract one rationale span per text, score spans against human
rationales (ERASER IOU F1 and token F1) and build rationale datasets for the
FullTrain-SpanTest / SpanTrain-FullTest / SpanTrain-SpanTest protocol (section 4),
and mark a span's tokens (for span-erasure attacks, section 6.3).

Extractors return one character :class:`~depthlens.explanation.Span` per text:

* ``self_explaining``: the model's top span (largest alpha);
* ``avg_saliency``: the window of a given number of words with the largest
  mean word score (AvgGradient with gradient word scores, AvgAttention with
  [CLS] attention). Without a width the best window is always the single top
  word (a mean never exceeds its maximum), so the width is given per text,
  normally the width of the self-explaining span of the same text
  ("length-matched");
* ``random_span``: a uniformly drawn window of the given width (a floor).
"""
from __future__ import annotations

import random
import re
from dataclasses import replace
from typing import Sequence

import numpy as np
import torch

from ..data.types import Dataset
from ..errors import InputError
from ..explanation import Explanation, Span
from ..models.adapter import Batch, ModelAdapter

IOU_THRESHOLD = 0.5


# --------------------------------------------------------------- extraction
def self_explaining_spans(adapter: ModelAdapter, texts: Sequence[str],
                          batch_size: int = 16) -> list[Span]:
    """The top span of each text under a self-explaining ``adapter``."""
    from ..api import explain_many
    from ..methods import self_explaining  # noqa: F401  (registers the method)

    explanations = explain_many(adapter, list(texts), "self_explaining", top_k=1,
                                batch_size=batch_size, truncate=True)
    return [e.spans[0] for e in explanations]


def span_width(span: Span, exp: Explanation) -> int:
    """Number of words of ``exp`` (of the span's sequence) that ``span`` overlaps."""
    return sum(1 for w in exp.words()
               if w.sequence == span.sequence and w.start < span.end and w.end > span.start)


def best_window(scores: np.ndarray, width: int) -> tuple[int, float]:
    """(first index, mean) of the ``width``-long window of ``scores`` (n,) with the largest mean.

    ``width`` is clipped to [1, n]; ties go to the earliest window.
    """
    width = max(1, min(width, len(scores)))
    sums = np.convolve(scores, np.ones(width), mode="valid")
    start = int(np.argmax(sums))
    return start, float(sums[start] / width)


def avg_saliency_span(exp: Explanation, width: int, word_scores: np.ndarray | None = None) -> Span:
    """The ``width``-word window of the text with the largest mean word score.

    word_scores: (n_words,) for ``exp.words()``; default: ``exp``'s last row
    summed over each word's tokens.
    """
    words = [w for w in exp.words() if w.sequence == 0]
    if word_scores is None:
        word_scores = exp.word_scores("sum")[1][-1]
    scores = np.asarray(word_scores, dtype=float)[:len(words)]
    start, mean = best_window(scores, width)
    last = words[min(start + max(width, 1), len(words)) - 1]
    return Span(words[start].start, last.end, mean, exp.text[words[start].start:last.end])


def random_span(exp: Explanation, width: int, rng: random.Random) -> Span:
    """A uniformly drawn ``width``-word window of the text (score 0)."""
    words = [w for w in exp.words() if w.sequence == 0]
    width = max(1, min(width, len(words)))
    start = rng.randrange(len(words) - width + 1)
    first, last = words[start], words[start + width - 1]
    return Span(first.start, last.end, 0.0, exp.text[first.start:last.end])


@torch.no_grad()
def cls_attention_scores(adapter: ModelAdapter, exp: Explanation) -> np.ndarray:
    """(n_words,) attention of [CLS] (position 0) to each word's tokens in the last layer,
    averaged over heads and summed over the word's tokens."""
    batch = adapter.encode([exp.text], None if exp.pair is None else [exp.pair], truncate=True)
    attention = adapter.forward(batch, output_attentions=True).attentions[-1][0].mean(0)[0]
    return np.array([float(attention[w.positions].sum()) for w in exp.words()])


def span_tokens(batch: Batch, spans: Sequence[Span]) -> torch.Tensor:
    """(B, T) bool: the real tokens of example i whose characters overlap ``spans[i]``."""
    hide = torch.zeros(batch.input_ids.shape, dtype=torch.bool)
    for i, span in enumerate(spans):
        for t, ((s, e), w, seq) in enumerate(zip(batch.offsets[i], batch.word_ids[i],
                                                 batch.sequence_ids[i])):
            hide[i, t] = w is not None and seq == span.sequence and s < span.end and e > span.start
    return hide


# ------------------------------------------------------------------ metrics
def _token_set(text: str, spans: Sequence[tuple[int, int]]) -> list[set[int]]:
    """Per span, the indices of the whitespace tokens of ``text`` it overlaps."""
    tokens = [(m.start(), m.end()) for m in re.finditer(r"\S+", text)]
    return [{i for i, (s, e) in enumerate(tokens) if s < end and e > start}
            for start, end in spans]


def _f1(precision: float, recall: float) -> float:
    return 0.0 if precision + recall == 0 else 2 * precision * recall / (precision + recall)


def rationale_scores(text: str, predicted: Sequence[tuple[int, int]],
                     gold: Sequence[tuple[int, int]]) -> dict[str, float]:
    """ERASER agreement of predicted and gold character spans of ``text``, on whitespace tokens.

    token_f1: F1 of the token sets covered by predicted vs gold spans.
    iou_f1: a predicted span matches a gold span when their token IOU is >=
    0.5; precision = matched predictions / predictions, recall = matched gold
    spans / gold spans.
    """
    if not gold:
        raise InputError("gold must hold at least one rationale span; got none")
    pred_sets = [s for s in _token_set(text, predicted) if s]
    gold_sets = [s for s in _token_set(text, gold) if s]
    pred_all, gold_all = set().union(*pred_sets), set().union(*gold_sets)
    overlap = len(pred_all & gold_all)
    token_f1 = _f1(overlap / len(pred_all) if pred_all else 0.0, overlap / len(gold_all))
    iou = np.array([[len(p & g) / len(p | g) for g in gold_sets] for p in pred_sets]) \
        if pred_sets else np.zeros((0, len(gold_sets)))
    hits = iou >= IOU_THRESHOLD
    precision = float(hits.any(1).mean()) if pred_sets else 0.0
    iou_f1 = _f1(precision, float(hits.any(0).mean()))
    return {"token_f1": token_f1, "iou_f1": iou_f1, "predicted_tokens": len(pred_all),
            "gold_tokens": len(gold_all)}


# --------------------------------------------------------- rationale datasets
def rationale_dataset(dataset: Dataset, spans: Sequence[Span]) -> Dataset:
    """``dataset`` with each text replaced by its span's text (labels kept), meta ``full_text``."""
    if len(spans) != len(dataset):
        raise InputError(f"spans must have one entry per example ({len(dataset)}); "
                         f"got {len(spans)}")
    examples = [replace(ex, text=span.text, meta={**ex.meta, "full_text": ex.text})
                for ex, span in zip(dataset.examples, spans)]
    return replace(dataset, name=f"{dataset.name}-spans", examples=examples)
