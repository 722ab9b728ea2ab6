"""Reproduction 1 of DiffMask (sec. 4.1, Table 1 and figure 3e): the "more n than m" toy task.

    nice -n 10 python benchmarks/diffmask_toy.py [--seed 0] [--probe-epochs 30] [--margin 0.2]
        [--input-layers 0,1 --input-lr 0.01 --input-margin 0.05]
        [--input-warmup-steps 2000 --input-warmup-keep 0.1 --input-warmup-lr 0.05]
        [--input-freeze-baseline] [--input-scorer mlp] [--hidden-warmup-steps ... (same options)]
        [--figure-3e-only]

Trains (once, cached under ~/.cache/depthlens/diffmask/) the paper's model,
fits DiffMask probes on the 9k training examples (hidden gates of state 1 at
depth 1 only; input gates voted by states 0 and 1, at the depths
``--input-layers``, with their own lr and margin, optionally after warming
up their baseline on random masks, ``--input-warmup-steps``), then on the
1k validation examples compares attributions to the feed-forward states
(state 1) with the ground truth, uniform over the digit positions holding n or
m: DiffMask hidden gates, integrated gradients at state 1 (|IG|, zero
baseline), exact erasure search at state 1 (the smallest kept set that
preserves the prediction, replaced states set to DiffMask's learned baseline)
and Guan et al.'s information measure with noise on state 1 (information kept
by the GRU's last state, :mod:`diffmask_guan`; first ``--guan-n`` examples).
Prints Table 1 and figure 3e's keep probabilities and writes a JSON file.
Also measures the "ideal" input mask of figure 3e (keep the query and the n/m
digits, replace every other digit) with three baselines, to show what the
input probe would have to find (:func:`ideal_input_mask`).
"""
from __future__ import annotations

import argparse
import math
import time

import torch

import depthlens
import depthlens.methods.diffmask  # noqa: F401
import depthlens.methods.integrated_gradients  # noqa: F401
from depthlens.diffmask.search import exact_search
from depthlens.diffmask.toy import CONFIG_FILE, QUERY, ToyAdapter, toy_data, train_toy
from depthlens.training import accuracy

from diffmask_guan import guan_hidden_kept
from diffmask_common import WORK, js, kept_under_masking, kl, normalise, probe_for, write_results

FF = 1  # the feed-forward (bottleneck) state


def toy_model(seed: int) -> tuple[ToyAdapter, float]:
    directory = WORK / f"toy-model-s{seed}"
    if (directory / CONFIG_FILE).is_file():
        adapter = ToyAdapter.load(directory)
        return adapter, accuracy(adapter, toy_data(seed=seed)[1])
    return train_toy(directory, seed=seed)


def divergences(truths, attributions) -> dict:
    """Mean KL(truth || attribution) and JS over examples; KL is inf if any example's is.

    Both are distributions over the digit positions (the query is a side input).
    """
    kls, jss = [], []
    for truth, attr in zip(truths, attributions):
        p, q = normalise(truth[QUERY:]), normalise(attr[QUERY:])
        kls.append(kl(p, q))
        jss.append(js(p, q))
    return {"kl": sum(kls) / len(kls), "js": sum(jss) / len(jss),
            "kl_infinite": sum(math.isinf(k) for k in kls)}


def table_1(adapter, dev, hidden_probe, guan_n: int) -> dict:
    examples = [ex for ex in dev.examples if sum(ex.meta["hidden_truth"]) > 0]
    texts = [ex.text for ex in examples]
    truths = [torch.tensor(ex.meta["hidden_truth"]) for ex in examples]
    rows, seconds = {}, {}
    tic = time.perf_counter()
    dm = depthlens.explain_many(adapter, texts, "diffmask", probe=hidden_probe, batch_size=256)
    seconds["diffmask"] = time.perf_counter() - tic
    rows["DiffMask (hidden gates)"] = [torch.tensor(e.scores[FF]) for e in dm]
    tic = time.perf_counter()
    ig = depthlens.explain_many(adapter, texts, "integrated_gradients", layer=str(FF),
                                baseline="zero", batch_size=64)
    seconds["integrated_gradients"] = time.perf_counter() - tic
    rows["Integrated gradients (|IG|)"] = [torch.tensor(e.scores[0]).abs() for e in ig]
    tic = time.perf_counter()
    batch = adapter.encode(texts)
    search = exact_search(adapter, batch, hidden_probe.baselines[FF].detach(), layer=FF)
    seconds["erasure"] = time.perf_counter() - tic
    rows["Erasure (exact search)"] = [r.attribution() for r in search]
    tic = time.perf_counter()
    guan, table_guan = guan_hidden_kept(adapter, texts[:guan_n])
    seconds["guan"] = time.perf_counter() - tic
    table = {name: divergences(truths, attrs) for name, attrs in rows.items()}
    table[f"Guan et al. (kept, first {guan_n})"] = {**divergences(truths, guan), **table_guan}
    table[f"DiffMask (hidden gates, first {guan_n})"] = divergences(
        truths, rows["DiffMask (hidden gates)"][:guan_n])
    table["_n_examples"] = len(examples)
    table["_erasure_mean_kept"] = sum(r.size for r in search) / len(search)
    table["_erasure_mean_truth"] = sum(float(t.sum()) for t in truths) / len(truths)
    table["_seconds"] = seconds
    return table


