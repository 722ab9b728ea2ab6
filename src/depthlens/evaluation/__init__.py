"""Evaluate explanations from any method: faithfulness, plausibility, ground truth,
agreement, token overlap and sanity checks.

    from depthlens.evaluation import evaluate
    results = evaluate("minilm-sst2", "explanations.jsonl", ["hiding", "revealing"])
    print(results_table(results))

Every metric is registered in ``depthlens.registry.METRICS`` and returns a
:class:`MetricResult` that states its range and whether higher is better.
Explanations can come from depthlens, from a JSONL file, or from raw arrays
(:func:`from_scores`, e.g. Captum outputs).
"""
from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any, Sequence

from ..errors import InputError
from ..explanation import Explanation, ExplanationSet
from ..io import atomic_write_text
from ..models.adapter import ModelAdapter
from ..registry import METRICS
# importing the metric modules registers their metrics
from . import agreement, erasure_curves, faithfulness, groundtruth  # noqa: F401
from . import overlap, plausibility, sanity  # noqa: F401
from .erasure_curves import Curve, GameRun, game_curves, perturbed_probabilities
from .external import from_scores
from .faithfulness import ERASER_BINS, Faithfulness
from .result import MetricResult, Spec
from .units import spans_from_token_labels

__all__ = [
    "Curve", "ERASER_BINS", "Faithfulness", "GameRun", "MetricResult", "Spec", "evaluate",
    "from_scores", "game_curves", "metric_names", "perturbed_probabilities", "results_table",
    "save_results", "spans_from_token_labels",
]

FAITHFULNESS_METRICS = ("hiding", "revealing", "comprehensiveness", "sufficiency")


def metric_names() -> list[str]:
    """All registered metric names."""
    return METRICS.names()


def evaluate(model: ModelAdapter | str, explanations: Sequence[Explanation] | str | Path,
             metrics: Sequence[str] = FAITHFULNESS_METRICS, **kw: Any) -> dict[str, MetricResult]:
    """Run ``metrics`` on ``explanations`` (a list, an ExplanationSet or a JSONL path).

    kw: metric parameters; each goes to every requested metric that takes it
    (e.g. ``layer``, ``labels``, ``rationales``, ``reference``, ``out_dir``).
    A parameter that no requested metric takes is an error.
    Returns {metric name: MetricResult} in the order requested.
    """
    from ..models.loading import load_model

    adapter = load_model(model) if isinstance(model, (str, Path)) else model
    if isinstance(explanations, (str, Path)):
        explanations = ExplanationSet.load(explanations)
    explanations = list(explanations)
    if isinstance(metrics, str):
        metrics = [metrics]
    entries = [METRICS.get(name) for name in metrics]
    if not entries:
        raise InputError(f"metrics must name at least one metric; choose from {metric_names()}")
    taken = {p for entry in entries for p in entry.params}
    unused = sorted(set(kw) - taken)
    if unused:
        raise InputError(f"parameter {unused[0]!r} is not taken by any of the metrics "
                         f"{', '.join(metrics)}; their parameters: {', '.join(sorted(taken))}")
    results = {}
    for entry in entries:
        params = entry.check_params({k: v for k, v in kw.items() if k in entry.params})
        results[entry.name] = entry.fn(adapter, explanations, **params)
    return results


def results_table(results: dict[str, MetricResult], color: bool = False) -> str:
    """A terminal table: metric, value, range, direction (ANSI styles if ``color``)."""
    from ..viz.table import render_table

    rows = []
    for r in results.values():
        lo, hi = (("inf" if math.isinf(x) else f"{x:g}") for x in r.range)
        rows.append((r.name, f"{r.value:.4f}", f"[{lo}, {hi}]", r.direction.split()[0]))
    return render_table(("metric", "value", "range", "better"), rows, color=color)


def save_results(results: dict[str, MetricResult], path: str | Path) -> None:
    """Write {name: result.to_dict()} as JSON (atomically)."""
    payload = {name: r.to_dict() for name, r in results.items()}
    atomic_write_text(path, json.dumps(payload, indent=1, ensure_ascii=False))
