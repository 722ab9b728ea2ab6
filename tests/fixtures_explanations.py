"""Hand-built Explanations for tests: one token per word, no special tokens."""
import numpy as np

from depthlens.explanation import Explanation, Target


def word_explanation(words, scores, layers=None, method="lime"):
    """An Explanation of ``words`` joined by spaces; scores (n_layers, n_words) or (n_words,)."""
    offsets, start = [], 0
    for w in words:
        offsets.append((start, start + len(w)))
        start += len(w) + 1
    n = len(words)
    scores = np.atleast_2d(np.asarray(scores, dtype=float))
    return Explanation(text=" ".join(words), tokens=list(words), offsets=offsets,
                       word_ids=list(range(n)), sequence_ids=[0] * n, scores=scores,
                       layers=layers or ["input"], target=Target(0, "label0"), method=method)
