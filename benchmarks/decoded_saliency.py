"""Reproduction of seed 002 (decoded layer saliency): Hiding/Revealing AUC for every layer.

    python benchmarks/decoded_saliency.py --model tiny-sst2 --data sst2:dev:~200 --out runs/decoded

Explains the split once with decoded Grad-CAM and plain Grad-CAM (one row per layer) and with
the baselines, then plays the Hiding and Revealing games ([MASK] + removed from attention, 11
fractions, accuracy against the gold label; the AUC of the mean target-class probability too)
for every layer row, with the random order (mean of --random-orders shuffles). Also token
overlap between predicted classes (top-k, k=1..50, IDF from --corpus) with one word cloud per
class. Prints a markdown table. --out is a resumable `depthlens benchmark`-style run directory
(explanations/, results/<row>.json, figures/<row>/wordcloud_*.png, table.json), so
`depthlens report OUT` renders it; --table-only prints the rows finished so far.
"""
from __future__ import annotations

import argparse
import json
from pathlib import Path

import torch

BASELINES = ("gradient", "smoothgrad", "integrated_gradients", "occlusion", "lime",
             "shapley_sampling", "gradient_shap")
LAYERED = ("decoded_gradcam", "gradcam")
GAMES = ("hiding", "revealing")


def explanations_of(adapter, texts, method: str, path: Path, params: dict):
    """The method's explanations of ``texts``, computed once and kept in ``path``."""
    from depthlens import ExplanationSet, explain_many

    if path.is_file():
        return ExplanationSet.load(path)
    exps = explain_many(adapter, texts, method, progress=False, batch_size=16, **params)
    exps.save(path)
    return exps


def evaluate_row(adapter, exps, layer: int, labels, corpus, figures: Path,
                 random_orders: int) -> dict:
    """{metric: MetricResult dict} for one score row: the two games and token overlap."""
    from depthlens.evaluation import evaluate

    res = evaluate(adapter, exps, list(GAMES), layer=layer, labels=labels,
                   random_orders=random_orders)
    res.update(evaluate(adapter, exps, ["token_overlap"], layer=layer, corpus=corpus,
                        out_dir=str(figures)))
    return {name: r.to_dict() for name, r in res.items()}


def table_row(name: str, results: dict) -> dict:
    g = {m: results[m]["details"] for m in GAMES}
    return {"method": name, "overlap": results["token_overlap"]["value"],
            **{f"{m}_{s}": g[m][f"auc_{s}"] for m in GAMES for s in ("accuracy", "probability")},
            **{f"random_{m}_{s}": g[m].get(f"random_auc_{s}")
               for m in GAMES for s in ("accuracy", "probability")}}


def plot_rows(out: Path, names: list[str]) -> list[Path]:
    """out/figures/selected_<game>.png: accuracy curves of the named rows and the random order
    (stored with the first row evaluated, decoded_gradcam@0)."""
    from depthlens.viz.plots import curves_png

    def curve(name: str, game: str, order: str) -> tuple[list, list]:
        c = json.loads((out / "results" / f"{name}.json").read_text())[game]["details"]
        return c["curves"][order]["fractions"], c["curves"][order]["accuracy"]

    return [curves_png({**{n: curve(n, game, "explanation") for n in names},
                        "random order": curve("decoded_gradcam@0", game, "random")},
                       out / "figures" / f"selected_{game}.png",
                       xlabel=f"fraction of tokens {'hidden' if game == 'hiding' else 'revealed'}",
                       ylabel="accuracy", title=f"{game.capitalize()} game")
            for game in GAMES]


def markdown(rows: list[dict]) -> str:
    lines = ["| method | Hiding AUC acc (lower better) | Revealing AUC acc (higher better) | "
             "Hiding AUC prob | Revealing AUC prob | class overlap (lower better) |",
             "|---|---|---|---|---|---|"]
    cols = ("hiding_accuracy", "revealing_accuracy", "hiding_probability", "revealing_probability")
    for r in rows:
        lines.append(f"| {r['method']} | " + " | ".join(f"{r[c]:.3f}" for c in cols)
                     + " | " + ("undefined" if r["overlap"] is None else f"{r['overlap']:.3f}")
                     + " |")
    lines.append("| random order | " + " | ".join(f"{rows[0]['random_' + c]:.3f}" for c in cols)
                 + " | |")
    return "\n".join(lines)


def main() -> None:
    from depthlens import load_model
    from depthlens.data import load

    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--model", default="tiny-sst2")
    p.add_argument("--data", default="sst2:dev:~200")
    p.add_argument("--out", default="runs/decoded_saliency")
    p.add_argument("--baselines", default=",".join(BASELINES))
    p.add_argument("--corpus", default="sst2:train", help="data spec whose texts give the IDF")
    p.add_argument("--tau", type=int, default=3, help="decoded_gradcam top-tau")
    p.add_argument("--random-orders", type=int, default=20,
                   help="shuffles averaged for the random-order baseline")
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--plot", default="",
                   help="rows to plot against the random order, e.g. decoded_gradcam@3,occlusion")
    p.add_argument("--table-only", action="store_true",
                   help="compute nothing; tabulate the rows already in --out")
    args = p.parse_args()
    torch.set_num_threads(args.threads)
    out = Path(args.out)
    for sub in ("explanations", "results"):
        (out / sub).mkdir(parents=True, exist_ok=True)
    adapter = load_model(args.model)
    data = load(args.data)
    corpus = load(args.corpus).texts
    methods = list(LAYERED) + [m for m in args.baselines.split(",") if m]
    rows, names = [], []
    for method in methods:
        params = {"tau": args.tau} if method == "decoded_gradcam" else {}
        if args.table_only and not (out / "explanations" / f"{method}.jsonl").is_file():
            continue
        exps = explanations_of(adapter, data.texts, method,
                               out / "explanations" / f"{method}.jsonl", params)
        layers = range(len(exps[0].layers)) if method in LAYERED else [0]
        for layer in layers:
            name = f"{method}@{layer}" if method in LAYERED else method
            f = out / "results" / f"{name}.json"
            if args.table_only and not f.is_file():
                continue
            results = (json.loads(f.read_text()) if f.is_file() else
                       evaluate_row(adapter, exps, layer, data.targets, corpus,
                                    out / "figures" / name,
                                    random_orders=0 if rows else args.random_orders))
            f.write_text(json.dumps(results, indent=1))
            label = f"{method} @ {exps[0].layers[layer]}" if method in LAYERED else method
            rows.append(table_row(label, results))
            names.append(name)
            print(json.dumps(rows[-1]), flush=True)
    manifest = {"model": args.model, "data": args.data, "n": len(data),
                "methods": methods + names, "metrics": [*GAMES, "token_overlap"],
                "method_params": {"decoded_gradcam": {"tau": args.tau}}}
    (out / "run.json").write_text(json.dumps(manifest, indent=1))
    (out / "table.json").write_text(json.dumps(rows, indent=1))
    print(f"\nmodel {args.model}, data {args.data} ({len(data)} examples)\n")
    print(markdown(rows))
    if args.plot:
        print("\n".join(str(f) for f in plot_rows(out, args.plot.split(","))))


if __name__ == "__main__":
    main()
