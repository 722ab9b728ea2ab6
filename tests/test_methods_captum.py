"""Cross-checks against Captum on the same model, inputs and settings (Pearson r >= 0.99)."""
import dataclasses

import numpy as np
import pytest
import torch

from depthlens.api import explain_many
from fixtures_models import TEXTS, lively_bert

captum_attr = pytest.importorskip("captum.attr")
TARGET = 1


@pytest.fixture(scope="module")
def setup():
    """Adapter, padded batch, its input embeddings and the [MASK] baseline (specials kept)."""
    adapter = lively_bert(seed=2)
    batch = adapter.encode(TEXTS)
    embeds = adapter.embed(batch).detach()
    mask_ids = batch.input_ids.masked_fill(~batch.special_mask, adapter.special_ids["mask"])
    baseline = adapter.word_embeddings()(mask_ids).detach()
    return adapter, batch, embeds, baseline


def tiled(batch, rows):
    """The batch tiled to ``rows`` rows, as Captum stacks steps: all examples per step."""
    return batch.select(list(range(len(batch))) * (rows // len(batch)))


def logits_of(adapter, batch):
    def forward(inputs_embeds):
        return adapter.forward(tiled(batch, len(inputs_embeds)), inputs_embeds=inputs_embeds).logits
    return forward


def probs_of(adapter, batch):
    def forward(inputs_embeds):
        return torch.softmax(logits_of(adapter, batch)(inputs_embeds), -1)
    return forward


def compare(ours, theirs, batch, real_only=False):
    """Per example: Pearson r >= 0.99 and elementwise agreement on its own tokens."""
    for i, exp in enumerate(ours):
        n = batch.lengths[i]
        keep = ~batch.special_mask[i, :n].numpy() if real_only else np.ones(n, dtype=bool)
        a, b = exp.scores[0, :n][keep], theirs[i, :n].detach().numpy()[keep]
        if len(a) > 2:
            assert np.corrcoef(a, b)[0, 1] >= 0.99
        np.testing.assert_allclose(a, b, rtol=1e-3, atol=1e-5)


def test_saliency_matches_captum(setup):
    adapter, batch, embeds, _ = setup
    theirs = captum_attr.Saliency(logits_of(adapter, batch)).attribute(
        embeds.clone().requires_grad_(), target=TARGET, abs=True).sum(-1)
    compare(explain_many(adapter, TEXTS, "gradient", norm="l1", targets=TARGET), theirs, batch)


def test_grad_x_input_matches_captum(setup):
    adapter, batch, embeds, _ = setup
    theirs = captum_attr.InputXGradient(logits_of(adapter, batch)).attribute(
        embeds.clone().requires_grad_(), target=TARGET).sum(-1)
    compare(explain_many(adapter, TEXTS, "grad_x_input", targets=TARGET), theirs, batch)


@pytest.mark.parametrize("rule", ["gausslegendre", "riemann_middle"])
def test_integrated_gradients_matches_captum(setup, rule):
    adapter, batch, embeds, baseline = setup
    theirs = captum_attr.IntegratedGradients(logits_of(adapter, batch)).attribute(
        embeds, baselines=baseline, target=TARGET, n_steps=20, method=rule).sum(-1)
    ours = explain_many(adapter, TEXTS, "integrated_gradients", steps=20, rule=rule,
                        baseline="mask", targets=TARGET)
    compare(ours, theirs, batch)


def test_layer_integrated_gradients_on_word_embeddings_matches(setup):
    """LayerIntegratedGradients on the word-embedding module with [MASK] baseline ids."""
    adapter, batch, _, _ = setup

    def forward(input_ids):
        rows = tiled(batch, len(input_ids))
        return adapter.forward(dataclasses.replace(rows, input_ids=input_ids)).logits

    mask_ids = batch.input_ids.masked_fill(~batch.special_mask, adapter.special_ids["mask"])
    lig = captum_attr.LayerIntegratedGradients(forward, adapter.word_embeddings())
    theirs = lig.attribute(batch.input_ids, baselines=mask_ids, target=TARGET, n_steps=20).sum(-1)
    ours = explain_many(adapter, TEXTS, "integrated_gradients", steps=20, baseline="mask",
                        targets=TARGET)
    compare(ours, theirs, batch)


def test_occlusion_matches_captum(setup):
    adapter, batch, embeds, baseline = setup
    theirs = captum_attr.Occlusion(probs_of(adapter, batch)).attribute(
        embeds, sliding_window_shapes=(1, embeds.shape[-1]), baselines=baseline, target=TARGET)
    ours = explain_many(adapter, TEXTS, "occlusion", targets=TARGET)
    compare(ours, theirs[..., 0], batch, real_only=True)  # the window value on every dim


def test_feature_ablation_by_word_matches_occlusion_by_word(setup):
    adapter, batch, embeds, baseline = setup
    groups = torch.tensor([[-1 if w is None else w for w in wids]
                           + [-1] * (batch.input_ids.shape[1] - len(wids))
                           for wids in batch.word_ids])
    feature_mask = (groups + 1)[:, :, None].expand_as(embeds)  # 0: specials (baseline = self)
    base = torch.where(groups[:, :, None] >= 0, baseline, embeds)
    theirs = captum_attr.FeatureAblation(probs_of(adapter, batch)).attribute(
        embeds, baselines=base, target=TARGET, feature_mask=feature_mask)
    ours = explain_many(adapter, TEXTS, "occlusion", unit="word", targets=TARGET)
    for i, exp in enumerate(ours):
        words, scores = exp.word_scores("sum")
        # Captum gives every token of a word the word's score; ours split it over the tokens
        expected = [float(theirs[i, w.positions[0], 0]) for w in words]
        np.testing.assert_allclose(scores[0], expected, rtol=1e-3, atol=1e-6)
