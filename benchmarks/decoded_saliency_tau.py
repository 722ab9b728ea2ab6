"""Decoded Grad-CAM (seed 002): Hiding/Revealing AUC of every layer for several top-tau values.

    python benchmarks/decoded_saliency_tau.py --model tiny-sst2 --data sst2:dev:~200 \
        --taus 1,3,10,50,all --out runs/decoded_tau

tau = 'all' keeps every input token's contribution (no top-tau selection). Games as in
decoded_saliency.py (11 fractions, [MASK] + removed from attention, accuracy against the gold
label; the probability AUC too), no random order. Prints one markdown row per (tau, layer)
and the best layer (lowest Hiding accuracy AUC: Revealing saturates on small models) per tau.
"""
from __future__ import annotations

import argparse
import json
from pathlib import Path

import torch

from decoded_saliency import GAMES, explanations_of

ALL = 1_000_000  # larger than any input's number of unique tokens


def main() -> None:
    from depthlens import load_model
    from depthlens.data import load
    from depthlens.evaluation import evaluate

    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--model", default="tiny-sst2")
    p.add_argument("--data", default="sst2:dev:~200")
    p.add_argument("--taus", default="1,3,10,50,all")
    p.add_argument("--out", default="runs/decoded_tau")
    p.add_argument("--threads", type=int, default=1)
    args = p.parse_args()
    torch.set_num_threads(args.threads)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    adapter = load_model(args.model)
    data = load(args.data)
    rows = []
    for tau in args.taus.split(","):
        value = ALL if tau == "all" else int(tau)
        exps = explanations_of(adapter, data.texts, "decoded_gradcam", out / f"tau_{tau}.jsonl",
                               {"tau": value})
        for layer, name in enumerate(exps[0].layers):
            res = evaluate(adapter, exps, list(GAMES), layer=layer, labels=data.targets,
                           random_orders=0)
            d = {m: res[m].details for m in GAMES}
            rows.append({"tau": tau, "layer": name,
                         **{f"{m}_{s}": d[m][f"auc_{s}"] for m in GAMES
                            for s in ("accuracy", "probability")}})
            print(json.dumps(rows[-1]), flush=True)
    (out / "tau_table.json").write_text(json.dumps(rows, indent=1))
    print(f"\nmodel {args.model}, data {args.data} ({len(data)} examples)\n")
    print("| tau | layer | Hiding AUC acc | Revealing AUC acc | Hiding AUC prob | "
          "Revealing AUC prob |\n|---|---|---|---|---|---|")
    for r in rows:
        print(f"| {r['tau']} | {r['layer']} | {r['hiding_accuracy']:.3f} | "
              f"{r['revealing_accuracy']:.3f} | {r['hiding_probability']:.3f} | "
              f"{r['revealing_probability']:.3f} |")
    print("\nbest layer per tau (lowest Hiding accuracy AUC):")
    for tau in args.taus.split(","):
        best = min((r for r in rows if r["tau"] == tau), key=lambda r: r["hiding_accuracy"])
        print(f"tau {tau}: {best['layer']} hiding {best['hiding_accuracy']:.3f} revealing "
              f"{best['revealing_accuracy']:.3f} (prob {best['hiding_probability']:.3f} / "
              f"{best['revealing_probability']:.3f})")


if __name__ == "__main__":
    main()
