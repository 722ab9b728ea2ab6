"""Self-explaining span layer: eq. 6 against a per-span loop, span boundaries, alpha,
the regulariser, save/load and the self_explaining method."""
from __future__ import annotations

import math

import pytest
import torch

from conftest import tiny_adapter
from depthlens.errors import InputError, ModelCapabilityError
from depthlens.methods import self_explaining as method
from depthlens.self_explaining import (SelfExplainingAdapter, WordLayout, load_self_explaining,
                                       make_self_explaining, sharpness_penalty)

TEXTS = ["An unbelievably wonderful, heart-warming film!", "bad"]
PAIRS = ["It's extraordinarily good.", "terrible acting"]


@pytest.fixture(scope="module")
def model() -> SelfExplainingAdapter:
    return make_self_explaining(tiny_adapter("bert"), max_width=3, seed=1)


@pytest.fixture(scope="module")
def batch(model):
    return model.encode(TEXTS, PAIRS)


def valid_token_spans(model, batch) -> list[set[tuple[int, int]]]:
    """Per example, the (first token, last token) of every span the layer scores."""
    model.span_weights(batch)
    layout, mask = model.layout, model.last.mask
    ends = layout.end_words(model.head.sic.max_width)
    return [{(int(layout.starts[b, n]), int(layout.ends[b, ends[n, w]]))
             for n, w in zip(*torch.nonzero(mask[b], as_tuple=True))} for b in range(len(batch))]


def test_vectorised_spans_equal_per_span_eq6(model, batch):
    torch.manual_seed(0)
    states = torch.randn(batch.input_ids.shape + (model.head.sic.w1.in_features,))
    layout = WordLayout.of(batch)
    with torch.no_grad():
        out = model.head.eval()(states, layout)
        ends = layout.end_words(model.head.sic.max_width)
        for b in range(len(batch)):
            cells = torch.nonzero(out.mask[b]).tolist()
            naive = torch.stack([model.head.sic.naive(states[b, layout.starts[b, n]],
                                                      states[b, layout.ends[b, ends[n, w]]])
                                 for n, w in cells])
            assert torch.allclose(out.spans[b][out.mask[b]], naive, atol=1e-6)
            o = naive @ model.head.span_score.weight[0]
            assert torch.allclose(out.alpha[b][out.mask[b]], torch.softmax(o, 0), atol=1e-6)


def test_spans_respect_words_and_pair_separator(model, batch):
    subword_spans = 0
    for b, spans in enumerate(valid_token_spans(model, batch)):
        wids, seqs = batch.word_ids[b], batch.sequence_ids[b]
        n = len(wids)
        starts = {t for t in range(n) if wids[t] is not None and (t == 0 or wids[t - 1] != wids[t])}
        ends = {t for t in range(n) if wids[t] is not None and (t == n - 1 or wids[t + 1] != wids[t])}
        words_between = lambda i, j: len({wids[t] for t in range(i, j + 1)})  # noqa: E731
        expected = {(i, j) for i in starts for j in ends if i <= j and seqs[i] == seqs[j]
                    and all(wids[t] is not None for t in range(i, j + 1))
                    and words_between(i, j) <= 3}
        assert spans == expected
        subword_spans += sum(j - i + 1 > words_between(i, j) for i, j in spans)
    assert subword_spans > 0  # the texts have multi-token words


def test_alpha_is_a_distribution_over_valid_spans(model, batch):
    out = model.span_weights(batch)
    assert torch.allclose(out.alpha.sum((1, 2)), torch.ones(len(batch)), atol=1e-6)
    assert (out.alpha[~out.mask] == 0).all()
    uniform = make_self_explaining(model.encoder, max_width=3, uniform=True)
    u = uniform.span_weights(batch)
    for b in range(len(batch)):
        m = int(u.mask[b].sum())
        assert torch.allclose(u.alpha[b][u.mask[b]], torch.full((m,), 1 / m))
    assert float(uniform.auxiliary_loss()) == 0.0


def test_width_cap_at_least_the_words_changes_nothing(model, batch):
    wide = make_self_explaining(model.encoder, max_width=None, seed=1)
    capped = make_self_explaining(model.encoder, max_width=50, seed=1)
    assert torch.allclose(wide.forward(batch).logits, capped.forward(batch).logits, atol=1e-6)


