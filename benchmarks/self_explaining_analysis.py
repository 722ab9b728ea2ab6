"""Span statistics, error analysis and span-erasure attack (paper sections 6.2-6.3).

For a trained self-explaining model on a dev set:

* alpha statistics: mean top-span weight, sum alpha^2, top-span width in
  words, share of top spans that start at the first word, share that contain
  a Hu & Liu opinion-lexicon word;
* error analysis: the top span of the first --errors misclassified texts;
* span attack: replace the tokens of one span by [MASK] and count how often
  the model's prediction flips. Spans: the model's top-alpha span,
  AvgGradient on the same model (|d p(y)/d e|_1 for the predicted y, best
  mean window) and a random window, both length-matched to the top span;
* ERASER comprehensiveness p(x) - p(x without span) and sufficiency
  p(x) - p(span alone) of the same three spans (depthlens.evaluation, tokens
  deleted), for the predicted class.

    nice -n 10 python benchmarks/self_explaining_analysis.py --model DIR [--data sst2:dev]
"""
from __future__ import annotations

import argparse
import json
import random
import statistics

import torch

from depthlens.api import explain_many
from depthlens.data import load, sentiment_lexicon
from depthlens.erasure import erase
from depthlens.evaluation import evaluate
from depthlens.methods import self_explaining  # noqa: F401  (registers the method)
from depthlens.self_explaining import load_self_explaining
from depthlens.self_explaining.protocol import (avg_saliency_span, random_span, span_tokens,
                                                span_width)


@torch.no_grad()
def flip_rate(model, texts: list[str], spans, batch_size: int = 64) -> float:
    """Share of texts whose predicted label changes when ``spans`` are masked."""
    flips = 0
    for lo in range(0, len(texts), batch_size):
        batch = model.encode(texts[lo:lo + batch_size], truncate=True)
        before = model.forward(batch).logits.argmax(-1)
        masked = erase(model, batch, span_tokens(batch, spans[lo:lo + batch_size]), "mask")
        flips += int((model.forward(masked).logits.argmax(-1) != before).sum())
    return flips / len(texts)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--model", required=True, help="trained self-explaining model directory")
    p.add_argument("--data", default="sst2:dev")
    p.add_argument("--errors", type=int, default=8)
    p.add_argument("--threads", type=int, default=1)
    args = p.parse_args()
    torch.set_num_threads(args.threads)
    model, data = load_self_explaining(args.model), load(args.data)
    texts = data.texts
    se = explain_many(model, texts, "self_explaining", top_k=1, truncate=True, batch_size=32)
    grads = explain_many(model, texts, "gradient", norm="l1", output="probability",
                         truncate=True, batch_size=32)
    rng = random.Random(0)
    top = [e.spans[0] for e in se]
    widths = [span_width(s, e) for s, e in zip(top, grads)]
    spans = {"self_explaining": top,
             "avg_gradient": [avg_saliency_span(e, w) for e, w in zip(grads, widths)],
             "random": [random_span(e, w, rng) for e, w in zip(grads, widths)]}
    lexicon = sentiment_lexicon()
    first_words = [e.words()[0].start for e in se]
    stats = {
        "model": args.model, "data": args.data,
        "top_alpha": statistics.mean(e.diagnostics["top_alpha"] for e in se),
        "sum_alpha_squared": statistics.mean(e.diagnostics["sum_alpha_squared"] for e in se),
        "top_span_words": statistics.mean(widths),
        "starts_at_first_word": statistics.mean(s.start == f for s, f in zip(top, first_words)),
        "accuracy": statistics.mean(e.predicted.index == ex.label for e, ex in zip(se, data)),
    }
    for name, chosen in spans.items():
        stats[f"lexicon_hit/{name}"] = statistics.mean(
            any(w in lexicon for w in s.text.split()) for s in chosen)
        stats[f"flip_rate/{name}"] = flip_rate(model, texts, chosen)
        scores = evaluate(model, se, ["comprehensiveness", "sufficiency"],
                          spans=[[s] for s in chosen])
        for metric, result in scores.items():
            stats[f"{metric}/{name}"] = result.value
    print(json.dumps(stats, indent=1))
    print(f"\nmisclassified ({args.data}), top span in [brackets]:")
    wrong = [(e, ex) for e, ex in zip(se, data) if e.predicted.index != ex.label][:args.errors]
    for e, ex in wrong:
        s = e.spans[0]
        print(f"- gold {data.labels[ex.label]}, predicted {e.predicted.name} "
              f"(alpha {s.score:.2f}): {e.text[:s.start]}[{s.text}]{e.text[s.end:]}")


if __name__ == "__main__":
    main()
