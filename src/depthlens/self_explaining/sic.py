"""Span information collecting (SIC) and interpretation layers (Sun et al. 2021, section 3).

Spans are runs of whole words: a span starts at the first token of a word and
ends at the last token of a word, and both ends lie in the same sequence (text
or pair), so no span starts or ends inside a word or crosses the pair
separator; special tokens ([CLS], [SEP]) belong to no span. Spans are laid out
by start word and width: span (n, w) covers words n .. n + w, and the tensors
are (B, N, W) with N the number of words and W = min(max_width, N), so memory
grows as N x W, not N^2, when a width cap is set.

SIC (eq. 6, in the factorised form of section 3.3)::

    h(i, j) = tanh(W1 h_i + W2 h_j + W3 (h_i - h_j) + (W4 h_i) * (W4 h_j) + b)

where h_i is the encoder state at the span's first token and h_j at its last
token. Every product is precomputed once per word (O(N D^2)), so all spans
cost O(N W D). The paper writes the fourth term as W4 (h_i x h_j) and computes
it as sqrt(W4) h_i x sqrt(W4) h_j; here the learned matrix W4 plays the role of
sqrt(W4) (as in the authors' code), which is what makes the O(N^2 D) cost
possible. Interpretation layer (eqs. 2-3)::

    o(i, j) = h_hat . h(i, j),  alpha = softmax over valid spans,  h~ = sum alpha h(i, j)
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from ..errors import InputError
from ..models.adapter import Batch

REGULARIZERS = ("square", "entropy")


@dataclass
class WordLayout:
    """Where the words of a batch are.

    starts, ends: (B, N) long, the first and last token position of word n
    (0 for padding words). sequence: (B, N) long, 0 text / 1 pair / -1 padding
    word. offsets: per example and word, the (start, end) characters in its
    sequence's string. An example without words (e.g. all of it erased by a
    faithfulness metric) has no valid spans.
    """

    starts: torch.Tensor
    ends: torch.Tensor
    sequence: torch.Tensor
    offsets: list[list[tuple[int, int]]]

    @classmethod
    def of(cls, batch: Batch) -> "WordLayout":
        """The word layout of an encoded batch (words in order of appearance)."""
        rows = []
        for i, (wids, seqs, offs) in enumerate(zip(batch.word_ids, batch.sequence_ids,
                                                   batch.offsets)):
            words: dict[int, list] = {}
            for pos, (w, s, (a, b)) in enumerate(zip(wids, seqs, offs)):
                if w is None:
                    continue
                if w not in words:
                    words[w] = [pos, pos, s or 0, a, b]
                entry = words[w]
                entry[1], entry[4] = pos, max(entry[4], b)
            rows.append(list(words.values()))
        n = max(1, max(len(r) for r in rows))
        starts = torch.zeros(len(rows), n, dtype=torch.long)
        ends = torch.zeros_like(starts)
        sequence = torch.full_like(starts, -1)
        for i, row in enumerate(rows):
            if row:
                values = torch.tensor([r[:3] for r in row], dtype=torch.long)
                starts[i, :len(row)], ends[i, :len(row)], sequence[i, :len(row)] = values.T
        return cls(starts, ends, sequence, [[(r[3], r[4]) for r in row] for row in rows])

    @property
    def num_words(self) -> int:
        return self.starts.shape[1]

    def width(self, max_width: int | None) -> int:
        """W: the number of span widths laid out, min(max_width, N)."""
        return self.num_words if max_width is None else min(max_width, self.num_words)

    def end_words(self, max_width: int | None) -> torch.Tensor:
        """(N, W) long: the end word n + w of span (n, w), clamped to N - 1."""
        n, w = self.num_words, self.width(max_width)
        return (torch.arange(n)[:, None] + torch.arange(w)[None, :]).clamp(max=n - 1)

    def span_mask(self, max_width: int | None) -> torch.Tensor:
        """(B, N, W) bool: span (n, w) exists (end inside the example, one sequence)."""
        n, w = self.num_words, self.width(max_width)
        inside = (torch.arange(n)[:, None] + torch.arange(w)[None, :]) < n          # (N, W)
        seq_end = self.sequence[:, self.end_words(max_width)]                       # (B, N, W)
        return inside & (self.sequence[:, :, None] >= 0) & (seq_end == self.sequence[:, :, None])


class SICLayer(nn.Module):
    """All span representations h(i, j) (eq. 6), vectorised.

    forward(states (B, T, D), layout) -> (B, N, W, D); entries of spans that
    do not exist (past the last word, across sequences) are garbage and must be masked.
    """

    def __init__(self, dim: int, max_width: int | None = None):
        super().__init__()
        self.max_width = max_width
        self.w1 = nn.Linear(dim, dim)
        self.w2, self.w3, self.w4 = (nn.Linear(dim, dim, bias=False) for _ in range(3))

    def forward(self, states: torch.Tensor, layout: WordLayout) -> torch.Tensor:
        index = torch.arange(states.shape[0])[:, None]
        first, last = states[index, layout.starts], states[index, layout.ends]   # (B, N, D)
        width = layout.width(self.max_width)
        # end-side terms of every word, zero-padded so that the (N, W) windows are a view:
        # windows[b, n, w] = terms of word n + w (zeros past the last word)
        end_terms = torch.stack([self.w2(last) - self.w3(last), self.w4(last)], 2)  # (B, N, 2, D)
        padded = nn.functional.pad(end_terms, (0, 0, 0, 0, 0, width - 1))
        windows = padded.unfold(1, width, 1).permute(0, 1, 4, 2, 3)                # (B, N, W, 2, D)
        start = (self.w1(first) + self.w3(first))[:, :, None]                      # (B, N, 1, D)
        pre = torch.addcmul(start + windows[..., 0, :], self.w4(first)[:, :, None],
                            windows[..., 1, :])
        return pre.tanh_()

    def naive(self, h_i: torch.Tensor, h_j: torch.Tensor) -> torch.Tensor:
        """Eq. 6 for one span from its end states (D,) -> (D,), written out term by term."""
        return torch.tanh(self.w1(h_i) + self.w2(h_j) + self.w3(h_i - h_j)
                          + self.w4(h_i) * self.w4(h_j))


@dataclass
class SpanOutput:
    """logits (B, C); alpha (B, N, W) span weights (0 at non-spans; each row sums to 1,
    or is all 0 for an example without words, whose logits are then the output bias);
    mask (B, N, W) bool valid spans; spans (B, N, W, D) the h(i, j)."""

    logits: torch.Tensor
    alpha: torch.Tensor
    mask: torch.Tensor
    spans: torch.Tensor


class SpanHead(nn.Module):
    """SIC layer -> interpretation layer (eqs. 2-3) -> dropout -> output layer (eq. 4).

    ``uniform=True`` is AvgSelf-Explaining: alpha = 1/M over the M valid spans.
    """

    def __init__(self, dim: int, num_labels: int, max_width: int | None = None,
                 uniform: bool = False, dropout: float = 0.1):
        super().__init__()
        self.uniform = uniform
        self.sic = SICLayer(dim, max_width)
        self.span_score = nn.Linear(dim, 1, bias=False)   # h_hat of eq. 2
        self.dropout = nn.Dropout(dropout)
        self.output = nn.Linear(dim, num_labels)          # u_y of eq. 4

    def forward(self, states: torch.Tensor, layout: WordLayout) -> SpanOutput:
        spans = self.sic(states, layout)                                         # (B, N, W, D)
        mask = layout.span_mask(self.sic.max_width).to(states.device)
        if self.uniform:
            scores = torch.zeros(mask.shape, dtype=states.dtype, device=states.device)
        else:
            scores = self.span_score(spans)[..., 0]                              # (B, N, W)
        # finite fill: an example without valid spans gets alpha = 0 (h~ = 0), not NaN
        scores = scores.masked_fill(~mask, torch.finfo(scores.dtype).min)
        alpha = torch.softmax(scores.flatten(1), -1).view_as(scores) * mask
        pooled = torch.einsum("bnw,bnwd->bd", alpha, spans)                      # eq. 3
        return SpanOutput(self.output(self.dropout(pooled)), alpha, mask, spans)


def sharpness_penalty(alpha: torch.Tensor, mask: torch.Tensor, kind: str = "square") -> torch.Tensor:
    """Per-example penalty (B,) whose minimisation sharpens alpha (B, N, W).

    'square': -sum alpha^2 (eq. 7: the paper maximises log p + lambda sum alpha^2,
    i.e. minimises CE - lambda sum alpha^2); 'entropy': -sum alpha log alpha
    (footnote 2). Both are smallest for a one-hot alpha.
    """
    if kind == "square":
        return -(alpha ** 2).flatten(1).sum(-1)
    if kind == "entropy":
        logs = torch.log(alpha.clamp_min(torch.finfo(alpha.dtype).tiny))
        return -(alpha * logs * mask).flatten(1).sum(-1)
    raise InputError(f"regularizer must be one of {', '.join(REGULARIZERS)}; got {kind!r}")
