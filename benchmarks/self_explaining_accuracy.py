"""Accuracy without cost (paper Table 1): plain vs self-explaining vs AvgSelf-Explaining.

Every run fine-tunes the same pretrained encoder with the same budget (the
default model's recipe: epochs, lr, batch size, max length) and records dev
and test accuracy after each epoch as one JSON line in --out. Runs already in
--out are skipped, so the script can be resumed. --summary prints mean +- std
over seeds of the last epoch's accuracies from --out (nothing is recomputed).
SNLI has no train split here: it trains on SNLI dev and tests on SNLI test
(no dev accuracy).

    nice -n 10 python benchmarks/self_explaining_accuracy.py --encoder tiny --data sst2 \
        --seeds 0 1 2
    python benchmarks/self_explaining_accuracy.py --summary
"""
from __future__ import annotations

import argparse
import statistics
from pathlib import Path

import torch

from self_explaining_common import VARIANTS, append_jsonl, build, fit, read_jsonl, recipe

OUT = Path(__file__).parent / "self_explaining_results" / "accuracy.jsonl"
# (train, dev, test) split of each dataset; None: no dev evaluation
SPLITS = {"sst2": ("train", "dev", "test"), "sst5": ("train", "dev", "test"),
          "snli": ("dev", None, "test")}


def run(args) -> None:
    from depthlens.data import load

    train, dev, test = (load(f"{args.data}:{split}") if split else None
                        for split in SPLITS[args.data])
    done = {(r["encoder"], r["data"], r["variant"], r["lam"], r["max_width"],
             r.get("regularizer", "square"), r["seed"], r["epochs"]) for r in read_jsonl(args.out)}
    settings = recipe(args.encoder)
    if args.epochs:
        settings["epochs"] = args.epochs
    for seed in args.seeds:
        for variant in args.variants:
            lam = args.lam if variant == "self_explaining" else 0.0
            key = (args.encoder, args.data, variant, lam, args.max_width, args.regularizer, seed,
                   settings["epochs"])
            if key in done:
                continue
            print(f"== {args.encoder} {args.data} {variant} lambda={lam} seed={seed}", flush=True)
            adapter = build(args.encoder, variant, train, seed, lam, args.max_width,
                            args.regularizer)
            history = fit(adapter, train, dev=dev, test=test, seed=seed, **settings)
            append_jsonl(args.out, {"encoder": args.encoder, "data": args.data,
                                    "variant": variant, "lam": lam, "max_width": args.max_width,
                                    "regularizer": args.regularizer,
                                    "seed": seed, "settings": settings,
                                    "splits": SPLITS[args.data],
                                    "epochs": settings["epochs"], "history": history})
            if args.save_dir:
                adapter.save(Path(args.save_dir) / f"{args.encoder}-{args.data}-{variant}-"
                             f"lam{lam}-seed{seed}")


def summary(path: Path) -> str:
    groups: dict[tuple, list[dict]] = {}
    for r in read_jsonl(path):
        key = (r["encoder"], r["data"], r["variant"], r["lam"], r.get("regularizer", "square"),
               r["max_width"], r["epochs"])
        groups.setdefault(key, []).append(r["history"][-1])
    lines = ["| encoder | data | variant | lambda | regularizer | max width | epochs | seeds | "
             "dev acc | test acc |", "|---|---|---|---|---|---|---|---|---|---|"]
    for (enc, data, variant, lam, reg, width, epochs), rows in sorted(groups.items(), key=str):
        cells = []
        for split in ("dev", "test"):
            values = [100 * r[f"{split}_accuracy"] for r in rows if f"{split}_accuracy" in r]
            mean = f"{statistics.mean(values):.1f}" if values else "n/a"
            cells.append(f"{mean} ± {statistics.stdev(values):.1f}" if len(values) > 1 else mean)
        lines.append(f"| {enc} | {data} | {variant} | {lam} | {reg} | {width or 'all'} | {epochs} | "
                     f"{len(rows)} | {cells[0]} | {cells[1]} |")
    return "\n".join(lines)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--encoder", choices=["tiny", "minilm"], default="tiny")
    p.add_argument("--data", choices=list(SPLITS), default="sst2")
    p.add_argument("--variants", nargs="+", choices=VARIANTS, default=list(VARIANTS))
    p.add_argument("--seeds", nargs="+", type=int, default=[0])
    p.add_argument("--lam", type=float, default=1.0)
    p.add_argument("--max-width", type=int, default=None)
    p.add_argument("--regularizer", choices=["square", "entropy"], default="square")
    p.add_argument("--epochs", type=int, default=0, help="override the recipe's epochs")
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--out", type=Path, default=OUT)
    p.add_argument("--save-dir", help="also save every trained model under this directory")
    p.add_argument("--summary", action="store_true", help="print the results table and exit")
    args = p.parse_args()
    if args.summary:
        print(summary(args.out))
        return
    torch.set_num_threads(args.threads)
    run(args)


if __name__ == "__main__":
    main()
