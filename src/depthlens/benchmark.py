"""Explain a data split with several methods and evaluate them, resumably, into a run directory.

Layout of RUN_DIR (every file written atomically, so an interrupted run
resumes where it stopped and never reads a half-written file):
    run.json                      model, data, methods, metrics, parameters
    explanations/<method>.jsonl   one Explanation per example
    results/<method>.json         {metric: MetricResult.to_dict()}
    results/<method>.layers.json  Hiding/Revealing AUC of every score row (layer-resolved methods)
    figures/<method>/*.png        curves and word clouds
`depthlens report RUN_DIR` turns it into one HTML page.
"""
from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any, Sequence

from .api import explain_many, load_model
from .errors import InputError
from .explanation import ExplanationSet
from .io import atomic_write_text
from .registry import METHODS, METRICS

DEFAULT_METRICS = ("hiding", "revealing", "comprehensiveness", "sufficiency")
GAMES = ("hiding", "revealing")


def run_benchmark(model: str, data: str, methods: Sequence[str], out_dir: str | Path,
                  metrics: Sequence[str] = DEFAULT_METRICS,
                  method_params: dict[str, dict[str, Any]] | None = None,
                  metric_params: dict[str, Any] | None = None,
                  batch_size: int = 16, progress: bool = True, layer_games: bool = True
                  ) -> dict[str, dict[str, Any]]:
    """Explain ``data`` with every method, evaluate every metric; returns {method: {metric: dict}}.

    method_params: {method: {param: value}}; metric_params: {param: value},
    each given to every metric that takes it (e.g. ``random_orders``, ``layer``).
    The random-order baseline of the games does not depend on the method, so it
    is computed for the first method only (``random_orders=0`` for the others).
    With ``layer_games``, methods with several score rows (layers) also get the
    Hiding/Revealing AUC of every row (``results/<method>.layers.json``).
    Finished explanation files and metric results found in ``out_dir`` are
    reused, so re-running after an interruption only does what is missing.
    """
    from .data import load
    from .evaluation import evaluate
    from .evaluation.datasets import data_arguments

    from . import evaluation  # noqa: F401  (registers the metrics)

    methods = list(methods)
    for name in methods:
        METHODS.get(name)
    metric_params = dict(metric_params or {})
    taken = {p for name in metrics for p in METRICS.get(name).params}
    unused = sorted(set(metric_params) - taken)
    if unused:
        raise InputError(f"metric parameter {unused[0]!r} is not taken by any of the metrics "
                         f"{', '.join(metrics)}; their parameters: {', '.join(sorted(taken))}")
    unknown = sorted(set(method_params or {}) - set(methods))
    if unknown:
        raise InputError(f"method parameters given for {unknown[0]!r}, which is not in --methods")
    if not methods:
        raise InputError("methods must name at least one method; see `depthlens methods`")
    out = Path(out_dir)
    dataset = load(data)
    adapter = load_model(model)
    manifest = {"model": model, "data": data, "methods": methods, "metrics": list(metrics),
                "n": len(dataset), "method_params": method_params or {},
                "metric_params": metric_params}
    _check_manifest(out, manifest)
    atomic_write_text(out / "run.json", json.dumps(manifest, indent=1))
    pairs = [ex.pair for ex in dataset] if dataset.examples[0].pair is not None else None
    table: dict[str, dict[str, Any]] = {}
    for i, method in enumerate(methods):
        exp_file = out / "explanations" / f"{method}.jsonl"
        if exp_file.is_file() and len(ExplanationSet.load(exp_file)) == len(dataset):
            explanations = ExplanationSet.load(exp_file)
        else:
            explanations = explain_many(adapter, dataset.texts, method, pairs=pairs,
                                        batch_size=batch_size, truncate=True, progress=progress,
                                        **(method_params or {}).get(method, {}))
            explanations.save(exp_file)
        res_file = out / "results" / f"{method}.json"
        done = json.loads(res_file.read_text()) if res_file.is_file() else {}
        missing = [m for m in metrics if m not in done]
        if missing:
            wanted = {p for m in missing for p in METRICS.get(m).params}
            kw = {**data_arguments(data, explanations, wanted), **metric_params}
            if i > 0:
                kw["random_orders"] = 0
            if "out_dir" in wanted:
                kw["out_dir"] = str(out / "figures" / method)
            for metric in missing:
                entry = METRICS.get(metric)
                params = {k: v for k, v in kw.items() if k in entry.params}
                done[metric] = evaluate(adapter, explanations, [metric], **params)[metric].to_dict()
                atomic_write_text(res_file, json.dumps(done, indent=1))
                if progress:
                    value = _fmt(done[metric]["value"]) or (
                        "undefined: " + done[metric]["details"].get("undefined", ""))
                    print(f"{method:>22} {metric:<18} {value}", file=sys.stderr)
        games = [g for g in GAMES if g in metrics]
        if layer_games and games and len(explanations[0].layers) > 1:
            _layer_games(adapter, explanations, games, data, metric_params,
                         out / "results" / f"{method}.layers.json", progress)
        table[method] = done
    return table


