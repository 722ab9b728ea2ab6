"""Speed of the Hiding/Revealing engine and ERASER AOPC against a naive loop and a lower bound.

    python benchmarks/bench_evaluation.py [--examples 64] [--model NAME] [--threads 1]

For N examples, both games at 11 fractions with the explanation order and 20
random orders (the paper's protocol), and comprehensiveness+sufficiency at
the 5 ERASER bins, it prints:

* batched  -- depthlens: all perturbed inputs built at once, identical ones
  forwarded once, forwarded in chunks of --batch-size;
* bound    -- the lower bound: one batched forward of as many unperturbed
  inputs as depthlens forwards (no masking, no bookkeeping);
* naive    -- one erase + forward per perturbed input per example (how a
  per-example evaluator such as ferret's runs), timed on --naive-examples
  examples and scaled to N; its values are checked against the batched ones.

ferret is compared only if it is installed (it is not a dependency).
"""
from __future__ import annotations

import argparse
import importlib.util
import time

import numpy as np
import torch

from depthlens.api import explain_many
from depthlens.erasure import erase
from depthlens.evaluation import game_curves
from depthlens.evaluation.erasure_curves import (DEFAULT_FRACTIONS, GAMES, RANDOM_ORDERS,
                                                 game_masks, rank_tensor, rankings, token_counts)
from depthlens.evaluation.external import encode_explanations
from depthlens.evaluation.faithfulness import ERASER_BINS
from depthlens.evaluation.toy import tiny_bert
from depthlens.models.loading import load_model

WORDS = ("the a movie film plot acting great good bad awful boring fine and but was is not very "
         "funny dull brilliant mess charming story director script scene music , .").split()


def naive(adapter, explanations, fractions, orders, random_orders, mode, drop):
    """Per example, per order, per game, per fraction: one erase and one forward.

    Returns {(game, 'explanation'): (n, F)} target probabilities for checking."""
    out = {(game, "explanation"): [] for game in GAMES}
    for e in explanations:
        batch = encode_explanations(adapter, [e])
        real = ~batch.special_mask
        counts = torch.from_numpy(token_counts(real.sum(1).numpy(), np.asarray(fractions)))
        for order in orders:
            ranks = rank_tensor(rankings([e], None, order, random_orders), real.shape[1])
            for game in GAMES:
                rows = game_masks(ranks, real, counts, game).reshape(-1, real.shape[1])
                probs = [adapter.predict_proba(erase(adapter, batch, row[None], mode, drop))[0]
                         for row in rows]
                if order == "explanation":
                    out[(game, order)].append([float(p[e.target.index]) for p in probs])
    return {key: np.array(v) for key, v in out.items()}


def timed(fn):
    start = time.perf_counter()
    out = fn()
    return out, time.perf_counter() - start


def bound(adapter, explanations, n_inputs, batch_size):
    """Forward n_inputs unperturbed inputs (cycling over the examples) in chunks."""
    batch = encode_explanations(adapter, explanations)
    order = np.argsort(batch.lengths, kind="stable")
    index = np.resize(order, n_inputs)
    for start in range(0, n_inputs, batch_size):
        adapter.predict_proba(batch.select(index[start:start + batch_size].tolist()))


def run(adapter, explanations, label, fractions, orders, args, mode, drop):
    n = len(explanations)
    kw = dict(fractions=fractions, orders=orders, random_orders=args.random_orders,
              mode=mode, drop_attention=drop, batch_size=args.batch_size)
    result, t_batched = timed(lambda: game_curves(adapter, explanations, **kw))
    _, t_bound = timed(lambda: bound(adapter, explanations, result.cost["forward_inputs"],
                                     args.batch_size))
    few = explanations[:args.naive_examples]
    slow, t_naive = timed(lambda: naive(adapter, few, fractions, orders, args.random_orders,
                                        mode, drop))
    t_naive *= n / len(few)
    diff = max(float(np.abs(result.curves[key].probability[:len(few)] - slow[key]).max())
               for key in slow)
    c = result.cost
    print(f"\n{label}: N={n}, {c['perturbed_inputs']} perturbed inputs, "
          f"{c['forward_inputs']} forwarded after de-duplication, {c['forward_batches']} batches")
    print(f"  batched  {t_batched:8.2f} s  ({1e3 * t_batched / n:7.1f} ms/example)")
    print(f"  bound    {t_bound:8.2f} s  ({1e3 * t_bound / n:7.1f} ms/example)  "
          f"overhead x{t_batched / t_bound:.2f}")
    print(f"  naive    {t_naive:8.2f} s  ({1e3 * t_naive / n:7.1f} ms/example, from "
          f"{len(few)} examples)  speed-up x{t_naive / t_batched:.1f}")
    print(f"  naive vs batched (explanation order): max |probability diff| {diff:.1e}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--examples", type=int, default=64)
    parser.add_argument("--length", type=int, default=20, help="words per random text")
    parser.add_argument("--model", default="", help="model name/directory (default: tiny BERT)")
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--random-orders", type=int, default=RANDOM_ORDERS)
    parser.add_argument("--naive-examples", type=int, default=4)
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    adapter = load_model(args.model) if args.model else tiny_bert(WORDS, hidden=64, layers=4,
                                                                  heads=4, max_length=128)
    rng = np.random.default_rng(0)
    texts = [" ".join(rng.choice(WORDS, size=rng.integers(args.length // 2, args.length + 1)))
             for _ in range(args.examples)]
    explanations = explain_many(adapter, texts, "gradient")
    print(f"model {adapter.name}, torch threads {torch.get_num_threads()}, "
          f"batch size {args.batch_size}")
    if importlib.util.find_spec("ferret") is None:
        print("ferret is not installed: compared with a naive per-example loop instead")
    run(adapter, explanations, "Hiding + Revealing, 11 fractions, explanation + random orders",
        DEFAULT_FRACTIONS, ("explanation", "random"), args, "mask", True)
    run(adapter, explanations, "Comprehensiveness + sufficiency, ERASER bins (deletion)",
        ERASER_BINS, ("explanation",), args, "delete", False)


if __name__ == "__main__":
    main()
