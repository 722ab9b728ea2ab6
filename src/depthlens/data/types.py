"""Record types shared by the loaders: :class:`Example` and :class:`Dataset`."""
from __future__ import annotations

import random
from dataclasses import dataclass, field, replace
from typing import Any, Iterator


@dataclass
class Example:
    """One labelled text (or text pair).

    ``label`` indexes ``Dataset.labels`` (-1 if unlabelled); ``pair`` is the
    second text of a pair task (e.g. the NLI hypothesis); ``meta`` holds
    dataset-specific extras (rationales, explanations, tokens).
    """

    text: str
    label: int
    pair: str | None = None
    id: str = ""
    meta: dict[str, Any] = field(default_factory=dict)


@dataclass
class Dataset:
    """A named split: a list of :class:`Example` plus the label names."""

    name: str
    split: str
    examples: list[Example]
    labels: list[str]

    def __len__(self) -> int:
        return len(self.examples)

    def __iter__(self) -> Iterator[Example]:
        return iter(self.examples)

    def __getitem__(self, index: int) -> Example:
        return self.examples[index]

    @property
    def texts(self) -> list[str]:
        return [ex.text for ex in self.examples]

    @property
    def targets(self) -> list[int]:
        return [ex.label for ex in self.examples]

    def head(self, n: int) -> Dataset:
        """The first ``n`` examples."""
        return replace(self, examples=self.examples[:n])

    def sample(self, n: int, seed: int = 0) -> Dataset:
        """``min(n, len)`` examples drawn without replacement; same seed, same sample."""
        picked = random.Random(seed).sample(self.examples, min(n, len(self.examples)))
        return replace(self, examples=picked)


def token_spans(tokens: list[str]) -> list[tuple[int, int]]:
    """Character spans ``(start, end)`` of ``tokens`` in ``" ".join(tokens)``."""
    spans, start = [], 0
    for tok in tokens:
        spans.append((start, start + len(tok)))
        start += len(tok) + 1
    return spans
