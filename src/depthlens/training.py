"""Fine-tune any ModelAdapter as a classifier: length-bucketed batches, AdamW with a
linear schedule, a checkpoint at the end of every epoch (resumed after an
interruption) and an atomic final save.

The checkpoint of a run writing ``out_dir`` is the file
``<out_dir's parent>/.<out_dir name>.checkpoint.pt``; it is deleted once the
final model is in place.
"""
from __future__ import annotations

import math
import os
import random
import shutil
import sys
import tempfile
import time
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterator

import torch
from torch import nn
from tqdm.auto import tqdm

from .errors import InputError
from .io import atomic_path
from .models.adapter import Batch, ModelAdapter

BUCKET_BATCHES = 50      # batches per length-sorted chunk
EVAL_BATCH_SIZE = 64
SMALL_LR = 1e-3          # default learning rate of the built-in small models
PRETRAINED_LR = 5e-5     # default learning rate of pretrained HF encoders


@dataclass
class TrainResult:
    """dev_accuracy is None without dev data; train_loss is the mean cross-entropy of the
    last epoch (without any auxiliary loss).
    history: one dict per epoch (epoch, train_loss, dev_accuracy)."""

    dev_accuracy: float | None
    train_loss: float
    steps: int
    seconds: float
    history: list[dict[str, Any]] = field(default_factory=list)


# ------------------------------------------------------------------ helpers
def length_batches(lengths: list[int], batch_size: int, rng: random.Random) -> list[list[int]]:
    """Shuffled batches of indices of similar length.

    Indices are shuffled, cut into chunks of ``BUCKET_BATCHES`` batches, each
    chunk sorted by length and cut into batches; the batch order is shuffled.
    """
    order = list(range(len(lengths)))
    rng.shuffle(order)
    chunk = batch_size * BUCKET_BATCHES
    batches = []
    for start in range(0, len(order), chunk):
        part = sorted(order[start:start + chunk], key=lambda i: lengths[i])
        batches += [part[i:i + batch_size] for i in range(0, len(part), batch_size)]
    rng.shuffle(batches)
    return batches


def linear_schedule(optimizer: torch.optim.Optimizer, total_steps: int,
                    warmup: float) -> torch.optim.lr_scheduler.LambdaLR:
    """Linear warm-up over ``warmup`` (a fraction of ``total_steps``), then linear decay to 0."""
    warm = int(warmup * total_steps)

    def factor(step: int) -> float:
        if step < warm:
            return (step + 1) / warm
        return max(0.0, (total_steps - step) / max(1, total_steps - warm))

    return torch.optim.lr_scheduler.LambdaLR(optimizer, factor)


def decay_groups(params: list[tuple[str, nn.Parameter]], weight_decay: float) -> list[dict]:
    """AdamW parameter groups: weight decay on matrices only (not biases or LayerNorm)."""
    return [{"params": [p for _, p in params if p.ndim >= 2], "weight_decay": weight_decay},
            {"params": [p for _, p in params if p.ndim < 2], "weight_decay": 0.0}]


@contextmanager
def _max_length(adapter: ModelAdapter, max_length: int) -> Iterator[None]:
    """Temporarily lower the adapter's token limit (so encode(truncate=True) cuts there)."""
    saved = adapter.max_length
    adapter.max_length = min(saved, max_length)
    try:
        yield
    finally:
        adapter.max_length = saved


@contextmanager
def quiet_transformers() -> Iterator[None]:
    """Silence transformers' load reports (a fresh classification or MLM head is expected to
    be missing from the checkpoint) and its loading/saving progress bars."""
    from transformers.utils import logging

    verbosity, bars = logging.get_verbosity(), logging.is_progress_bar_enabled()
    logging.set_verbosity_error()
    logging.disable_progress_bar()
    try:
        yield
    finally:
        logging.set_verbosity(verbosity)
        if bars:
            logging.enable_progress_bar()


def encode_dataset(adapter: ModelAdapter, dataset, max_length: int) -> tuple[Batch, torch.Tensor]:
    """All examples encoded once (cut to ``max_length`` tokens) and their targets (N,)."""
    examples = list(dataset.examples)
    if not examples:
        raise InputError(f"dataset {getattr(dataset, 'name', '')!r} must have examples; got none")
    pairs = [ex.pair for ex in examples] if has_pairs(dataset) else None
    with _max_length(adapter, max_length):
        batch = adapter.encode([ex.text for ex in examples], pairs, truncate=True)
    targets = torch.tensor([ex.label for ex in examples], dtype=torch.long)
    bad = [int(t) for t in targets if not 0 <= t < len(adapter.labels)]
    if bad:
        raise InputError(f"labels must be in [0, {len(adapter.labels) - 1}] for model "
                         f"{adapter.name!r}; got {bad[0]}")
    return batch, targets


