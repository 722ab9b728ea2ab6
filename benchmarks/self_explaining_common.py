"""Shared pieces of the self-explaining benchmarks: encoders, model variants, a training loop.

The loop is train_classifier's recipe (length-bucketed batches, AdamW without
decay on biases/LayerNorm, linear warm-up/decay, gradient clipping at 1) plus
the self-explaining model's ``auxiliary_loss()``, and evaluates dev and test
accuracy after every epoch (``depthlens.training.train_classifier`` adds the
auxiliary loss too, but evaluates dev only and saves to disk); plain and
self-explaining runs both use this loop, so they get exactly the same budget.
"""
from __future__ import annotations

import json
import math
import random
import time
from pathlib import Path

import torch
from torch import nn

from depthlens.models.defaults import SOURCES
from depthlens.training import (accuracy, decay_groups, encode_dataset, hf_classifier,
                                length_batches, linear_schedule)

VARIANTS = ("plain", "self_explaining", "avg_self_explaining")
ENCODERS = {"tiny": "tiny-sst2", "minilm": "minilm-sst2"}  # -> the default model they build
# Training settings, pinned (the default models' recipes of the time; all runs use these).
SETTINGS = {"tiny": dict(epochs=4, lr=2e-4, batch_size=32, max_length=64),
            "minilm": dict(epochs=3, lr=5e-5, batch_size=32, max_length=64)}


def encoder_source(encoder: str) -> str:
    """The pip-installed pretrained encoder directory behind default model ENCODERS[encoder]."""
    return str(SOURCES[ENCODERS[encoder]]())


def recipe(encoder: str) -> dict:
    """A copy of the encoder's pinned training settings (epochs, lr, batch size, length)."""
    return dict(SETTINGS[encoder])


def build(encoder: str, variant: str, train, seed: int, lam: float = 1.0,
          max_width: int | None = None, regularizer: str = "square"):
    """A fresh classifier: the encoder with a linear head ('plain') or a span head."""
    from depthlens.self_explaining import make_self_explaining

    torch.manual_seed(seed)
    adapter = hf_classifier(encoder_source(encoder), train)
    if variant == "plain":
        return adapter
    return make_self_explaining(adapter, lam=lam, max_width=max_width, regularizer=regularizer,
                                uniform=variant == "avg_self_explaining", seed=seed)


def rationale_model(path, encoder: str, train, seed: int, *, init=None, dev=None,
                    lam1: float | None = None, lam2: float | None = None, epochs: int = 0,
                    log=print):
    """The Rationale baseline (Lei et al. 2016) of ``encoder``, and the seconds spent training.

    Loaded from ``path`` if a model is saved there. Otherwise the generator is
    the pretrained encoder (with a fresh word scorer) and the classifier that
    reads the rationales starts from ``init`` (a trained classifier directory,
    normally the plain model of the same train set; None: the pretrained
    encoder with a fresh head); both are trained jointly on ``train`` with the
    encoder's recipe (``epochs`` > 0 overrides its epochs) and saved to
    ``path`` (unless None).
    """
    from depthlens.models.loading import load_directory
    from depthlens.self_explaining import rationale

    if path and (Path(path) / rationale.RATIONALE_FILE).is_file():
        log(f"rationale model: loading {path}")
        return rationale.load_rationale(path), 0.0
    settings = recipe(encoder)
    settings["epochs"] = epochs or settings["epochs"]
    reader = build(encoder, "plain", train, seed) if init is None else \
        load_directory(Path(init), name=str(init))          # a fresh copy, not load_model's cache
    model = rationale.make_rationale(
        build(encoder, "plain", train, seed), reader,
        lam1=rationale.LAM1 if lam1 is None else lam1,
        lam2=rationale.LAM2 if lam2 is None else lam2, seed=seed)
    start = time.perf_counter()
    rationale.train_rationale(model, train, dev=dev, seed=seed, **settings)
    seconds = time.perf_counter() - start
    if path:
        model.save(path)
    return model, seconds


def fit(adapter, train, *, dev=None, test=None, epochs: int, lr: float, batch_size: int,
        seed: int, max_length: int, warmup: float = 0.06, weight_decay: float = 0.01,
        log=print) -> list[dict]:
    """Train ``adapter`` in place; returns one dict per epoch (loss, aux, dev/test accuracy)."""
    batch, targets = encode_dataset(adapter, train, max_length)
    model = adapter.model
    total = epochs * math.ceil(len(batch) / batch_size)
    for p in model.parameters():
        p.requires_grad_(True)
    optimizer = torch.optim.AdamW(decay_groups(list(model.named_parameters()), weight_decay), lr=lr)
    scheduler = linear_schedule(optimizer, total, warmup)
    torch.manual_seed(seed)
    history, start = [], time.perf_counter()
    for epoch in range(epochs):
        model.train()
        losses, aux_values = [], []
        for index in length_batches(batch.lengths, batch_size, random.Random(seed * 1009 + epoch)):
            loss = nn.functional.cross_entropy(adapter.forward(batch.select(index)).logits,
                                               targets[index])
            aux = adapter.auxiliary_loss()
            aux = loss.new_zeros(()) if aux is None else aux
            (loss + aux).backward()
            nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            optimizer.step()
            scheduler.step()
            optimizer.zero_grad(set_to_none=True)
            losses.append(loss.item())
            aux_values.append(aux.item())
            if len(losses) % 50 == 0:
                log(f"epoch {epoch + 1} step {len(losses)}: ce {sum(losses[-50:]) / 50:.4f} "
                    f"({time.perf_counter() - start:.0f}s)")
        model.eval()
        row = {"epoch": epoch + 1, "train_ce": sum(losses) / len(losses),
               "train_aux": sum(aux_values) / len(aux_values),
               "seconds": round(time.perf_counter() - start, 1)}
        for name, data in (("dev", dev), ("test", test)):
            if data is not None:
                row[f"{name}_accuracy"] = accuracy(adapter, data, max_length)
        history.append(row)
        log(json.dumps(row))
    for p in model.parameters():
        p.requires_grad_(False)
    return history


def append_jsonl(path: str | Path, record: dict) -> None:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a", encoding="utf-8") as handle:
        handle.write(json.dumps(record) + "\n")


def read_jsonl(path: str | Path) -> list[dict]:
    path = Path(path)
    if not path.is_file():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
