"""Speed of DiffMask: explaining with a fitted probe vs one forward pass, and fitting time.

    nice -n 10 python benchmarks/bench_diffmask.py --model tiny-sst2 [--probe DIR]

Explaining = the ``diffmask`` method on a batch (one forward with states plus
the probes); the lower bound is one no-grad forward of the same batch. Both
are timed over the same SST-2 dev batches (median of ``--repeats`` runs) and
the ratio printed. Fitting is timed over ``--fit-steps`` steps and
extrapolated to one epoch of SST-2 train (6920 sentences).
"""
from __future__ import annotations

import argparse
import math
import statistics
import time

import torch

import depthlens.methods.diffmask  # noqa: F401
from depthlens.data import load
from depthlens.diffmask import DiffMaskProbe, training
from depthlens.models.loading import load_model
from depthlens.registry import METHODS


def median_seconds(fn, repeats: int) -> float:
    fn()  # warm-up
    times = []
    for _ in range(repeats):
        tic = time.perf_counter()
        fn()
        times.append(time.perf_counter() - tic)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--model", default="tiny-sst2")
    parser.add_argument("--probe", help="fitted probe directory (default: input gates fitted for 2 steps)")
    parser.add_argument("--n", type=int, default=256, help="dev sentences timed")
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--fit-steps", type=int, default=20)
    args = parser.parse_args()
    torch.manual_seed(0)
    adapter = load_model(args.model)
    dev = load(f"sst2:dev:{args.n}")
    batch = adapter.encode(dev.texts)
    order = sorted(range(len(batch)), key=lambda i: batch.lengths[i])
    size = args.batch_size
    subs = [batch.select(order[i:i + size]) for i in range(0, len(order), size)]
    # explaining costs the same for any weights, so without --probe a 2-step fit will do
    probe = (DiffMaskProbe.load(args.probe) if args.probe
             else training.fit(adapter, dev, "input", epochs=1, max_steps=2, progress=False))
    method = METHODS.get("diffmask").fn

    def forward():
        with torch.no_grad():
            for sub in subs:
                adapter.forward(sub)

    def explain():
        for sub in subs:
            method(adapter, sub, torch.zeros(len(sub), dtype=torch.long), probe=probe)

    t_forward = median_seconds(forward, args.repeats)
    t_explain = median_seconds(explain, args.repeats)
    print(f"{args.model}, {len(batch)} dev sentences in batches of {args.batch_size}, "
          f"{probe.gate} gates ({len(probe.dims)} layers)")
    print(f"one forward pass:        {1000 * t_forward / len(batch):.3f} ms/sentence")
    print(f"diffmask explanation:    {1000 * t_explain / len(batch):.3f} ms/sentence")
    print(f"ratio explain / forward: {t_explain / t_forward:.2f}")

    train = load("sst2:train")
    steps = load(f"sst2:train:{args.fit_steps * args.batch_size}")
    tic = time.perf_counter()
    training.fit(adapter, steps, probe.gate, epochs=1, batch_size=args.batch_size,
                 progress=False, checkpoint_every=0)
    per_step = (time.perf_counter() - tic) / args.fit_steps
    per_epoch = per_step * math.ceil(len(train) / args.batch_size)
    print(f"fitting: {per_step:.3f} s/step, ~{per_epoch / 60:.1f} min per SST-2 train epoch "
          f"({len(train)} sentences, batch {args.batch_size})")


if __name__ == "__main__":
    main()