@torch.no_grad()
def accuracy(adapter: ModelAdapter, dataset, max_length: int = 128) -> float:
    """Accuracy of the adapter's argmax prediction on a labelled dataset (model left in eval mode)."""
    batch, targets = encode_dataset(adapter, dataset, max_length)
    adapter.model.eval()
    order = sorted(range(len(batch)), key=lambda i: batch.lengths[i])
    correct = 0
    for start in range(0, len(order), EVAL_BATCH_SIZE):
        index = order[start:start + EVAL_BATCH_SIZE]
        logits = adapter.forward(batch.select(index)).logits
        correct += int((logits.argmax(-1) == targets[index]).sum())
    return correct / len(order)


def has_pairs(dataset) -> bool:
    """True if any example of the dataset has a second text (a pair task)."""
    return any(ex.pair is not None for ex in dataset.examples)


def _check_labels(adapter: ModelAdapter, dataset) -> None:
    names = list(getattr(dataset, "labels", []) or [])
    if names and [n.lower() for n in names] != [n.lower() for n in adapter.labels]:
        raise InputError(f"data labels must match the model's labels ({', '.join(adapter.labels)}); "
                         f"got {', '.join(names)}")


def _check_settings(epochs: int, lr: float, batch_size: int, max_steps: int | None,
                    warmup: float, max_length: int) -> None:
    checks = [("epochs must be >= 1", epochs >= 1, epochs), ("lr must be > 0", lr > 0, lr),
              ("batch_size must be >= 1", batch_size >= 1, batch_size),
              ("max_steps must be >= 1 or None", max_steps is None or max_steps >= 1, max_steps),
              ("warmup must be in [0, 1)", 0 <= warmup < 1, warmup),
              ("max_length must be >= 2", max_length >= 2, max_length)]
    for message, ok, value in checks:
        if not ok:
            raise InputError(f"{message}; got {value}")


# --------------------------------------------------------------- checkpoint
def checkpoint_path(out_dir: Path) -> Path:
    """Where the run writing ``out_dir`` keeps its end-of-epoch checkpoint."""
    return out_dir.parent / f".{out_dir.name}.checkpoint.pt"


def _save_checkpoint(path: Path, state: dict[str, Any]) -> None:
    with atomic_path(path) as tmp:
        torch.save(state, tmp)


def _load_checkpoint(path: Path, fingerprint: dict[str, Any]) -> dict[str, Any] | None:
    """The checkpoint's state if it was written by a run with the same settings."""
    if not path.is_file():
        return None
    state = torch.load(path, map_location="cpu", weights_only=False)
    if state.get("fingerprint") != fingerprint:
        print(f"depthlens: ignoring checkpoint {path} (written with other settings)",
              file=sys.stderr)
        return None
    return state


def save_directory(out_dir: Path, write) -> None:
    """Call ``write(tmp_dir)`` and move the result to ``out_dir`` in one rename.

    ``out_dir`` must not exist or be empty; a failed write leaves nothing behind.
    """
    out_dir.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(dir=out_dir.parent, prefix=f".{out_dir.name}.", suffix=".tmp"))
    try:
        os.chmod(tmp, 0o755)  # mkdtemp makes it private; a model directory is shareable
        write(tmp)
        if out_dir.is_dir():
            out_dir.rmdir()  # empty (checked before training)
        os.rename(tmp, out_dir)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def _check_out_dir(out_dir: Path) -> None:
    if out_dir.exists() and (not out_dir.is_dir() or any(out_dir.iterdir())):
        raise InputError(f"out must be a new or empty directory; got {str(out_dir)!r}, "
                         f"which exists (delete it or choose another)")


# ----------------------------------------------------------------- training
def _run_epoch(adapter: ModelAdapter, batch: Batch, targets: torch.Tensor,
               order: list[list[int]], optimizer, scheduler, bar) -> list[float]:
    """One pass over the batches ``order`` (index lists) in train mode; the step
    cross-entropies. The objective is the cross-entropy plus ``adapter.auxiliary_loss()``
    (e.g. the sharpness penalty of a self-explaining model, eq. 7), if any."""
    model = adapter.model
    model.train()
    losses: list[float] = []
    for index in order:
        logits = adapter.forward(batch.select(index)).logits                 # (B, C)
        loss = nn.functional.cross_entropy(logits, targets[index])
        auxiliary = adapter.auxiliary_loss()
        (loss if auxiliary is None else loss + auxiliary).backward()
        nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimizer.step()
        scheduler.step()
        optimizer.zero_grad(set_to_none=True)
        losses.append(loss.item())
        bar.update(1)
        bar.set_postfix(loss=f"{sum(losses[-50:]) / len(losses[-50:]):.4f}")
    return losses


