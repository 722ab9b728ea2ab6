"""Perturbation family: occlusion, dimension erasure, LIME (+ SP-LIME), KernelSHAP, Shapley sampling."""
from itertools import combinations
from math import factorial

import numpy as np
import pytest
import torch

from depthlens.api import explain, explain_many
from depthlens.erasure import erase
from depthlens.errors import InputError
from depthlens.methods.lime import lime_submodular_pick, weighted_ridge
from depthlens.methods.perturbation import windows
from fixtures_models import TEXTS, AdditiveAdapter, lively_bert
from fixtures_explanations import word_explanation

SHORT = "the film is bad"  # 4 words: every coalition can be enumerated


@pytest.fixture(scope="module")
def adapter():
    return lively_bert()


@pytest.fixture(scope="module")
def additive():
    return AdditiveAdapter()


def token_weights(additive, text, target):
    batch = additive.encode([text])
    real = ~batch.special_mask[0]
    return additive.weight(batch, 0, target).numpy(), real.numpy()


def word_sums(exp):
    return exp.word_scores("sum")[1][0]


def test_occlusion_exact_on_additive_model(additive):
    text = "an utterly unwatchable mess , sadly"
    weights, real = token_weights(additive, text, 1)
    exp = explain(additive, text, "occlusion", output="logit", target=1)
    np.testing.assert_allclose(exp.scores[0], np.where(real, weights, 0), rtol=1e-5, atol=1e-5)
    assert exp.diagnostics["forward_passes"] == 1 + real.sum()


