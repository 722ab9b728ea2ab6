"""Build the default models (if missing) and print the markdown tables of docs/models.md.

    DEPTHLENS_CACHE=~/.cache/depthlens python benchmarks/build_default_models.py

For each model: SST-2 dev accuracy, build time and the recipe (read from the
build record ``depthlens_build.json``), then MLM fill-mask top-5 for the
probe sentences: MiniLM with a randomly initialised head (decoder = word
embeddings; MiniLM ships no head), each encoder with its (fitted or
pretrained) head, and the head applied to the fine-tuned classifier.
"""
from __future__ import annotations

import argparse
import json

import torch

from depthlens.models.defaults import BUILD_INFO, DEFAULT_MODELS, PROBES, SOURCES, ensure_default
from depthlens.models.lm_head import MaskedLM, fill_mask


def _row(text: str, top: list) -> str:
    cells = ", ".join(f"{tok} ({prob:.2f})" for tok, prob in top)
    return f"| {text} | {cells} |"


def _table(title: str, results: dict[str, list]) -> list[str]:
    lines = [f"**{title}**", "", "| sentence | top-5 (probability) |", "|---|---|"]
    return lines + [_row(text, top) for text, top in results.items()] + [""]


def _cpu(info: dict) -> str:
    """", N s CPU" when the build record has it (older records do not)."""
    return f", {info['build_cpu_seconds']:.0f} s CPU" if "build_cpu_seconds" in info else ""


def report(name: str) -> list[str]:
    """Markdown section for default model ``name`` (built first if needed)."""
    info = json.loads((ensure_default(name) / BUILD_INFO).read_text())
    lines = [f"### {name}", "", f"- SST-2 dev accuracy: **{info['dev_accuracy']:.4f}**",
             f"- build time: {info['build_seconds']:.0f} s wall{_cpu(info)} (classifier "
             f"fine-tuning {info['train_seconds']:.0f} s wall, {info['steps']} steps)",
             f"- recipe: `{json.dumps(info['recipe'])}`"]
    if "lm_head" in info:
        head = info["lm_head"]
        lines.append(f"- MLM head fit: {head['steps']} steps in {head['seconds']:.0f} s, "
                     f"held-out masked-token accuracy {head['heldout_accuracy']:.3f} "
                     f"(loss {head['heldout_loss']:.2f})")
    lines += ["- per epoch: " + "; ".join(f"{h['epoch']}: loss {h['train_loss']:.3f}, dev "
                                          f"{h['dev_accuracy']:.4f}" for h in info["history"]), ""]
    if name == "minilm-sst2":
        torch.manual_seed(0)
        baseline = MaskedLM.from_pretrained(SOURCES[name](), new_head=True)
        lines += _table("MiniLM + random head (before fitting)",
                        {t: fill_mask(baseline, t) for t in PROBES})
        lines += _table("MiniLM + fitted head", info["fill_mask_encoder"])
    else:
        lines += _table("pretrained BertForMaskedLM (before fine-tuning)", info["fill_mask_encoder"])
    lines += _table("head on the fine-tuned classifier", info["fill_mask_classifier"])
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", nargs="+", default=list(DEFAULT_MODELS))
    args = parser.parse_args()
    for name in args.models:
        print("\n".join(report(name)))


if __name__ == "__main__":
    main()
