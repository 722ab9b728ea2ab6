"""Sanity checks: parameter randomisation on a tiny random BERT, stability over runs."""
import numpy as np
import pytest
import torch

from depthlens.api import explain_many
from depthlens.errors import InputError
from depthlens.evaluation import evaluate, from_scores
from depthlens.evaluation.sanity import randomised_copy, rerun
from test_eval_support import TEXTS, additive, bert, one_thread  # noqa: F401 (fixtures)


@pytest.fixture(scope="module")
def gradients(bert):
    return explain_many(bert, TEXTS, "gradient")


def test_randomising_top_layers_lowers_rank_correlation_of_gradients(bert, gradients):
    again = evaluate(bert, gradients, ["spearman"], reference=rerun(bert, gradients))
    assert again["spearman"].value == pytest.approx(1.0)            # same model: same ranking
    head = evaluate(bert, gradients, ["randomisation"])["randomisation"]
    top = evaluate(bert, gradients, ["randomisation"], part="top", top_layers=2)["randomisation"]
    assert head.value < 0.99
    assert top.value < 0.6
    assert not top.higher_is_better and top.range == (-1.0, 1.0)


def test_randomised_copy_leaves_the_original_and_lower_layers_alone(bert):
    before = {k: v.clone() for k, v in bert.model.state_dict().items()}
    clone = randomised_copy(bert, part="top", top_layers=1, seed=3)
    after = bert.model.state_dict()
    assert all(torch.equal(before[k], after[k]) for k in before)
    changed = {k for k, v in clone.model.state_dict().items() if not torch.equal(v, before[k])}
    assert any(k.startswith("classifier") for k in changed)
    assert any(".layer.1." in k for k in changed)
    assert not any(".layer.0." in k or "embeddings" in k for k in changed)
    assert clone.tokenizer is bert.tokenizer
    with pytest.raises(InputError, match="top_layers"):
        randomised_copy(bert, part="top", top_layers=5)


def test_stability_over_given_runs_hand_computed(additive):
    text = "good bad"
    a = [from_scores(additive, text, [1.0, 0.0])]
    b = [from_scores(additive, text, [0.0, 1.0])]
    same = evaluate(additive, a, ["stability"], runs=[a, a])["stability"]
    assert same.value == 0.0 and same.details["runs"] == 3
    # normalised rows (1, 0) and (0, 1): std 0.5 for each token
    res = evaluate(additive, a, ["stability"], runs=[b])["stability"]
    assert res.value == pytest.approx(0.5)
    np.testing.assert_allclose(res.per_example, [0.5])


def test_stability_needs_a_seeded_method_or_runs(bert, gradients):
    with pytest.raises(InputError, match="no seed parameter"):
        evaluate(bert, gradients, ["stability"])
    external = [from_scores(bert, TEXTS[0], np.arange(6.0))]
    with pytest.raises(InputError, match="cannot be re-run"):
        evaluate(bert, external, ["randomisation"])


def test_stability_of_a_seeded_method_rerun_per_seed(bert):
    noisy = explain_many(bert, TEXTS[:2], "smoothgrad", n_samples=2, noise=0.5)
    varies = evaluate(bert, noisy, ["stability"], seeds="0,1")["stability"]
    assert varies.value > 0 and varies.details["runs"] == 2
    exact = explain_many(bert, TEXTS[:2], "smoothgrad", n_samples=2, noise=0.0)
    assert evaluate(bert, exact, ["stability"], seeds=[0, 1])["stability"].value == 0.0
