"""Span faithfulness protocol (paper section 4, Table 4) on SST-2 / SST-5.

Each extraction method turns every train/dev/test text into one span (its
rationale), giving rationale datasets D'. Then, for each method:

* FullTrain-SpanTest: the plain model trained on the full train set (--plain),
  tested on D'_test;
* SpanTrain-FullTest / SpanTrain-SpanTest: a fresh plain classifier of
  --encoder trained on D'_train (same recipe and seed), tested on D_test / D'_test.

Methods: self_explaining (top-alpha span of --self-explaining); avg_gradient and
avg_attention (plain model's word saliency |d p(y)/d e|_1 for the *predicted*
label y, so no gold label leaks into test rationales, or its last-layer [CLS]
attention, best mean window); random (seed 0); rationale (Lei et al. 2016:
a generator (--encoder) and a classifier reading its rationales (initialised
from --plain) trained jointly with REINFORCE on the train split, see
depthlens.self_explaining.rationale; the best mean window of the generator's
word selection probabilities; --rationale DIR saves / reuses it). The four
baselines are length-matched: their window has as many words as the
self-explaining span of the same text. Results go to --out as JSON lines.

    nice -n 10 python benchmarks/self_explaining_protocol.py --data sst2 \
        --self-explaining DIR --plain DIR --encoder tiny
    python benchmarks/self_explaining_protocol.py --summary     # Table 4 from --out
"""
from __future__ import annotations

import argparse
import random
from pathlib import Path

import torch

from self_explaining_common import (append_jsonl, build, fit, rationale_model, read_jsonl,
                                    recipe)

from depthlens.api import explain_many
from depthlens.data import load
from depthlens.models.loading import load_model
from depthlens.self_explaining import load_self_explaining
from depthlens.self_explaining.protocol import (avg_saliency_span, cls_attention_scores,
                                                random_span, rationale_dataset,
                                                self_explaining_spans, span_width)
from depthlens.self_explaining.rationale import rationale_spans
from depthlens.training import accuracy

METHODS = ("self_explaining", "avg_gradient", "avg_attention", "random", "rationale")
OUT = Path(__file__).parent / "self_explaining_results" / "protocol.jsonl"


def extract(dataset, se_model, plain, rng, methods=METHODS, rationale=None) -> dict[str, list]:
    """Per method of ``methods``, one span per example of ``dataset`` (``rationale``: the
    trained Rationale model, needed for method 'rationale')."""
    texts = dataset.texts
    se = self_explaining_spans(se_model, texts)
    grads = explain_many(plain, texts, "gradient", norm="l1", output="probability",
                         truncate=True, batch_size=32)
    widths = [span_width(span, exp) for span, exp in zip(se, grads)]
    spans = {"self_explaining": se,
             "avg_gradient": [avg_saliency_span(e, w) for e, w in zip(grads, widths)]}
    if "avg_attention" in methods:
        spans["avg_attention"] = [avg_saliency_span(e, w, cls_attention_scores(plain, e))
                                  for e, w in zip(grads, widths)]
    if "random" in methods:
        spans["random"] = [random_span(e, w, rng) for e, w in zip(grads, widths)]
    if "rationale" in methods:
        spans["rationale"] = rationale_spans(rationale, texts, widths)
    return spans


def summary(path: Path) -> str:
    """Table 4 (accuracy in %) from the JSON lines in ``path``, one row per run and method."""
    lines = ["| data | self-explaining model | method | words / test rationale | F-S | S-F | S-S |",
             "|---|---|---|---|---|---|---|"]
    for r in read_jsonl(path):
        cells = " | ".join(f"{100 * r[k]:.1f}" for k in (
            "full_train_span_test", "span_train_full_test", "span_train_span_test"))
        lines.append(f"| {r['data']} | {Path(r['self_explaining']).name} | {r['method']} | "
                     f"{r['test_words_per_rationale']:.1f} | {cells} |")
    return "\n".join(lines)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--data", choices=["sst2", "sst5"], default="sst2")
    p.add_argument("--self-explaining", help="trained self-explaining model directory")
    p.add_argument("--plain", help="trained plain classifier directory")
    p.add_argument("--encoder", choices=["tiny", "minilm"], default="tiny",
                   help="encoder of the SpanTrain classifiers")
    p.add_argument("--methods", nargs="+", choices=METHODS, default=list(METHODS))
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--rationale", help="Rationale model directory: loaded if it holds one, "
                   "else trained on the train split and saved there (default: not saved)")
    p.add_argument("--rationale-lam1", type=float, help="cost per selected word (default 0.02)")
    p.add_argument("--rationale-lam2", type=float, help="cost per transition (default 0.04)")
    p.add_argument("--rationale-epochs", type=int, default=0,
                   help="override the encoder recipe's epochs for the Rationale model")
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--out", type=Path, default=OUT)
    p.add_argument("--summary", action="store_true", help="print Table 4 from --out and exit")
    args = p.parse_args()
    if args.summary:
        print(summary(args.out))
        return
    if not (args.self_explaining and args.plain):
        p.error("--self-explaining and --plain are required (or --summary)")
    torch.set_num_threads(args.threads)
    full = {s: load(f"{args.data}:{s}") for s in ("train", "dev", "test")}
    se_model, plain = load_self_explaining(args.self_explaining), load_model(args.plain)
    rationale, rationale_info = None, {}
    if "rationale" in args.methods:
        rationale, seconds = rationale_model(args.rationale, args.encoder, full["train"], args.seed,
                                             init=args.plain, dev=full["dev"],
                                             lam1=args.rationale_lam1, lam2=args.rationale_lam2,
                                             epochs=args.rationale_epochs)
        rationale_info = {"rationale": args.rationale, "rationale_init": args.plain,
                          "rationale_lam1": rationale.lam1,
                          "rationale_lam2": rationale.lam2, "rationale_seed": rationale.seed,
                          "rationale_train_seconds": round(seconds, 1),
                          "rationale_history": rationale.history}
    rng = random.Random(0)
    spans = {s: extract(full[s], se_model, plain, rng, args.methods, rationale) for s in full}
    settings = recipe(args.encoder)
    for m in args.methods:
        part = {s: rationale_dataset(full[s], spans[s][m]) for s in full}
        words = sum(len(e.text.split()) for e in part["test"]) / len(part["test"])
        print(f"== {m}: {words:.1f} words per test rationale", flush=True)
        span_model = build(args.encoder, "plain", part["train"], args.seed)
        history = fit(span_model, part["train"], dev=part["dev"], seed=args.seed, **settings)
        row = {"data": args.data, "method": m, "encoder": args.encoder, "seed": args.seed,
               "self_explaining": args.self_explaining, "plain": args.plain,
               "test_words_per_rationale": words,
               "full_train_span_test": accuracy(plain, part["test"]),
               "span_train_full_test": accuracy(span_model, full["test"]),
               "span_train_span_test": accuracy(span_model, part["test"]),
               "span_train_dev_history": history,
               "examples": [s.text for s in spans["test"][m][:5]],
               **(rationale_info if m == "rationale" else {})}
        print(row, flush=True)
        append_jsonl(args.out, row)


if __name__ == "__main__":
    main()
