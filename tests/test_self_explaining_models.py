"""Self-explaining heads on other encoders (built-in LSTM/CNN), and through the explain API."""
from __future__ import annotations

import pytest
import torch

from conftest import tiny_adapter
from depthlens.api import explain, explain_many
from depthlens.methods import self_explaining  # noqa: F401  (registers the method)
from depthlens.models.small import build_small
from depthlens.self_explaining import load_self_explaining, make_self_explaining

TEXTS = ["a gorgeous , witty film", "dull and overlong"]


@pytest.mark.parametrize("arch", ["lstm", "cnn"])
def test_builtin_encoders_round_trip(arch, tmp_path):
    encoder = build_small(arch, ["neg", "pos"], dim=16, layers=1, seed=0)
    model = make_self_explaining(encoder, max_width=2, seed=0)
    batch = model.encode(TEXTS)
    logits = model.forward(batch).logits
    assert logits.shape == (2, 2)
    assert torch.allclose(model.last.alpha.sum((1, 2)), torch.ones(2), atol=1e-6)
    model.save(tmp_path / arch)
    loaded = load_self_explaining(tmp_path / arch)
    assert torch.allclose(loaded.forward(batch).logits, logits, atol=1e-6)


def test_explain_api_prints_spans_and_other_methods_still_work():
    model = make_self_explaining(tiny_adapter("bert"), max_width=4, seed=0)
    exp = explain(model, TEXTS[0], "self_explaining", top_k=3)
    assert len(exp.spans) == 3 and exp.layers == ["span coverage"]
    assert exp.spans[0].text in TEXTS[0]
    assert exp.diagnostics["n_spans"] == 5 + 4 + 3 + 2  # 5 words, widths 1..4
    many = explain_many(model, TEXTS, "self_explaining", top_k=2)
    assert [len(e.spans) for e in many] == [2, 2]
    gradient = explain(model, TEXTS[1], "gradient", layer="all")
    assert gradient.scores.shape == (model.num_layers + 1, len(gradient.tokens))
    assert torch.isfinite(torch.as_tensor(gradient.scores)).all()


def test_word_scores_are_span_coverage():
    model = make_self_explaining(tiny_adapter("bert"), max_width=2, seed=0)
    exp = explain(model, "an unbelievably heart-warming film", "self_explaining")
    words, scores = exp.word_scores("sum")
    alpha = model.last.alpha[0]                      # (N, W): span (n, w) = words n .. n + w
    assert any(len(w.positions) > 1 for w in words)
    # word m is in spans (m, 0), (m, 1) and (m - 1, 1); alpha is 0 where a span does not exist
    expected = [float(alpha[m, 0] + alpha[m, 1] + (alpha[m - 1, 1] if m else 0))
                for m in range(len(words))]
    assert scores[0] == pytest.approx(expected, abs=1e-6)


def test_text_with_every_word_deleted_gets_zero_alpha_and_bias_logits():
    """Faithfulness metrics delete whole texts; the head must not fail or return NaN."""
    from depthlens.erasure import erase

    model = make_self_explaining(tiny_adapter("bert"), max_width=2, seed=0)
    batch = model.encode(TEXTS)
    emptied = erase(model, batch, ~batch.special_mask & (torch.arange(2)[:, None] == 1), "delete")
    with torch.no_grad():
        logits = model.forward(emptied).logits
    alpha = model.last.alpha
    assert torch.allclose(alpha[0].sum(), torch.tensor(1.0), atol=1e-6)
    assert float(alpha[1].abs().sum()) == 0.0 and not model.last.mask[1].any()
    assert torch.allclose(logits[1], model.head.output.bias, atol=1e-6)
    assert torch.isfinite(logits).all()
    assert explain(model, TEXTS[0], "self_explaining").spans   # normal texts unchanged
