"""Universal Dependencies English EWT (CoNLL-U), one row per syntactic word."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ..errors import UnknownNameError
from .paths import HubSource, fetch
from .text import hub_split, read_lines

UD_SPLITS = ("dev", "test")


@dataclass
class UDSentence:
    """One sentence; ``words``/``upos``/``heads``/``deprel`` are parallel lists of length n_words.

    ``heads[i]`` is the 1-based index of word i's head, 0 for the root.
    """

    id: str
    text: str
    words: list[str]
    upos: list[str]
    heads: list[int]
    deprel: list[str]


def parse_conllu(lines: list[str]) -> list[UDSentence]:
    """Sentences from CoNLL-U lines, skipping multiword-token (``n-m``) and empty-node (``n.1``) rows."""
    sentences, comments, rows = [], {}, []
    for line in [*lines, ""]:
        if line.startswith("#"):
            key, _, value = line[1:].partition("=")
            comments[key.strip()] = value.strip()
        elif line.strip():
            cols = line.split("\t")
            if cols[0].isdigit():
                rows.append(cols)
        elif rows:
            sentences.append(
                UDSentence(
                    id=comments.get("sent_id", str(len(sentences))),
                    text=comments.get("text", " ".join(r[1] for r in rows)),
                    words=[r[1] for r in rows],
                    upos=[r[3] for r in rows],
                    heads=[int(r[6]) for r in rows],
                    deprel=[r[7] for r in rows],
                )
            )
            comments, rows = {}, []
    return sentences


def _from_hub(row: dict[str, Any]) -> UDSentence:
    return UDSentence(
        id=str(row["idx"]),
        text=row["text"],
        words=row["tokens"],
        upos=row["upos"],
        heads=[int(h) for h in row["head"]],
        deprel=row["deprel"],
    )


def load_ud(split: str) -> list[UDSentence]:
    """UD English EWT sentences: "dev" 2001 (25147 words), "test" 2077 (25094 words).

    Raises:
        UnknownNameError: for a split other than "dev" or "test".
    """
    if split not in UD_SPLITS:
        raise UnknownNameError("UD split", split, list(UD_SPLITS))
    rel = f"ud_english_ewt/en_ewt-ud-{split}.conllu"
    hub = HubSource("universal_dependencies", hub_split(split), _from_hub, "en_ewt")
    return fetch([rel], lambda root: parse_conllu(read_lines(root / rel)), hub)
