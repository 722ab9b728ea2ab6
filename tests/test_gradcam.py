"""Grad-CAM per layer and decoded layer saliency (seed 002) against literal implementations."""
import numpy as np
import pytest
import torch

import depthlens
from conftest import minilm_tokenizer, tiny_hf_model
from depthlens.errors import InputError, ModelCapabilityError
from depthlens.models.huggingface import HFAdapter, new_mlm_head

TEXTS = ["a gorgeous , witty , seductive movie .", "the the film is bad bad", "fine"]


@pytest.fixture(scope="module")
def adapter():
    model = tiny_hf_model("bert", seed=3)
    torch.manual_seed(4)
    return HFAdapter(model, minilm_tokenizer(), "tiny-mlm", mlm_head=new_mlm_head(model.config))


def hand_gradcam(adapter, text, layer, target):
    """Eq. 1 at one layer, computed on its own forward/backward."""
    batch = adapter.encode([text])
    out = adapter.forward(batch, output_states=True)
    h = out.states[layer]
    (g,) = torch.autograd.grad(out.logits[0, target], h)
    return torch.relu((g * h).sum(-1))[0].detach(), h.detach(), batch


def test_gradcam_every_layer_equals_per_layer_computation(adapter):
    exp = depthlens.explain(adapter, TEXTS[0], "gradcam", target=1)
    assert exp.layers == ["embeddings", "layer 1", "layer 2"]
    for layer in range(3):
        alpha, _, _ = hand_gradcam(adapter, TEXTS[0], layer, 1)
        np.testing.assert_allclose(exp.scores[layer], alpha.numpy(), rtol=1e-4, atol=1e-6)


def algorithm_1(adapter, text, layer, tau, target):
    """Algorithm 1 of seed 002 with explicit loops over unique input tokens and positions."""
    alpha, h, batch = hand_gradcam(adapter, text, layer, target)
    probs = torch.softmax(adapter.mlm_logits(h), -1)[0]            # (n, V)
    ids = batch.input_ids[0].tolist()
    special = batch.special_mask[0].tolist()
    unique = list(dict.fromkeys(t for t, s in zip(ids, special) if not s))
    score_of = {t: 0.0 for t in unique}
    for j in range(len(ids)):
        column = {t: float(probs[j, t]) for t in unique}
        top = sorted(unique, key=lambda t: -column[t])[:tau]
        for t in top:
            score_of[t] += column[t] * float(alpha[j])
    return np.array([0.0 if s else score_of[t] for t, s in zip(ids, special)])


@pytest.mark.parametrize("tau", [1, 3, 100])
def test_decoded_gradcam_equals_algorithm_1(adapter, tau):
    for text in TEXTS:
        exp = depthlens.explain(adapter, text, "decoded_gradcam", tau=tau, target=0)
        for layer in range(3):
            np.testing.assert_allclose(exp.scores[layer], algorithm_1(adapter, text, layer, tau, 0),
                                       rtol=1e-4, atol=1e-9)


def test_decoded_gradcam_batched_equals_one_by_one(adapter):
    together = depthlens.explain_many(adapter, TEXTS, "decoded_gradcam")
    for text, exp in zip(TEXTS, together):
        np.testing.assert_allclose(depthlens.explain(adapter, text, "decoded_gradcam").scores,
                                   exp.scores, rtol=1e-5, atol=1e-9)


def test_decode_columns_in_chunks_equals_one_softmax(adapter):
    from depthlens.methods.gradcam import HEAD_ROWS, SOFTMAX_ROWS, decode_columns

    n = HEAD_ROWS + SOFTMAX_ROWS + 5          # a partial head chunk and a partial softmax chunk
    torch.manual_seed(0)
    states = torch.randn(n, adapter.model.config.hidden_size)
    ids = torch.randint(0, adapter.model.config.vocab_size, (n, 7))
    with torch.no_grad():
        expected = torch.log_softmax(adapter.mlm_logits(states), -1).gather(1, ids).exp()
        got = decode_columns(adapter, states, ids)
    torch.testing.assert_close(got, expected, rtol=1e-5, atol=1e-12)


def test_bfloat16_head_stays_close_to_float32(adapter):
    exact = depthlens.explain_many(adapter, TEXTS, "decoded_gradcam", targets=0)
    fast = depthlens.explain_many(adapter, TEXTS, "decoded_gradcam", targets=0,
                                  precision="bfloat16")
    for e, f in zip(exact, fast):
        assert f.params["precision"] == "bfloat16"
        peak = np.abs(e.scores).max(1, keepdims=True)
        assert (np.abs(f.scores - e.scores) <= 0.05 * peak).all()
        assert (np.abs(f.scores - e.scores) > 0).any()     # it did run in lower precision
    with pytest.raises(InputError, match="precision must be one of float32, bfloat16"):
        depthlens.explain(adapter, "fine", "decoded_gradcam", precision="half")


def test_model_without_head_gets_the_fix(bert_adapter):
    with pytest.raises(ModelCapabilityError, match="depthlens fit-lm-head --model"):
        depthlens.explain(bert_adapter, "fine", "decoded_gradcam")


@pytest.mark.parametrize("method", ["gradcam", "decoded_gradcam"])
def test_layer_parameter_selects_rows(adapter, method):
    every = depthlens.explain(adapter, TEXTS[1], method, layer="all", target=0)
    some = depthlens.explain(adapter, TEXTS[1], method, layer="0,2", target=0)
    assert some.layers == ["embeddings", "layer 2"]
    np.testing.assert_allclose(some.scores, every.scores[[0, 2]], rtol=1e-5, atol=1e-9)
    with pytest.raises(InputError, match="no separate input row"):
        depthlens.explain(adapter, TEXTS[1], method, layer="input")


def test_layer_0_decoding_concentrates_on_the_token_itself():
    """Real tiny-sst2 (pretrained MLM head; built on first use, then cached): decoding the
    embedding-layer state of each position picks that position's own token among the input's."""
    from depthlens.methods.gradcam import decode_columns

    adapter = depthlens.load_model("tiny-sst2")
    batch = adapter.encode(["the movie was a gorgeous , witty and seductive delight"])
    with torch.no_grad():
        state = adapter.forward(batch, output_states=True).states[0][0]       # (T, D)
        ids = batch.input_ids[0]
        decoded = decode_columns(adapter, state, ids.repeat(len(ids), 1))      # (T_j, T_i)
    real = (~batch.special_mask[0]).nonzero()[:, 0]
    assert (real[decoded[real][:, real].argmax(1)] == real).all()
    assert decoded[real, real].mean() > 0.5
