"""Hiding/Revealing AUC of the bottleneck method for several beta, against the gradient.

    OMP_NUM_THREADS=1 python benchmarks/bottleneck_beta.py [--model tiny-sst2] [--n 100]
"""
from __future__ import annotations

import argparse
import time

import torch

from depthlens.api import explain_many
from depthlens.data import load
from depthlens.evaluation import evaluate
from depthlens.models.loading import load_model

RUNS = [("gradient", {}), ("bottleneck", {"beta": 10.0}), ("bottleneck", {"beta": 1.0}),
        ("bottleneck", {"beta": 0.1}), ("bottleneck", {"beta": 0.1, "layer": 0})]


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--model", default="tiny-sst2")
    p.add_argument("--n", type=int, default=100)
    args = p.parse_args()
    torch.set_num_threads(1)
    adapter = load_model(args.model)
    texts = [e.text for e in load(f"sst2:dev:~{args.n}").examples][:args.n]
    for method, params in RUNS:
        start = time.process_time()
        exps = explain_many(adapter, texts, method, **params)
        ms = 1000 * (time.process_time() - start) / len(texts)
        res = evaluate(adapter, exps, ["hiding", "revealing"], random_orders=5)
        print(f"{method} {params}: hiding {res['hiding'].value:.3f} (random "
              f"{res['hiding'].details['random_auc_accuracy']:.3f}), revealing "
              f"{res['revealing'].value:.3f}, {ms:.0f} CPU ms/example")


if __name__ == "__main__":
    main()
