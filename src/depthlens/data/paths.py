"""Where dataset files are looked for, and the Hugging Face fallback.

Search order for the data directory (the folder holding ``sst/``, ``mr/``, ...):

1. ``$DEPTHLENS_DATA``
2. ``../shared/data`` relative to the current working directory
3. ``<repo>/../shared/data`` relative to this package's source
4. ``~/.cache/depthlens/data`` (``$DEPTHLENS_CACHE/data`` when that is set)

A directory is used only if it holds every file a loader needs. If none does,
the loader's Hugging Face ``datasets`` id is tried, but only when the
``datasets`` package is importable; otherwise :class:`DataNotFoundError` names
every place looked in.
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Sequence, TypeVar

from ..errors import DataNotFoundError
from ..io import cache_dir

T = TypeVar("T")
ENV_VAR = "DEPTHLENS_DATA"
PACKAGE_DATA_DIR = Path(__file__).resolve().parents[3] / ".." / "shared" / "data"
FIX = f"set {ENV_VAR}=/path/to/shared/data"


@dataclass(frozen=True)
class HubSource:
    """A Hugging Face dataset to use when the local files are missing.

    ``convert`` maps one row (a dict) to the loader's record type.
    """

    id: str
    split: str
    convert: Callable[[dict[str, Any]], Any]
    config: str | None = None

    def describe(self) -> str:
        config = f" (config {self.config!r})" if self.config else ""
        return f"Hugging Face dataset {self.id!r}{config}, split {self.split!r}"


def _candidates() -> list[tuple[str, Path]]:
    """``(where it comes from, resolved directory)`` in search order."""
    dirs = [
        ("../shared/data from the working dir", Path.cwd() / ".." / "shared" / "data"),
        ("../shared/data beside the repo", PACKAGE_DATA_DIR),
        ("cache", cache_dir() / "data"),
    ]
    if os.environ.get(ENV_VAR):
        dirs.insert(0, (f"${ENV_VAR}", Path(os.environ[ENV_VAR]).expanduser()))
    return [(origin, d.resolve()) for origin, d in dirs]


def search_dirs() -> list[Path]:
    """The candidate data directories, in search order."""
    return [d for _, d in _candidates()]


def find_dir(relpaths: Sequence[str]) -> Path | None:
    """The first search directory holding every path in ``relpaths``, or None."""
    for root in search_dirs():
        if all((root / rel).exists() for rel in relpaths):
            return root
    return None


def fetch(relpaths: Sequence[str], read: Callable[[Path], T], hub: HubSource | None = None) -> T:
    """``read(data_dir)`` if the files are found, else rows from ``hub``, else raise.

    Raises:
        DataNotFoundError: naming every directory looked in, the hub id and the fix.
    """
    root = find_dir(relpaths)
    if root is not None:
        return read(root)
    if hub is None:
        raise _not_found(relpaths, "no Hugging Face fallback for this data")
    try:
        import datasets
    except ImportError:
        note = "not tried: the `datasets` package is not installed"
        raise _not_found(relpaths, f"{hub.describe()} ({note})") from None
    try:
        rows = _hub_rows(datasets, hub)
    except Exception as err:  # offline, renamed or gated dataset, ...
        raise _not_found(relpaths, f"{hub.describe()} (failed: {err})") from err
    return [hub.convert(row) for row in rows]  # type: ignore[return-value]


def _hub_rows(datasets: Any, hub: HubSource) -> list[dict[str, Any]]:
    """Rows of the hub dataset, with sequence-of-ClassLabel columns as strings."""
    ds = datasets.load_dataset(hub.id, hub.config, split=hub.split)
    names = {
        col: feature.feature.names
        for col, feature in ds.features.items()
        if isinstance(getattr(feature, "feature", None), datasets.ClassLabel)
    }
    return [{k: [names[k][i] for i in v] if k in names else v for k, v in row.items()} for row in ds]


def _not_found(relpaths: Sequence[str], hub_note: str) -> DataNotFoundError:
    places = [f"{d} ({origin})" for origin, d in _candidates()]
    if not os.environ.get(ENV_VAR):
        places.insert(0, f"${ENV_VAR} (not set)")
    places.append(hub_note)
    return DataNotFoundError(
        f"data files {', '.join(relpaths)} must be in a data directory; "
        f"looked in: {'; '.join(places)}. Fix: {FIX}"
    )
