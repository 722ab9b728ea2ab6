"""Attention family: raw attention, rollout, norm-based attention (Kobayashi et al.)."""
import numpy as np
import pytest
import torch

from depthlens.api import explain, explain_many
from depthlens.errors import InputError, ModelCapabilityError
from depthlens.methods.attention import rollout
from fixtures_models import TEXTS, AdditiveAdapter, lively_bert


@pytest.fixture(scope="module")
def adapter():
    return lively_bert()


@pytest.mark.parametrize("method", ["attention", "attention_rollout"])
@pytest.mark.parametrize("position", ["cls", "mean"])
def test_attention_rows_sum_to_one(adapter, method, position):
    for exp in explain_many(adapter, TEXTS, method, from_position=position):
        assert exp.layers == ["layer 1", "layer 2"]
        np.testing.assert_allclose(exp.scores.sum(1), 1.0, rtol=1e-5)
        assert np.all(exp.scores >= 0)


def test_attention_is_head_mean_of_cls_row(adapter):
    exp = explain(adapter, TEXTS[0], "attention")
    batch = adapter.encode([TEXTS[0]])
    with torch.no_grad():
        attentions = adapter.forward(batch, output_attentions=True).attentions
    for layer, a in enumerate(attentions):
        np.testing.assert_allclose(exp.scores[layer], a[0, :, 0].mean(0).numpy(), rtol=1e-5)


def test_rollout_of_identity_is_identity():
    eye = torch.eye(5).expand(2, 3, 5, 5)
    np.testing.assert_allclose(rollout(eye).numpy(), eye.numpy(), atol=1e-7)


def test_rollout_matches_explicit_products():
    gen = torch.Generator().manual_seed(0)
    att = torch.softmax(torch.randn(1, 3, 4, 4, generator=gen), -1)
    mixed = [0.5 * att[0, l] + 0.5 * torch.eye(4) for l in range(3)]
    expected = [mixed[0], mixed[1] @ mixed[0], mixed[2] @ mixed[1] @ mixed[0]]
    got = rollout(att)[0]
    for l in range(3):
        np.testing.assert_allclose(got[l].numpy(), expected[l].numpy(), rtol=1e-5)
    np.testing.assert_allclose(rollout(att, residual=0.0)[0, 0].numpy(), att[0, 0].numpy(),
                               rtol=1e-6)
    with pytest.raises(InputError, match="residual must be"):
        rollout(att, residual=1.5)


def test_attention_norm_matches_per_head_computation(adapter):
    """||sum_h alpha_h f_h(x_j)|| with f_h(x) = (x W_V^h + b_V^h) W_O^h computed from the weights."""
    exp = explain(adapter, TEXTS[1], "attention_norm")
    batch = adapter.encode([TEXTS[1]])
    with torch.no_grad():
        out = adapter.forward(batch, output_states=True, output_attentions=True)
    blocks = adapter.model.bert.encoder.layer
    heads, dh = 2, 16
    for layer, block in enumerate(blocks):
        x = out.states[layer][0]  # input of block layer+1
        value = block.attention.self.value(x).view(-1, heads, dh)  # (T, H, dh)
        w_o = block.attention.output.dense.weight  # (D, D)
        total = torch.zeros(x.shape)
        for h in range(heads):
            f_h = value[:, h] @ w_o[:, h * dh:(h + 1) * dh].T  # (T, D)
            total += out.attentions[layer][0, h, 0][:, None] * f_h
        np.testing.assert_allclose(exp.scores[layer], total.norm(dim=-1).numpy(), rtol=1e-4,
                                   atol=1e-6)


def test_attention_norm_mean_over_queries(adapter):
    cls = explain(adapter, TEXTS[0], "attention_norm")
    mean = explain(adapter, TEXTS[0], "attention_norm", from_position="mean")
    assert mean.scores.shape == cls.scores.shape
    assert not np.allclose(mean.scores, cls.scores)
    assert np.all(mean.scores > 0)


@pytest.mark.parametrize("method", ["attention", "attention_rollout", "attention_norm"])
def test_attention_methods_need_attention(method):
    with pytest.raises(ModelCapabilityError, match="no attention"):
        explain(AdditiveAdapter(), "a fine film", method)


def test_attention_rejects_unknown_position(adapter):
    with pytest.raises(InputError, match="from_position must be"):
        explain(adapter, TEXTS[0], "attention", from_position="last")
