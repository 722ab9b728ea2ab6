"""Information analysis 2: information kept per layer on SST-2 dev, by kind of word.

    nice -n 10 python benchmarks/information_layers.py [--model tiny-sst2] [--n 200]

Fits every sentence of the first ``--n`` SST-2 dev trees (binary, from the
phrase trees) for every layer (embeddings, layer 1..L; target: the whole
layer) with corpus_information, averages the kept information over each SST
token's word pieces (nats per word piece) and then per layer over groups of
words:

- SST sentiment label of the token: 'sentiment' if a phrase of <= 3 tokens
  containing it is strongly polar (label 0 or 4), else 'neutral'
  (data.token_sentiment_reference);
- Hu & Liu lexicon polarity: 'positive', 'negative' or 'not in lexicon';
- function words (scikit-learn's English stop words, and punctuation) vs content words;
- universal POS tag (spaCy's small English model on the SST tokens, the ``pos`` extra).

Also prints corpus MI(X; S) per token per layer and the words that lose the
most information between the embeddings and layer 1, writes a JSON file and a
figure (kept information per layer per group) next to it.
"""
from __future__ import annotations

import argparse
import string
from collections import defaultdict

import numpy as np

from depthlens.api import load_model
from depthlens.data import sentiment_lexicon, sst_tree_dataset
from depthlens.evaluation.by_pos import spacy_tags
from depthlens.information import FitSettings, corpus_information

from information_common import WORK, single_thread, write_results


def word_kept(kept: np.ndarray, offsets, word_ids, spans) -> np.ndarray:
    """Kept information per SST token (R, n_words): the mean over its word pieces (a word's
    information is their sum; the mean keeps words split into many pieces comparable)."""
    out, pieces = np.zeros((kept.shape[0], len(spans))), np.zeros(len(spans))
    for j, ((a, _), w) in enumerate(zip(offsets, word_ids)):
        if w is None:
            continue
        k = next(i for i, (s, e) in enumerate(spans) if s <= a < e)
        out[:, k] += kept[:, j]
        pieces[k] += 1
    return out / np.maximum(pieces, 1)


def groups_of(token: str, tag: str, rationale: int, lexicon: dict[str, int],
              stop: frozenset) -> dict:
    lower = token.lower()
    polarity = {1: "positive", -1: "negative"}.get(lexicon.get(lower, 0), "not in lexicon")
    function = lower in stop or all(c in string.punctuation for c in lower)
    return {"sst": "sentiment" if rationale else "neutral", "lexicon": polarity,
            "class": "function" if function else "content", "pos": tag}


def kept_by_group(adapter, examples, layers: list[int], settings: FitSettings, seed: int = 0):
    """Fit ``examples`` (SST trees) and average kept information per layer over word groups.

    Returns (table {"family:group": {"words", "kept": [per layer]}}, the
    CorpusInformation, {word: [loss from state 0 to the next state, per occurrence]}).
    """
    from sklearn.feature_extraction.text import ENGLISH_STOP_WORDS

    texts = [ex.text for ex in examples]
    result = corpus_information(adapter, texts, layers, seed=seed, settings=settings,
                                progress=True)
    batch = adapter.encode(texts, truncate=True)
    lexicon = sentiment_lexicon()
    sums: dict[tuple[str, str], list[np.ndarray]] = defaultdict(list)
    drops: dict[str, list[float]] = defaultdict(list)
    for i, ex in enumerate(examples):
        kept = word_kept(result.kept[i], batch.offsets[i], batch.word_ids[i], ex.meta["char_spans"])
        tags = spacy_tags(ex.meta["tokens"])
        for k, token in enumerate(ex.meta["tokens"]):
            for family, group in groups_of(token, tags[k], ex.meta["rationale"][k], lexicon,
                                           ENGLISH_STOP_WORDS).items():
                sums[(family, group)].append(kept[:, k])
            drops[token.lower()].append(float(kept[0, k] - kept[min(1, len(layers) - 1), k]))
    table = {f"{family}:{group}": {"words": len(v), "kept": np.mean(v, 0).tolist()}
             for (family, group), v in sorted(sums.items())}
    return table, result, drops


def print_table(table: dict, rows: list[str]) -> None:
    print(f"{'group':28s} {'words':>6s} " + " ".join(f"{r:>11s}" for r in rows))
    for name, row in table.items():
        print(f"{name:28s} {row['words']:6d} " + " ".join(f"{v:11.1f}" for v in row["kept"]))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="tiny-sst2")
    parser.add_argument("--n", type=int, default=200)
    parser.add_argument("--lam", type=float, default=FitSettings.lam)
    parser.add_argument("--per-dimension", action="store_true")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    single_thread()
    adapter = load_model(args.model)
    examples = sst_tree_dataset("dev", binary=True).examples[:args.n]
    layers = list(range(adapter.num_layers + 1))
    settings = FitSettings(lam=args.lam, per_dimension=args.per_dimension)
    table, result, drops = kept_by_group(adapter, examples, layers, settings, args.seed)
    frequent = {w: np.mean(d) for w, d in drops.items() if len(d) >= 5}
    most = sorted(frequent, key=frequent.get, reverse=True)[:15]
    results = {"model": args.model, "sentences": len(examples), "layers": result.rows,
               "lam": args.lam, "per_dimension": args.per_dimension,
               "h_x_token": result.h_x_token, "mi_token": result.mi_token.tolist(),
               "conditional_token": result.conditional_token.tolist(),
               "steps_mean": float(np.mean(np.concatenate(result.steps))),
               "groups": table, "most_discarded_by_layer_1": {w: frequent[w] for w in most}}
    print(f"{args.model}: {len(examples)} SST-2 dev sentences; kept information per word piece "
          f"(nats)")
    print_table(table, result.rows)
    print(f"{'MI(X;S) per token':35s} " + " ".join(f"{v:11.1f}" for v in result.mi_token))
    print("most information lost from embeddings to layer 1:",
          ", ".join(f"{w} ({frequent[w]:.0f})" for w in most))
    suffix = "-perdim" if args.per_dimension else ""
    print("wrote", write_results(f"layers-{args.model}{suffix}", results))
    plot(table, result.rows, WORK / f"layers-{args.model}{suffix}.png", f"{args.model}: SST-2 dev")


def plot(table: dict, rows: list[str], path, title: str, min_words: int = 30) -> None:
    """Kept information per layer, one line per word group (left) and per POS tag with at least
    ``min_words`` words (right), saved to ``path``."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(11, 4), sharey=True)
    for ax in axes:
        ax.set_prop_cycle(color=plt.cm.tab20.colors)
    for name, row in table.items():
        is_pos = name.startswith("pos:")
        if is_pos and row["words"] < min_words:
            continue
        ax = axes[1] if is_pos else axes[0]
        ax.plot(range(len(rows)), row["kept"], marker="o", label=name.removeprefix("pos:"))
    for ax, panel in zip(axes, ("word groups", f"POS tags (>= {min_words} words)")):
        ax.set_xticks(range(len(rows)), rows)
        ax.set_title(f"{title}: {panel}")
        ax.legend(fontsize=7, ncol=2)
    axes[0].set_ylabel("information kept per word piece (nats)")
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    print("figure", path)


if __name__ == "__main__":
    main()