def test_occlusion_words_and_windows_on_additive_model(additive):
    text = "an utterly unwatchable mess , sadly"
    weights, _ = token_weights(additive, text, 0)
    exp = explain(additive, text, "occlusion", unit="word", window=2, output="logit", target=0)
    per_word = np.array([weights[w.positions].sum() for w in exp.words()])
    # a window of two words drops both; each word gets the mean over the windows covering it
    cover = windows(len(per_word), 2).numpy()
    expected = ((cover @ per_word) @ cover) / cover.sum(0)
    np.testing.assert_allclose(word_sums(exp), expected, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("mode", ["pad", "unk", "delete"])
def test_occlusion_modes_match_erase(adapter, mode):
    exp = explain(adapter, SHORT, "occlusion", mode=mode, target=1)
    batch = adapter.encode([SHORT])
    with torch.no_grad():
        full = torch.softmax(adapter.forward(batch).logits, -1)[0, 1]
        for j in range(1, len(exp.tokens) - 1):
            hide = torch.zeros_like(batch.input_ids, dtype=torch.bool)
            hide[0, j] = True
            erased = torch.softmax(adapter.forward(erase(adapter, batch, hide, mode)).logits, -1)
            assert exp.scores[0, j] == pytest.approx(float(full - erased[0, 1]), abs=1e-6)


def test_dimension_erasure_on_additive_model(additive):
    """Zeroing a token's vector drops its weight; zeroing dimension d drops class d's sum."""
    text = "the film is bad"
    weights, real = token_weights(additive, text, 1)
    exp = explain(additive, text, "dimension_erasure", output="logit", target=1)
    np.testing.assert_allclose(exp.scores[0], np.where(real, weights, 0), rtol=1e-5, atol=1e-5)
    importance = exp.diagnostics["dimension_importance"][0]
    np.testing.assert_allclose(importance, [0.0, weights[real].sum()], rtol=1e-5, atol=1e-5)


def test_dimension_erasure_layers(adapter):
    exp = explain(adapter, SHORT, "dimension_erasure", layer="all")
    assert exp.layers == ["embeddings", "layer 1", "layer 2"]
    assert [len(v) for v in exp.diagnostics["dimension_importance"]] == [32, 32, 32]
    assert exp.diagnostics["forward_passes"] == 1 + 3 * (32 + 4)


def test_lime_recovers_additive_coefficients(additive):
    text = "an utterly unwatchable mess of a picture , sadly not worth seeing"
    exp = explain(additive, text, "lime", output="logit", n_samples=300, target=1)
    weights, _ = token_weights(additive, text, 1)
    truth = np.array([weights[w.positions].sum() for w in exp.words()])
    found = word_sums(exp)
    assert np.corrcoef(found, truth)[0, 1] > 0.99
    np.testing.assert_allclose(found, truth, rtol=0.05, atol=0.05)
    assert exp.diagnostics["r2"] > 0.99


def test_weighted_ridge_matches_numpy():
    rng = np.random.default_rng(0)
    x = rng.integers(0, 2, size=(2, 40, 5)).astype(float)
    x[1, :, 4] = 0  # a padded feature column
    y = rng.normal(size=(2, 40))
    w = rng.uniform(0.1, 1, size=(2, 40))
    coef, intercept, _ = weighted_ridge(*(torch.from_numpy(a) for a in (x, y, w)), alpha=0.5)
    for b in range(2):
        design = np.hstack([x[b], np.ones((40, 1))])
        penalty = np.diag([0.5] * 5 + [0.0])
        sol = np.linalg.solve(design.T @ (w[b, :, None] * design) + penalty,
                              design.T @ (w[b] * y[b]))
        np.testing.assert_allclose(coef[b].numpy(), sol[:5], atol=1e-10)
        assert float(intercept[b]) == pytest.approx(sol[5])
    assert float(coef[1, 4]) == 0


def brute_force_shapley(adapter, text, target):
    """Exact Shapley values of the words (erased with [MASK]) from all 2^m coalitions."""
    batch = adapter.encode([text])
    words = sorted({w for w in batch.word_ids[0] if w is not None})
    m = len(words)
    value = {}
    with torch.no_grad():
        for size in range(m + 1):
            for keep in combinations(range(m), size):
                hide = torch.tensor([[w is not None and words.index(w) not in keep
                                      for w in batch.word_ids[0]]])
                probs = torch.softmax(adapter.forward(erase(adapter, batch, hide)).logits, -1)
                value[frozenset(keep)] = float(probs[0, target])
    phi = np.zeros(m)
    for j in range(m):
        for s, v in value.items():
            if j not in s:
                weight = factorial(len(s)) * factorial(m - len(s) - 1) / factorial(m)
                phi[j] += weight * (value[s | {j}] - v)
    return phi


def test_kernel_shap_exact_when_coalitions_enumerable(adapter):
    exp = explain(adapter, SHORT, "kernel_shap", n_samples=64, target=1)
    np.testing.assert_allclose(word_sums(exp), brute_force_shapley(adapter, SHORT, 1), atol=1e-5)


def test_shapley_sampling_converges_to_exact(adapter):
    exact = brute_force_shapley(adapter, SHORT, 1)
    exp = explain(adapter, SHORT, "shapley_sampling", n_permutations=300, target=1)
    found = word_sums(exp)
    assert found.sum() == pytest.approx(exact.sum(), abs=1e-5)  # efficiency holds exactly
    np.testing.assert_allclose(found, exact, atol=0.1 * np.abs(exact).max())


@pytest.mark.parametrize("method", ["kernel_shap", "shapley_sampling"])
def test_shapley_methods_exact_on_additive_model(additive, method):
    text = "an utterly unwatchable mess of a picture , sadly not worth seeing"
    weights, _ = token_weights(additive, text, 0)
    exp = explain(additive, text, method, output="logit", target=0)
    truth = np.array([weights[w.positions].sum() for w in exp.words()])
    np.testing.assert_allclose(word_sums(exp), truth, rtol=1e-4, atol=1e-4)


def test_kernel_shap_efficiency_when_sampled(adapter):
    text = TEXTS[2]
    exp = explain(adapter, text, "kernel_shap", n_samples=40, target=0)
    batch = adapter.encode([text])
    hide = torch.ones_like(batch.input_ids, dtype=torch.bool)
    with torch.no_grad():
        probs = torch.softmax(adapter.forward(batch).logits, -1)[0, 0]
        empty = torch.softmax(adapter.forward(erase(adapter, batch, hide)).logits, -1)[0, 0]
    assert exp.scores.sum() == pytest.approx(float(probs - empty), abs=1e-5)
    assert exp.diagnostics["base_value"] == pytest.approx(float(empty), abs=1e-6)


def test_submodular_pick_covers_important_words():
    exps = [word_explanation(["good", "fun"], [1.0, 1.0]),
            word_explanation(["good", "film"], [1.0, 0.1]),
            word_explanation(["bad", "boring"], [0.9, 0.9]),
            word_explanation(["Good", "bad"], [1.0, 0.5])]
    # importance: good sqrt(3), bad sqrt(1.4), fun 1, boring sqrt(.9), film sqrt(.1);
    # 3 covers good + bad (2.92), then 0 adds fun (1), then 2 adds boring (0.95)
    assert lime_submodular_pick(exps, 3) == [3, 0, 2]
    assert sorted(lime_submodular_pick(exps, 4)) == [0, 1, 2, 3]
    with pytest.raises(InputError, match="budget must be"):
        lime_submodular_pick(exps, 5)


@pytest.mark.parametrize("method,params", [("occlusion", {"unit": "char"}),
                                           ("occlusion", {"window": 0}),
                                           ("lime", {"n_samples": 1}),
                                           ("lime", {"kernel_width": 0.0}),
                                           ("kernel_shap", {"mode": "blank"}),
                                           ("shapley_sampling", {"seed": -1})])
def test_perturbation_methods_reject_bad_parameters(adapter, method, params):
    with pytest.raises(InputError, match="must be"):
        explain_many(adapter, [SHORT], method, **params)
