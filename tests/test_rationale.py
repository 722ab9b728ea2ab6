"""Rationale baseline (Lei et al. 2016): generator + encoder trained with REINFORCE."""
from __future__ import annotations

import random

import numpy as np
import pytest
import torch

from depthlens.data.types import Dataset, Example
from depthlens.errors import InputError
from depthlens.models.small import build_small
from depthlens.self_explaining.protocol import best_window
from depthlens.self_explaining.rationale import (hidden_tokens, load_rationale, make_rationale,
                                                 rationale_spans, selection_probabilities,
                                                 train_rationale, transitions)
from depthlens.self_explaining.sic import WordLayout

FILLER = "the a movie film plot story actor scene long short day night city music".split()
LABELS = ["neg", "pos", "none"]
KEYWORDS = ["awful", "wonderful"]


def toy(n: int, seed: int) -> Dataset:
    """Filler sentences; label neg / pos = a planted 'awful' / 'wonderful' (its word index in
    meta), none = no keyword, so the empty rationale can stand for one class only."""
    rng = random.Random(seed)
    examples = []
    for _ in range(n):
        words = [rng.choice(FILLER) for _ in range(rng.randint(5, 9))]
        label = rng.randrange(3)
        pos = rng.randrange(len(words) + 1) if label < 2 else -1
        if label < 2:
            words.insert(pos, KEYWORDS[label])
        examples.append(Example(" ".join(words), label, meta={"keyword": pos}))
    return Dataset("toy", "train", examples, LABELS)


def model(seed: int = 0, **settings):
    return make_rationale(build_small("gru", LABELS, dim=32, layers=1, seed=seed),
                          build_small("cnn", LABELS, dim=32, layers=1, seed=seed), seed=seed,
                          **settings)


def train(m, data, epochs: int, seed: int = 0):
    return train_rationale(m, data, epochs=epochs, lr=1e-2, batch_size=32, seed=seed,
                           progress=False)


@pytest.fixture(scope="module")
def trained():
    m = model(seed=1, lam1=0.05, lam2=0.02)
    train(m, toy(256, 0), epochs=10, seed=1)
    return m


def test_generator_finds_the_planted_keyword(trained):
    test = [e for e in toy(64, 1) if e.label < 2]
    probs, _ = selection_probabilities(trained, [e.text for e in test])
    hits = [int(np.argmax(p)) == e.meta["keyword"] for p, e in zip(probs, test)]
    assert np.mean(hits) >= 0.9
    # the window of two words with the largest mean probability contains the keyword
    spans = rationale_spans(trained, [e.text for e in test], [2] * len(test))
    assert np.mean([KEYWORDS[e.label] in s.text for s, e in zip(spans, test)]) >= 0.9


def test_sparsity_cost_reduces_the_selected_fraction():
    data = toy(128, 0)
    dense = train(model(lam1=0.0, lam2=0.0), data, epochs=3)
    sparse = train(model(lam1=0.5, lam2=0.0), data, epochs=3)
    assert sparse[-1]["train_selected"] < dense[-1]["train_selected"] - 0.2


def test_seeded_runs_are_identical_and_round_trip(tmp_path):
    data, texts = toy(64, 0), [e.text for e in toy(8, 1)]
    runs = []
    for _ in range(2):
        m = model(seed=3)
        history = train(m, data, epochs=1, seed=3)
        runs.append((history, selection_probabilities(m, texts)[0]))
    assert runs[0][0] == runs[1][0]
    assert all(np.array_equal(a, b) for a, b in zip(runs[0][1], runs[1][1]))
    m.save(tmp_path / "r")
    loaded = load_rationale(tmp_path / "r")
    assert (loaded.seed, loaded.lam1, loaded.erasure, loaded.history) == (3, m.lam1, "delete",
                                                                           history)
    assert all(np.allclose(a, b, atol=1e-6)
               for a, b in zip(runs[1][1], selection_probabilities(loaded, texts)[0]))


def test_spans_respect_word_boundaries_and_widths():
    m = model()
    texts = ["an unbelievably heart-warming film", "dull", "a b c d e f"]
    spans = rationale_spans(m, texts, [2, 3, 4])
    probs, words = selection_probabilities(m, texts)
    for text, span, p, offsets, width in zip(texts, spans, probs, words, [2, 3, 4]):
        starts, ends = [a for a, _ in offsets], [b for _, b in offsets]
        assert span.start in starts and span.end in ends and span.text == text[span.start:span.end]
        first = starts.index(span.start)
        assert ends.index(span.end) - first + 1 == min(width, len(offsets))
        assert (first, span.score) == pytest.approx(best_window(p, width))
    assert len(words[0]) == 6                     # heart - warming: three words
    with pytest.raises(InputError, match="one entry per text"):
        rationale_spans(m, texts, [1])


def test_transitions_and_hidden_tokens():
    m = model()
    batch = m.encoder.encode(["a b c d", "x y"])
    layout = WordLayout.of(batch)
    z = torch.tensor([[1.0, 1.0, 0.0, 1.0], [0.0, 1.0, 0.0, 0.0]])   # padding word of row 2: 0
    assert transitions(z, layout).tolist() == [2.0, 1.0]
    hide = hidden_tokens(z, layout, batch.input_ids.shape[1])
    assert [t for t, h in zip(batch.tokens[0], hide[0]) if h] == ["c"]
    assert [t for t, h in zip(batch.tokens[1], hide[1]) if h] == ["x"]
    with pytest.raises(InputError, match="lam1 must be"):
        model(lam1=-1)
    with pytest.raises(InputError, match="erasure must be"):
        model(erasure="blur")
