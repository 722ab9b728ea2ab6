"""Plausibility (token F1, IOU F1, AUPRC) and rationale alignment on hand-made spans."""
import math

import numpy as np
import pytest

from depthlens.errors import InputError
from depthlens.evaluation import evaluate, from_scores, spans_from_token_labels
from depthlens.evaluation.plausibility import average_precision, iou, runs
from depthlens.evaluation.units import rationale_token_mask
from test_eval_support import additive, one_thread  # noqa: F401 (fixtures)

TEXT = "good movie , bad plot the acting"
#       0    5     11 13  17   22  26
SCORES = [5.0, 4.0, 0.0, 3.0, 0.0, 0.0, 1.0]
GOLD_SPANS = [(0, 10), (17, 21)]            # "good movie", "plot" -> units 0, 1, 4


@pytest.fixture(scope="module")
def exp(additive):
    return from_scores(additive, TEXT, SCORES)


def test_token_f1_hand_computed(additive, exp):
    # top-3 = {good, movie, bad}; gold = {good, movie, plot}
    res = evaluate(additive, [exp], ["token_f1"], rationales=[GOLD_SPANS])["token_f1"]
    assert res.value == pytest.approx(2 / 3)
    assert res.details["precision"] == pytest.approx(2 / 3)
    assert res.details["recall"] == pytest.approx(2 / 3)
    top1 = evaluate(additive, [exp], ["token_f1"], rationales=[GOLD_SPANS], k=1)["token_f1"]
    assert top1.details["precision"] == 1.0 and top1.details["recall"] == pytest.approx(1 / 3)


def test_iou_f1_hand_computed(additive, exp):
    # predicted runs [0, 2) "good movie" (IOU 1 with gold) and [3, 4) "bad" (IOU 0)
    res = evaluate(additive, [exp], ["iou_f1"], rationales=[GOLD_SPANS])["iou_f1"]
    assert res.value == pytest.approx(0.5)
    # a partial match: top-3 run [0, 3) against gold [0, 2): IOU 2/3 >= 0.5
    partial = from_scores(additive, TEXT, [5.0, 4.0, 3.5, 0.0, 0.0, 0.0, 0.0])
    res = evaluate(additive, [partial], ["iou_f1"], rationales=[[(0, 10)]], k=3)["iou_f1"]
    assert res.value == pytest.approx(1.0)
    strict = evaluate(additive, [partial], ["iou_f1"], rationales=[[(0, 10)]], k=3,
                      threshold=0.7)["iou_f1"]
    assert strict.value == 0.0
    assert runs(np.array([1, 1, 0, 1, 0, 1, 1], dtype=bool)) == [(0, 2), (3, 4), (5, 7)]
    assert iou((0, 3), (0, 2)) == pytest.approx(2 / 3)


def test_auprc_perfect_ranking_is_one_and_hand_computed(additive, exp):
    perfect = from_scores(additive, TEXT, [3.0, 2.0, 0.0, 0.0, 1.0, 0.0, 0.0])
    res = evaluate(additive, [perfect, exp], ["auprc"], rationales=[GOLD_SPANS, GOLD_SPANS])
    # exp: hits at ranks 1, 2, then the third gold unit in a 3-way tie at the bottom (ranks 5-7)
    np.testing.assert_allclose(res["auprc"].per_example, [1.0, 2 / 3 + (1 / 3) * (3 / 7)])
    assert res["auprc"].range == (0.0, 1.0) and res["auprc"].higher_is_better


def test_average_precision_matches_scikit_learn():
    sklearn_metrics = pytest.importorskip("sklearn.metrics")
    rng = np.random.default_rng(0)
    for _ in range(20):
        scores = rng.integers(0, 4, size=12).astype(float)     # many ties
        gold = rng.random(12) < 0.4
        if gold.any():
            assert average_precision(scores, gold) == pytest.approx(
                sklearn_metrics.average_precision_score(gold, scores))


def test_rationales_as_spans_masks_pairs_and_sst_labels(additive):
    exp = from_scores(additive, "good movie", [1.0, 2.0, 3.0, 4.0], pair="bad plot")
    # tokens: [CLS] good movie [SEP] bad plot [SEP]
    np.testing.assert_array_equal(rationale_token_mask(exp, [(0, 3, 1)]),
                                  [0, 0, 0, 0, 1, 0, 0])
    np.testing.assert_array_equal(rationale_token_mask(exp, [(0, 3)]), [0, 1, 0, 0, 0, 0, 0])
    np.testing.assert_array_equal(rationale_token_mask(exp, [1, 1, 0, 0, 0, 0, 1]),
                                  [0, 1, 0, 0, 0, 0, 0])                 # specials dropped
    assert spans_from_token_labels([(0, 4), (5, 10)], [0, 1]) == [(5, 10)]
    with pytest.raises(InputError, match="one entry per span"):
        spans_from_token_labels([(0, 4)], [0, 1])


def test_examples_without_rationale_are_skipped(additive, exp):
    res = evaluate(additive, [exp, exp], ["token_f1", "iou_f1", "auprc"],
                   rationales=[GOLD_SPANS, []])
    for r in res.values():
        assert math.isnan(r.per_example[1]) and not math.isnan(r.value)
        assert r.details["n_without_rationale"] == 1
    with pytest.raises(InputError, match="rationales must be given"):
        evaluate(additive, [exp], ["auprc"])
    with pytest.raises(InputError, match="level"):
        evaluate(additive, [exp], ["auprc"], rationales=[GOLD_SPANS], level="char")
