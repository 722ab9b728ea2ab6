"""Per-fraction Hiding/Revealing curves behind the AUCs (why Revealing AUC saturates).

    python benchmarks/decoded_saliency_curves.py --model tiny-sst2 --data sst2:dev:~200

For each method (first score row), prints the mean accuracy against the gold label at every
fraction for both games under the explanation, inverse and random (20 shuffles) orders, the
probability AUC, and the Revealing accuracy ceiling: a ranking whose top ceil(f*n) tokens alone
always reproduce the unperturbed prediction scores acc(0)/2 + acc(1)/2 between the first two
grid points and acc(1) after, i.e. AUC = acc(1) - (acc(1) - acc(0)) * f_1 / 2 on a grid whose
first non-zero point is f_1. Also the share of examples whose prediction with only the top
ceil(f_1 * n) tokens revealed equals the unperturbed prediction.
"""
from __future__ import annotations

import argparse

import numpy as np
import torch

FRACTIONS = (0.0, 0.05, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 1.0)


def main() -> None:
    from depthlens import explain_many, load_model
    from depthlens.data import load
    from depthlens.evaluation.erasure_curves import DEFAULT_FRACTIONS, auc, game_curves

    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--model", default="tiny-sst2")
    p.add_argument("--data", default="sst2:dev:~200")
    p.add_argument("--methods", default="gradcam,integrated_gradients,occlusion,gradient")
    p.add_argument("--threads", type=int, default=1)
    args = p.parse_args()
    torch.set_num_threads(args.threads)
    adapter = load_model(args.model)
    data = load(args.data)
    print(f"model {args.model}, data {args.data} ({len(data)} examples), fractions {FRACTIONS}")
    for method in args.methods.split(","):
        exps = explain_many(adapter, data.texts, method, batch_size=16, progress=False)
        run = game_curves(adapter, exps, games=("reveal", "hide"), fractions=FRACTIONS, layer=0,
                          orders=("explanation", "inverse", "random"), labels=data.targets)
        for (game, order), c in run.curves.items():
            print(f"{method:<22} {game:<6} {order:<11} accuracy "
                  f"{np.round(c.mean('accuracy'), 3).tolist()}  AUC acc {c.auc():.3f} "
                  f"prob {c.auc('probability'):.3f}")
        reveal = run.curves[("reveal", "explanation")].mean("accuracy")
        same = game_curves(adapter, exps, games=("reveal",), fractions=FRACTIONS[:2], layer=0,
                           orders=("explanation",)).curves[("reveal", "explanation")]
        grid = np.asarray(DEFAULT_FRACTIONS)
        ceiling = auc(grid, np.r_[reveal[0], np.full(len(grid) - 1, reveal[-1])])
        print(f"{method:<22} top ceil({FRACTIONS[1]}*n) tokens alone keep the prediction of "
              f"{same.mean('accuracy')[1]:.3f} of the examples; Revealing accuracy AUC ceiling "
              f"on the default 11-point grid: {ceiling:.3f}\n", flush=True)


if __name__ == "__main__":
    main()
