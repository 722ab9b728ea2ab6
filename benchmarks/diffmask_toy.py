"""Reproduction 1 of DiffMask (sec. 4.1, Table 1 and figure 3e): the "more n than m" toy task.

    nice -n 10 python benchmarks/diffmask_toy.py [--seed 0] [--probe-epochs 30] [--margin 0.2]

Trains (once, cached under ~/.cache/depthlens/diffmask/) the paper's model,
fits DiffMask probes on the 9k training examples at depth 1 only (hidden
gates of state 1; input gates voted by states 0 and 1), then on the
1k validation examples compares attributions to the feed-forward states
(state 1) with the ground truth, uniform over the digit positions holding n or
m: DiffMask hidden gates, integrated gradients at state 1 (|IG|, zero
baseline) and exact erasure search at state 1 (the smallest kept set that
preserves the prediction, replaced states set to DiffMask's learned baseline).
Prints Table 1 and figure 3e's keep probabilities and writes a JSON file.
"""
from __future__ import annotations

import argparse
import math
import time

import torch

import depthlens
import depthlens.methods.diffmask  # noqa: F401
import depthlens.methods.integrated_gradients  # noqa: F401
from depthlens.diffmask.search import exact_search
from depthlens.diffmask.toy import CONFIG_FILE, QUERY, ToyAdapter, toy_data, train_toy
from depthlens.training import accuracy

from diffmask_common import WORK, js, kept_under_masking, kl, normalise, probe_for, write_results

FF = 1  # the feed-forward (bottleneck) state


def toy_model(seed: int) -> tuple[ToyAdapter, float]:
    directory = WORK / f"toy-model-s{seed}"
    if (directory / CONFIG_FILE).is_file():
        adapter = ToyAdapter.load(directory)
        return adapter, accuracy(adapter, toy_data(seed=seed)[1])
    return train_toy(directory, seed=seed)


def divergences(truths, attributions) -> dict:
    """Mean KL(truth || attribution) and JS over examples; KL is inf if any example's is.

    Both are distributions over the digit positions (the query is a side input).
    """
    kls, jss = [], []
    for truth, attr in zip(truths, attributions):
        p, q = normalise(truth[QUERY:]), normalise(attr[QUERY:])
        kls.append(kl(p, q))
        jss.append(js(p, q))
    return {"kl": sum(kls) / len(kls), "js": sum(jss) / len(jss),
            "kl_infinite": sum(math.isinf(k) for k in kls)}


def table_1(adapter, dev, hidden_probe) -> dict:
    examples = [ex for ex in dev.examples if sum(ex.meta["hidden_truth"]) > 0]
    texts = [ex.text for ex in examples]
    truths = [torch.tensor(ex.meta["hidden_truth"]) for ex in examples]
    rows, seconds = {}, {}
    tic = time.perf_counter()
    dm = depthlens.explain_many(adapter, texts, "diffmask", probe=hidden_probe, batch_size=256)
    seconds["diffmask"] = time.perf_counter() - tic
    rows["DiffMask (hidden gates)"] = [torch.tensor(e.scores[FF]) for e in dm]
    tic = time.perf_counter()
    ig = depthlens.explain_many(adapter, texts, "integrated_gradients", layer=str(FF),
                                baseline="zero", batch_size=64)
    seconds["integrated_gradients"] = time.perf_counter() - tic
    rows["Integrated gradients (|IG|)"] = [torch.tensor(e.scores[0]).abs() for e in ig]
    tic = time.perf_counter()
    batch = adapter.encode(texts)
    search = exact_search(adapter, batch, hidden_probe.baselines[FF].detach(), layer=FF)
    seconds["erasure"] = time.perf_counter() - tic
    rows["Erasure (exact search)"] = [r.attribution() for r in search]
    table = {name: divergences(truths, attrs) for name, attrs in rows.items()}
    table["_n_examples"] = len(examples)
    table["_erasure_mean_kept"] = sum(r.size for r in search) / len(search)
    table["_erasure_mean_truth"] = sum(float(t.sum()) for t in truths) / len(truths)
    table["_seconds"] = seconds
    return table


def figure_3e(adapter, dev, input_probe) -> dict:
    """Mean keep probability of each token kind as seen from each layer (input gates)."""
    kinds = {"query n/m": [], "separator |": [], "digit = n or m": [], "other digit": []}
    exps = depthlens.explain_many(adapter, dev.texts, "diffmask", probe=input_probe,
                                  batch_size=256)
    for ex, exp in zip(dev.examples, exps):
        truth = ex.meta["hidden_truth"]
        for j in range(len(exp.tokens)):
            kind = ("query n/m" if j < 2 else "separator |" if j == 2
                    else "digit = n or m" if truth[j] else "other digit")
            kinds[kind].append(exp.scores[:, j])
    return {kind: [float(sum(v[l] for v in vals) / len(vals)) for l in range(3)]
            for kind, vals in kinds.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--probe-epochs", type=int, default=30)
    parser.add_argument("--lr", type=float, default=3e-2)
    parser.add_argument("--multiplier-lr", type=float, default=0.01)
    parser.add_argument("--margin", type=float, default=0.2)
    args = parser.parse_args()
    torch.manual_seed(args.seed)
    adapter, dev_accuracy = toy_model(args.seed)
    train, dev = toy_data(seed=args.seed)
    print(f"toy model: validation accuracy {dev_accuracy:.4f}")
    settings = dict(epochs=args.probe_epochs, batch_size=64, lr=args.lr,
                    multiplier_lr=args.multiplier_lr, margin=args.margin, seed=args.seed)
    tag = (f"s{args.seed}-e{args.probe_epochs}-lr{args.lr}-mlr{args.multiplier_lr}"
           f"-m{args.margin}")
    probes = {"hidden": probe_for(adapter, train, "hidden", WORK / f"toy-hidden-l{FF}-{tag}",
                                  layers=[FF], **settings),
              "input": probe_for(adapter, train, "input", WORK / f"toy-input-l{FF}-{tag}",
                                 layers=[FF], **settings)}
    results = {"settings": {**settings, "model_accuracy": dev_accuracy},
               "table_1": table_1(adapter, dev, probes["hidden"]),
               "figure_3e": figure_3e(adapter, dev, probes["input"]),
               "masking": {g: kept_under_masking(adapter, dev, p) for g, p in probes.items()},
               "fit": {g: p.info for g, p in probes.items()}}
    print("\nTable 1 (state 1, validation): method | KL | JS")
    for name, row in results["table_1"].items():
        if not name.startswith("_"):
            print(f"{name:<30} {row['kl']:.3f} ({row['kl_infinite']} inf) | {row['js']:.3f}")
    print("\nFigure 3e (input gates): keep probability per layer", results["figure_3e"])
    print("masking:", results["masking"])
    print(f"wrote {write_results(f'toy-{tag}', results)}")


if __name__ == "__main__":
    main()
