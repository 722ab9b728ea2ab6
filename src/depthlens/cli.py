"""Command line: depthlens methods | models | explain | pick | evaluate | benchmark | report |
train | fit | fit-lm-head | serve | demo.

Every DepthlensError becomes one line on stderr and exit code 1 (no traceback).
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

from .errors import DepthlensError, InputError


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "handler", None):
        parser.print_help()
        return 1
    try:
        args.handler(args)
    except DepthlensError as err:
        print(f"depthlens: error: {err}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("depthlens: interrupted", file=sys.stderr)
        return 130
    return 0


def parse_params(pairs: list[str]) -> dict[str, str]:
    """['k=v', ...] -> {'k': 'v'}; values are coerced per method later."""
    out = {}
    for item in pairs or []:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise InputError(f"--param must look like key=value; got {item!r}")
        out[key.strip()] = value
    return out


def parse_method_params(items: list[str]) -> dict[str, dict[str, str]]:
    """['lime.n_samples=100', ...] -> {'lime': {'n_samples': '100'}}."""
    out: dict[str, dict[str, str]] = {}
    for item in items or []:
        method, dot, rest = item.partition(".")
        if not dot or not method:
            raise InputError(f"--method-param must look like method.key=value; got {item!r}")
        out.setdefault(method.strip(), {}).update(parse_params([rest]))
    return out


# ------------------------------------------------------------------ commands
def cmd_methods(args) -> None:
    from .registry import METHODS
    from . import methods  # noqa: F401

    for entry in METHODS.entries():
        print(f"{entry.name:<24} {entry.summary}")
        if entry.params:
            print(f"{'':<24}   params: {entry.describe_params()}")
    print(f"{'sp_lime':<24} SP-LIME (global view): pick B explanations covering the most "
          f"important words")
    print(f"{'':<24}   `depthlens pick --explanations FILE.jsonl --budget B`")


def cmd_models(args) -> None:
    from .models.defaults import DEFAULT_MODELS

    for name, summary in DEFAULT_MODELS.items():
        print(f"{name:<16} {summary}")
    print("or any local HuggingFace classifier directory / depthlens checkpoint directory")


def cmd_explain(args) -> None:
    from .api import explain
    from .viz.terminal import render_terminal

    params = parse_params(args.param)
    if args.layer is not None:
        params["layer"] = args.layer
    out = Path(args.out) if args.out else None
    if out is not None and out.suffix not in {".json", ".jsonl", ".html"}:
        raise InputError(f"--out must end in .json, .jsonl or .html; got {out.name!r}")
    exp = explain(args.model, args.text, args.method, pair=args.pair, target=args.target,
                  truncate=args.truncate, **params)
    print(render_terminal(exp, color=not args.no_color and sys.stdout.isatty()))
    if out is not None:
        _write(out, [exp])
        print(f"wrote {out}")


def _write(out: Path, explanations) -> None:
    from .explanation import ExplanationSet
    from .viz.html import write_html

    if out.suffix == ".json":
        explanations[0].save(out)
    elif out.suffix == ".jsonl":
        ExplanationSet(explanations).save(out)
    else:
        write_html(out, explanations, title="depthlens explanation")


def cmd_pick(args) -> None:
    from .explanation import ExplanationSet
    from .methods.lime import lime_submodular_pick

    explanations = ExplanationSet.load(args.explanations)
    layer = int(args.layer) if args.layer.lstrip("-").isdigit() else args.layer
    for rank, i in enumerate(lime_submodular_pick(list(explanations), args.budget, layer), 1):
        words, scores = explanations[i].word_scores("sum")
        row = scores[explanations[i].layer_index(layer)]
        top = sorted(zip(words, row), key=lambda ws: -abs(ws[1]))[:args.top]
        print(f"{rank}. [{i}] {explanations[i].text}")
        print("   " + ", ".join(f"{w.text} {s:+.3f}" for w, s in top))


def cmd_evaluate(args) -> None:
    from .evaluation import FAITHFULNESS_METRICS, evaluate, results_table, save_results
    from .evaluation.datasets import data_arguments
    from .explanation import ExplanationSet
    from .registry import METRICS

    if args.list:
        for entry in METRICS.entries():
            print(f"{entry.name:20s} {entry.summary}")
        return
    if not args.model or not args.explanations:
        raise InputError("--model and --explanations are required (or --list)")
    metrics = args.metric or list(FAITHFULNESS_METRICS)
    kw = parse_params(args.param)
    explanations = ExplanationSet.load(args.explanations)
    wanted = {p for name in metrics for p in METRICS.get(name).params}
    if args.out_dir and "out_dir" in wanted:
        kw["out_dir"] = args.out_dir
    if args.data:
        kw.update(data_arguments(args.data, explanations, wanted))
    results = evaluate(args.model, explanations, metrics, **kw)
    if args.out:
        save_results(results, args.out)
    print(results_table(results, color=sys.stdout.isatty()))


def cmd_benchmark(args) -> None:
    from .benchmark import format_table, run_benchmark
    from .viz.report import build_report

    methods = [m.strip() for m in args.methods.split(",") if m.strip()]
    metrics = [m.strip() for m in args.metrics.split(",") if m.strip()]
    out = Path(args.out or f"runs/{Path(args.model).name}-{args.data.replace(':', '-').replace('~', '')}")
    table = run_benchmark(args.model, args.data, methods, out, metrics,
                          method_params=parse_method_params(args.method_param),
                          metric_params=parse_params(args.param), batch_size=args.batch_size,
                          layer_games=not args.no_layer_games)
    print(format_table(table, color=sys.stdout.isatty()))
    print(f"report: {build_report(out).resolve()}")


def cmd_report(args) -> None:
    from .viz.report import build_report

    print(f"report: {build_report(args.run_dir).resolve()}")


def cmd_train(args) -> None:
    from .training import run_train

    run_train(model=args.model, data=args.data, out=args.out, dev=args.dev, epochs=args.epochs,
              lr=args.lr, batch_size=args.batch_size, seed=args.seed, max_steps=args.max_steps,
              self_explaining=args.self_explaining, lam=args.lam,
              max_span_width=args.max_span_width, regularizer=args.regularizer)


def cmd_fit_lm_head(args) -> None:
    from .models.lm_head import fit_lm_head

    fit_lm_head(args.model, args.data, args.out or args.model, steps=args.steps, lr=args.lr,
                unfreeze_top=args.unfreeze_top, seed=args.seed)


def cmd_serve(args) -> None:
    import uvicorn

    from .app.server import create_app

    app = create_app(args.model or ["tiny-sst2"])
    print(f"depthlens explorer on http://{args.host}:{args.port}", file=sys.stderr)
    uvicorn.run(app, host=args.host, port=args.port, log_level="warning")


def cmd_demo(args) -> None:
    from .demo import run_demo

    run_demo(model=args.model, out_dir=Path(args.out), n=args.n)


# -------------------------------------------------------------------- parser
class Parser(argparse.ArgumentParser):
    """argparse that reports usage errors in one line with exit code 1."""

    def error(self, message: str):
        self.exit(1, f"{self.prog}: error: {message} (see `{self.prog} --help`)\n")


def build_parser() -> argparse.ArgumentParser:
    p = Parser(prog="depthlens", description="Explain NLP models layer by layer.")
    sub = p.add_subparsers(dest="command", parser_class=Parser)

    s = sub.add_parser("methods", help="list attribution methods and their parameters")
    s.set_defaults(handler=cmd_methods)

    s = sub.add_parser("models", help="list the built-in default models")
    s.set_defaults(handler=cmd_models)

    s = sub.add_parser("explain", help="explain one text")
    s.add_argument("--model", required=True, help="default model name or checkpoint directory")
    s.add_argument("--method", default="gradient")
    s.add_argument("--text", required=True)
    s.add_argument("--pair", help="second text for pair models (e.g. NLI hypothesis)")
    s.add_argument("--target", help="label name or index (default: predicted)")
    s.add_argument("--layer", help="'all', 'input' or a layer index (methods that take it)")
    s.add_argument("--param", action="append", default=[], metavar="KEY=VALUE")
    s.add_argument("--truncate", action="store_true",
                   help="cut texts longer than the model's maximum (recorded as a warning)")
    s.add_argument("--out", help="write FILE.json, FILE.jsonl or FILE.html")
    s.add_argument("--no-color", action="store_true")
    s.set_defaults(handler=cmd_explain)

    s = sub.add_parser("pick", help="SP-LIME: pick B explanations that cover the most "
                                    "important words (a global view)")
    s.add_argument("--explanations", required=True, help="JSONL file (e.g. LIME explanations)")
    s.add_argument("--budget", type=int, required=True, help="number of examples to pick")
    s.add_argument("--layer", default="-1", help="score row to use (default: the last)")
    s.add_argument("--top", type=int, default=5, help="words shown per picked example")
    s.set_defaults(handler=cmd_pick)

    s = sub.add_parser("evaluate", help="evaluate saved explanations (faithfulness, plausibility…)")
    s.add_argument("--model", help="model name or checkpoint directory")
    s.add_argument("--explanations", help="JSONL file of explanations")
    s.add_argument("--metric", action="append", default=[],
                   help="metric name (repeatable; default hiding, revealing, comprehensiveness, "
                        "sufficiency)")
    s.add_argument("--data", help="data split for gold labels and rationales, e.g. sst2:dev")
    s.add_argument("--param", action="append", default=[], metavar="KEY=VALUE",
                   help="metric parameter, e.g. layer=6")
    s.add_argument("--out", help="write all results (curves, per-example values) as JSON")
    s.add_argument("--out-dir", default="", help="directory for PNG curves and word clouds")
    s.add_argument("--list", action="store_true", help="list the metrics and exit")
    s.set_defaults(handler=cmd_evaluate)

    s = sub.add_parser("benchmark", help="explain and evaluate a data split with several methods")
    s.add_argument("--model", required=True)
    s.add_argument("--data", required=True, help="e.g. sst2:dev or sst2_trees:dev:200")
    s.add_argument("--methods", default="gradient,grad_x_input,integrated_gradients,occlusion",
                   help="comma-separated method names")
    s.add_argument("--metrics", default="hiding,revealing,comprehensiveness,sufficiency",
                   help="comma-separated metric names (`depthlens evaluate --list`)")
    s.add_argument("--param", action="append", default=[], metavar="KEY=VALUE",
                   help="metric parameter, e.g. random_orders=20 or layer=-1")
    s.add_argument("--method-param", action="append", default=[], metavar="METHOD.KEY=VALUE",
                   help="method parameter, e.g. lime.n_samples=100")
    s.add_argument("--out", help="run directory (default runs/MODEL-DATA); resumes if present")
    s.add_argument("--batch-size", type=int, default=16)
    s.add_argument("--no-layer-games", action="store_true",
                   help="skip the per-layer Hiding/Revealing AUCs of layer-resolved methods "
                        "(one game per layer row: the costliest part of a large run)")
    s.set_defaults(handler=cmd_benchmark)

    s = sub.add_parser("report", help="build one HTML report from a run directory")
    s.add_argument("run_dir")
    s.set_defaults(handler=cmd_report)

    s = sub.add_parser("train", help="train a built-in model or fine-tune a HF checkpoint")
    s.add_argument("--model", required=True,
                   help="lstm | gru | cnn | transformer | HF checkpoint dir | default model")
    s.add_argument("--data", required=True, help="dataset spec, e.g. sst2:train")
    s.add_argument("--dev", help="dev dataset spec, e.g. sst2:dev")
    s.add_argument("--out", required=True)
    s.add_argument("--epochs", type=int, default=3)
    s.add_argument("--lr", type=float, default=None)
    s.add_argument("--batch-size", type=int, default=32)
    s.add_argument("--seed", type=int, default=0)
    s.add_argument("--max-steps", type=int, default=None)
    s.add_argument("--self-explaining", action="store_true",
                   help="add a span head (Sun et al. 2021); explain with --method self_explaining")
    s.add_argument("--lambda", dest="lam", type=float, default=None,
                   help="weight of the span-sharpness term (eq. 7; default 1.0)")
    s.add_argument("--max-span-width", type=int, default=None,
                   help="longest span in words (default: all spans)")
    s.add_argument("--regularizer", default=None,
                   help="sharpness penalty: square (sum alpha^2, default) or entropy")
    s.set_defaults(handler=cmd_train)

    s = sub.add_parser("fit", help="fit a learned explainer (e.g. DiffMask probes)")
    explainers = s.add_subparsers(dest="explainer", parser_class=Parser)
    from .diffmask import add_fit_diffmask_parser

    add_fit_diffmask_parser(explainers)

    s = sub.add_parser("fit-lm-head", help="fit an MLM head on a frozen encoder")
    s.add_argument("--model", required=True)
    s.add_argument("--data", nargs="+", default=["sst2:train", "mr:all"])
    s.add_argument("--out", help="directory to write (default: the model directory)")
    s.add_argument("--steps", type=int, default=3000)
    s.add_argument("--lr", type=float, default=1e-3)
    s.add_argument("--unfreeze-top", type=int, default=0)
    s.add_argument("--seed", type=int, default=0)
    s.set_defaults(handler=cmd_fit_lm_head)

    s = sub.add_parser("serve", help="local web explorer")
    s.add_argument("--model", action="append", help="model to load (repeatable)")
    s.add_argument("--host", default="127.0.0.1")
    s.add_argument("--port", type=int, default=8000)
    s.set_defaults(handler=cmd_serve)

    s = sub.add_parser("demo", help="explain a few SST-2 sentences and write an HTML page")
    s.add_argument("--model", default="tiny-sst2")
    s.add_argument("--out", default="depthlens-demo")
    s.add_argument("--n", type=int, default=24, help="number of SST-2 dev sentences")
    s.set_defaults(handler=cmd_demo)
    return p


if __name__ == "__main__":
    raise SystemExit(main())
