"""SNLI dev/test with e-SNLI explanations (parallel line files under ``esnli/``)."""
from __future__ import annotations

from pathlib import Path
from typing import Any

from .paths import HubSource, fetch
from .text import hub_split, read_lines
from .types import Example

SNLI_LABELS = ["entailment", "neutral", "contradiction"]
_EXPLANATION_FILES = {"dev": 1, "test": 3}  # e-SNLI explanations per pair in our copy


def _files(split: str) -> list[str]:
    n_expl = _EXPLANATION_FILES[split]
    expl = [f"esnli/preproc1_expl_{k}.{split}" for k in range(1, n_expl + 1)]
    return [f"esnli/s1.{split}", f"esnli/s2.{split}", f"esnli/labels.{split}", *expl]


def _read_local(root: Path, split: str) -> list[Example]:
    premises, hypotheses, labels, *explanations = (read_lines(root / f) for f in _files(split))
    return [
        Example(
            text=premise.rstrip(" "),
            pair=hypothesis.rstrip(" "),
            label=SNLI_LABELS.index(label),
            id=str(i),
            meta={"explanations": [expl[i] for expl in explanations]},
        )
        for i, (premise, hypothesis, label) in enumerate(zip(premises, hypotheses, labels))
    ]


def _from_hub(row: dict[str, Any]) -> Example:
    return Example(text=row["premise"], pair=row["hypothesis"], label=row["label"], meta={"explanations": []})


def read_snli(split: str) -> list[Example]:
    """SNLI pairs with a gold label: text = premise, pair = hypothesis.

    ``meta["explanations"]``: the e-SNLI explanations (1 per dev pair, 3 per test
    pair; empty when loaded from the Hugging Face fallback).
    """
    hub = HubSource("stanfordnlp/snli", hub_split(split), _from_hub)
    examples = fetch(_files(split), lambda root: _read_local(root, split), hub)
    return [ex for ex in examples if ex.label >= 0]
