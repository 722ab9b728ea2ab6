"""Information analysis 1: the reverse-a-sequence toy task (Guan et al. 2019, seq2seq LSTM).

    nice -n 10 python benchmarks/information_reverse.py [--n 200] [--seed 0] [--lam 1.0] \
        [--per-dimension]

Trains (once, cached under ~/.cache/depthlens/information/) the built-in
seq2seq LSTM with attention on random symbol sequences (lengths 5..10, 20
symbols) until >= 99% held-out exact match. For each of ``--n`` fresh
sequences and each output step t < n, the word the decoder copies at step t is
source word n-1-t. A method "finds" it when that word has the best score of
the sentence at step t:

- information: the least discarded word, argmin_i H(X~_i | s_t) with s_t the
  attentional decoder state at step t (all steps of all sentences fitted in one run);
- gradient / integrated_gradients: argmax over source words of the L2 norm of the
  gradient (IG attribution) of the gold output logit at step t w.r.t. the
  source word embeddings;
- attention: argmax of the decoder's attention weights at step t.

Prints the fraction of (sentence, step) pairs per method and writes a JSON file.
"""
from __future__ import annotations

import argparse
import time
from collections import Counter

import torch

import depthlens.methods  # noqa: F401  (registers gradient, integrated_gradients)
from depthlens.information import FitSettings, fit_information
from depthlens.registry import METHODS

from information_common import heldout, reverse_model, single_thread, write_results


def attention_weights(adapter, batch) -> torch.Tensor:
    """(B, S, T) decoder attention over the source at every teacher-forced step S = T + 1."""
    model = adapter.model
    gold = adapter.gold(batch)
    bos = torch.full((len(batch), 1), adapter.tokenizer.bos_token_id, dtype=torch.long)
    inputs = torch.cat([bos, gold[:, :-1]], 1)
    with torch.no_grad():
        memory = model.encode(batch.input_ids, batch.attention_mask)
        carry, rows = model.start(memory), []
        for s in range(inputs.shape[1]):
            _, carry = model.step(memory, batch.attention_mask, inputs[:, s], carry)
            rows.append(carry[3])                       # the step's (B, T) attention weights
    return torch.stack(rows, 1)


def gradient_scores(adapter, batch, method: str) -> dict[tuple[int, int], torch.Tensor]:
    """{(example, step): scores over its source tokens} of a registered gradient method,
    explaining the gold output logit at each step t < n."""
    fn, out = METHODS.get(method).fn, {}
    for t in range(max(batch.lengths)):
        index = [i for i, n in enumerate(batch.lengths) if n > t]
        sub = batch.select(index)
        scores = fn(adapter.at_step(t), sub, adapter.gold_targets(sub, t)).scores[:, 0]
        out.update({(i, t): scores[j, :batch.lengths[i]] for j, i in enumerate(index)})
    return out


def hit_rates(scores: dict[tuple[int, int], torch.Tensor], lengths: list[int], best: str) -> dict:
    """Fraction of (example, step) where the copied word n-1-t is the best (top-1) and in the
    best two (top-2); best = 'max' or 'min'. ``miss_offsets`` counts, over the misses, where
    the best word lies in copy order: +1 = the word copied at the next step (n-2-t), -1 = the
    one copied at the previous step."""
    top1 = top2 = 0
    offsets: Counter = Counter()
    for (i, t), s in scores.items():
        order = torch.argsort(s, descending=best == "max")
        gold, chosen = lengths[i] - 1 - t, int(order[0])
        top1 += chosen == gold
        top2 += gold in order[:2].tolist()
        if chosen != gold:
            offsets[gold - chosen] += 1
    return {"top1": top1 / len(scores), "top2": top2 / len(scores), "pairs": len(scores),
            "miss_offsets": dict(sorted(offsets.items()))}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=200)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--per-dimension", action="store_true")
    parser.add_argument("--lam", type=float, default=FitSettings.lam)
    parser.add_argument("--max-steps", type=int, default=FitSettings.max_steps)
    args = parser.parse_args()
    single_thread()
    tic = time.process_time()
    adapter, exact = reverse_model(args.seed)
    print(f"seq2seq reverse model: held-out exact match {exact:.3f} "
          f"({time.process_time() - tic:.0f} s incl. training if not cached)")
    batch = adapter.encode(heldout(args.n, args.seed + 1))
    lengths = batch.lengths
    results = {"exact_match": exact, "n_sentences": args.n, "lam": args.lam,
               "max_steps": args.max_steps,
               "per_dimension": args.per_dimension, "methods": {}, "seconds": {}}

    tic = time.process_time()
    steps = [list(range(n)) for n in lengths]
    fit = fit_information(adapter, batch, target_state="decoder", steps=steps, seed=args.seed,
                          settings=FitSettings(lam=args.lam, per_dimension=args.per_dimension,
                                                max_steps=args.max_steps, chunk_rows=512))
    entropy = fit.entropy()
    info = {(i, t): entropy[i, t, :n] for i, n in enumerate(lengths) for t in range(n)}
    results["seconds"]["information"] = time.process_time() - tic
    results["information_steps"] = {"mean": float(fit.steps[fit.valid].float().mean()),
                                    "max": int(fit.steps.max())}
    results["methods"]["information"] = hit_rates(info, lengths, "min")

    for method in ("gradient", "integrated_gradients"):
        if method not in METHODS.names():
            continue
        tic = time.process_time()
        found = gradient_scores(adapter, batch, method)
        results["methods"][method] = hit_rates(found, lengths, "max")
        results["seconds"][method] = time.process_time() - tic
    weights = attention_weights(adapter, batch)
    att = {(i, t): weights[i, t, :n] for i, n in enumerate(lengths) for t in range(n)}
    results["methods"]["attention"] = hit_rates(att, lengths, "max")

    print(f"{'method':22s} {'top-1':>7s} {'top-2':>7s}  (copied word = best word; "
          f"{results['methods']['attention']['pairs']} sentence-steps)")
    for method, r in results["methods"].items():
        print(f"{method:22s} {r['top1']:7.3f} {r['top2']:7.3f}  misses by copy-order offset "
              f"{r['miss_offsets']}")
    print("CPU seconds:", {k: round(v, 1) for k, v in results["seconds"].items()},
          "information Adam steps:", results["information_steps"])
    suffix = ("-perdim" if args.per_dimension else "") + f"-lam{args.lam:g}-steps{args.max_steps}"
    print("wrote", write_results(f"reverse-s{args.seed}{suffix}", results))


if __name__ == "__main__":
    main()
