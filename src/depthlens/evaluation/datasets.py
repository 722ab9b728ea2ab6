"""Gold labels and human rationales for explanations, looked up in a data split by text."""
from __future__ import annotations

from typing import Any, Sequence

from ..errors import InputError
from ..explanation import Explanation
from .units import spans_from_token_labels


def data_arguments(name: str, explanations: Sequence[Explanation],
                   wanted: set[str]) -> dict[str, Any]:
    """``labels`` and ``rationales`` from dataset ``name`` for the examples explained, and
    ``corpus`` (for IDF weights): the texts of the whole split the examples come from."""
    from ..data import load

    dataset = load(name)
    by_text = {(ex.text, ex.pair): ex for ex in dataset}
    examples = []
    for e in explanations:
        if (e.text, e.pair) not in by_text:
            raise InputError(f"explanation of {e.text[:40]!r} is not an example of {name!r}; "
                             f"give the data split the explanations were made on")
        examples.append(by_text[(e.text, e.pair)])
    out: dict[str, Any] = {}
    if "labels" in wanted:
        out["labels"] = [ex.label for ex in examples]
    if "rationales" in wanted:
        out["rationales"] = [_rationale(ex.meta) for ex in examples]
    if "corpus" in wanted:
        out["corpus"] = load(f"{dataset.name}:{dataset.split}").texts
    return out


def _rationale(meta: dict) -> list:
    if "rationale_spans" in meta:
        return [tuple(s) for s in meta["rationale_spans"]]
    if "rationale" in meta and "char_spans" in meta:
        return spans_from_token_labels(meta["char_spans"], meta["rationale"])
    return []
