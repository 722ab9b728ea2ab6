"""The dataset registry ``DATASETS`` and ``load("name:split")``."""
from __future__ import annotations

import re
from dataclasses import dataclass, replace
from functools import partial
from typing import Callable

from ..errors import InputError, UnknownNameError
from .eraser import ERASER_LABELS, read_eraser_movies
from .nli import SNLI_LABELS, read_snli
from .sentiment import AGNEWS_LABELS, MR_LABELS, SST2_LABELS, SST5_LABELS, read_agnews, read_mr, read_sst
from .trees import sst_tree_dataset
from .types import Dataset, Example

_SPEC = re.compile(r"^(?P<name>[\w-]+):(?P<split>\w+)"
                   r"(?:\[(?P<start>\d*):(?P<n1>\d+)\]|:(?P<n2>\d+)|:~(?P<sample>\d+))?$")


@dataclass(frozen=True)
class DatasetInfo:
    """A loadable dataset: its splits, label names and ``read(split) -> list[Example]``."""

    name: str
    splits: tuple[str, ...]
    labels: tuple[str, ...]
    read: Callable[[str], list[Example]]
    summary: str


def _tree_examples(binary: bool, split: str) -> list[Example]:
    return sst_tree_dataset(split, binary=binary).examples


_TRAIN_DEV_TEST = ("train", "dev", "test")
DATASETS: dict[str, DatasetInfo] = {
    info.name: info
    for info in [
        DatasetInfo("sst2", _TRAIN_DEV_TEST, tuple(SST2_LABELS), partial(read_sst, "binary"),
                    "SST-2 sentences (6920/872/1821)"),
        DatasetInfo("sst5", _TRAIN_DEV_TEST, tuple(SST5_LABELS), partial(read_sst, "fine"),
                    "SST-5 sentences (8544/1101/2210)"),
        DatasetInfo("sst2_trees", _TRAIN_DEV_TEST, tuple(SST2_LABELS), partial(_tree_examples, True),
                    "SST-2 from the trees, meta rationale/tokens/char_spans"),
        DatasetInfo("sst5_trees", _TRAIN_DEV_TEST, tuple(SST5_LABELS), partial(_tree_examples, False),
                    "SST-5 from the trees, meta rationale/tokens/char_spans"),
        DatasetInfo("mr", ("all",), tuple(MR_LABELS), read_mr, "MR movie review sentences (10662)"),
        DatasetInfo("agnews", ("test",), tuple(AGNEWS_LABELS), read_agnews, "AG News topics (7600)"),
        DatasetInfo("snli", ("dev", "test"), tuple(SNLI_LABELS), read_snli,
                    "SNLI pairs with e-SNLI explanations (9842/9824)"),
        DatasetInfo("eraser_movies", ("test", "val"), tuple(ERASER_LABELS), read_eraser_movies,
                    "ERASER movie reviews with rationale char spans (200/50)"),
    ]
}


def load(spec: str) -> Dataset:
    """Load ``"name:split"``; ``"name:split:N"`` or ``"name:split[:N]"`` keeps the first N,
    ``"name:split[M:N]"`` examples M..N-1 (e.g. disjoint train/test parts of one split),
    ``"name:split:~N"`` a seeded random sample of N (some files are sorted by label).

    Raises:
        InputError: if ``spec`` is malformed.
        UnknownNameError: for an unknown dataset or split (lists the valid ones).
        DataNotFoundError: if the data is in none of the searched places.
    """
    match = _SPEC.match(spec.strip())
    if match is None:
        raise InputError(
            f"dataset spec must look like 'name:split', 'name:split:N', 'name:split[M:N]' or "
            f"'name:split:~N' "
            f"(e.g. 'sst2:dev'); got {spec!r}"
        )
    name, split = match["name"], match["split"]
    info = DATASETS.get(name)
    if info is None:
        raise UnknownNameError("dataset", name, list(DATASETS), "Load one as 'name:split', e.g. 'sst2:dev'")
    if split not in info.splits:
        raise UnknownNameError(f"{name} split", split, list(info.splits))
    dataset = Dataset(name=name, split=split, examples=info.read(split), labels=list(info.labels))
    if match["sample"]:
        return dataset.sample(int(match["sample"]), seed=0)
    if match["n1"]:
        start, stop = int(match["start"] or 0), int(match["n1"])
        if start >= stop:
            raise InputError(f"dataset slice [M:N] needs M < N; got {spec!r}")
        return replace(dataset, examples=dataset.examples[start:stop])
    return dataset.head(int(match["n2"])) if match["n2"] else dataset
