"""LAMA factual cloze probes (Petroni et al. 2019): the T-REx and Google-RE subsets.

Sentences use the literal mask ``[MASK]``; swap in a tokenizer's own mask token
before feeding a model that uses another one.
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any
from urllib.parse import unquote

from ..errors import UnknownNameError
from .paths import fetch
from .text import read_lines

MASK = "[MASK]"
_INDEX = "lama/relations.jsonl"
# Google-RE templates as in LAMA's run_experiments.py (relations.jsonl covers T-REx only).
GOOGLE_RE_TEMPLATES = {
    "date_of_birth": "[X] (born [Y]).",
    "place_of_birth": "[X] was born in [Y] .",
    "place_of_death": "[X] died in [Y] .",
}


def _jsonl(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in read_lines(path) if line.strip()]


def _relation_files(root: Path) -> dict[str, Path]:
    """Relation id -> fact file: T-REx ``P19`` etc., Google-RE ``date_of_birth`` etc."""
    files = {p.stem: p for p in sorted((root / "lama" / "TREx").glob("*.jsonl"))}
    for path in sorted((root / "lama" / "Google_RE").glob("*_test.jsonl")):
        files[path.name.removesuffix("_test.jsonl")] = path
    return files


def relations() -> list[str]:
    """Ids of the relations whose fact files are present (T-REx first, then Google-RE)."""
    return fetch([_INDEX], lambda root: list(_relation_files(root)))


def _facts(root: Path, relation: str | None, use_template: bool) -> list[dict[str, Any]]:
    files = _relation_files(root)
    if relation is not None and relation not in files:
        raise UnknownNameError("LAMA relation", relation, list(files))
    templates = {r["relation"]: r["template"] for r in _jsonl(root / _INDEX)} | GOOGLE_RE_TEMPLATES
    facts = []
    for name in [relation] if relation else files:
        template = templates[name]
        for row in _jsonl(files[name]):
            subject = unquote(row["sub_label"])  # Google-RE has URL-escaped labels ("Aut%C3%B3mata")
            sentences = row.get("masked_sentences") or [e["masked_sentence"] for e in row["evidences"]]
            masked = [s for s in sentences if MASK in s]
            filled = template.replace("[X]", subject).replace("[Y]", MASK)
            facts.append(
                {
                    "sub_label": subject,
                    "obj_label": row["obj_label"],
                    "masked_sentence": filled if use_template or not masked else masked[0],
                    "relation": name,
                    "template": template,
                }
            )
    return facts


def load_lama(relation: str | None = None, use_template: bool = False) -> list[dict[str, Any]]:
    """Facts as dicts ``{sub_label, obj_label, masked_sentence, relation, template}``.

    ``relation``: one id from :func:`relations` (None = all). ``masked_sentence``
    is the first evidence sentence holding ``[MASK]`` (Google-RE lists context
    sentences without it too), or the relation template filled with the subject
    (``[Y]`` -> ``[MASK]``) if ``use_template`` or no evidence has a mask.
    ``sub_label`` is URL-unescaped.

    Raises:
        UnknownNameError: for a relation without a fact file.
    """
    return fetch([_INDEX], lambda root: _facts(root, relation, use_template))