def figure_3e(adapter, dev, input_probe) -> dict:
    """Mean keep probability of each token kind as seen from each layer (input gates)."""
    kinds = {"query n/m": [], "separator |": [], "digit = n or m": [], "other digit": []}
    exps = depthlens.explain_many(adapter, dev.texts, "diffmask", probe=input_probe,
                                  batch_size=256)
    for ex, exp in zip(dev.examples, exps):
        truth = ex.meta["hidden_truth"]
        for j in range(len(exp.tokens)):
            kind = ("query n/m" if j < 2 else "separator |" if j == 2
                    else "digit = n or m" if truth[j] else "other digit")
            kinds[kind].append(exp.scores[:, j])
    return {kind: [float(sum(v[l] for v in vals) / len(vals)) for l in range(3)]
            for kind, vals in kinds.items()}


def ideal_input_mask(adapter, dev, input_probe, steps: int = 150) -> dict:
    """KL(y || y_hat) and agreement when every digit that is not n or m is replaced at the
    input by a baseline b: the mean digit embedding, the probe's learned b, and a b
    optimised for this very mask (Adam 0.05, ``steps`` full-batch steps, on the validation
    set: an upper bound of what any learned baseline can reach)."""
    from depthlens.diffmask.probes import gated_forward

    batch = adapter.encode(dev.texts)
    keep = torch.ones(batch.input_ids.shape)
    for i, ex in enumerate(dev.examples):
        truth = torch.tensor(ex.meta["hidden_truth"][QUERY:])
        keep[i, QUERY:QUERY + len(truth)] = truth
    with torch.no_grad():
        logp = adapter.forward(batch).logits.log_softmax(-1)

    def divergence(b):
        logq = gated_forward(adapter, batch, {None: (keep, b)}).log_softmax(-1)
        agree = float((logq.argmax(-1) == logp.argmax(-1)).float().mean())
        return (logp.exp() * (logp - logq)).sum(-1).mean(), agree

    table = adapter.word_embeddings().weight.detach()
    optimised = table[:10].mean(0).clone().requires_grad_(True)
    optimizer = torch.optim.Adam([optimised], lr=0.05)
    for _ in range(steps):
        loss, _ = divergence(optimised)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    out = {}
    with torch.no_grad():
        for name, b in (("mean digit embedding", table[:10].mean(0)),
                        ("probe's learned baseline", input_probe.baselines[0]),
                        (f"optimised for this mask ({steps} steps)", optimised)):
            kl_value, agree = divergence(b)
            out[name] = {"kl": float(kl_value), "agreement": agree}
    return out


def add_baseline_options(parser: argparse.ArgumentParser, gate: str) -> None:
    """--GATE-warmup-steps/-keep/-lr and --GATE-freeze-baseline for the probe of ``gate``."""
    parser.add_argument(f"--{gate}-warmup-steps", type=int, default=0,
                        help=f"fit the {gate} probe's baseline alone on random masks first "
                             f"(0: off)")
    parser.add_argument(f"--{gate}-warmup-keep", type=float, default=0.5,
                        help="keep probability of each digit in the warm-up's random masks")
    parser.add_argument(f"--{gate}-warmup-lr", type=float, default=None,
                        help="learning rate of the warm-up (default: the probe's lr)")
    parser.add_argument(f"--{gate}-freeze-baseline", action="store_true",
                        help=f"keep the {gate} probe's baseline fixed while its gates are trained")