def _layer_games(adapter, explanations: ExplanationSet, games: list[str], data: str,
                 metric_params: dict[str, Any], out_file: Path, progress: bool) -> None:
    """Write {"layers": names, game: [AUC of row r for every r]} for a layer-resolved method,
    all rows and games in one batched pass."""
    from .evaluation.datasets import data_arguments
    from .evaluation.erasure_curves import game_curves

    done = json.loads(out_file.read_text()) if out_file.is_file() else {}
    layers = explanations[0].layers
    todo = [g for g in games if len(done.get(g, [])) != len(layers)]
    if not todo:
        return
    wanted = {p for g in todo for p in METRICS.get(g).params} - {"layer", "random_orders",
                                                                   "out_dir", "score"}
    entry = METRICS.get(todo[0])   # hiding and revealing take the same parameters
    kw = entry.check_params({k: v for k, v in metric_params.items() if k in wanted})
    kw.update(data_arguments(data, explanations, {"labels"}))
    engine = {"hiding": "hide", "revealing": "reveal"}
    run = game_curves(adapter, explanations, games=[engine[g] for g in todo],
                      orders=("explanation",), layers=range(len(layers)), **kw)
    score = entry.check_params({"score": metric_params.get("score", "accuracy")})["score"]
    done["layers"] = layers
    for game in todo:
        done[game] = [run.curves[(engine[game], f"explanation@{r}")].auc(score)
                      for r in range(len(layers))]
        if progress:
            print(f"{explanations[0].method:>22} {game + ' by layer':<18} "
                  + " ".join(f"{v:.3f}" for v in done[game]), file=sys.stderr)
    atomic_write_text(out_file, json.dumps(done, indent=1))


def _check_manifest(out: Path, manifest: dict[str, Any]) -> None:
    """Refuse to resume into a run made with another model or data split."""
    old_file = out / "run.json"
    if not old_file.is_file():
        return
    old = json.loads(old_file.read_text())
    for key in ("model", "data"):
        if old.get(key) != manifest[key]:
            raise InputError(f"run directory {str(out)!r} holds a run with {key}={old.get(key)!r}; "
                             f"got {manifest[key]!r}. Use another --out directory")


def summary_rows(table: dict[str, dict[str, Any]]) -> tuple[list[str], list[list[str]]]:
    """Header and rows: one row per method (+ the random order), one column per metric."""
    metrics = list(dict.fromkeys(m for res in table.values() for m in res))
    rows = [[method] + [_fmt(res.get(m, {}).get("value")) for m in metrics]
            for method, res in table.items()]
    random_row = ["random order"] + [_fmt(_random_auc(table, m)) if m in ("hiding", "revealing")
                                     else "" for m in metrics]
    if any(random_row[1:]):
        rows.append(random_row)
    return ["method"] + metrics, rows


def _random_auc(table: dict[str, dict[str, Any]], metric: str) -> float | None:
    """The random-order AUC of a game, from the method it was computed with."""
    for res in table.values():
        value = res.get(metric, {}).get("details", {}).get("random_auc_accuracy")
        if value is not None:
            return value
    return None


def format_table(table: dict[str, dict[str, Any]], color: bool = False) -> str:
    """The summary table (one row per method) for the terminal; ANSI styles if ``color``."""
    from .viz.table import render_table

    header, rows = summary_rows(table)
    return render_table(header, rows, color=color)


def _fmt(value: Any) -> str:
    return "" if value is None else f"{value:.4f}"
