"""Every method: batched == one by one, padding-invariant, seeded, passes counted."""
import dataclasses

import numpy as np
import pytest
import torch

from depthlens.api import explain, explain_many
from depthlens.methods.base import Attribution
from depthlens.registry import METHODS
from fixtures_models import TEXTS, lively_bert

# small step/sample counts keep the suite fast; the behaviour under test does not depend on them
PARAMS = {
    "gradient": {}, "grad_x_input": {"layer": "all"},
    "smoothgrad": {"n_samples": 4, "layer": "all"},
    "integrated_gradients": {"steps": 6, "layer": "all"},
    "gradient_shap": {"n_samples": 4, "noise": 0.1, "layer": "all"},
    "occlusion": {"window": 2}, "dimension_erasure": {},
    "lime": {"n_samples": 30}, "kernel_shap": {"n_samples": 30},
    "shapley_sampling": {"n_permutations": 3},
    "attention": {"from_position": "mean"}, "attention_rollout": {}, "attention_norm": {},
}
STOCHASTIC = ["smoothgrad", "gradient_shap", "lime", "kernel_shap", "shapley_sampling"]


@pytest.fixture(scope="module")
def adapter():
    return lively_bert(seed=1)


def test_every_method_of_this_family_is_covered():
    from depthlens.methods import attention, gradient, integrated_gradients, lime, perturbation, shap

    ours = {e.name for e in METHODS.entries()
            if e.fn.__module__ in {m.__name__ for m in (attention, gradient, integrated_gradients,
                                                        lime, perturbation, shap)}}
    assert ours == set(PARAMS)


@pytest.mark.parametrize("method", sorted(PARAMS))
def test_batched_equals_one_by_one(adapter, method):
    batched = explain_many(adapter, TEXTS, method, **PARAMS[method])
    for text, exp in zip(TEXTS, batched):
        alone = explain(adapter, text, method, **PARAMS[method])
        assert exp.layers == alone.layers
        np.testing.assert_allclose(exp.scores, alone.scores, rtol=1e-4, atol=1e-5)
        for key in ("forward_passes", "backward_passes"):
            assert exp.diagnostics[key] == alone.diagnostics[key]


@pytest.mark.parametrize("method", sorted(PARAMS))
def test_extra_padding_does_not_change_scores(adapter, method):
    """Call the method on a batch padded with 5 extra columns: real positions are unchanged."""
    batch = adapter.encode(TEXTS[:2])
    target = torch.tensor([1, 0])
    fn = METHODS.get(method).fn

    def pad(t, value=0):
        return None if t is None else torch.cat([t, torch.full((t.shape[0], 5), value)], 1)

    padded = dataclasses.replace(batch, input_ids=pad(batch.input_ids),
                                 attention_mask=pad(batch.attention_mask),
                                 token_type_ids=pad(batch.token_type_ids))
    plain: Attribution = fn(adapter, batch, target, **PARAMS[method])
    wide: Attribution = fn(adapter, padded, target, **PARAMS[method])
    for i, n in enumerate(batch.lengths):
        np.testing.assert_allclose(wide.scores[i, :, :n].detach().numpy(),
                                   plain.scores[i, :, :n].detach().numpy(), rtol=1e-4, atol=1e-5)


PAIRS = [("a man plays a guitar on stage", "a person makes music"),
         ("the dog sleeps", "an animal is running very fast")]


@pytest.mark.parametrize("method", sorted(PARAMS))
def test_every_method_explains_text_pairs(adapter, method):
    """Pairs: batched == alone; both segments get finite scores, not constant in the first row
    (the last layer of a [CLS]-pooled BERT has gradient only at [CLS])."""
    premises, hypotheses = (list(x) for x in zip(*PAIRS))
    batched = explain_many(adapter, premises, method, pairs=hypotheses, **PARAMS[method])
    for (premise, hypothesis), exp in zip(PAIRS, batched):
        alone = explain(adapter, premise, method, pair=hypothesis, **PARAMS[method])
        np.testing.assert_allclose(exp.scores, alone.scores, rtol=1e-4, atol=1e-5)
        assert exp.pair == hypothesis and np.isfinite(exp.scores).all()
        for segment in (0, 1):
            cols = [i for i, s in enumerate(exp.sequence_ids) if s == segment
                    and exp.word_ids[i] is not None]
            assert cols, f"no tokens of segment {segment}"
            assert np.ptp(exp.scores[0, cols]) > 0, f"segment {segment}"


@pytest.mark.parametrize("method", STOCHASTIC)
def test_same_seed_same_scores_other_seed_other_scores(adapter, method):
    first = explain(adapter, TEXTS[2], method, seed=3, **PARAMS[method])
    again = explain(adapter, TEXTS[2], method, seed=3, **PARAMS[method])
    other = explain(adapter, TEXTS[2], method, seed=4, **PARAMS[method])
    np.testing.assert_array_equal(first.scores, again.scores)
    assert not np.allclose(first.scores, other.scores)
    assert first.seed == 3 and first.params["seed"] == 3


def test_integrated_gradients_uniform_baseline_is_seeded(adapter):
    a, b = (explain(adapter, TEXTS[0], "integrated_gradients", baseline="uniform", steps=4, seed=s)
            for s in (0, 1))
    assert not np.allclose(a.scores, b.scores)


@pytest.mark.parametrize("method,passes", [
    ("gradient", (1, 1)), ("integrated_gradients", (3 * 6 + 2, 3 * 6)),
    ("smoothgrad", (3 * 4 + 1, 3 * 4)), ("gradient_shap", (3 * 4 + 1 + 4, 3 * 4)),
    ("lime", (30, 0)), ("shapley_sampling", (2 + 3 * 6, 0)),
])
def test_passes_are_reported_per_example(adapter, method, passes):
    exp = explain(adapter, "one two three four five six seven", method, **PARAMS[method])
    assert (exp.diagnostics["forward_passes"], exp.diagnostics["backward_passes"]) == passes


@pytest.mark.parametrize("arch", ["lstm", "cnn"])
def test_methods_work_on_builtin_models(arch):
    """Attention-free built-in models: every non-attention method runs, batched == alone."""
    from depthlens.errors import ModelCapabilityError
    from depthlens.models.small import build_small

    small = build_small(arch, ["neg", "pos"], dim=16, layers=2, seed=0)
    for method, params in PARAMS.items():
        if method.startswith("attention"):
            with pytest.raises(ModelCapabilityError):
                explain(small, TEXTS[0], method, **params)
            continue
        batched = explain_many(small, TEXTS[:3], method, **params)
        alone = explain(small, TEXTS[2], method, **params)
        np.testing.assert_allclose(batched[2].scores, alone.scores, rtol=1e-4, atol=1e-5)
