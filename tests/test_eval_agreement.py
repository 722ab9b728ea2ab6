"""Ground truth divergences and agreement between methods, by hand."""
import math

import numpy as np
import pytest

from depthlens.errors import InputError
from depthlens.evaluation import evaluate, from_scores
from depthlens.evaluation.agreement import topk_overlap
from depthlens.evaluation.groundtruth import js_div, kl_div, normalise
from test_eval_support import additive, one_thread  # noqa: F401 (fixtures)

TEXT = "good movie , bad plot the acting"          # 7 real tokens


def exp_of(adapter, scores):
    return from_scores(adapter, TEXT, scores)


def test_kl_and_js_of_identical_distributions_are_zero(additive):
    scores = [3.0, -1.0, 0.0, 2.0, 0.5, 0.0, 1.0]
    res = evaluate(additive, [exp_of(additive, scores)], ["kl_divergence", "js_divergence"],
                   truth=[scores])
    assert res["kl_divergence"].value == pytest.approx(0.0, abs=1e-9)
    assert res["js_divergence"].value == pytest.approx(0.0, abs=1e-12)
    assert res["js_divergence"].range == (0.0, math.log(2))
    assert res["kl_divergence"].range[1] == math.inf and not res["kl_divergence"].higher_is_better


def test_js_symmetric_and_bounded_kl_hand_computed(additive):
    p, q = np.array([0.5, 0.5, 0.0]), np.array([0.0, 0.0, 1.0])
    assert js_div(p, q) == pytest.approx(math.log(2))                    # disjoint: the bound
    rng = np.random.default_rng(0)
    for _ in range(10):
        a, b = rng.dirichlet(np.ones(5)), rng.dirichlet(np.ones(5))
        assert js_div(a, b) == pytest.approx(js_div(b, a))
        assert 0 <= js_div(a, b) <= math.log(2)
    assert kl_div(np.array([0.5, 0.5]), np.array([0.25, 0.75]), eps=0) == pytest.approx(
        0.5 * math.log(2) + 0.5 * math.log(2 / 3))
    np.testing.assert_allclose(normalise([-1.0, 3.0]), [0.25, 0.75])
    np.testing.assert_allclose(normalise([-1.0, 3.0], "positive"), [0.0, 1.0])
    np.testing.assert_allclose(normalise([0.0, 0.0]), [0.5, 0.5])
    # the known attribution may be given over all tokens incl. [CLS]/[SEP]
    truth = [0, 1, 0, 0, 0, 0, 0, 1, 0]
    res = evaluate(additive, [exp_of(additive, [1.0, 0, 0, 0, 0, 0, 1.0])], ["js_divergence"],
                   truth=[truth])
    assert res["js_divergence"].value == pytest.approx(0.0, abs=1e-12)
    with pytest.raises(InputError, match="known attribution"):
        evaluate(additive, [exp_of(additive, [1.0] * 7)], ["js_divergence"], truth=[[1, 2]])


def test_kendall_and_spearman_of_identical_and_reversed_rankings(additive):
    scores = [7.0, 6, 5, 4, 3, 2, 1]
    a = [exp_of(additive, scores)] * 3
    same = evaluate(additive, a, ["kendall_tau", "spearman"], reference=a)
    assert same["kendall_tau"].value == pytest.approx(1.0)
    assert same["spearman"].value == pytest.approx(1.0)
    assert same["kendall_tau"].details["fraction_significant"] == 1.0     # p = 2/7! < 0.05
    reversed_ = [exp_of(additive, scores[::-1])] * 3
    opposite = evaluate(additive, a, ["kendall_tau"], reference=reversed_)["kendall_tau"]
    assert opposite.value == pytest.approx(-1.0)
    # a constant explanation has no ranking: undefined, not counted
    flat = evaluate(additive, a[:1], ["kendall_tau"], reference=[exp_of(additive, [1.0] * 7)])
    assert math.isnan(flat["kendall_tau"].value)
    assert flat["kendall_tau"].details["n_undefined"] == 1


def test_fraction_significant_hand_computed(additive):
    base = [7.0, 6, 5, 4, 3, 2, 1]
    swapped = [6.0, 7, 5, 4, 3, 2, 1]                 # tau = 19/21, p ~ 0.003
    noisy = [1.0, 7, 3, 6, 2, 5, 4]                   # weak agreement, p > 0.05
    a = [exp_of(additive, base)] * 2
    res = evaluate(additive, a, ["kendall_tau"],
                   reference=[exp_of(additive, swapped), exp_of(additive, noisy)])["kendall_tau"]
    assert res.per_example[0] == pytest.approx(19 / 21)
    assert res.details["p_values"][0] < 0.05 < res.details["p_values"][1]
    assert res.details["fraction_significant"] == 0.5


def test_topk_intersection(additive):
    assert topk_overlap(np.array([5.0, 4, 3, 2]), np.array([4.0, 5, 1, 3]), 2) == 1.0
    assert topk_overlap(np.array([5.0, 4, 3, 2]), np.array([1.0, 2, 3, 4]), 2) == 0.0
    assert topk_overlap(np.array([5.0, 4]), np.array([4.0, 5]), 10) == 1.0    # k capped at n
    a = [exp_of(additive, [7.0, 6, 5, 4, 3, 2, 1])]
    b = [exp_of(additive, [7.0, 1, 5, 4, 3, 2, 6])]
    res = evaluate(additive, a, ["topk_intersection"], reference=b, k=3)["topk_intersection"]
    assert res.value == pytest.approx(2 / 3)
    with pytest.raises(InputError, match="same text"):
        evaluate(additive, a, ["topk_intersection"],
                 reference=[from_scores(additive, "good movie", [1.0, 2.0])])
