"""The one result type: an Explanation holds a (layers x tokens) score matrix.

Input-level methods fill one row; layer-resolved methods fill one row per layer.
Explanations aggregate to words and character spans, and save/load losslessly
as JSON (one) or JSONL (many, :class:`ExplanationSet`).
"""
from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Iterable

import numpy as np

from .errors import InputError
from .io import atomic_write_text

FORMAT_VERSION = 1
AGGREGATIONS = ("sum", "mean", "max", "abs_sum", "abs_max")


@dataclass
class Target:
    """The class an explanation is about."""

    index: int
    name: str
    probability: float | None = None


@dataclass
class Span:
    """A scored character span of the text (``sequence`` 0) or of the pair (1)."""

    start: int
    end: int
    score: float
    text: str = ""
    sequence: int = 0
    layer: int = -1


@dataclass
class Word:
    """A word: its global index, its tokens (positions), its characters."""

    index: int
    text: str
    start: int
    end: int
    sequence: int
    positions: list[int]


@dataclass
class Explanation:
    """Scores of every token as seen from every explained layer.

    scores: float array (n_layers, n_tokens); row r belongs to ``layers[r]``.
    tokens/offsets/word_ids/sequence_ids: one entry per token (special tokens
    have word id None and offsets (0, 0)); offsets index ``text`` for
    sequence 0 and ``pair`` for sequence 1.
    """

    text: str
    tokens: list[str]
    offsets: list[tuple[int, int]]
    word_ids: list[int | None]
    sequence_ids: list[int | None]
    scores: np.ndarray
    layers: list[str]
    target: Target
    method: str
    model: str = ""
    pair: str | None = None
    params: dict[str, Any] = field(default_factory=dict)
    diagnostics: dict[str, Any] = field(default_factory=dict)
    seed: int | None = None
    probabilities: list[float] = field(default_factory=list)
    labels: list[str] = field(default_factory=list)
    spans: list[Span] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.scores = np.asarray(self.scores, dtype=np.float64)
        if self.scores.ndim == 1:
            self.scores = self.scores[None, :]
        self.offsets = [tuple(o) for o in self.offsets]
        n = len(self.tokens)
        if self.scores.shape != (len(self.layers), n):
            raise ValueError(
                f"scores must have shape (layers={len(self.layers)}, tokens={n}); "
                f"got {self.scores.shape}"
            )
        for name, seq in (("offsets", self.offsets), ("word_ids", self.word_ids),
                          ("sequence_ids", self.sequence_ids)):
            if len(seq) != n:
                raise ValueError(f"{name} must have one entry per token ({n}); got {len(seq)}")

    # ------------------------------------------------------------------ views
    @property
    def predicted(self) -> Target | None:
        """The model's predicted class, when probabilities were recorded."""
        if not self.probabilities:
            return None
        i = int(np.argmax(self.probabilities))
        name = self.labels[i] if i < len(self.labels) else str(i)
        return Target(i, name, float(self.probabilities[i]))

    def layer_index(self, layer: int | str) -> int:
        """Row of ``layer``: an int row (negative counts from the end) or a layer name."""
        if isinstance(layer, str):
            if layer not in self.layers:
                raise InputError(f"layer must be one of {self.layers}; got {layer!r}")
            return self.layers.index(layer)
        if not -len(self.layers) <= layer < len(self.layers):
            raise InputError(
                f"layer must be in [-{len(self.layers)}, {len(self.layers) - 1}]; got {layer}"
            )
        return layer % len(self.layers)

    def token_scores(self, layer: int | str = -1) -> np.ndarray:
        """Scores of one layer row, shape (n_tokens,)."""
        return self.scores[self.layer_index(layer)]

    def words(self) -> list[Word]:
        """The words of text and pair, in order (special tokens excluded)."""
        found: dict[int, Word] = {}
        for pos, (wid, seq, (s, e)) in enumerate(zip(self.word_ids, self.sequence_ids, self.offsets)):
            if wid is None:
                continue
            if wid not in found:
                found[wid] = Word(wid, "", s, e, seq if seq is not None else 0, [])
            w = found[wid]
            w.positions.append(pos)
            w.start, w.end = min(w.start, s), max(w.end, e)
        words = [found[k] for k in sorted(found)]
        for w in words:
            w.text = self._source(w.sequence)[w.start:w.end]
        return words

    def word_scores(self, aggregate: str = "sum") -> tuple[list[Word], np.ndarray]:
        """Aggregate token scores to words: (words, array (n_layers, n_words))."""
        words = self.words()
        out = np.stack([_aggregate(self.scores[:, w.positions], aggregate) for w in words], axis=1) \
            if words else np.zeros((len(self.layers), 0))
        return words, out

    def span_score(self, start: int, end: int, aggregate: str = "sum",
                   sequence: int = 0) -> np.ndarray:
        """Aggregate the tokens overlapping characters [start, end): array (n_layers,)."""
        if not 0 <= start < end:
            raise InputError(f"span must satisfy 0 <= start < end; got ({start}, {end})")
        positions = [i for i, ((s, e), seq, w) in enumerate(
            zip(self.offsets, self.sequence_ids, self.word_ids))
            if w is not None and seq == sequence and s < end and e > start]
        if not positions:
            raise InputError(f"span ({start}, {end}) covers no token of sequence {sequence}")
        return _aggregate(self.scores[:, positions], aggregate)

    def top_words(self, k: int = 5, layer: int | str = -1) -> list[tuple[str, float]]:
        """The k words with the highest score at ``layer``."""
        words, scores = self.word_scores()
        row = scores[self.layer_index(layer)]
        order = np.argsort(-row)[:k]
        return [(words[i].text, float(row[i])) for i in order]

    def _source(self, sequence: int) -> str:
        return self.pair if sequence == 1 and self.pair is not None else self.text

    # ---------------------------------------------------------- serialisation
    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["scores"] = self.scores.tolist()
        d["offsets"] = [list(o) for o in self.offsets]
        d["format_version"] = FORMAT_VERSION
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "Explanation":
        d = dict(d)
        version = d.pop("format_version", FORMAT_VERSION)
        if version != FORMAT_VERSION:
            raise InputError(f"explanation format_version must be {FORMAT_VERSION}; got {version}")
        d["target"] = Target(**d["target"])
        d["spans"] = [Span(**s) for s in d.get("spans", [])]
        return cls(**d)

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), ensure_ascii=False)

    def save(self, path: str | Path) -> None:
        """Write JSON atomically (floats round-trip exactly)."""
        atomic_write_text(path, self.to_json())

    @classmethod
    def load(cls, path: str | Path) -> "Explanation":
        return cls.from_dict(_read_json(path))


