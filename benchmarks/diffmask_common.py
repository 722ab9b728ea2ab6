"""Helpers shared by the DiffMask reproductions: cached probes, divergences, result files."""
from __future__ import annotations

import json
import math
from pathlib import Path

import torch

from depthlens.diffmask import DiffMaskProbe, fit
from depthlens.diffmask.probes import PROBE_FILE
from depthlens.io import atomic_write_text, cache_dir

WORK = cache_dir() / "diffmask"


def probe_for(adapter, dataset, gate: str, directory: Path, **settings) -> DiffMaskProbe:
    """The probe saved in ``directory``, fitted there first if missing (resumes a checkpoint)."""
    if (directory / PROBE_FILE).is_file():
        return DiffMaskProbe.load(directory)
    return fit(adapter, dataset, gate, out=directory, **settings)


def normalise(x: torch.Tensor) -> torch.Tensor:
    """A non-negative vector scaled to sum 1 (uniform if it sums to 0)."""
    x = x.clamp(min=0).double()
    total = x.sum()
    return x / total if total > 0 else torch.full_like(x, 1 / len(x))


def kl(p: torch.Tensor, q: torch.Tensor) -> float:
    """KL(p || q) in nats of two distributions (inf if q misses p's support)."""
    support = p > 0
    if (q[support] <= 0).any():
        return math.inf
    return float((p[support] * (p[support] / q[support]).log()).sum())


def js(p: torch.Tensor, q: torch.Tensor) -> float:
    """Jensen-Shannon divergence in nats."""
    m = (p + q) / 2
    return (kl(p, m) + kl(q, m)) / 2


def macro_f1(pred: torch.Tensor, gold: torch.Tensor) -> float:
    """Macro-averaged F1 over the classes present in ``gold`` or ``pred``."""
    scores = []
    for c in torch.cat([pred, gold]).unique():
        tp = float(((pred == c) & (gold == c)).sum())
        denominator = float((pred == c).sum() + (gold == c).sum())
        scores.append(2 * tp / denominator if denominator else 0.0)
    return sum(scores) / len(scores)


@torch.no_grad()
def kept_under_masking(adapter, dataset, probe, batch_size: int = 64) -> dict:
    """Accuracy and macro-F1 (gold labels) before and with each layer's hard mask applied.

    The hard mask keeps a position when its keep probability is > 0.5; masked
    positions are replaced by the probe's learned baseline. Also reports the %
    of (non-pad) positions masked per layer and the agreement with the
    unmasked prediction.
    """
    from depthlens.diffmask.probes import gated_forward

    gold = torch.tensor(dataset.targets)
    batch = adapter.encode(dataset.texts, truncate=True)
    preds, masked, counted = [], [], []
    for lo in range(0, len(batch), batch_size):
        sub = batch.select(range(lo, min(len(batch), lo + batch_size)))
        states = adapter.forward(sub, output_states=True).states
        keep = probe.keep_probability(probe.gate_logits(states)) > 0.5
        real = sub.attention_mask.bool()
        row = [adapter.forward(sub).logits.argmax(-1)]
        for l in range(probe.num_states):
            where = None if probe.gate == "input" else l
            b = probe.baselines[0 if probe.gate == "input" else l]
            row.append(gated_forward(adapter, sub, {where: (keep[:, l].float(), b)}).argmax(-1))
        preds.append(torch.stack(row, 1))
        masked.append(((~keep) & real[:, None]).sum((0, 2)))
        counted.append(int(real.sum()))
    preds = torch.cat(preds)
    masked = torch.stack(masked).sum(0).double() / sum(counted)
    out = {"original": {"accuracy": float((preds[:, 0] == gold).float().mean()),
                        "macro_f1": macro_f1(preds[:, 0], gold)}}
    for l in range(probe.num_states):
        out[adapter.layer_names[l]] = {
            "accuracy": float((preds[:, l + 1] == gold).float().mean()),
            "macro_f1": macro_f1(preds[:, l + 1], gold),
            "agreement": float((preds[:, l + 1] == preds[:, 0]).float().mean()),
            "masked": float(masked[l])}
    layers = [out[name] for name in adapter.layer_names]
    out["mean over layers"] = {k: sum(r[k] for r in layers) / len(layers) for k in layers[0]}
    return out


def write_results(name: str, results: dict) -> Path:
    """Write ``results`` as JSON to WORK/<name>.json and return the path."""
    path = WORK / f"{name}.json"
    atomic_write_text(path, json.dumps(results, indent=2, default=float) + "\n")
    return path
