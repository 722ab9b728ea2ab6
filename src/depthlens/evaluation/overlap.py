"""Token overlap across classes (decoded-saliency paper, 3.2 and A.1) and per-class word clouds.

Word scores of all explanations predicted as class c are summed per word
(lower-cased), and each total is weighted by the word's inverse document
frequency in a reference corpus (the paper used 50,000 Wikipedia articles):
idf(w) = ln((1 + N) / (1 + df(w))) + 1, so unseen words get the largest
weight; without a corpus every idf is 1. For k = 1..k_max, the overlap is

    sum over class pairs |top_k(a) & top_k(b)| / (C(C, 2) * k),

the share of important words that are important for more than one class.
The metric is the mean overlap over k (range [0, 1], lower is better). It is
undefined (NaN, with the reason in ``details["undefined"]``) when a class's words all
carry the same weight, e.g. an all-zero score row: such a ranking is arbitrary.
"""
from __future__ import annotations

import math
import re
from collections import Counter, defaultdict
from itertools import combinations
from pathlib import Path
from typing import Sequence

import numpy as np

from ..errors import InputError
from ..explanation import Explanation
from ..models.adapter import ModelAdapter
from .result import MetricResult, Spec, register
from .units import row_index

WORD = re.compile(r"\w+|[^\w\s]")

OVERLAP = Spec("token_overlap", (0.0, 1.0), False,
               "share of top-k IDF-weighted words of a predicted class also top-k for another "
               "class, mean over k = 1..k_max")


def idf_weights(corpus: Sequence[str], lowercase: bool = True) -> tuple[dict[str, float], float]:
    """(idf per word of the corpus, idf of an unseen word) with smooth idf."""
    corpus = list(corpus)
    if not corpus:
        raise InputError("corpus must hold at least one text; got none")
    df: Counter = Counter()
    for text in corpus:
        df.update(set(WORD.findall(text.lower() if lowercase else text)))
    n = len(corpus)
    return {w: math.log((1 + n) / (1 + c)) + 1 for w, c in df.items()}, math.log(1 + n) + 1


def class_word_weights(explanations: Sequence[Explanation], corpus: Sequence[str] | None = None,
                       layer: int | str | None = None, aggregate: str = "sum",
                       lowercase: bool = True) -> dict[str, list[tuple[str, float]]]:
    """Per predicted class (name), (word, idf x summed score) sorted by weight, heaviest first.

    The class of an explanation is its predicted class when probabilities were
    recorded, else its target.
    """
    idf, unseen = idf_weights(corpus, lowercase) if corpus is not None else ({}, 1.0)
    totals: dict[str, defaultdict] = defaultdict(lambda: defaultdict(float))
    for e in explanations:
        cls = (e.predicted or e.target).name
        words, scores = e.word_scores(aggregate)
        row = scores[row_index(e, layer)]
        for w, s in zip(words, row):
            totals[cls][w.text.lower() if lowercase else w.text] += float(s)
    return {cls: sorted(((w, s * idf.get(w, unseen)) for w, s in t.items()),
                        key=lambda ws: (-ws[1], ws[0]))
            for cls, t in sorted(totals.items())}


def overlap_curve(ranked: dict[str, list[str]], k_max: int) -> np.ndarray:
    """(k_max,) overlap at k = 1..k_max of the per-class rankings of words."""
    classes = list(ranked)
    if len(classes) < 2:
        raise InputError(f"token overlap needs explanations predicted as at least 2 classes; "
                         f"got {classes}")
    pairs = list(combinations(classes, 2))
    curve = np.zeros(k_max)
    for k in range(1, k_max + 1):
        shared = sum(len(set(ranked[a][:k]) & set(ranked[b][:k])) for a, b in pairs)
        curve[k - 1] = shared / (len(pairs) * k)
    return curve


@register(OVERLAP)
def token_overlap(adapter: ModelAdapter, explanations: Sequence[Explanation], *,
                  corpus: Sequence[str] | None = None, k_max: int = 50,
                  layer: int | str | None = None, aggregate: str = "sum",
                  lowercase: bool = True, out_dir: str = "") -> MetricResult:
    """Mean overlap over k = 1..k_max; with ``out_dir`` one word cloud per class
    (``out_dir/wordcloud_<class>.png``). ``adapter`` is not used."""
    if k_max < 1:
        raise InputError(f"k_max must be >= 1; got {k_max}")
    weights = class_word_weights(explanations, corpus, layer, aggregate, lowercase)
    ranked = {cls: [w for w, _ in items] for cls, items in weights.items()}
    curve = overlap_curve(ranked, k_max)
    unranked = [cls for cls, items in weights.items() if len({s for _, s in items}) == 1]
    counts = Counter(w for words in ranked.values() for w in words[:k_max])
    details = {
        "curve": curve.tolist(), "idf": corpus is not None, "k_max": k_max,
        "top_words": {cls: items[:k_max] for cls, items in weights.items()},
        "shared_at_k_max": sorted(w for w, c in counts.items() if c > 1),
    }
    if unranked:
        details["undefined"] = (f"the words of class(es) {', '.join(unranked)} all have the "
                                f"same weight (e.g. an all-zero score row), so no ranking exists")
    if out_dir:
        from .figures import word_cloud

        details["figures"] = [
            word_cloud(items, Path(out_dir) / f"wordcloud_{_slug(cls)}.png",
                       title=f"predicted {cls}", max_words=k_max)
            for cls, items in weights.items()]
    return OVERLAP.result(math.nan if unranked else float(curve.mean()), [], **details)


def _slug(name: str) -> str:
    return re.sub(r"[^\w-]+", "_", name).strip("_") or "class"
