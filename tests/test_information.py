"""The information-based measure: closed forms, a hand-built model, batching, seeds, errors."""
from __future__ import annotations

import math

import pytest
import torch
from torch import nn

import depthlens.methods.information  # noqa: F401  (registers the method)
from conftest import minilm_tokenizer
from depthlens.api import explain_many
from depthlens.errors import InputError
from depthlens.information import (FitSettings, attribute_terms, concept_embeddings,
                                   corpus_information, fit_information, gaussian_entropy,
                                   word_attributes)
from depthlens.models.adapter import Batch, ModelAdapter
from fixtures_models import TEXTS, lively_bert

FAST = FitSettings(max_steps=200)


@pytest.fixture(autouse=True, scope="module")
def one_thread():
    """Small models run fastest single-threaded on a shared CPU."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope="module")
def bert():
    return lively_bert()


class CopyBlock(nn.Module):
    """Every position of the output is token 1, plus 0.1 x the tokens other than 1 and 2:
    token 2 is ignored entirely, token 1 is copied."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        others = x.sum(1, keepdim=True) - x[:, 1:3].sum(1, keepdim=True)
        return x[:, 1:2].expand_as(x) + 0.1 * others


class CopyAdapter(ModelAdapter):
    """A hand-built 1-layer model: state 0 = word embeddings (8-d), state 1 = CopyBlock."""

    def __init__(self):
        self.tokenizer = minilm_tokenizer()
        gen = torch.Generator().manual_seed(0)
        emb = nn.Embedding(len(self.tokenizer), 8)
        with torch.no_grad():
            emb.weight.copy_(torch.randn(emb.weight.shape, generator=gen))
        self.model = nn.ModuleDict({"emb": emb, "out": nn.Identity(), "block": CopyBlock(),
                                    "head": nn.Linear(8, 2)}).requires_grad_(False)
        self.name, self.labels, self.max_length = "copy", ["a", "b"], 64

    def layer_modules(self) -> list[nn.Module]:
        return [self.model["out"], self.model["block"]]

    def word_embeddings(self) -> nn.Embedding:
        return self.model["emb"]

    def _logits(self, batch: Batch, inputs_embeds, output_attentions):
        x = self.model["emb"](batch.input_ids) if inputs_embeds is None else inputs_embeds
        return self.model["head"](self.model["block"](self.model["out"](x)).mean(1)), []

    def save(self, directory) -> None:
        raise NotImplementedError("test model")


# ------------------------------------------------------------------ closed forms
@pytest.mark.parametrize("per_dimension", [False, True])
def test_gaussian_entropy_matches_torch(per_dimension):
    d = 5
    log_sigma = torch.tensor([0.3, -1.0, 0.5, 2.0, -0.2]) if per_dimension else torch.tensor([-0.7])
    expected = torch.distributions.Normal(0.0, log_sigma.exp().expand(d)).entropy().sum()
    assert gaussian_entropy(log_sigma, d).item() == pytest.approx(expected.item(), rel=1e-6)
    iso = 0.5 * d * math.log(2 * math.pi * math.e) + d * -0.7
    if not per_dimension:
        assert gaussian_entropy(log_sigma, d).item() == pytest.approx(iso, rel=1e-6)


def test_attribute_identities():
    gen = torch.Generator().manual_seed(0)
    x, log_sigma = torch.randn(3, 4, generator=gen), torch.randn(3, 1, generator=gen)
    reference, concept = torch.randn(50, 4, generator=gen), torch.randn(7, 4, generator=gen)
    terms = attribute_terms(x, log_sigma, reference, concept)
    torch.testing.assert_close(terms["r_ic"], terms["A_i"] - terms["A_c"])
    distance = ((reference[None] - x[:, None]) ** 2).sum(-1).mean(1)
    brute = distance / (2 * (2 * log_sigma[:, 0]).exp())
    torch.testing.assert_close(terms["A_i"], brute)
    same = attribute_terms(x, log_sigma, reference, reference)
    torch.testing.assert_close(same["A_c"], torch.zeros(3), atol=1e-5, rtol=0)


# ------------------------------------------------------------- hand-built model
@pytest.mark.parametrize("target_state", ["tokens", "cls"])
def test_ignored_word_large_sigma_copied_word_small(target_state):
    adapter = CopyAdapter()
    batch = adapter.encode(["alpha beta gamma delta"])        # [CLS] alpha beta gamma delta [SEP]
    fit = fit_information(adapter, batch, [1], target_state=target_state)
    ratio = (fit.log_sigma[0, 0, :, 0] - fit.sigma_max.log()).exp()
    assert ratio[2] > 0.9                                      # ignored: at the cap
    assert int(ratio.argmin()) == 1                            # copied: the least noise
    assert ratio[1] < 0.5 * ratio[[0, 3, 4, 5]].min()
    h = fit.entropy()[0, 0]
    assert int(h.argmax()) == 2 and int(h.argmin()) == 1
    kept = fit.kept()[0, 0]
    assert kept[2] < 1.0 and (kept >= 0).all()
    assert (fit.total_steps > fit.steps).all()                 # two starts were run


