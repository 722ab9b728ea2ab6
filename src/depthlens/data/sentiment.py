"""Sentence classification loaders: SST-2, SST-5, MR and AG News.

Each ``read_*(split) -> list[Example]`` reads the local copy (see ``paths``) and
falls back to the Hugging Face id named in its :class:`HubSource`.
"""
from __future__ import annotations

import csv
import html
import io
import re
from pathlib import Path
from typing import Any, Callable

from .paths import HubSource, fetch
from .text import hub_split, read_lines, unescape_sentence
from .types import Example

SST2_LABELS = ["negative", "positive"]
SST5_LABELS = ["very negative", "negative", "neutral", "positive", "very positive"]
MR_LABELS = SST2_LABELS
AGNEWS_LABELS = ["World", "Sports", "Business", "Sci/Tech"]
_SST_HUB = {"binary": ("stanfordnlp/sst2", "sentence"), "fine": ("SetFit/sst5", "text")}
_AG_ENTITY = re.compile(r" ?#(\d{2,4});")


def _labelled_lines(path: Path, encoding: str = "utf-8") -> list[Example]:
    """``<label digit> <sentence>`` lines -> Examples (PTB escapes undone, outer spaces stripped)."""
    return [
        Example(text=unescape_sentence(line[2:].strip(" ")), label=int(line[0]), id=str(i))
        for i, line in enumerate(read_lines(path, encoding))
    ]


def _hub_example(text_key: str, clean: Callable[[str], str] = str) -> Callable[[dict[str, Any]], Example]:
    """A row converter ``{text_key, label} -> Example``."""

    def convert(row: dict[str, Any]) -> Example:
        return Example(text=clean(row[text_key].strip()), label=int(row["label"]))

    return convert


def read_sst(kind: str, split: str) -> list[Example]:
    """SST sentences, ``kind`` "binary" (SST-2, 2 labels) or "fine" (SST-5, 5 labels)."""
    rel = f"sst/stsa.{kind}.{split}"
    hub_id, text_key = _SST_HUB[kind]
    hub = HubSource(hub_id, hub_split(split), _hub_example(text_key, unescape_sentence))
    return fetch([rel], lambda root: _labelled_lines(root / rel), hub)


def read_mr(split: str = "all") -> list[Example]:
    """MR (Pang & Lee 2005): 10662 sentences, latin-1, sorted by label (0 neg, 1 pos)."""
    rel = "mr/rt-polarity.all"
    hub = HubSource(
        "cornell-movie-review-data/rotten_tomatoes", "train+validation+test", _hub_example("text")
    )
    return fetch([rel], lambda root: _labelled_lines(root / rel, "latin-1"), hub)


def clean_agnews(text: str) -> str:
    """Undo AG News escaping leftovers.

    `` #39;`` -> ``'`` (any `` #N;`` with its stray leading space, as HTML char
    ref N), ``&lt;``/``&gt;``/``&amp;`` -> ``<``/``>``/``&``, and every backslash
    (the dataset's newline mark; its readme calls it ``\\n``, but in the file it
    is a lone ``\\`` before the next line, e.g. ``social\\network``) -> space.
    Whitespace runs are collapsed to one space.
    """
    text = html.unescape(_AG_ENTITY.sub(r"&#\1;", text)).replace("\\", " ")
    return " ".join(text.split())


def _read_agnews_csv(path: Path) -> list[Example]:
    rows = csv.reader(io.StringIO(path.read_text(encoding="utf-8")))
    return [
        Example(text=clean_agnews(f"{title}. {description}"), label=int(cls) - 1, id=str(i))
        for i, (cls, title, description) in enumerate(rows)
    ]


def read_agnews(split: str) -> list[Example]:
    """AG News; text = ``title + ". " + description``, cleaned by :func:`clean_agnews`."""
    rel = f"ag_news/{split}.csv"
    hub = HubSource("fancyzhx/ag_news", split, _hub_example("text", clean_agnews))
    return fetch([rel], lambda root: _read_agnews_csv(root / rel), hub)
