"""Schulz et al. (2020) row of DiffMask's Table 1: the ``bottleneck`` method on the toy model.

    OMP_NUM_THREADS=1 python benchmarks/diffmask_schulz.py [--n 200] [--betas 10 1]

Per-sample information bottleneck at state 1 (the feed-forward output) of the cached toy
model of diffmask_toy.py; capacity per digit position, normalised over the digits, against
the ground truth (uniform over the positions holding n or m): mean KL and JS over the first
--n validation examples with a non-empty ground truth.
"""
from __future__ import annotations

import argparse
import time

import torch

import depthlens
from depthlens.diffmask.toy import toy_data
from diffmask_toy import FF, divergences, toy_model


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--n", type=int, default=200)
    p.add_argument("--betas", type=float, nargs="+", default=[10.0, 1.0])
    args = p.parse_args()
    torch.set_num_threads(1)
    adapter, accuracy = toy_model(args.seed)
    _, dev = toy_data(seed=args.seed)
    examples = [ex for ex in dev.examples if sum(ex.meta["hidden_truth"]) > 0][:args.n]
    truths = [torch.tensor(ex.meta["hidden_truth"]) for ex in examples]
    print(f"toy model: validation accuracy {accuracy:.4f}; {len(examples)} examples")
    for beta in args.betas:
        start = time.perf_counter()
        exps = depthlens.explain_many(adapter, [ex.text for ex in examples], "bottleneck",
                                      layer=FF, beta=beta, baseline="pad", batch_size=64)
        row = divergences(truths, [torch.tensor(e.scores[0]) for e in exps])
        print(f"Schulz et al. (bottleneck at state 1, beta {beta:g}): KL {row['kl']:.3f} "
              f"({row['kl_infinite']} inf), JS {row['js']:.3f}, "
              f"{time.perf_counter() - start:.1f} s")


if __name__ == "__main__":
    main()
