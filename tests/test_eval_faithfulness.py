"""ERASER comprehensiveness / sufficiency on the additive model, by hand."""
import math

import numpy as np
import pytest

from depthlens.errors import InputError
from depthlens.evaluation import evaluate, from_scores
from depthlens.evaluation.faithfulness import faithfulness
from test_eval_support import TEXTS, additive, one_thread  # noqa: F401 (fixtures)


def sigmoid(x):
    return 1 / (1 + math.exp(-x))


@pytest.fixture(scope="module")
def good_bad_the(additive):
    # logit(positive) = 2 - 1 + 0.5 = 1.5; scores rank good > the > bad
    return from_scores(additive, "good bad the", [2.0, -1.0, 0.5])


def test_aopc_comprehensiveness_and_sufficiency_hand_computed(additive, good_bad_the):
    # bins 0.3 and 0.6 of 3 tokens: top-1 {good}, top-2 {good, the}
    full = sigmoid(1.5)
    comp = [full - sigmoid(-0.5), full - sigmoid(-1.0)]
    suff = [full - sigmoid(2.0), full - sigmoid(2.5)]
    res = evaluate(additive, [good_bad_the], ["comprehensiveness", "sufficiency"], bins=[0.3, 0.6])
    assert res["comprehensiveness"].value == pytest.approx(np.mean(comp), abs=1e-6)
    assert res["sufficiency"].value == pytest.approx(np.mean(suff), abs=1e-6)
    np.testing.assert_allclose(res["comprehensiveness"].details["per_bin"], comp, atol=1e-6)
    assert res["comprehensiveness"].details["aopc"] is True
    assert res["comprehensiveness"].higher_is_better and not res["sufficiency"].higher_is_better


def test_erasure_modes_agree_on_the_additive_model(additive, good_bad_the):
    values = {mode: evaluate(additive, [good_bad_the], ["comprehensiveness"], mode=mode,
                             drop_attention=mode != "delete")["comprehensiveness"].value
              for mode in ("delete", "mask", "pad", "unk")}
    assert max(values.values()) - min(values.values()) < 1e-6


def test_discrete_rationale_spans(additive, good_bad_the):
    # rationale "bad" (characters 5..8): comprehensiveness = p(x) - p(good the)
    f = faithfulness(additive, [good_bad_the], spans=[[(5, 8)]])
    assert f.comprehensiveness[0, 0] == pytest.approx(sigmoid(1.5) - sigmoid(2.5), abs=1e-6)
    assert f.sufficiency[0, 0] == pytest.approx(sigmoid(1.5) - sigmoid(-1.0), abs=1e-6)
    # the same rationale as a token mask; an example without rationale is NaN and skipped
    res = evaluate(additive, [good_bad_the, good_bad_the], ["comprehensiveness"],
                   spans=[[0, 0, 1, 0, 0], []])["comprehensiveness"]
    assert res.value == pytest.approx(sigmoid(1.5) - sigmoid(2.5), abs=1e-6)
    assert math.isnan(res.per_example[1]) and res.details["n_without_spans"] == 1


def test_oracle_is_more_comprehensive_and_sufficient_than_anti_oracle(additive):
    good = evaluate(additive, additive.oracle(TEXTS), ["comprehensiveness", "sufficiency"])
    bad = evaluate(additive, additive.oracle(TEXTS, -1.0), ["comprehensiveness", "sufficiency"])
    assert good["comprehensiveness"].value > bad["comprehensiveness"].value
    assert good["sufficiency"].value < bad["sufficiency"].value


def test_spans_of_the_explanation_itself(additive):
    from depthlens.explanation import Span

    spanned = from_scores(additive, "good bad the", [2.0, -1.0, 0.5])
    spanned.spans = [Span(5, 8, score=1.0)]
    res = evaluate(additive, [spanned], ["sufficiency"], spans="explanation")["sufficiency"]
    assert res.value == pytest.approx(sigmoid(1.5) - sigmoid(-1.0), abs=1e-6)
    assert res.details["aopc"] is False


def test_span_errors(additive, good_bad_the):
    with pytest.raises(InputError, match="one entry per explanation"):
        faithfulness(additive, [good_bad_the], spans=[[(0, 4)], [(0, 4)]])
    with pytest.raises(InputError, match="one entry per token"):
        faithfulness(additive, [good_bad_the], spans=[[1, 0]])
    with pytest.raises(InputError, match="'explanation'"):
        faithfulness(additive, [good_bad_the], spans="human")
    with pytest.raises(InputError, match="start <= end"):
        faithfulness(additive, [good_bad_the], spans=[[(4, 0)]])
