"""Gradient family: grad x input, SmoothGrad, Integrated Gradients, GradientSHAP (and layers)."""
import numpy as np
import pytest
import torch

from depthlens.api import explain, explain_many
from depthlens.errors import InputError
from depthlens.methods.integrated_gradients import path_nodes, step_schedule
from fixtures_models import TEXTS, AdditiveAdapter, lively_bert


@pytest.fixture(scope="module")
def adapter():
    return lively_bert()


@pytest.fixture(scope="module")
def additive():
    return AdditiveAdapter()


def relative(exp, row=0):
    return exp.diagnostics["relative_delta"][row]


@pytest.mark.parametrize("rule", ["gausslegendre", "riemann_left", "riemann_right",
                                    "riemann_middle", "riemann_trapezoid"])
def test_path_nodes_integrate_polynomials(rule):
    alphas, weights = path_nodes(rule, 40)
    assert weights.sum() == pytest.approx(1.0)
    assert (alphas * weights).sum() == pytest.approx(0.5, abs=2e-2)
    if rule == "gausslegendre":
        assert (alphas ** 5 * weights).sum() == pytest.approx(1 / 6, abs=1e-12)


def test_ig_completeness_small_with_50_gauss_legendre_steps(adapter):
    exps = explain_many(adapter, TEXTS, "integrated_gradients", steps=50, baseline="mask")
    for exp in exps:
        assert relative(exp) < 0.05
        gap = exp.diagnostics["completeness_delta"][0]
        assert gap == pytest.approx(abs(exp.scores.sum() - (exp.scores.sum() - gap)), abs=1e-6)


def test_ig_completeness_error_shrinks_with_steps(adapter):
    errors = [relative(explain(adapter, TEXTS[2], "integrated_gradients", steps=n,
                               rule="riemann_right", baseline="zero", target=1))
              for n in (4, 16, 64)]
    assert errors[0] > errors[1] > errors[2]
    assert errors[2] < 0.05


def test_ig_sum_matches_output_difference(adapter):
    """sum(attr) = f(x) - f(x') checked against forwards done here, not the diagnostics."""
    text = TEXTS[0]
    exp = explain(adapter, text, "integrated_gradients", steps=64, baseline="pad", target=0)
    batch = adapter.encode([text])
    from depthlens.erasure import erase

    pad = erase(adapter, batch, torch.ones_like(batch.input_ids, dtype=torch.bool), "pad")
    with torch.no_grad():
        gap = adapter.forward(batch).logits[0, 0] - adapter.forward(pad).logits[0, 0]
    assert exp.scores.sum() == pytest.approx(float(gap), rel=0.02)


def test_ig_zero_when_input_equals_baseline(adapter):
    exp = explain(adapter, "[MASK] [MASK] [MASK]", "integrated_gradients", baseline="mask",
                  steps=8)
    assert np.all(exp.scores == 0)
    assert exp.diagnostics["completeness_delta"] == [0.0]


@pytest.mark.parametrize("baseline", ["zero", "unk", "uniform"])
def test_ig_special_tokens_keep_their_embedding(adapter, baseline):
    exp = explain(adapter, TEXTS[1], "integrated_gradients", baseline=baseline, steps=8)
    special = [i for i, w in enumerate(exp.word_ids) if w is None]
    assert np.all(exp.scores[0, special] == 0)
    assert np.any(exp.scores[0] != 0)


def test_layer_ig_completeness_every_layer(adapter):
    exp = explain(adapter, TEXTS[0], "integrated_gradients", layer="all", steps=50,
                  baseline="mask")
    assert exp.layers == ["embeddings", "layer 1", "layer 2"]
    assert len(exp.diagnostics["relative_delta"]) == 3
    assert max(exp.diagnostics["relative_delta"]) < 0.05
    single = explain(adapter, TEXTS[0], "integrated_gradients", layer=1, steps=50, baseline="mask")
    np.testing.assert_allclose(single.scores[0], exp.scores[1], rtol=1e-4, atol=1e-6)


