"""Toy tasks whose ground-truth attributions are known (seeded, no files)."""
from __future__ import annotations

import random
import string
from dataclasses import dataclass, field
from typing import Any

from ..errors import InputError


@dataclass
class ToyExample:
    """A toy input with its answer and ground truth.

    ``text``: space-separated words; ``label``: class (-1 for sequence tasks);
    ``target``: output sequence (sequence tasks, else ""); ``ground_truth``: one
    float per word of ``text.split(" ")``, 1.0 where the word is needed.
    """

    text: str
    label: int
    ground_truth: list[float]
    target: str = ""
    meta: dict[str, Any] = field(default_factory=dict)


def _check(n_examples: int, vocab_size: int, vocab_range: range, length: tuple[int, int]) -> None:
    if n_examples < 0:
        raise InputError(f"n_examples must be >= 0; got {n_examples}")
    if vocab_size not in vocab_range:
        raise InputError(f"vocab_size must be in {vocab_range}; got {vocab_size}")
    if not 1 <= length[0] <= length[1]:
        raise InputError(f"length must be (min, max) with 1 <= min <= max; got {length}")


def more_n_than_m(
    n_examples: int, seed: int = 0, vocab_size: int = 10, length: tuple[int, int] = (10, 20)
) -> list[ToyExample]:
    """DiffMask's toy task (De Cao et al. 2020, sec. 4.1): are there more n than m?

    Each example draws a query of two distinct digits n, m from
    ``range(vocab_size)`` and a sequence of ``randint(*length)`` digits, each
    element independently: with probability 1/2 uniformly n or m, otherwise
    uniformly one of the other digits (the paper uses lengths up to 10).
    ``text`` = ``"n m | d1 d2 ... dk"``; ``label`` = 1 iff count(n) > count(m)
    (ties are 0). ``ground_truth``: 1.0 for the two query words and for every
    occurrence of n or m in the sequence (the inputs a model must read to
    count), 0.0 for ``|`` and the other digits; normalise it to compare with a
    distribution (the paper's KL/JS). ``meta``: ``n``, ``m``, ``digits``.
    """
    _check(n_examples, vocab_size, range(3, 10**9), length)
    rng = random.Random(seed)
    examples = []
    for _ in range(n_examples):
        n, m = rng.sample(range(vocab_size), 2)
        others = [d for d in range(vocab_size) if d not in (n, m)]
        digits = [
            rng.choice((n, m)) if rng.random() < 0.5 else rng.choice(others)
            for _ in range(rng.randint(*length))
        ]
        examples.append(
            ToyExample(
                text=" ".join(map(str, [n, m, "|", *digits])),
                label=int(digits.count(n) > digits.count(m)),
                ground_truth=[1.0, 1.0, 0.0] + [float(d in (n, m)) for d in digits],
                meta={"n": n, "m": m, "digits": digits},
            )
        )
    return examples


def reverse_sequences(
    n_examples: int, seed: int = 0, vocab_size: int = 20, length: tuple[int, int] = (5, 10)
) -> list[ToyExample]:
    """Sequence reversal (Guan et al. 2019's seq2seq task).

    Source: ``randint(*length)`` symbols drawn uniformly from the first
    ``vocab_size`` lowercase letters; ``target`` is the source reversed.
    ``label`` = -1. ``ground_truth``: all 1.0 (every source word is copied);
    ``meta["alignment"][j]`` = source index that target word j copies
    (``k - 1 - j`` for a length-k source).
    """
    _check(n_examples, vocab_size, range(1, 27), length)
    rng = random.Random(seed)
    symbols = string.ascii_lowercase[:vocab_size]
    examples = []
    for _ in range(n_examples):
        source = [rng.choice(symbols) for _ in range(rng.randint(*length))]
        k = len(source)
        examples.append(
            ToyExample(
                text=" ".join(source),
                label=-1,
                ground_truth=[1.0] * k,
                target=" ".join(reversed(source)),
                meta={"alignment": [k - 1 - j for j in range(k)]},
            )
        )
    return examples
