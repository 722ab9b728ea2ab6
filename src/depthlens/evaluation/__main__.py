"""Command line: evaluate saved explanations.

    python -m depthlens.evaluation --model M --explanations FILE.jsonl \\
        --metric hiding --metric revealing [--data sst2:dev] [--param layer=6] \\
        [--out results.json] [--out-dir figures/]
    python -m depthlens.evaluation --list

``--data`` supplies gold labels (for accuracy in the Hiding/Revealing games)
and human rationales (ERASER ``rationale_spans``, or SST token ``rationale``
labels with ``char_spans``), matched to the explanations by text.
Prints one row per metric: value, range and direction.
"""
from __future__ import annotations

import argparse
import sys
from typing import Any, Sequence

from ..errors import DepthlensError, InputError
from ..explanation import Explanation, ExplanationSet
from ..registry import METRICS
from . import FAITHFULNESS_METRICS, evaluate, results_table, save_results
from .units import spans_from_token_labels


def data_arguments(name: str, explanations: Sequence[Explanation],
                   wanted: set[str]) -> dict[str, Any]:
    """``labels`` and ``rationales`` from dataset ``name`` for the examples explained."""
    from ..data import load

    dataset = load(name)
    by_text = {(ex.text, ex.pair): ex for ex in dataset}
    examples = []
    for e in explanations:
        if (e.text, e.pair) not in by_text:
            raise InputError(f"explanation of {e.text[:40]!r} is not an example of {name!r}; "
                             f"give the data split the explanations were made on")
        examples.append(by_text[(e.text, e.pair)])
    out: dict[str, Any] = {}
    if "labels" in wanted:
        out["labels"] = [ex.label for ex in examples]
    if "rationales" in wanted:
        out["rationales"] = [_rationale(ex.meta) for ex in examples]
    return out


def _rationale(meta: dict) -> list:
    if "rationale_spans" in meta:
        return [tuple(s) for s in meta["rationale_spans"]]
    if "rationale" in meta and "char_spans" in meta:
        return spans_from_token_labels(meta["char_spans"], meta["rationale"])
    return []


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m depthlens.evaluation",
                                     description="Evaluate saved explanations.")
    parser.add_argument("--model", help="model name or checkpoint directory")
    parser.add_argument("--explanations", help="JSONL file of explanations")
    parser.add_argument("--metric", action="append", default=[],
                        help=f"metric name (repeatable; default {', '.join(FAITHFULNESS_METRICS)})")
    parser.add_argument("--data", help="data split for gold labels and rationales, e.g. sst2:dev")
    parser.add_argument("--param", action="append", default=[], metavar="KEY=VALUE",
                        help="metric parameter, e.g. layer=6 or fractions=0,0.5,1")
    parser.add_argument("--out", help="write all results (curves, per-example values) as JSON")
    parser.add_argument("--out-dir", default="", help="directory for PNG curves and word clouds")
    parser.add_argument("--list", action="store_true", help="list the metrics and exit")
    args = parser.parse_args(argv)
    if args.list:
        for entry in METRICS.entries():
            print(f"{entry.name:20s} {entry.summary}")
        return 0
    if not args.model or not args.explanations:
        parser.error("--model and --explanations are required")
    try:
        metrics = args.metric or list(FAITHFULNESS_METRICS)
        kw: dict[str, Any] = {}
        for item in args.param:
            if "=" not in item:
                raise InputError(f"--param must be KEY=VALUE; got {item!r}")
            key, value = item.split("=", 1)
            kw[key.strip()] = value.strip()
        explanations = ExplanationSet.load(args.explanations)
        wanted = {p for name in metrics for p in METRICS.get(name).params}
        if args.out_dir and "out_dir" in wanted:
            kw["out_dir"] = args.out_dir
        if args.data:
            kw.update(data_arguments(args.data, explanations, wanted))
        results = evaluate(args.model, explanations, metrics, **kw)
        if args.out:
            save_results(results, args.out)
    except DepthlensError as err:
        print(f"error: {err}", file=sys.stderr)
        return 1
    print(results_table(results))
    return 0


if __name__ == "__main__":
    sys.exit(main())
