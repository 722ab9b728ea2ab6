"""ERASER movies (paper Table 3): IOU F1 and token F1 of extracted spans vs human rationales.

There is no ERASER movies train split here, so the models are SST-2
classifiers (same domain: movie reviews) trained by
self_explaining_accuracy.py --save-dir. Reviews (~760 words) are cut into
chunks of --lines consecutive sentences (the documents have one sentence per
line; ~33 lines per review, so 3 lines give ~11 chunks, close to the ~10.6
gold spans per review) and one span is extracted per chunk:

* self_explaining: the top-alpha span of the self-explaining model;
* avg_gradient: the window with the largest mean word saliency |d p(y)/d e|_1
  (gradient, norm l1, output probability, y = the gold label) of the plain
  model, with the same number of words as the self-explaining span of that
  chunk (length-matched; unmatched, the best window is always one word);
* avg_attention: the same with last-layer [CLS] attention of the plain model;
* random: a random window of the same number of words (seed 0);
* rationale (with --rationale DIR, a Rationale model of Lei et al. 2016 saved
  by self_explaining_protocol.py --data sst2 --rationale DIR): the window of the
  same number of words with the largest mean generator selection probability.

Scores are computed per review on whitespace tokens and averaged.

    nice -n 10 python benchmarks/self_explaining_eraser.py \
        --self-explaining DIR --plain DIR [--limit 200]
"""
from __future__ import annotations

import argparse
import json
import random
import statistics

import torch

from depthlens.api import explain_many
from depthlens.data import load
from depthlens.models.loading import load_model
from depthlens.self_explaining import load_self_explaining
from depthlens.self_explaining.protocol import (avg_saliency_span, cls_attention_scores,
                                                rationale_scores, random_span,
                                                self_explaining_spans, span_width)
from depthlens.self_explaining.rationale import load_rationale, rationale_spans

METHODS = ("self_explaining", "avg_gradient", "avg_attention", "random")


def chunks(text: str, lines: int) -> list[tuple[int, str]]:
    """(character offset, chunk text) of groups of ``lines`` consecutive non-empty lines."""
    found, pos = [], 0
    for line in text.split("\n"):
        if line.strip():
            found.append((pos, line))
        pos += len(line) + 1
    groups = [found[i:i + lines] for i in range(0, len(found), lines)]
    return [(g[0][0], text[g[0][0]:g[-1][0] + len(g[-1][1])]) for g in groups]


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--self-explaining", required=True, help="trained self-explaining model dir")
    p.add_argument("--plain", required=True, help="trained plain classifier dir (same encoder)")
    p.add_argument("--lines", type=int, default=3)
    p.add_argument("--limit", type=int, default=0, help="first N reviews only")
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--out", help="write per-review scores as JSON lines")
    p.add_argument("--rationale", help="also score this saved Rationale model (Lei et al. 2016)")
    args = p.parse_args()
    torch.set_num_threads(args.threads)
    data = load("eraser_movies:test")
    docs = data.examples[:args.limit] if args.limit else data.examples
    se_model, plain = load_self_explaining(args.self_explaining), load_model(args.plain)
    rationale = load_rationale(args.rationale) if args.rationale else None
    methods = METHODS + ("rationale",) if rationale else METHODS
    rng = random.Random(0)
    results = {m: [] for m in methods}
    for n, doc in enumerate(docs):
        parts = chunks(doc.text, args.lines)
        texts = [t for _, t in parts]
        se_spans = self_explaining_spans(se_model, texts)
        grads = explain_many(plain, texts, "gradient", targets=doc.label, norm="l1",
                             output="probability", truncate=True)
        widths = [span_width(span, exp) for span, exp in zip(se_spans, grads)]
        rationales = rationale_spans(rationale, texts, widths) if rationale else None
        picked = {m: [] for m in methods}
        for i, ((offset, _), span, exp) in enumerate(zip(parts, se_spans, grads)):
            width = widths[i]
            found = {"self_explaining": span, "avg_gradient": avg_saliency_span(exp, width),
                     "avg_attention": avg_saliency_span(exp, width, cls_attention_scores(plain, exp)),
                     "random": random_span(exp, width, rng)}
            if rationales:
                found["rationale"] = rationales[i]
            for m, s in found.items():
                picked[m].append((offset + s.start, offset + s.end))
        for m in methods:
            results[m].append(rationale_scores(doc.text, picked[m], doc.meta["rationale_spans"]))
        if args.out:
            with open(args.out, "a", encoding="utf-8") as handle:
                handle.write(json.dumps({"id": doc.id, "spans": picked,
                                         "scores": {m: results[m][-1] for m in methods}}) + "\n")
        print(f"{n + 1}/{len(docs)} " + " ".join(
            f"{m} {statistics.mean(r['iou_f1'] for r in results[m]):.3f}/"
            f"{statistics.mean(r['token_f1'] for r in results[m]):.3f}" for m in methods),
            flush=True)
    print("| method | IOU F1 | token F1 | predicted tokens / review |\n|---|---|---|---|")
    for m in methods:
        rows = results[m]
        print(f"| {m} | {statistics.mean(r['iou_f1'] for r in rows):.3f} | "
              f"{statistics.mean(r['token_f1'] for r in rows):.3f} | "
              f"{statistics.mean(r['predicted_tokens'] for r in rows):.0f} |")


if __name__ == "__main__":
    main()
