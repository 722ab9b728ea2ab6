"""Information analysis 6: word attributes (poster, "fine-grained analysis") on SST-2 dev.

    nice -n 10 python benchmarks/information_attributes.py [--model tiny-sst2] [--n 64]

Fits the first ``--n`` SST-2 dev sentences for every layer (embeddings, layer
1..L; target: the whole layer) and computes, from each word's learned Gaussian
p(x' | s) = N(x_i, sigma_i^2 I), the attributes of
:func:`depthlens.information.attribute_terms` against the whole embedding table
as the random words X_i:

- A_i = log p(x_i | s) - E log p(x' | s): how much better s identifies the word
  itself than a random word (nats);
- A_c for two VADER concepts, c = positive words (valence >= 1.5) and negative
  words (valence <= -1.5), single word pieces only: how much more likely s makes
  a word of the concept than a random word;
- r_ic = A_i - A_c: what s knows about the word beyond its concept.

Words are grouped as VADER-positive, VADER-negative (same thresholds, so they are
members of a concept) and function words (scikit-learn's English stop words);
the table is the mean per group and layer. A layer that keeps "this is a
positive word" but not which one gives a positive word a large A_c(positive)
and a small r_ic. With one sigma per word (the default) A_i and A_c both scale
as 1 / sigma_i^2, so A_c / A_i is fixed by the embedding geometry and only
``--per-dimension`` can show a layer keeping the concept more than the word.
Writes a JSON file next to the other information results.
"""
from __future__ import annotations

import argparse
from collections import defaultdict

import numpy as np
import torch

from depthlens.api import load_model
from depthlens.data import sst_tree_dataset
from depthlens.data.lexicons import vader_lexicon
from depthlens.information import FitSettings, concept_embeddings, fit_information, word_attributes

from information_common import single_thread, write_results

POLAR = 1.5  # |VADER valence| for a concept word
BUCKET = 16


def concepts(adapter) -> dict[str, torch.Tensor]:
    """{'positive': (n+, D), 'negative': (n-, D)} embeddings of VADER's polar single-piece words."""
    vader = vader_lexicon()
    if not vader:
        raise SystemExit("vaderSentiment is not installed: pip install vadersentiment")
    return {"positive": concept_embeddings(adapter, [w for w, v in vader.items() if v >= POLAR]),
            "negative": concept_embeddings(adapter, [w for w, v in vader.items() if v <= -POLAR])}


def group_of(word: str, vader: dict[str, float], stop: frozenset) -> str | None:
    value = vader.get(word.lower(), 0.0)
    if value >= POLAR:
        return "vader positive"
    if value <= -POLAR:
        return "vader negative"
    return "function" if word.lower() in stop else None


def attributes_by_group(adapter, texts: list[str], layers: list[int], settings: FitSettings,
                        seed: int = 0) -> tuple[dict, list[str]]:
    """Mean A_i, A_c(+), A_c(-), r_ic(+), r_ic(-) per word group and layer.

    Only single-piece words are counted (a word's attributes are those of its one token).
    Returns ({group: {"words": n, attribute: [per layer]}}, row names).
    """
    from sklearn.feature_extraction.text import ENGLISH_STOP_WORDS

    vader, concept = vader_lexicon(), concepts(adapter)
    reference = adapter.word_embeddings().weight.detach()
    sums: dict[str, dict[str, list[np.ndarray]]] = defaultdict(lambda: defaultdict(list))
    batch = adapter.encode(texts, truncate=True)
    order = sorted(range(len(texts)), key=lambda i: batch.lengths[i])
    rows = []
    for start in range(0, len(order), BUCKET):
        sub = batch.select(order[start:start + BUCKET])
        fit = fit_information(adapter, sub, layers, seed=seed, settings=settings)
        rows = fit.rows
        terms = {c: word_attributes(fit, emb, reference) for c, emb in concept.items()}
        for j in range(len(sub)):
            words = sub.word_ids[j]
            for t, w in enumerate(words):
                if w is None or words.count(w) != 1:
                    continue
                a, b = sub.offsets[j][t]
                group = group_of(sub.texts[j][a:b], vader, ENGLISH_STOP_WORDS)
                if group is None:
                    continue
                cell = sums[group]
                cell["A_i"].append(terms["positive"]["A_i"][j, :, t].numpy())
                for c in concept:
                    cell[f"A_c({c})"].append(terms[c]["A_c"][j, :, t].numpy())
                    cell[f"r_ic({c})"].append(terms[c]["r_ic"][j, :, t].numpy())
    table = {g: {"words": len(v["A_i"]), **{k: np.mean(x, 0).tolist() for k, x in v.items()}}
             for g, v in sorted(sums.items())}
    return table, rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="tiny-sst2")
    parser.add_argument("--n", type=int, default=64)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--per-dimension", action="store_true",
                        help="one sigma per embedding dimension (with one sigma per word, "
                             "A_c / A_i does not depend on the layer: both scale as 1/sigma^2)")
    args = parser.parse_args()
    single_thread()
    adapter = load_model(args.model)
    texts = [ex.text for ex in sst_tree_dataset("dev", binary=True).examples[:args.n]]
    layers = list(range(adapter.num_layers + 1))
    settings = FitSettings(per_dimension=args.per_dimension)
    table, rows = attributes_by_group(adapter, texts, layers, settings, args.seed)
    suffix = "-perdim" if args.per_dimension else ""
    print(f"{args.model}{suffix}: {len(texts)} SST-2 dev sentences; mean word attributes (nats)")
    print(f"{'group':16s} {'words':>5s} {'attribute':14s} " + " ".join(f"{r:>10s}" for r in rows))
    for group, row in table.items():
        for name, values in row.items():
            if name != "words":
                print(f"{group:16s} {row['words']:5d} {name:14s} "
                      + " ".join(f"{v:10.2f}" for v in values))
    print("wrote", write_results(f"attributes-{args.model}{suffix}",
                                 {"model": args.model, "sentences": len(texts), "layers": rows,
                                  "polar": POLAR, "per_dimension": args.per_dimension,
                                  "groups": table}))


if __name__ == "__main__":
    main()
