"""Small text helpers shared by the loaders: exact line splitting, PTB un-escaping."""
from __future__ import annotations

from pathlib import Path

_PTB_BRACKETS = {"-lrb-": "(", "-rrb-": ")", "-lsb-": "[", "-rsb-": "]", "-lcb-": "{", "-rcb-": "}"}


def read_lines(path: Path, encoding: str = "utf-8") -> list[str]:
    """The file's lines split on ``"\\n"`` only (not on U+0085 etc.), no final empty line."""
    lines = path.read_bytes().decode(encoding).split("\n")
    return lines[:-1] if lines and lines[-1] == "" else lines


def unescape_token(token: str) -> str:
    """One PTB token for display.

    ``-LRB-``/``-lrb-`` -> ``(`` (likewise ``)[]{}``), ``\\/`` -> ``/``, ``\\*`` -> ``*``.
    """
    return _PTB_BRACKETS.get(token.lower(), token).replace("\\/", "/").replace("\\*", "*")


def unescape_sentence(sentence: str) -> str:
    """A space-tokenised PTB sentence for display (tokens split on ``" "`` only)."""
    return " ".join(unescape_token(tok) for tok in sentence.split(" "))


def hub_split(split: str) -> str:
    """Our split name as a Hugging Face split name (``dev``/``val`` -> ``validation``)."""
    return {"dev": "validation", "val": "validation"}.get(split, split)
