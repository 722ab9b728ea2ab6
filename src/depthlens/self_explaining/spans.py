"""From span weights to explanations: top-k character spans and token scores.

Word scores are span coverage: the score of a word is the sum of the span
scores of all spans that contain it (with alpha as span score, the
probability mass of the spans covering the word, in [0, 1]). A word's score is
split equally over its tokens, so summing token scores per word (the default
word aggregation of Explanation and the renderers) gives back the coverage.
Special tokens and padding get 0.
"""
from __future__ import annotations

import torch

from ..explanation import Span
from ..models.adapter import Batch
from .sic import WordLayout


def word_coverage(scores: torch.Tensor) -> torch.Tensor:
    """(B, N, W) span scores (0 at non-spans) -> (B, N): per word, the sum over the spans
    (n, w) covering it, i.e. with n <= word <= n + w.

    A difference array: add the score at word n, subtract it after word n + w,
    then a cumulative sum over words.
    """
    b, n, w = scores.shape
    delta = torch.zeros(b, n + 1, dtype=scores.dtype)
    delta[:, :n] += scores.sum(-1)
    after = (torch.arange(n)[:, None] + torch.arange(w)[None, :] + 1).clamp(max=n)   # (N, W)
    delta.index_add_(1, after.flatten(), -scores.flatten(1))
    return delta.cumsum(1)[:, :n]


def token_coverage(scores: torch.Tensor, layout: WordLayout, length: int) -> torch.Tensor:
    """(B, N, W) span scores (0 at non-spans) -> (B, T) token scores (T = ``length``):
    each word's coverage divided equally among its tokens; 0 at special tokens and padding."""
    words = word_coverage(scores) / (layout.ends - layout.starts + 1)
    out = torch.zeros(scores.shape[0], length, dtype=scores.dtype)
    for i in range(scores.shape[0]):
        for m in range(int((layout.sequence[i] >= 0).sum())):
            out[i, layout.starts[i, m]:layout.ends[i, m] + 1] = words[i, m]
    return out


def top_spans(scores: torch.Tensor, mask: torch.Tensor, layout: WordLayout, batch: Batch,
              k: int) -> list[list[Span]]:
    """The ``k`` highest-scoring valid spans of each example, best first, as character Spans.

    scores, mask: (B, N, W). Span (n, w) runs from the first character of word
    n to the last character of word n + w, in the string of its sequence.
    """
    out = []
    for i in range(scores.shape[0]):
        flat = scores[i].masked_fill(~mask[i], float("-inf")).flatten()
        count = min(k, int(mask[i].sum()))
        values, index = flat.topk(count)
        spans = []
        for value, j in zip(values.tolist(), index.tolist()):
            start_word, width = divmod(j, scores.shape[2])
            start = layout.offsets[i][start_word][0]
            end = layout.offsets[i][start_word + width][1]
            seq = int(layout.sequence[i, start_word])
            source = batch.pairs[i] if seq == 1 and batch.pairs else batch.texts[i]
            spans.append(Span(start, end, float(value), source[start:end], seq))
        out.append(spans)
    return out
