"""SST phrase trees: a small PTB bracket parser and token-level sentiment references.

A tree line looks like ``(3 (2 It) (4 (2 's) (3 lovely)))``: every node is
``(label child...)`` and every leaf ``(label token)``, labels 0..4 as SST-5.
"""
from __future__ import annotations

import re
from dataclasses import dataclass

from ..errors import InputError
from .paths import HubSource, fetch
from .sentiment import SST2_LABELS, SST5_LABELS
from .text import hub_split, read_lines, unescape_token
from .types import Dataset, Example, token_spans

_BRACKET_TOKENS = re.compile(r"\(|\)|[^\s()]+")


@dataclass
class Tree:
    """One parsed SST sentence.

    ``tokens``: leaves, un-escaped (``-LRB-`` -> ``(``), original case.
    ``label``: root sentiment 0..4.
    ``phrases``: ``(start, end, label)`` per node (leaves included), token
    indices with ``end`` exclusive, in post-order (children before parents).
    """

    tokens: list[str]
    label: int
    phrases: list[tuple[int, int, int]]


def parse_tree(line: str) -> Tree:
    """Parse one PTB bracket string.

    Raises:
        InputError: if the brackets are unbalanced or a node has no label.
    """
    parts = _BRACKET_TOKENS.findall(line)
    tokens: list[str] = []
    phrases: list[tuple[int, int, int]] = []
    stack: list[tuple[int, int]] = []  # (label, first token index) of open nodes
    pos = 0
    while pos < len(parts):
        part = parts[pos]
        if part == "(":
            if pos + 1 >= len(parts) or not parts[pos + 1].isdigit():
                raise InputError(f"tree node must start with a numeric label; got {line[:80]!r}")
            stack.append((int(parts[pos + 1]), len(tokens)))
            pos += 2
            continue
        if part == ")":
            if not stack:
                raise InputError(f"tree brackets must balance; got {line[:80]!r}")
            label, start = stack.pop()
            phrases.append((start, len(tokens), label))
        else:
            tokens.append(unescape_token(part))
        pos += 1
    if stack or not phrases:
        raise InputError(f"tree brackets must balance; got {line[:80]!r}")
    return Tree(tokens=tokens, label=phrases[-1][2], phrases=phrases)


def load_sst_trees(split: str) -> list[Tree]:
    """All trees of an SST split ("train", "dev", "test"): 8544 / 1101 / 2210."""
    rel = f"sst/trees/{split}.txt"
    hub = HubSource("stanfordnlp/sst", hub_split(split), lambda row: parse_tree(row["ptb_tree"]), "ptb")
    return fetch([rel], lambda root: [parse_tree(line) for line in read_lines(root / rel)], hub)


def token_sentiment_reference(tree: Tree, strong: bool = True, max_phrase_len: int = 3) -> list[int]:
    """A 0/1 mask over ``tree.tokens`` marking sentiment-bearing tokens.

    A token is 1 if some phrase of at most ``max_phrase_len`` tokens that
    contains it (its own leaf included) has a polar label: 0 or 4 if
    ``strong``, else any of 0, 1, 3, 4.
    """
    polar = {0, 4} if strong else {0, 1, 3, 4}
    mask = [0] * len(tree.tokens)
    for start, end, label in tree.phrases:
        if label in polar and end - start <= max_phrase_len:
            mask[start:end] = [1] * (end - start)
    return mask


def sst_tree_dataset(split: str, binary: bool = False, strong: bool = True) -> Dataset:
    """SST sentences from the trees, with token-level sentiment references.

    ``binary``: drop neutral roots and map 0,1 -> 0 and 3,4 -> 1 (SST-2 labels);
    otherwise the 5 SST-5 labels. Each example has text = ``" ".join(tokens)``
    and meta ``tokens`` (list[str]), ``char_spans`` (list of (start, end) per
    token in text) and ``rationale`` (list[int], :func:`token_sentiment_reference`).
    """
    examples = []
    for i, tree in enumerate(load_sst_trees(split)):
        if binary and tree.label == 2:
            continue
        meta = {
            "tokens": tree.tokens,
            "char_spans": token_spans(tree.tokens),
            "rationale": token_sentiment_reference(tree, strong),
        }
        label = int(tree.label > 2) if binary else tree.label
        examples.append(Example(text=" ".join(tree.tokens), label=label, id=str(i), meta=meta))
    name, labels = ("sst2_trees", SST2_LABELS) if binary else ("sst5_trees", SST5_LABELS)
    return Dataset(name=name, split=split, examples=examples, labels=labels)