def baseline_options(args, gate: str) -> tuple[dict, str]:
    """The :func:`depthlens.diffmask.fit` keywords of :func:`add_baseline_options` and a suffix
    of the cache names ('' when all are off, so that earlier caches stay valid)."""
    options, suffix = {}, ""
    steps, lr = getattr(args, f"{gate}_warmup_steps"), getattr(args, f"{gate}_warmup_lr")
    if steps:
        keep = getattr(args, f"{gate}_warmup_keep")
        options.update(baseline_warmup_steps=steps, baseline_warmup_keep=keep,
                       baseline_warmup_lr=lr)
        suffix += f"-w{steps}k{keep}" + (f"lr{lr}" if lr else "")
    if getattr(args, f"{gate}_freeze_baseline"):
        options["freeze_baselines"] = True
        suffix += "-frozen"
    return options, suffix


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--probe-epochs", type=int, default=30)
    parser.add_argument("--lr", type=float, default=3e-2)
    parser.add_argument("--multiplier-lr", type=float, default=0.01)
    parser.add_argument("--margin", type=float, default=0.2)
    parser.add_argument("--input-layers", default="1",
                        help="comma-separated depths the input gates are trained at")
    parser.add_argument("--input-lr", type=float, default=None, help="default: --lr")
    parser.add_argument("--input-margin", type=float, default=None, help="default: --margin")
    parser.add_argument("--input-multiplier-lr", type=float, default=None,
                        help="default: --multiplier-lr")
    parser.add_argument("--input-scorer", choices=("bilinear", "mlp"), default="bilinear",
                        help="gate scorer of the input probe (eq. 8 or the authors' MLP)")
    for gate in ("input", "hidden"):
        add_baseline_options(parser, gate)
    parser.add_argument("--figure-3e-only", action="store_true",
                        help="fit only the input probe; skip the hidden probe and Table 1")
    parser.add_argument("--guan-n", type=int, default=200,
                        help="validation examples for the Guan et al. row (costly)")
    args = parser.parse_args()
    torch.manual_seed(args.seed)
    adapter, dev_accuracy = toy_model(args.seed)
    train, dev = toy_data(seed=args.seed)
    print(f"toy model: validation accuracy {dev_accuracy:.4f}")
    settings = dict(epochs=args.probe_epochs, batch_size=64, lr=args.lr,
                    multiplier_lr=args.multiplier_lr, margin=args.margin, seed=args.seed)
    tag = (f"s{args.seed}-e{args.probe_epochs}-lr{args.lr}-mlr{args.multiplier_lr}"
           f"-m{args.margin}")
    hidden_options, suffix = baseline_options(args, "hidden")
    hidden_settings, tag = {**settings, **hidden_options}, tag + suffix
    input_layers = [int(x) for x in args.input_layers.split(",")]
    input_settings = {**settings, "lr": args.input_lr or args.lr,
                      "margin": args.margin if args.input_margin is None else args.input_margin,
                      "multiplier_lr": args.input_multiplier_lr or args.multiplier_lr}
    input_tag = (f"s{args.seed}-e{args.probe_epochs}-lr{input_settings['lr']}"
                 f"-mlr{input_settings['multiplier_lr']}-m{input_settings['margin']}")
    input_options, suffix = baseline_options(args, "input")
    input_settings.update(input_options)
    if args.input_scorer != "bilinear":
        input_settings["scorer"] = args.input_scorer
        suffix += f"-{args.input_scorer}"
    input_tag += suffix
    probes = {"input": probe_for(adapter, train, "input",
                                 WORK / f"toy-input-l{''.join(map(str, input_layers))}-{input_tag}",
                                 layers=input_layers, **input_settings)}
    if not args.figure_3e_only:
        probes["hidden"] = probe_for(adapter, train, "hidden", WORK / f"toy-hidden-l{FF}-{tag}",
                                     layers=[FF], **hidden_settings)
    results = {"settings": {**hidden_settings, "model_accuracy": dev_accuracy},
               "input_settings": {**input_settings, "layers": input_layers},
               "figure_3e": figure_3e(adapter, dev, probes["input"]),
               "ideal_input_mask": ideal_input_mask(adapter, dev, probes["input"]),
               "masking": {g: kept_under_masking(adapter, dev, p) for g, p in probes.items()},
               "fit": {g: p.info for g, p in probes.items()}}
    if not args.figure_3e_only:
        results["table_1"] = table_1(adapter, dev, probes["hidden"], args.guan_n)
        print("\nTable 1 (state 1, validation): method | KL | JS")
        for name, row in results["table_1"].items():
            if not name.startswith("_"):
                print(f"{name:<30} {row['kl']:.3f} ({row['kl_infinite']} inf) | {row['js']:.3f}")
    print("\nFigure 3e (input gates): keep probability per layer", results["figure_3e"])
    print("ideal input mask (keep query and n/m digits):", results["ideal_input_mask"])
    print("masking:", results["masking"])
    name = f"toy-{'fig3e' if args.figure_3e_only else tag}-input-l{args.input_layers}-{input_tag}"
    print(f"wrote {write_results(name, results)}")


if __name__ == "__main__":
    main()
