"""What every metric returns, and how a metric declares its range and direction.

A metric module defines a :class:`Spec` (name, range, direction, summary),
registers its function with :func:`register` (which puts range and direction
into the registry summary, so ``depthlens metrics`` can list them) and builds
its :class:`MetricResult` with ``SPEC.result(...)``.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Callable, Sequence

import numpy as np

from ..registry import METRICS


@dataclass
class MetricResult:
    """One metric over a set of explanations.

    value: the dataset-level number. per_example: one float per explanation
    (NaN where the metric is undefined for that example, e.g. no rationale).
    range: (lo, hi) of ``value``. details: curves, per-bin values, p-values…
    """

    name: str
    value: float
    per_example: list[float]
    range: tuple[float, float]
    higher_is_better: bool
    details: dict[str, Any] = field(default_factory=dict)

    @property
    def direction(self) -> str:
        return "higher is better" if self.higher_is_better else "lower is better"

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready: arrays become lists, infinities and NaN become strings/None."""
        return {
            "name": self.name, "value": _plain(self.value),
            "per_example": _plain(self.per_example), "range": _plain(list(self.range)),
            "higher_is_better": self.higher_is_better, "details": _plain(self.details),
        }


@dataclass(frozen=True)
class Spec:
    """Name, range (lo, hi) and direction of a metric; builds its results."""

    name: str
    range: tuple[float, float]
    higher_is_better: bool
    summary: str

    def describe(self) -> str:
        lo, hi = (_fmt(x) for x in self.range)
        better = "higher" if self.higher_is_better else "lower"
        return f"{self.summary} (range [{lo}, {hi}], {better} is better)"

    def result(self, value: float, per_example: Sequence[float] | np.ndarray = (),
               **details: Any) -> MetricResult:
        return MetricResult(self.name, float(value), [float(x) for x in per_example],
                            self.range, self.higher_is_better, details)


def register(spec: Spec) -> Callable:
    """Register a metric function ``fn(adapter, explanations, *, params) -> MetricResult``."""
    return METRICS.register(spec.name, spec.describe())


def nanmean(values: Sequence[float] | np.ndarray) -> float:
    """Mean over the defined (non-NaN) values; NaN when none is defined."""
    arr = np.asarray(values, dtype=np.float64)
    arr = arr[~np.isnan(arr)]
    return float(arr.mean()) if arr.size else math.nan


def _fmt(x: float) -> str:
    if math.isinf(x):
        return "inf" if x > 0 else "-inf"
    return f"{x:.4g}"


def _plain(x: Any) -> Any:
    if isinstance(x, dict):
        return {str(k): _plain(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [_plain(v) for v in x]
    if isinstance(x, np.ndarray):
        return _plain(x.tolist())
    if isinstance(x, (np.floating, float)):
        x = float(x)
        if math.isnan(x):
            return None
        return _fmt(x) if math.isinf(x) else x
    if isinstance(x, np.integer):
        return int(x)
    if isinstance(x, np.bool_):
        return bool(x)
    return x
