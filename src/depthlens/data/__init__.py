"""Dataset loaders for depthlens (offline copies first, Hugging Face as fallback).

Quick use::

    from depthlens import data
    ds = data.load("sst2:dev")          # Dataset of Example(text, label, ...)
    ds = data.load("snli:test:100")     # first 100 examples
    sorted(data.DATASETS)               # names load() accepts

Files are looked for in ``$DEPTHLENS_DATA``, ``../shared/data``,
``<repo>/../shared/data`` and ``~/.cache/depthlens/data`` (see ``paths``).
"""
from .eraser import align_span
from .lama import load_lama, relations
from .lexicons import sentiment_lexicon, vader_lexicon
from .paths import search_dirs
from .registry import DATASETS, DatasetInfo, load
from .toy import ToyExample, more_n_than_m, reverse_sequences
from .trees import Tree, load_sst_trees, parse_tree, sst_tree_dataset, token_sentiment_reference
from .types import Dataset, Example
from .ud import UDSentence, load_ud

__all__ = [
    "DATASETS",
    "Dataset",
    "DatasetInfo",
    "Example",
    "ToyExample",
    "Tree",
    "UDSentence",
    "align_span",
    "load",
    "load_lama",
    "load_sst_trees",
    "load_ud",
    "more_n_than_m",
    "parse_tree",
    "relations",
    "reverse_sequences",
    "search_dirs",
    "sentiment_lexicon",
    "sst_tree_dataset",
    "token_sentiment_reference",
    "vader_lexicon",
]
