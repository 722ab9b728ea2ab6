"""CPU time per example of the erasure engine on a real model and real sentences.

    OMP_NUM_THREADS=1 python benchmarks/bench_erasure_speed.py [--model minilm-sst2] [--n 64]

Gradient explanations of the first --n SST-2 dev sentences; times (process CPU, 1 thread)
ERASER comprehensiveness + sufficiency at ferret's ten bins (deletion) and the Hiding +
Revealing games at 11 fractions with 20 random orders ([MASK] + drop attention), and prints
their values so that a change to the engine can be checked for identical results.
"""
from __future__ import annotations

import argparse
import time

import torch

from depthlens.api import explain_many
from depthlens.data import load
from depthlens.evaluation import game_curves
from depthlens.evaluation.faithfulness import faithfulness
from depthlens.models.loading import load_model


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--model", default="minilm-sst2")
    p.add_argument("--n", type=int, default=64)
    args = p.parse_args()
    torch.set_num_threads(1)
    adapter = load_model(args.model)
    texts = [e.text for e in load(f"sst2:dev:~{args.n}").examples][:args.n]
    exps = explain_many(adapter, texts, "gradient")
    bins = [0.1 * i for i in range(1, 11)]
    faithfulness(adapter, exps[:4], bins=bins)                       # warm-up
    start = time.process_time()
    f = faithfulness(adapter, exps, bins=bins)
    ms = 1000 * (time.process_time() - start) / len(exps)
    print(f"comprehensiveness + sufficiency, 10 bins, deletion: {ms:.1f} CPU ms/example; "
          f"comprehensiveness {f.comprehensiveness.mean():.4f}, "
          f"sufficiency {f.sufficiency.mean():.4f}")
    start = time.process_time()
    run = game_curves(adapter, exps, random_orders=20)
    ms = 1000 * (time.process_time() - start) / len(exps)
    print(f"Hiding + Revealing, 20 random orders: {ms:.1f} CPU ms/example; hiding AUC "
          f"{run.curves[('hide', 'explanation')].auc():.4f}, revealing AUC "
          f"{run.curves[('reveal', 'explanation')].auc():.4f}")


if __name__ == "__main__":
    main()