class ExplanationSet(list):
    """A list of Explanations, read and written as JSON Lines."""

    def save(self, path: str | Path) -> None:
        atomic_write_text(path, "".join(e.to_json() + "\n" for e in self))

    @classmethod
    def load(cls, path: str | Path) -> "ExplanationSet":
        path = Path(path)
        if not path.is_file():
            raise InputError(f"explanations file {str(path)!r} does not exist")
        out = cls()
        for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
            if line.strip():
                try:
                    out.append(Explanation.from_dict(json.loads(line)))
                except (json.JSONDecodeError, TypeError, KeyError) as err:
                    raise InputError(f"{path}:{n} is not a depthlens explanation ({err})") from None
        return out

    @classmethod
    def of(cls, items: Iterable[Explanation]) -> "ExplanationSet":
        return cls(items)


def _aggregate(block: np.ndarray, how: str) -> np.ndarray:
    """Reduce (n_layers, k) over k."""
    if how == "sum":
        return block.sum(axis=1)
    if how == "mean":
        return block.mean(axis=1)
    if how == "max":
        return block.max(axis=1)
    if how == "abs_sum":
        return np.abs(block).sum(axis=1)
    if how == "abs_max":
        return np.abs(block).max(axis=1)
    raise InputError(f"aggregate must be one of {AGGREGATIONS}; got {how!r}")


def _read_json(path: str | Path) -> dict[str, Any]:
    path = Path(path)
    if not path.is_file():
        raise InputError(f"explanation file {str(path)!r} does not exist")
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as err:
        raise InputError(f"{path} is not valid JSON ({err})") from None
