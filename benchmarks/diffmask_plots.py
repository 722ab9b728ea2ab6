"""Figures of the DiffMask reproductions, drawn from the JSON files the scripts write.

    python benchmarks/diffmask_plots.py toy RESULTS.json --out docs/figures/diffmask/toy
    python benchmarks/diffmask_plots.py sst RESULTS.json --out docs/figures/diffmask/minilm

toy: figure 3e as bars, the mean keep probability of each token kind at each
depth (input gates). sst: figure 6 ([CLS]/[SEP] keep probability per layer,
input and hidden gates) and figure 8 (mean number of layers keeping a token,
by SST token sentiment and by POS tag).
"""
from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
from matplotlib.figure import Figure

from depthlens.viz.plots import _save

GATES = ("input", "hidden")
SENTIMENTS = ["0 very neg.", "1 neg.", "2 neutral", "3 pos.", "4 very pos."]


def grouped_bars(ax, groups: list[str], series: dict[str, list[float]], ylabel: str) -> None:
    """Bars of every series side by side for each group."""
    width = 0.8 / len(series)
    x = np.arange(len(groups))
    for k, (name, values) in enumerate(series.items()):
        ax.bar(x + (k - (len(series) - 1) / 2) * width, values, width, label=name)
    ax.set_xticks(x, groups, rotation=30, ha="right", fontsize=8)
    ax.set_ylabel(ylabel)
    ax.grid(axis="y", alpha=0.3)
    ax.set_ylim(0, max(max(v) for v in series.values()) * 1.25 or 1)
    ax.legend(fontsize=8, ncol=len(series), loc="upper center")


def toy_figure(results: dict, out: Path) -> list[Path]:
    """Figure 3e: keep probability by token kind, embeddings vs feed-forward (input gates)."""
    kinds = results["figure_3e"]
    fig = Figure(figsize=(6.0, 3.4), dpi=100)
    ax = fig.add_subplot()
    grouped_bars(ax, list(kinds), {name: [kinds[k][depth] for k in kinds] for depth, name in
                                   enumerate(("embeddings (x alone)", "after feed-forward"))},
                 "mean keep probability")
    ax.set_title("toy task, input gates by depth (figure 3e)", fontsize=10)
    return [_save(fig, out.with_name(out.name + "_fig3e.png"))]


def sst_figures(results: dict, out: Path) -> list[Path]:
    """Figure 6 and figure 8 from a diffmask_sst.py result file."""
    model = results["model"]
    fig = Figure(figsize=(6.4, 3.4), dpi=100)
    ax = fig.add_subplot()
    for gate, style in zip(GATES, ("-", "--")):
        for token, values in results[gate]["special_tokens"].items():
            ax.plot(range(len(values)), values, style, marker="o", markersize=3,
                    label=f"{token} ({gate} gates)")
    ax.set(xlabel="layer (0 = embeddings)", ylabel="mean keep probability",
           title=f"{model}: [CLS]/[SEP] keep probability (figure 6)")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    paths = [_save(fig, out.with_name(out.name + "_fig6.png"))]
    fig = Figure(figsize=(10, 3.6), dpi=100)
    by_sentiment, by_pos = fig.add_subplot(1, 2, 1), fig.add_subplot(1, 2, 2)
    labels = [str(k) for k in range(5)]
    grouped_bars(by_sentiment, SENTIMENTS,
                 {g: [results[g]["by_sentiment"][k]["layers_kept"] for k in labels]
                  for g in GATES}, "mean number of layers kept")
    by_sentiment.set_title("by SST token sentiment", fontsize=10)
    tags = sorted(results["input"]["by_pos"], key=lambda t: results["input"]["by_pos"][t]
                  ["layers_kept"])
    grouped_bars(by_pos, tags, {g: [results[g]["by_pos"].get(t, {}).get("layers_kept", 0.0)
                                    for t in tags] for g in GATES}, "mean number of layers kept")
    by_pos.set_title("by POS (spaCy)", fontsize=10)
    fig.suptitle(f"{model}: layers keeping a token (figure 8)", fontsize=10)
    paths.append(_save(fig, out.with_name(out.name + "_fig8.png")))
    return paths


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("kind", choices=("toy", "sst"))
    parser.add_argument("results", type=Path)
    parser.add_argument("--out", type=Path, required=True, help="path prefix of the PNG files")
    args = parser.parse_args()
    results = json.loads(args.results.read_text())
    args.out.parent.mkdir(parents=True, exist_ok=True)
    draw = toy_figure if args.kind == "toy" else sst_figures
    for path in draw(results, args.out):
        print(f"wrote {path} ({path.stat().st_size // 1024} KB)")


if __name__ == "__main__":
    main()
