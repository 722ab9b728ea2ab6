"""Per-sample information bottleneck (Schulz et al. 2020): closed-form KL, a known answer,
batch invariance, seeding and errors."""
import numpy as np
import pytest
import torch
from torch.distributions import Normal, kl_divergence

import depthlens
from depthlens.errors import InputError
from depthlens.methods.bottleneck import capacity
from fixtures_models import AdditiveAdapter

TEXTS = ["good movie and bad plot", "the acting great", "fine"]


class FirstTokenAdapter(AdditiveAdapter):
    """Logits read only the first real token's state: every other position is ignored."""

    def _logits(self, batch, inputs_embeds, output_attentions):
        x = self.model.embeddings(batch.input_ids) if inputs_embeds is None else inputs_embeds
        return 5 * self.model.block(self.model.embedding_out(x))[:, 1], []


@pytest.fixture(scope="module")
def first_token():
    return FirstTokenAdapter(seed=2)


def test_capacity_is_the_gaussian_kl():
    logit, r = torch.randn(50), 3 * torch.randn(50)
    lam = torch.sigmoid(logit)
    expected = kl_divergence(Normal(lam * r, 1 - lam), Normal(0.0, 1.0))
    torch.testing.assert_close(capacity(logit, r), expected, atol=1e-5, rtol=1e-5)


def test_only_the_token_the_model_reads_keeps_information(first_token):
    for exp in depthlens.explain_many(first_token, TEXTS[:2], "bottleneck", layer=0, steps=30):
        row = exp.scores[0, 1:len(exp.tokens) - 1]        # real tokens; the first is read
        assert row[0] > 10 * row[1:].max(), row


def test_batched_equals_one_by_one_and_seed_is_recorded(first_token):
    together = depthlens.explain_many(first_token, TEXTS, "bottleneck", layer=0, seed=3)
    for text, exp in zip(TEXTS, together):
        alone = depthlens.explain(first_token, text, "bottleneck", layer=0, seed=3)
        np.testing.assert_allclose(alone.scores, exp.scores, rtol=1e-4, atol=1e-6)
        assert exp.params["seed"] == 3
    other = depthlens.explain(first_token, TEXTS[0], "bottleneck", layer=0, seed=4)
    assert not np.allclose(other.scores, together[0].scores)


@pytest.mark.parametrize("params, message", [
    ({"layer": "input"}, "bottleneck acts on a hidden state"),
    ({"beta": -1.0}, "beta must be >= 0"),
    ({"steps": 0}, "steps must be"),
])
def test_bad_parameters(first_token, params, message):
    with pytest.raises(InputError, match=message):
        depthlens.explain(first_token, "fine", "bottleneck", **params)
