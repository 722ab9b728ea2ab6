"""Where the top spans of a self-explaining pair (NLI) model sit: premise or hypothesis,
at the first word of its sequence or not, how long, and the most frequent ones.

    nice -n 10 python benchmarks/self_explaining_pair_spans.py --model DIR --data snli:test:300
"""
from __future__ import annotations

import argparse
import collections
import statistics

import torch

import depthlens
from depthlens.data import load


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--model", required=True, help="trained self-explaining pair model directory")
    p.add_argument("--data", default="snli:test:300")
    p.add_argument("--threads", type=int, default=1)
    args = p.parse_args()
    torch.set_num_threads(args.threads)
    data = load(args.data)
    model = depthlens.load_model(args.model)
    exps = depthlens.explain_many(model, data.texts, "self_explaining", top_k=1, batch_size=32,
                                  pairs=[ex.pair for ex in data.examples])
    top = [e.spans[0] for e in exps]
    print(f"{len(top)} pairs: mean top alpha "
          f"{statistics.mean(e.diagnostics['top_alpha'] for e in exps):.3f}, top span in the "
          f"hypothesis {statistics.mean(s.sequence == 1 for s in top):.1%}, starts at the first "
          f"word of its sequence {statistics.mean(s.start == 0 for s in top):.1%}, "
          f"{statistics.mean(len(s.text.split()) for s in top):.2f} words")
    counts = collections.Counter((("premise", "hypothesis")[s.sequence], s.text) for s in top)
    print("most frequent:", ", ".join(f"{t!r} ({where}) x{n}"
                                      for (where, t), n in counts.most_common(8)))


if __name__ == "__main__":
    main()
