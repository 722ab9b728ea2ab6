"""Reproduction of seed 002 (decoded layer saliency): Hiding/Revealing AUC for every layer.

    python benchmarks/decoded_saliency.py --model tiny-sst2 --data sst2:dev:~200 --out runs/decoded

Explains the split once with decoded Grad-CAM and plain Grad-CAM (one row per layer) and with
the baselines, then plays the Hiding and Revealing games ([MASK] + removed from attention, 11
fractions, accuracy against the gold label) for every layer row, with the random order (mean of
20 shuffles). Also token overlap between predicted classes (top-k, k=1..50, IDF from the SST-2
train sentences). Prints a markdown table; explanations and results are kept in --out.
"""
from __future__ import annotations

import argparse
import json
from pathlib import Path

import torch

BASELINES = ("gradient", "smoothgrad", "integrated_gradients", "occlusion", "lime",
             "shapley_sampling", "gradient_shap")
LAYERED = ("decoded_gradcam", "gradcam")


def main() -> None:
    from depthlens import ExplanationSet, explain_many, load_model
    from depthlens.data import load
    from depthlens.evaluation import evaluate

    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--model", default="tiny-sst2")
    p.add_argument("--data", default="sst2:dev:~200")
    p.add_argument("--out", default="runs/decoded_saliency")
    p.add_argument("--baselines", default=",".join(BASELINES))
    p.add_argument("--threads", type=int, default=2)
    args = p.parse_args()
    torch.set_num_threads(args.threads)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    adapter = load_model(args.model)
    data = load(args.data)
    corpus = load("sst2:train").texts
    rows = []
    methods = list(LAYERED) + [m for m in args.baselines.split(",") if m]
    for method in methods:
        f = out / f"{method}.jsonl"
        exps = (ExplanationSet.load(f) if f.is_file() else
                explain_many(adapter, data.texts, method, progress=True, batch_size=16))
        exps.save(f)
        layers = range(len(exps[0].layers)) if method in LAYERED else [0]
        for layer in layers:
            res = evaluate(adapter, exps, ["hiding", "revealing", "token_overlap"],
                           layer=layer, labels=data.targets, corpus=corpus,
                           random_orders=0 if rows else 20)  # the random order once
            name = f"{method} @ {exps[0].layers[layer]}" if method in LAYERED else method
            rows.append({"method": name, "hiding": res["hiding"].value,
                         "revealing": res["revealing"].value,
                         "overlap": res["token_overlap"].value,
                         "random_hiding": res["hiding"].details.get("random_auc_accuracy"),
                         "random_revealing": res["revealing"].details.get("random_auc_accuracy")})
            print(rows[-1], flush=True)
    (out / "table.json").write_text(json.dumps(rows, indent=1))
    print(f"\nmodel {args.model}, data {args.data} ({len(data)} sentences)\n")
    print("| method | Hiding AUC (lower better) | Revealing AUC (higher better) | "
          "class overlap (lower better) |\n|---|---|---|---|")
    for r in rows:
        print(f"| {r['method']} | {r['hiding']:.3f} | {r['revealing']:.3f} | {r['overlap']:.3f} |")
    print(f"| random order | {rows[0]['random_hiding']:.3f} | {rows[0]['random_revealing']:.3f} | |")


if __name__ == "__main__":
    main()
