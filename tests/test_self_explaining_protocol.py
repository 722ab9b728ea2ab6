"""Span protocol helpers: ERASER scores, windows, rationale datasets."""
from __future__ import annotations

import random

import numpy as np
import pytest

from depthlens.data.types import Dataset, Example
from depthlens.errors import InputError
from depthlens.explanation import Explanation, Span, Target
from depthlens.self_explaining.protocol import (avg_saliency_span, best_window,
                                                random_span, rationale_dataset,
                                                rationale_scores, span_tokens, span_width)

TEXT = "one two three four five six seven eight"


def test_rationale_scores_exact_partial_and_miss():
    gold = [(4, 13), (29, 40)]                              # "two three", "seven eight"
    perfect = rationale_scores(TEXT, gold, gold)
    assert perfect["token_f1"] == 1.0 and perfect["iou_f1"] == 1.0
    half = rationale_scores(TEXT, [(4, 7)], gold)           # "two": IOU 1/2 with "two three"
    assert half["token_f1"] == pytest.approx(2 * 1 * 0.25 / 1.25)
    assert half["iou_f1"] == pytest.approx(2 * 1 * 0.5 / 1.5)
    wide = rationale_scores(TEXT, [(0, 13)], gold)          # "one two three": IOU 2/3
    assert wide["iou_f1"] == pytest.approx(2 * 1 * 0.5 / 1.5)
    miss = rationale_scores(TEXT, [(14, 18)], gold)         # "four"
    assert miss["token_f1"] == 0.0 and miss["iou_f1"] == 0.0
    assert rationale_scores(TEXT, [], gold)["iou_f1"] == 0.0
    with pytest.raises(InputError, match="at least one rationale span"):
        rationale_scores(TEXT, gold, [])


def test_best_window():
    scores = np.array([0.0, 5.0, 1.0, 4.0, 4.0, 0.0])
    assert best_window(scores, 1) == (1, 5.0)
    assert best_window(scores, 2) == (3, 4.0)
    assert best_window(scores, 99) == (0, pytest.approx(14 / 6))


def explanation(scores) -> Explanation:
    words = TEXT.split()
    offsets, pos = [], 0
    for w in words:
        offsets.append((pos, pos + len(w)))
        pos += len(w) + 1
    n = len(words)
    return Explanation(TEXT, ["[CLS]", *words, "[SEP]"], [(0, 0), *offsets, (0, 0)],
                       [None, *range(n), None], [None] + [0] * n + [None],
                       np.array([[0.0, *scores, 0.0]]), ["input"], Target(0, "a"), "gradient")


def test_saliency_and_random_windows():
    exp = explanation([0, 1, 9, 8, 0, 0, 0, 7])
    span = avg_saliency_span(exp, 2)
    assert (span.text, span.score) == ("three four", 8.5)
    assert span_width(span, exp) == 2
    assert avg_saliency_span(exp, 1).text == "three"
    drawn = random_span(exp, 3, random.Random(0))
    assert span_width(drawn, exp) == 3 and drawn.text in TEXT


def test_rationale_dataset_replaces_texts():
    data = Dataset("toy", "train", [Example("a good film", 1), Example("bad", 0)], ["neg", "pos"])
    spans = [Span(2, 6, 0.9, "good"), Span(0, 3, 0.5, "bad")]
    out = rationale_dataset(data, spans)
    assert [e.text for e in out] == ["good", "bad"] and [e.label for e in out] == [1, 0]
    assert out[0].meta["full_text"] == "a good film" and data[0].text == "a good film"
    with pytest.raises(InputError, match="one entry per example"):
        rationale_dataset(data, spans[:1])


def test_span_tokens_marks_overlapping_tokens(bert_adapter):
    batch = bert_adapter.encode(["a heart-warming film", "dull"])
    hide = span_tokens(batch, [Span(2, 15, 1.0, "heart-warming"), Span(0, 4, 1.0, "dull")])
    assert [t for t, h in zip(batch.tokens[0], hide[0]) if h] == ["heart", "-", "warming"]
    assert [t for t, h in zip(batch.tokens[1], hide[1]) if h] == ["dull"]