def test_regulariser_values(model, batch):
    model.forward(batch)
    alpha = model.last.alpha.flatten(1)
    assert torch.allclose(model.auxiliary_loss(), -model.lam * (alpha ** 2).sum(1).mean())
    entropy = -(alpha * alpha.clamp_min(1e-30).log()).sum(1)
    assert torch.allclose(sharpness_penalty(model.last.alpha, model.last.mask, "entropy"), entropy)
    one_hot = torch.zeros_like(model.last.alpha)
    one_hot[:, 0, 0] = 1
    assert torch.allclose(sharpness_penalty(one_hot, model.last.mask), -torch.ones(len(batch)))
    with pytest.raises(InputError, match="regularizer must be one of"):
        make_self_explaining(model.encoder, regularizer="l1")
    with pytest.raises(InputError, match="max_width must be"):
        make_self_explaining(model.encoder, max_width=0)


def test_save_load_round_trip(model, batch, tmp_path):
    model.save(tmp_path / "se")
    loaded = load_self_explaining(tmp_path / "se")
    assert loaded.head.sic.max_width == 3 and loaded.labels == model.labels
    assert torch.allclose(loaded.forward(batch).logits, model.forward(batch).logits, atol=1e-6)
    assert torch.allclose(loaded.last.alpha, model.last.alpha, atol=1e-6)


def test_method_spans_and_coverage(model, batch):
    target = torch.tensor([0, 1])
    att = method.self_explaining(model, batch, target, top_k=4)
    alpha, layout = model.last.alpha, model.layout
    assert att.scores.shape == (2, 1, batch.input_ids.shape[1])
    for b, spans in enumerate(att.spans):
        assert len(spans) == 4 and spans[0].score == pytest.approx(float(alpha[b].max()))
        assert [s.score for s in spans] == sorted((s.score for s in spans), reverse=True)
        for s in spans:
            source = batch.pairs[b] if s.sequence == 1 else batch.texts[b]
            assert s.text == source[s.start:s.end] and s.text == s.text.strip()
    coverage = torch.zeros(layout.starts.shape)
    ends = layout.end_words(3)
    for b, n, w in torch.nonzero(model.last.mask).tolist():
        coverage[b, n:ends[n, w] + 1] += alpha[b, n, w]
    expected = torch.zeros_like(att.scores[:, 0])
    for b, m in torch.nonzero(layout.sequence >= 0).tolist():
        first, last = layout.starts[b, m], layout.ends[b, m]
        expected[b, first:last + 1] = coverage[b, m] / (last - first + 1)
    assert torch.allclose(att.scores[:, 0], expected, atol=1e-6)
    contribution = method.self_explaining(model, batch, target, score="contribution")
    shares = alpha * torch.einsum("bnwd,bd->bnw", model.last.spans,
                                  model.head.output.weight[target])
    logit = (model.last.logits - model.head.output.bias).gather(1, target[:, None])[:, 0]
    assert torch.allclose(shares.sum((1, 2)), logit, atol=1e-5)
    assert contribution.spans[0][0].score == pytest.approx(float(shares[0].max()), abs=1e-6)


def test_method_rejects_plain_models(batch):
    with pytest.raises(ModelCapabilityError, match="self-explaining model"):
        method.self_explaining(tiny_adapter("bert"), batch, torch.tensor([0, 0]))


def train_toy(lam: float, steps: int = 20) -> float:
    """Fit the span head (encoder frozen, for speed) to a 'does the text say good or bad'
    toy task; returns the mean sum alpha^2 on held-out texts."""
    torch.manual_seed(0)
    model = make_self_explaining(tiny_adapter("bert", seed=3), lam=lam, max_width=3, seed=0)
    filler = "the movie was shown on a rainy day in town".split()
    rng = torch.Generator().manual_seed(0)

    def sample(n):
        texts, labels = [], []
        for _ in range(n):
            words = [filler[i] for i in torch.randint(len(filler), (8,), generator=rng)]
            label = int(torch.randint(2, (1,), generator=rng))
            words.insert(int(torch.randint(9, (1,), generator=rng)), ["bad", "good"][label])
            texts.append(" ".join(words))
            labels.append(label)
        return model.encode(texts), torch.tensor(labels)

    params = list(model.head.parameters())
    for p in params:
        p.requires_grad_(True)
    optimizer = torch.optim.Adam(params, lr=3e-3)
    model.head.train()
    for _ in range(steps):
        batch, labels = sample(16)
        loss = torch.nn.functional.cross_entropy(model.forward(batch).logits, labels)
        (loss + model.auxiliary_loss()).backward()
        optimizer.step()
        optimizer.zero_grad()
    model.head.eval()
    batch, _ = sample(32)
    return float((model.span_weights(batch).alpha ** 2).sum((1, 2)).mean())


def test_sharpness_regulariser_makes_alpha_peakier():
    flat, sharp = train_toy(0.0), train_toy(4.0)
    assert sharp > 2 * flat, (flat, sharp)
    assert not math.isnan(flat)