def train_classifier(adapter: ModelAdapter, train, out_dir: str | Path, *, dev=None,
                     epochs: int = 3, lr: float = 5e-5, batch_size: int = 32, seed: int = 0,
                     max_steps: int | None = None, warmup: float = 0.06,
                     weight_decay: float = 0.01, max_length: int = 128,
                     progress: bool = True) -> TrainResult:
    """Fine-tune ``adapter.model`` on ``train`` (a depthlens Dataset) and save it to ``out_dir``.

    Cross-entropy on ``adapter.forward(batch).logits`` (B, C) plus
    ``adapter.auxiliary_loss()`` if the adapter has one; AdamW (no decay
    on biases/LayerNorm), linear warm-up/decay, gradient norm clipped to 1.
    Batches hold texts of similar token length (cut to ``max_length``), in an
    order fixed by ``seed`` and the epoch. A checkpoint is written after every
    epoch and a rerun with the same settings resumes from it. Parameters are
    trainable only during the call; afterwards the model is in eval mode with
    its original ``requires_grad`` flags.
    """
    _check_settings(epochs, lr, batch_size, max_steps, warmup, max_length)
    out_dir = Path(out_dir)
    _check_out_dir(out_dir)
    _check_labels(adapter, train)
    if dev is not None:
        _check_labels(adapter, dev)
    batch, targets = encode_dataset(adapter, train, max_length)
    per_epoch = math.ceil(len(batch) / batch_size)
    total = min(epochs * per_epoch, max_steps or epochs * per_epoch)
    model = adapter.model
    flags = {p: p.requires_grad for p in model.parameters()}
    fingerprint = {"n": len(batch), "labels": list(adapter.labels), "epochs": epochs, "lr": lr,
                   "batch_size": batch_size, "seed": seed, "max_steps": max_steps,
                   "warmup": warmup, "weight_decay": weight_decay, "max_length": max_length,
                   "model": type(model).__name__,
                   "params": sum(p.numel() for p in model.parameters())}
    ckpt = checkpoint_path(out_dir)
    start = time.perf_counter()
    try:
        for p in model.parameters():
            p.requires_grad_(True)
        optimizer = torch.optim.AdamW(decay_groups(list(model.named_parameters()), weight_decay),
                                      lr=lr, fused=True)
        scheduler = linear_schedule(optimizer, total, warmup)
        state = _load_checkpoint(ckpt, fingerprint)
        history: list[dict[str, Any]] = []
        first_epoch, step = 0, 0
        torch.manual_seed(seed)
        if state is not None:
            model.load_state_dict(state["model"])
            optimizer.load_state_dict(state["optimizer"])
            scheduler.load_state_dict(state["scheduler"])
            torch.set_rng_state(state["rng"])
            first_epoch, step, history = state["epoch"], state["step"], state["history"]
        bar = tqdm(total=total, initial=step, desc="train", unit="step", disable=not progress)
        for epoch in range(first_epoch, epochs):
            if step >= total:
                break
            order = length_batches(batch.lengths, batch_size, random.Random(seed * 1009 + epoch))
            losses = _run_epoch(adapter, batch, targets, order[:total - step], optimizer,
                                scheduler, bar)
            step += len(losses)
            dev_acc = accuracy(adapter, dev, max_length) if dev is not None else None
            history.append({"epoch": epoch + 1, "train_loss": sum(losses) / len(losses),
                            "dev_accuracy": dev_acc})
            if dev_acc is not None and progress:
                bar.write(f"epoch {epoch + 1}: train loss {history[-1]['train_loss']:.4f}, "
                          f"dev accuracy {dev_acc:.4f}")
            if len(losses) == per_epoch:
                _save_checkpoint(ckpt, {
                    "fingerprint": fingerprint, "model": model.state_dict(),
                    "optimizer": optimizer.state_dict(), "scheduler": scheduler.state_dict(),
                    "epoch": epoch + 1, "step": step, "rng": torch.get_rng_state(),
                    "history": history})
        bar.close()
    finally:
        for p, flag in flags.items():
            p.requires_grad_(flag)
        model.eval()
    with quiet_transformers():
        save_directory(out_dir, adapter.save)
    ckpt.unlink(missing_ok=True)
    return TrainResult(dev_accuracy=history[-1]["dev_accuracy"] if history else None,
                       train_loss=history[-1]["train_loss"] if history else float("nan"),
                       steps=step, seconds=time.perf_counter() - start, history=history)


