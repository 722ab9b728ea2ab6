"""Helpers shared by the information-measure benchmarks: work directory, result files, the
cached reverse-a-sequence seq2seq model and its held-out data."""
from __future__ import annotations

import json
from pathlib import Path

import torch

from depthlens.data import reverse_sequences
from depthlens.io import atomic_write_text, cache_dir
from depthlens.models.loading import load_directory
from depthlens.models.seq2seq import reverse_exact_match, train_seq2seq_reverse

WORK = cache_dir() / "information"
VOCAB, EPOCHS = 20, 30


def write_results(name: str, results: dict) -> Path:
    """Write ``results`` as JSON to WORK/<name>.json and return the path."""
    path = WORK / f"{name}.json"
    atomic_write_text(path, json.dumps(results, indent=2, default=float) + "\n")
    return path


def symbols(text: str) -> str:
    """A reverse_sequences text (letters a..t) in the seq2seq vocabulary (s0..s19)."""
    return " ".join(f"s{ord(c) - ord('a')}" for c in text.split())


def reverse_model(seed: int = 0):
    """(adapter, held-out exact match): trained once with train_seq2seq_reverse for all
    EPOCHS epochs (no early stop at 99%: a fully trained model) and cached."""
    directory = WORK / f"seq2seq-reverse-s{seed}"
    if directory.is_dir():
        adapter = load_directory(directory, name=directory.name)
    else:
        adapter, _ = train_seq2seq_reverse(seed=seed, vocab_size=VOCAB, epochs=EPOCHS,
                                           target=float("inf"))
        adapter.save(directory)
    test = heldout(500, seed + 1000)
    return adapter, reverse_exact_match(adapter, adapter.encode(test))


def heldout(n: int, seed: int) -> list[str]:
    """n fresh source texts (lengths 5..10) from data.reverse_sequences, as symbols."""
    return [symbols(ex.text) for ex in reverse_sequences(n, seed=seed, vocab_size=VOCAB)]


def single_thread() -> None:
    """The benchmarks share 2 CPU cores with other jobs: one intra-op thread is fastest."""
    torch.set_num_threads(1)
