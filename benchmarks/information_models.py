"""Information analyses 3 and 4: across models and across training epochs (SST-2).

    nice -n 10 python benchmarks/information_models.py [--epochs 3] [--n 60] \
        [--train sst2:train] [--archs lstm cnn transformer] [--defaults tiny-sst2]

For each built-in architecture (LSTM, CNN, Transformer; 2 layers, 128-d,
depthlens defaults) trains a classifier on the ``--train`` dataset spec one
epoch at a time (epoch e = e successive one-epoch ``train_classifier`` runs with
the built-in learning rate, i.e. ``depthlens train --model <epoch e-1 dir>
--epochs 1``; each epoch's model is saved under
~/.cache/depthlens/information/models/<arch>-<train>-epoch<e>) and after every
epoch measures SST-2 dev accuracy and, on the first ``--n`` SST-2 dev trees, the
information kept at every layer by word group (as information_layers.py). The
default models named by ``--defaults`` are measured once.

The summary is the contrast at the last layer: kept information of sentiment
words (SST phrase label) minus neutral words, and of content minus function
words (nats per word piece): how much more of the useful words a model keeps.
Writes a JSON file and a figure of the contrasts per epoch.
"""
from __future__ import annotations

import argparse
import time

from depthlens.api import load_model
from depthlens.data import load, sst_tree_dataset
from depthlens.information import FitSettings
from depthlens.models.defaults import DEFAULT_MODELS
from depthlens.models.loading import load_directory
from depthlens.models.small import build_small
from depthlens.training import SMALL_LR, accuracy, train_classifier

from information_common import WORK, single_thread, write_results
from information_layers import kept_by_group, print_table

ARCHS = ("lstm", "cnn", "transformer")
CONTRASTS = {"sentiment - neutral": ("sst:sentiment", "sst:neutral"),
             "content - function": ("class:content", "class:function")}


def measure(adapter, examples, dev, settings: FitSettings) -> dict:
    """Dev accuracy, the kept-information table and the last layer's contrasts."""
    layers = list(range(adapter.num_layers + 1))
    table, result, _ = kept_by_group(adapter, examples, layers, settings)
    print_table(table, result.rows)
    contrasts = {name: table[a]["kept"][-1] - table[b]["kept"][-1]
                 for name, (a, b) in CONTRASTS.items()}
    return {"accuracy": accuracy(adapter, dev), "layers": result.rows, "groups": table,
            "contrasts": contrasts}


def epochs_of(arch: str, epochs: int, train, tag: str, seed: int):
    """Yield (epoch, adapter) for epochs 1..``epochs``, training (or loading) each in turn;
    ``tag`` names the training data in the model directories."""
    adapter = build_small(arch, list(train.labels), seed=seed)
    for epoch in range(1, epochs + 1):
        directory = WORK / "models" / f"{arch}-{tag}-epoch{epoch}"
        if directory.is_dir():
            adapter = load_directory(directory, name=directory.name)
        else:
            done = train_classifier(adapter, train, directory, epochs=1, lr=SMALL_LR,
                                    seed=seed + epoch, progress=False)
            print(f"trained {arch} epoch {epoch} in {done.seconds:.0f} s wall", flush=True)
        yield epoch, adapter


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--n", type=int, default=60)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--train", default="sst2:train", help="training dataset spec")
    parser.add_argument("--archs", nargs="+", default=list(ARCHS), choices=ARCHS)
    parser.add_argument("--defaults", nargs="*", default=[], choices=list(DEFAULT_MODELS),
                        help="default models to measure as well")
    args = parser.parse_args()
    single_thread()
    train, dev = load(args.train), load("sst2:dev")
    tag = args.train.replace(":", "-").replace("~", "")
    examples = sst_tree_dataset("dev", binary=True).examples[:args.n]
    settings = FitSettings()
    results: dict = {"sentences": len(examples), "lam": settings.lam, "train": args.train,
                     "models": {}}
    name = f"models-{tag}-{'-'.join(args.archs)}"

    def record(key: str, adapter) -> None:
        """Measure one model, print its summary and rewrite the result files."""
        print(f"== {key}", flush=True)
        tic = time.process_time()
        r = results["models"][key] = measure(adapter, examples, dev, settings)
        print(f"{key}: dev accuracy {r['accuracy']:.3f}; last layer "
              + ", ".join(f"{c} {v:.1f}" for c, v in r["contrasts"].items())
              + f" nats; measured in {time.process_time() - tic:.0f} CPU s", flush=True)
        write_results(name, results)
        plot(results["models"], args.archs, WORK / f"{name}.png")

    for arch in args.archs:
        for epoch, adapter in epochs_of(arch, args.epochs, train, tag, args.seed):
            record(f"{arch}-epoch{epoch}", adapter)
    for default in args.defaults:
        record(default, load_model(default))
    print(f"\n{'model':22s} {'dev acc':>8s} " + " ".join(f"{c:>20s}" for c in CONTRASTS))
    for key, r in results["models"].items():
        print(f"{key:22s} {r['accuracy']:8.3f} "
              + " ".join(f"{r['contrasts'][c]:20.1f}" for c in CONTRASTS))
    print("wrote", WORK / f"{name}.json")


def plot(models: dict, archs: list[str], path) -> None:
    """Last-layer contrasts per epoch (those measured so far), one line per architecture and
    contrast."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, len(CONTRASTS), figsize=(9, 3.5))
    for ax, contrast in zip(axes, CONTRASTS):
        for arch in archs:
            epochs = [e for e in range(1, len(models) + 1) if f"{arch}-epoch{e}" in models]
            values = [models[f"{arch}-epoch{e}"]["contrasts"][contrast] for e in epochs]
            ax.plot(epochs, values, marker="o", label=arch)
        ax.set_title(f"last layer: {contrast} (nats)")
        ax.set_xlabel("epoch")
        ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


if __name__ == "__main__":
    main()