# ---------------------------------------------------------------------- CLI
def hf_classifier(model: str, train) -> ModelAdapter:
    """An HFAdapter for ``model`` (default model name or HF directory) with ``train``'s labels.

    A classifier checkpoint is loaded as is (its labels must match); any other
    encoder gets a fresh classification head, and keeps its MLM head (a
    ``*ForMaskedLM`` checkpoint's own head or a fitted ``mlm_head.safetensors``).
    """
    from transformers import AutoConfig, AutoModelForSequenceClassification, AutoTokenizer

    from .models.defaults import DEFAULT_MODELS, ensure_default
    from .models.huggingface import HFAdapter
    from .models.lm_head import load_mlm_head

    path = ensure_default(model) if model in DEFAULT_MODELS else Path(model).expanduser()
    if not (path / "config.json").is_file():
        from .models.small import SMALL_ARCHS

        raise InputError(
            f"model must be one of {', '.join(SMALL_ARCHS)}, a default model "
            f"({', '.join(DEFAULT_MODELS)}) or a HuggingFace directory with config.json; "
            f"got {model!r}")
    archs = AutoConfig.from_pretrained(path).architectures or []
    if any(a.endswith("ForSequenceClassification") for a in archs):
        adapter = HFAdapter.from_pretrained(path, name=model)
        _check_labels(adapter, train)
        return adapter
    labels = list(train.labels)
    with quiet_transformers():
        net = AutoModelForSequenceClassification.from_pretrained(
            path, num_labels=len(labels), id2label=dict(enumerate(labels)),
            label2id={name: i for i, name in enumerate(labels)}, attn_implementation="eager")
        head = load_mlm_head(path, net.config)
    tokenizer = AutoTokenizer.from_pretrained(path, use_fast=True)
    return HFAdapter(net, tokenizer, name=model, supports_pairs=has_pairs(train), mlm_head=head)


def run_train(model: str, data: str, out: str, dev: str | None = None, epochs: int = 3,
              lr: float | None = None, batch_size: int = 32, seed: int = 0,
              max_steps: int | None = None, max_length: int = 128, progress: bool = True,
              self_explaining: bool = False, lam: float | None = None,
              max_span_width: int | None = None, regularizer: str | None = None,
              **arch_options: Any) -> TrainResult:
    """``depthlens train``: build or load ``model``, train on the ``data`` spec, write ``out``.

    ``model`` is a built-in architecture (``SMALL_ARCHS``; ``arch_options`` go to
    ``build_small``) or a saved built-in model directory (default lr 1e-3), or
    a HF directory / default model name (default lr 5e-5). With
    ``self_explaining`` the encoder gets a span head (``make_self_explaining``
    with ``lam`` (default 1.0), ``max_span_width`` words and ``regularizer``)
    and is trained with the eq. 7 objective. Prints one summary line.
    """
    from .data import load
    from .models.loading import SELF_EXPLAINING_FILE, SMALL_MODEL_FILE, load_directory
    from .models.small import SMALL_ARCHS, build_small

    _check_out_dir(Path(out))
    if not self_explaining and any(v is not None for v in (lam, max_span_width, regularizer)):
        raise InputError("--lambda, --max-span-width and --regularizer need --self-explaining")
    lam, regularizer = 1.0 if lam is None else lam, regularizer or "square"
    if self_explaining:
        from .self_explaining.model import check_settings

        check_settings(max_span_width, lam, regularizer)
    if (Path(model).expanduser() / SELF_EXPLAINING_FILE).is_file():
        from .self_explaining.model import ENCODER_DIR

        raise InputError(f"model {model!r} is already self-explaining; train from its encoder "
                         f"({str(Path(model) / ENCODER_DIR)!r})")
    train = load(data)
    dev_data = load(dev) if dev else None
    torch.manual_seed(seed)
    if model in SMALL_ARCHS:
        adapter = build_small(model, list(train.labels), seed=seed, supports_pairs=has_pairs(train),
                              **arch_options)
        lr = SMALL_LR if lr is None else lr
    elif arch_options:
        raise InputError(f"architecture options apply to {', '.join(SMALL_ARCHS)} only; got "
                         f"{', '.join(sorted(arch_options))} for model {model!r}")
    elif (Path(model).expanduser() / SMALL_MODEL_FILE).is_file():  # a saved built-in model
        adapter = load_directory(Path(model).expanduser(), name=model)
        lr = SMALL_LR if lr is None else lr
    else:
        adapter = hf_classifier(model, train)
        lr = PRETRAINED_LR if lr is None else lr
    if self_explaining:
        from .self_explaining import make_self_explaining

        adapter = make_self_explaining(adapter, lam=lam, max_width=max_span_width,
                                       regularizer=regularizer, seed=seed)
    result = train_classifier(adapter, train, out, dev=dev_data, epochs=epochs, lr=lr,
                              batch_size=batch_size, seed=seed, max_steps=max_steps,
                              max_length=max_length, progress=progress)
    acc = "n/a" if result.dev_accuracy is None else f"{result.dev_accuracy:.4f} on {dev}"
    kind = "self-explaining " if self_explaining else ""
    print(f"trained {kind}{model} on {data}: dev accuracy {acc}, train loss "
          f"{result.train_loss:.4f}, {result.steps} steps in {result.seconds:.0f}s -> {out}")
    return result
