"""ERASER "movies" rationales, with the documents from NLTK's movie_reviews.zip.

ERASER's token offsets refer to its own tokenisation (``does n't``,
``big - budget``), not to the NLTK files, so each evidence span is aligned by
its text: whitespace is removed from both the span and the document, the span
is searched in the compacted document (the occurrence nearest the expected
position wins) and the match is mapped back to character offsets.
"""
from __future__ import annotations

import json
import re
import zipfile
from pathlib import Path
from typing import Any

from .paths import HubSource, fetch
from .text import hub_split, read_lines
from .types import Example

ERASER_LABELS = ["NEG", "POS"]
_FILES = {"test": "eraser_movies/test.jsonl", "val": "eraser_movies/val_comprehensive.jsonl"}
_ZIP = "nltk/movie_reviews.zip"


class _Aligner:
    """One document, compacted (whitespace removed) once for many span searches."""

    def __init__(self, document: str):
        self.offsets = [i for i, ch in enumerate(document) if not ch.isspace()]
        self.compact = "".join(document[i] for i in self.offsets)
        self.token_starts = [m.start() for m in re.finditer(r"\S+", document)] or [0]

    def align(self, span_text: str, near: int) -> tuple[int, int] | None:
        needle = "".join(span_text.split())
        best, pos = None, self.compact.find(needle) if needle else -1
        while pos >= 0:
            if best is None or abs(self.offsets[pos] - near) < abs(self.offsets[best] - near):
                best = pos
            pos = self.compact.find(needle, pos + 1)
        if best is None:
            return None
        return self.offsets[best], self.offsets[best + len(needle) - 1] + 1


def align_span(document: str, span_text: str, near: int = 0) -> tuple[int, int] | None:
    """Character span ``(start, end)`` of ``span_text`` in ``document``, ignoring whitespace.

    ``near``: expected character offset; among several matches the closest
    start wins. Returns None if the text (whitespace removed) is empty or absent.
    """
    return _Aligner(document).align(span_text, near)


def _example(doc_id: str, document: str, label: int, evidences: list[dict[str, Any]]) -> Example:
    """An Example with meta ``rationale_spans`` and per-evidence ``evidences`` records.

    The expected position of a span is the start of whitespace token
    ``start_token`` (ERASER has more tokens than whitespace splitting, so this is
    at or after the true position; only used to choose among repeated matches).
    """
    aligner = _Aligner(document)
    records = []
    for ev in evidences:
        token = min(ev.get("start_token", 0), len(aligner.token_starts) - 1)
        records.append({**ev, "char_span": aligner.align(ev["text"], aligner.token_starts[token])})
    spans = [r["char_span"] for r in records if r["char_span"] is not None]
    return Example(
        text=document,
        label=label,
        id=doc_id,
        meta={"rationale_spans": spans, "evidences": records},
    )


def _read_local(root: Path, split: str) -> list[Example]:
    records = [json.loads(line) for line in read_lines(root / _FILES[split])]
    with zipfile.ZipFile(root / _ZIP) as archive:
        members = {_doc_id(name): name for name in archive.namelist() if name.endswith(".txt")}
        return [
            _example(
                rec["annotation_id"],
                archive.read(members[rec["annotation_id"]]).decode("utf-8"),
                ERASER_LABELS.index(rec["classification"]),
                [ev for group in rec["evidences"] for ev in group],
            )
            for rec in records
        ]


def _doc_id(member: str) -> str:
    """``movie_reviews/neg/cv900_10800.txt`` -> ERASER id ``negR_900.txt``."""
    _, polarity, filename = member.split("/")
    return f"{polarity}R_{filename[2:5]}.txt"


def _from_hub(row: dict[str, Any]) -> Example:
    evidences = [{"text": text} for text in row["evidences"]]
    return _example("", row["review"], row["label"], evidences)


def read_eraser_movies(split: str) -> list[Example]:
    """ERASER movies documents ("test": 200, "val": 50 in the local copy).

    text: the full NLTK document (lowercased, tokenised, one sentence per line);
    label: 0 NEG / 1 POS; meta ``rationale_spans``: list of aligned
    ``(char_start, char_end)``; meta ``evidences``: the ERASER span dicts plus
    ``char_span`` (None for empty or unaligned spans).
    """
    hub = HubSource("eraser-benchmark/movie_rationales", hub_split(split), _from_hub)
    return fetch([_FILES[split], _ZIP], lambda root: _read_local(root, split), hub)