def test_ig_tolerance_mode_stops_early(adapter):
    exps = explain_many(adapter, TEXTS, "integrated_gradients", steps=64, tolerance=0.01,
                        baseline="mask")
    for exp in exps:
        assert relative(exp) <= 0.01 or exp.diagnostics["steps"] == [64]
        assert exp.diagnostics["backward_passes"] == sum(
            n for n in step_schedule(64, 0.01) if n <= exp.diagnostics["steps"][0])
    assert min(e.diagnostics["steps"][0] for e in exps) < 64


def test_linear_model_ig_equals_grad_x_input(additive):
    """On a model linear in the embeddings IG with a zero baseline is exact and equals
    grad x input, which is the token's weight."""
    ig = explain(additive, TEXTS[0], "integrated_gradients", baseline="zero", steps=3, target=1)
    gxi = explain(additive, TEXTS[0], "grad_x_input", target=1)
    batch = additive.encode([TEXTS[0]])
    weights = additive.weight(batch, 0, 1).numpy()
    real = [i for i, w in enumerate(gxi.word_ids) if w is not None]
    np.testing.assert_allclose(gxi.scores[0], weights, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(ig.scores[0, real], weights[real], rtol=1e-5, atol=1e-6)
    assert ig.diagnostics["relative_delta"][0] < 1e-5


def test_grad_x_input_layers_match_hand_computation(adapter):
    exp = explain(adapter, TEXTS[1], "grad_x_input", layer="all", target=1)
    batch = adapter.encode([TEXTS[1]])
    out = adapter.forward(batch, output_states=True)
    grads = torch.autograd.grad(out.logits[0, 1], out.states)
    for layer, (g, h) in enumerate(zip(grads, out.states)):
        np.testing.assert_allclose(exp.scores[layer], (g * h).sum(-1)[0].detach().numpy(),
                                   rtol=1e-4, atol=1e-6)


def test_smoothgrad_without_noise_is_gradient(adapter):
    smooth = explain(adapter, TEXTS[0], "smoothgrad", noise=0.0, n_samples=3, layer="all")
    plain = explain(adapter, TEXTS[0], "gradient", layer="all")
    np.testing.assert_allclose(smooth.scores, plain.scores, rtol=1e-4, atol=1e-6)


def test_smoothgrad_noise_changes_scores(adapter):
    smooth = explain(adapter, TEXTS[0], "smoothgrad", noise=0.5, n_samples=4)
    plain = explain(adapter, TEXTS[0], "gradient")
    assert not np.allclose(smooth.scores, plain.scores)
    assert smooth.diagnostics["backward_passes"] == 4


def test_gradient_shap_with_zero_baseline_is_an_ig_estimate(additive):
    """On a linear model every sample gives (x - 0) . w, i.e. exactly grad x input."""
    shap = explain(additive, TEXTS[0], "gradient_shap", baseline="zero", target=0)
    gxi = explain(additive, TEXTS[0], "grad_x_input", target=0)
    real = [i for i, w in enumerate(gxi.word_ids) if w is not None]
    np.testing.assert_allclose(shap.scores[0, real], gxi.scores[0, real], rtol=1e-5, atol=1e-6)


def test_gradient_shap_layer_rows_match_single_layer_runs(adapter):
    """layer='all' draws the same baselines and alphas for every row as one layer alone."""
    every = explain(adapter, TEXTS[2], "gradient_shap", layer="all", n_samples=3, noise=0.1)
    assert every.layers == adapter.layer_names
    for row in range(len(every.layers)):
        one = explain(adapter, TEXTS[2], "gradient_shap", layer=str(row), n_samples=3, noise=0.1)
        np.testing.assert_allclose(one.scores[0], every.scores[row], rtol=1e-4, atol=1e-6)


@pytest.mark.parametrize("params", [{"steps": 0}, {"rule": "simpson"}, {"baseline": "eos"},
                                    {"tolerance": -1.0}, {"internal_batch_size": -2}])
def test_ig_rejects_bad_parameters(adapter, params):
    with pytest.raises(InputError, match="must be"):
        explain(adapter, TEXTS[0], "integrated_gradients", **params)


def test_internal_batch_size_does_not_change_scores(adapter):
    small = explain(adapter, TEXTS[2], "integrated_gradients", steps=10, internal_batch_size=3)
    auto = explain(adapter, TEXTS[2], "integrated_gradients", steps=10)
    np.testing.assert_allclose(small.scores, auto.scores, rtol=1e-4, atol=1e-6)