# ---------------------------------------------------------------- batching/seeds
def test_batched_equals_one_at_a_time(bert):
    batch = bert.encode(TEXTS[:3])
    together = fit_information(bert, batch, [0, 1, 2], settings=FAST).entropy()
    for i in range(3):
        alone = fit_information(bert, bert.encode([TEXTS[i]]), [0, 1, 2], settings=FAST).entropy()
        n = batch.lengths[i]
        torch.testing.assert_close(together[i, :, :n], alone[0], atol=1e-2, rtol=1e-3)


def test_seed_reproducible(bert):
    batch = bert.encode(TEXTS[1:3])
    a = fit_information(bert, batch, [2], seed=3, settings=FAST).entropy()
    b = fit_information(bert, batch, [2], seed=3, settings=FAST).entropy()
    c = fit_information(bert, batch, [2], seed=4, settings=FAST).entropy()
    assert torch.equal(a, b)
    assert not torch.equal(a, c)


def test_method_through_pipeline(bert):
    out = explain_many(bert, TEXTS[:2], "information", layer="all", max_steps=100,
                       batch_size=2)
    for e in out:
        assert e.layers == ["embeddings", "layer 1", "layer 2"]
        assert e.scores.shape == (3, len(e.tokens))
        d = e.diagnostics
        assert len(d["sentence_entropy"]) == 3 and all(0 < s <= 100 for s in d["steps"])
        assert d["sentence_entropy"][1] == pytest.approx(e.scores[1].sum(), rel=1e-5)
    kept = explain_many(bert, TEXTS[:1], "information", layer="2", view="kept", max_steps=100)[0]
    assert kept.layers == ["layer 2"] and (kept.scores >= 0).all()
    top = explain_many(bert, TEXTS[:1], "information", max_steps=50)[0]
    assert top.layers == ["layer 2"]


@pytest.mark.parametrize("params, message", [
    ({"layer": "input"}, "layer must be 'all'"),
    ({"view": "both"}, "view must be one of discarded, kept"),
    ({"target_state": "pooled"}, "target_state must be one of"),
    ({"target_state": "99"}, "target_state position must be in"),
    ({"target_state": "decoder"}, "needs a seq2seq model"),
    ({"n_samples": 0}, "n_samples must be an integer >= 1"),
    ({"max_noise": -1.0}, "max_noise must be a number > 0"),
    ({"tol": -0.1}, "tol must be a number >= 0"),
])
def test_bad_parameters(bert, params, message):
    with pytest.raises(InputError, match=message):
        explain_many(bert, TEXTS[:1], "information", **params)


def test_bad_starts():
    with pytest.raises(InputError, match="starts must be a non-empty tuple"):
        FitSettings(starts=()).check()


# ---------------------------------------------------------- seq2seq and corpus
def test_decoder_steps_on_seq2seq():
    from depthlens.models.seq2seq import Seq2SeqAdapter, Seq2SeqLSTM, SymbolVocab

    torch.manual_seed(0)
    vocab = SymbolVocab.of_size(6)
    adapter = Seq2SeqAdapter(Seq2SeqLSTM(len(vocab), dim=16), vocab)
    out = explain_many(adapter, ["s1 s2 s3", "s4 s5"], "information", target_state="decoder",
                       max_steps=60, batch_size=2)
    assert out[0].layers == ["step 0", "step 1", "step 2", "step 3"]
    assert out[1].diagnostics["steps"][3] is None          # "s4 s5" has steps 0..2 only
    assert (out[1].scores[3] == 0).all() and (out[1].scores[:3] != 0).all()


def test_corpus_information_and_attributes(bert):
    result = corpus_information(bert, TEXTS, [0, 2], batch_size=2,
                                settings=FitSettings(max_steps=60))
    assert result.rows == ["embeddings", "layer 2"]
    assert result.mi_token == pytest.approx(result.h_x_token - result.conditional_token)
    assert [e.shape for e in result.entropy] == [(2, len(t)) for t in result.tokens]
    batch = bert.encode(TEXTS[:2])
    fit = fit_information(bert, batch, [2], settings=FitSettings(max_steps=60))
    concept = concept_embeddings(bert, ["good", "great", "zzqxjv"])
    assert concept.shape[0] == 2
    terms = word_attributes(fit, concept, bert.word_embeddings().weight)
    pad = ~batch.attention_mask.bool()[:, None, :]
    assert terms["A_i"].shape == (2, 1, batch.input_ids.shape[1])
    assert torch.isnan(terms["A_i"][pad]).all() and not torch.isnan(terms["A_i"][~pad]).any()
