"""Rationale baseline (Lei, Barzilay & Jaakkola 2016, "Rationalizing Neural Predictions").

Two models are trained jointly on a labelled dataset:

* the **generator** scores every word: any encoder :class:`ModelAdapter` gives
  its last state (B, T, D), a linear scorer reads it at the first token of
  each word and gives one logit per word (B, N); words are selected
  independently, z_n ~ Bernoulli(sigmoid(logit_n)) (Lei et al.'s independent
  selector);
* the **encoder** is a classifier that reads the selected words only: the
  tokens of unselected words are erased with :func:`depthlens.erasure.erase`
  (default ``"delete"``, so the encoder sees exactly the kind of text a
  rationale dataset of the span protocol holds, and the pattern of the
  selection cannot leak through [MASK] positions; ``"mask"`` keeps positions).

The cost of a sample z of example (x, y) is Lei et al.'s, with cross-entropy
in place of their squared error::

    cost(z) = CE(enc(x, z), y) + lam1 * sum_n z_n + lam2 * sum_n |z_n - z_{n-1}|

(number selected + number of transitions; the second, the coherence term,
favours contiguous spans; transitions are counted between neighbouring words
of the same sequence only). ``samples`` = k rationales z are drawn per example
and step (default 2). The encoder minimises the mean cross-entropy of the
sampled rationales; the generator minimises the expected cost with
**REINFORCE** (score-function gradient)::

    grad E_z[cost] = E_z[(cost(z) - b) grad log p(z | x)]

with the baseline b of a sample = the mean cost of the *other* samples of the
same example (leave-one-out, so the estimate stays unbiased; Kool et al. 2019,
"Buy 4 REINFORCE samples, get a baseline for free"); with k = 1, b is the mean
cost of the batch. A per-example baseline removes from the advantage the
differences in difficulty between examples, which otherwise dominate the
effect of z on the cross-entropy.

Why REINFORCE and not a relaxation (e.g. the Hard Concrete sampler of
``depthlens.diffmask.gates``): the baseline reproduced here is the paper's
(Sun et al. 2021, section 5.3: "jointly trained to minimize the expected cost
function using the REINFORCE algorithm"), and with discrete samples the
encoder is trained on hard rationales, the same kind of input as the
SpanTrain classifiers of the protocol, not on soft mixtures of words and
[MASK].

Initialisation is the caller's: both are any adapters sharing a tokenizer.
Started from a fresh classification head, the encoder first fits the label
prior, which it does best on the empty rationale, so the generator learns to
select nothing and never recovers (tiny BERT on SST-5, one epoch, lam1 from
0.005 to 0.05, with either baseline); the benchmarks therefore start the encoder from the classifier
fine-tuned on the same training set and the generator from the pretrained
encoder (``benchmarks/self_explaining_common.rationale_model``).

Extraction (:func:`rationale_spans`): for each text the ``width``-word window
with the largest mean selection probability (``protocol.best_window``), so the
baseline can be length-matched to the self-explaining span like AvgGradient
and AvgAttention. Training is seeded (sampling, dropout and batch order), and
the seed is stored with the model.

A saved model is a directory with ``depthlens_rationale.json``,
``scorer.safetensors``, ``generator/`` and ``encoder/``; :func:`load_rationale`
restores it.
"""
from __future__ import annotations

import json
import math
import random
from pathlib import Path
from typing import Sequence

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F
from tqdm.auto import tqdm

from ..erasure import MODES, erase
from ..errors import InputError
from ..explanation import Span
from ..models.adapter import Batch, ModelAdapter
from ..models.hooks import layer_hooks
from .protocol import best_window
from .sic import WordLayout

RATIONALE_FILE = "depthlens_rationale.json"
SCORER_FILE = "scorer.safetensors"
GENERATOR_DIR, ENCODER_DIR = "generator", "encoder"
FORMAT_VERSION = 1
LAM1, LAM2 = 0.02, 0.04      # per selected word, per transition (Lei et al.: lam2 = 2 lam1)
SAMPLES = 2                  # rationales sampled per example and step (for the baseline)


class RationaleModel:
    """Generator (``generator`` adapter + ``scorer``) and ``encoder`` classifier adapter.

    Both adapters must share one tokenizer (the encoder reads the generator's
    batches). ``lam1``/``lam2``: the selection and transition costs;
    ``erasure``: how unselected words are hidden from the encoder (an
    :data:`depthlens.erasure.MODES` mode); ``samples``: rationales drawn per
    example and training step; ``seed``: the seed of the scorer's
    initialisation and, after :func:`train_rationale`, of its training.
    """

    def __init__(self, generator: ModelAdapter, encoder: ModelAdapter, scorer: nn.Linear, *,
                 lam1: float = LAM1, lam2: float = LAM2, erasure: str = "delete",
                 samples: int = SAMPLES, seed: int = 0, history: list[dict] | None = None):
        check_settings(lam1, lam2, erasure, samples)
        if len(generator.tokenizer) != len(encoder.tokenizer):
            raise InputError(f"generator and encoder must share a tokenizer; got vocabularies of "
                             f"{len(generator.tokenizer)} and {len(encoder.tokenizer)} tokens")
        self.generator, self.encoder, self.scorer = generator, encoder, scorer
        self.lam1, self.lam2, self.erasure, self.seed = float(lam1), float(lam2), erasure, seed
        self.samples = samples
        self.history = list(history or [])

    @property
    def labels(self) -> list[str]:
        return list(self.encoder.labels)

    def modules(self) -> list[nn.Module]:
        return [self.generator.model, self.scorer, self.encoder.model]

    def named_parameters(self) -> list[tuple[str, nn.Parameter]]:
        return [(f"{i}.{name}", p) for i, module in enumerate(self.modules())
                for name, p in module.named_parameters()]

    def train(self, mode: bool = True) -> None:
        for module in self.modules():
            module.train(mode)

    # ------------------------------------------------------------ generator
    def word_logits(self, batch: Batch) -> tuple[torch.Tensor, WordLayout]:
        """Selection logits (B, N) of the words of ``batch`` (0 at padding words), and the layout."""
        layout = WordLayout.of(batch)
        with layer_hooks(self.generator.layer_modules()[-1:]) as captured:
            self.generator.forward(batch)
        first = captured[0][torch.arange(len(batch))[:, None], layout.starts]       # (B, N, D)
        return self.scorer(first).squeeze(-1) * valid_words(layout), layout

    # -------------------------------------------------------------- encoder
    def encoder_logits(self, batch: Batch, z: torch.Tensor, layout: WordLayout) -> torch.Tensor:
        """Encoder logits (B, C) on ``batch`` with the words where ``z`` (B, N) is 0 erased."""
        hide = hidden_tokens(z, layout, batch.input_ids.shape[1])
        return self.encoder.forward(erase(self.encoder, batch, hide, self.erasure)).logits

    def losses(self, batch: Batch, targets: torch.Tensor) -> dict[str, torch.Tensor]:
        """``samples`` sampled rationales per example: their encoder CE, cost and selection
        statistics (B x samples,), and ``loss``: mean encoder CE + REINFORCE surrogate
        (scalar, for backward)."""
        k = self.samples
        logits, layout = self.word_logits(batch)
        logits, layout = logits.repeat_interleave(k, 0), repeat_layout(layout, k)
        batch, targets = batch.repeat(k), targets.repeat_interleave(k)
        valid = valid_words(layout)
        z = torch.bernoulli(torch.sigmoid(logits.detach())) * valid                 # (B k, N)
        ce = F.cross_entropy(self.encoder_logits(batch, z, layout), targets, reduction="none")
        selected, changes = z.sum(1), transitions(z, layout)
        cost = ce.detach() + self.lam1 * selected + self.lam2 * changes
        log_p = ((z * F.logsigmoid(logits) + (1 - z) * F.logsigmoid(-logits)) * valid).sum(1)
        surrogate = ((cost - baseline(cost, k)) * log_p).mean()
        return {"loss": ce.mean() + surrogate, "ce": ce, "cost": cost,
                "selected": selected / valid.sum(1).clamp(min=1),
                "transitions": changes / valid.sum(1).clamp(min=1)}

    # ------------------------------------------------------------------ save
    def save(self, directory) -> None:
        """Write the two adapters, the scorer weights and the JSON config (last)."""
        from safetensors.torch import save_file

        from ..io import atomic_path, atomic_write_text

        directory = Path(directory)
        directory.mkdir(parents=True, exist_ok=True)
        self.generator.save(directory / GENERATOR_DIR)
        self.encoder.save(directory / ENCODER_DIR)
        state = {k: v.detach().contiguous() for k, v in self.scorer.state_dict().items()}
        with atomic_path(directory / SCORER_FILE) as tmp:
            save_file(state, str(tmp))
        config = {"format": FORMAT_VERSION, "dim": self.scorer.in_features, "lam1": self.lam1,
                  "lam2": self.lam2, "erasure": self.erasure, "samples": self.samples,
                  "seed": self.seed,
                  "history": self.history}
        atomic_write_text(directory / RATIONALE_FILE, json.dumps(config, indent=2) + "\n")


def check_settings(lam1, lam2, erasure, samples=SAMPLES) -> None:
    """InputError unless lam1, lam2 >= 0, ``erasure`` is an erasure mode and samples >= 1."""
    for name, value in (("lam1", lam1), ("lam2", lam2)):
        if not isinstance(value, (int, float)) or isinstance(value, bool) or not value >= 0:
            raise InputError(f"{name} must be a number >= 0; got {value!r}")
    if erasure not in MODES:
        raise InputError(f"erasure must be one of {', '.join(MODES)}; got {erasure!r}")
    if isinstance(samples, bool) or not isinstance(samples, int) or samples < 1:
        raise InputError(f"samples must be an integer >= 1; got {samples!r}")


def baseline(cost: torch.Tensor, samples: int) -> torch.Tensor:
    """(B k,) REINFORCE baseline of the costs of ``samples`` = k consecutive samples per example:
    the mean cost of the example's other samples (leave-one-out, unbiased), or for k = 1 the
    batch mean."""
    if samples == 1:
        return cost.mean().expand_as(cost)
    grouped = cost.view(-1, samples)
    return ((grouped.sum(1, keepdim=True) - grouped) / (samples - 1)).flatten()


def repeat_layout(layout: WordLayout, k: int) -> WordLayout:
    """``layout`` with every example repeated ``k`` times consecutively (as ``Batch.repeat``)."""
    return WordLayout(layout.starts.repeat_interleave(k, 0), layout.ends.repeat_interleave(k, 0),
                      layout.sequence.repeat_interleave(k, 0),
                      [row for row in layout.offsets for _ in range(k)])


def valid_words(layout: WordLayout) -> torch.Tensor:
    """(B, N) float: 1 at real words, 0 at padding words."""
    return (layout.sequence >= 0).float()


def transitions(z: torch.Tensor, layout: WordLayout) -> torch.Tensor:
    """(B,) number of changes |z_n - z_{n-1}| between neighbouring words of one sequence."""
    seq = layout.sequence
    same = ((seq[:, 1:] == seq[:, :-1]) & (seq[:, 1:] >= 0)).float()
    return ((z[:, 1:] - z[:, :-1]).abs() * same).sum(1)


def hidden_tokens(z: torch.Tensor, layout: WordLayout, length: int) -> torch.Tensor:
    """(B, T) bool, T = ``length``: the tokens of the real words where ``z`` (B, N) is 0."""
    pos = torch.arange(length)
    inside = ((pos >= layout.starts[..., None]) & (pos <= layout.ends[..., None])
              & (layout.sequence >= 0)[..., None])                                   # (B, N, T)
    kept = (inside & (z > 0)[..., None]).any(1)
    return inside.any(1) & ~kept


def make_rationale(generator: ModelAdapter, encoder: ModelAdapter, *, lam1: float = LAM1,
                   lam2: float = LAM2, erasure: str = "delete", samples: int = SAMPLES,
                   seed: int = 0) -> RationaleModel:
    """A fresh (seeded) linear scorer on ``generator``'s last state, with ``encoder``.

    The scorer's width is read from one forward of the generator on a short text.
    """
    with torch.no_grad(), layer_hooks(generator.layer_modules()[-1:]) as captured:
        generator.forward(generator.encode(["a"]))
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        scorer = nn.Linear(captured[0].shape[-1], 1)
    return RationaleModel(generator, encoder, scorer, lam1=lam1, lam2=lam2, erasure=erasure,
                          samples=samples, seed=seed)


# ----------------------------------------------------------------- training
def train_rationale(model: RationaleModel, train, *, dev=None, epochs: int = 4, lr: float = 2e-4,
                    batch_size: int = 32, seed: int = 0, max_length: int = 64,
                    warmup: float = 0.06, weight_decay: float = 0.01,
                    progress: bool = True) -> list[dict]:
    """Train generator and encoder jointly on ``train`` (in place); one dict per epoch.

    The recipe of the repo's classifiers (``depthlens.training``): length-
    bucketed batches, AdamW (no decay on biases/LayerNorm), linear warm-up and
    decay, gradient norm clipped at 1 (per model). Each epoch records the mean
    train CE and cost, the selected fraction of words and transitions per word;
    with ``dev`` also :func:`evaluate` on it. ``seed`` fixes sampling, dropout
    and batch order, and is recorded in ``model.seed``.
    """
    from ..training import decay_groups, encode_dataset, length_batches, linear_schedule

    batch, targets = encode_dataset(model.encoder, train, max_length)
    params = model.named_parameters()
    total = epochs * math.ceil(len(batch) / batch_size)
    optimizer = torch.optim.AdamW(decay_groups(params, weight_decay), lr=lr)
    scheduler = linear_schedule(optimizer, total, warmup)
    torch.manual_seed(seed)
    model.seed = seed
    history = []
    for _, p in params:
        p.requires_grad_(True)
    bar = tqdm(total=total, desc="rationale", unit="step", disable=not progress)
    try:
        for epoch in range(epochs):
            model.train()
            sums = dict.fromkeys(("ce", "cost", "selected", "transitions"), 0.0)
            for index in length_batches(batch.lengths, batch_size,
                                        random.Random(seed * 1009 + epoch)):
                out = model.losses(batch.select(index), targets[index])
                out["loss"].backward()
                for module in model.modules():
                    nn.utils.clip_grad_norm_(module.parameters(), 1.0)
                optimizer.step()
                scheduler.step()
                optimizer.zero_grad(set_to_none=True)
                for key in sums:
                    sums[key] += float(out[key].detach().sum())
                bar.update(1)
                bar.set_postfix(ce=f"{float(out['ce'].detach().mean()):.3f}",
                                selected=f"{float(out['selected'].mean()):.2f}")
            row = {"epoch": epoch + 1,
                   **{f"train_{k}": v / (len(batch) * model.samples) for k, v in sums.items()}}
            if dev is not None:
                row.update({f"dev_{k}": v for k, v in evaluate(model, dev, max_length).items()})
            history.append(row)
            if progress:
                bar.write(json.dumps(row))
    finally:
        bar.close()
        for _, p in params:
            p.requires_grad_(False)
        model.train(False)
    model.history = history
    return history


@torch.no_grad()
def evaluate(model: RationaleModel, dataset, max_length: int = 64,
             batch_size: int = 64) -> dict[str, float]:
    """The most probable rationale (z = p > 0.5) of every example: encoder accuracy on it,
    selected fraction of words and transitions per word (means over examples)."""
    from ..training import encode_dataset

    batch, targets = encode_dataset(model.encoder, dataset, max_length)
    model.train(False)
    sums = {"accuracy": 0.0, "selected": 0.0, "transitions": 0.0}
    for start in range(0, len(batch), batch_size):
        index = list(range(start, min(start + batch_size, len(batch))))
        part = batch.select(index)
        logits, layout = model.word_logits(part)
        valid = valid_words(layout)
        z = (logits > 0).float() * valid
        predicted = model.encoder_logits(part, z, layout).argmax(-1)
        words = valid.sum(1).clamp(min=1)
        sums["accuracy"] += float((predicted == targets[index]).sum())
        sums["selected"] += float((z.sum(1) / words).sum())
        sums["transitions"] += float((transitions(z, layout) / words).sum())
    return {k: v / len(batch) for k, v in sums.items()}


# --------------------------------------------------------------- extraction
@torch.no_grad()
def selection_probabilities(model: RationaleModel, texts: Sequence[str],
                            batch_size: int = 64) -> tuple[list[np.ndarray], list[list]]:
    """Per text, the generator's selection probability of each word (n_words,) and the
    words' (start, end) characters; texts are cut to the generator's token limit."""
    model.train(False)
    probs, offsets = [], []
    for start in range(0, len(texts), batch_size):
        batch = model.generator.encode(list(texts[start:start + batch_size]), truncate=True)
        logits, layout = model.word_logits(batch)
        counts = (layout.sequence >= 0).sum(1).tolist()
        p = torch.sigmoid(logits).numpy()
        probs += [p[i, :n] for i, n in enumerate(counts)]
        offsets += [layout.offsets[i][:n] for i, n in enumerate(counts)]
    return probs, offsets


def rationale_spans(model: RationaleModel, texts: Sequence[str], widths: Sequence[int],
                    batch_size: int = 64) -> list[Span]:
    """Per text, the ``widths[i]``-word window with the largest mean selection probability
    (score: that mean), as a character :class:`Span` running from a word's first character
    to a word's last one."""
    if len(widths) != len(texts):
        raise InputError(f"widths must have one entry per text ({len(texts)}); got {len(widths)}")
    probs, offsets = selection_probabilities(model, texts, batch_size)
    spans = []
    for text, p, words, width in zip(texts, probs, offsets, widths):
        first, mean = best_window(p, width)
        last = min(first + max(width, 1), len(words)) - 1
        start, end = words[first][0], words[last][1]
        spans.append(Span(start, end, mean, text[start:end]))
    return spans


# ------------------------------------------------------------------- loading
def load_rationale(path) -> RationaleModel:
    """Restore a model written by :meth:`RationaleModel.save`."""
    from safetensors.torch import load_file

    from ..models.loading import load_directory

    path = Path(path)
    if not (path / RATIONALE_FILE).is_file():
        raise InputError(f"directory {str(path)!r} must hold {RATIONALE_FILE} (a saved rationale "
                         f"model); it is missing")
    config = json.loads((path / RATIONALE_FILE).read_text(encoding="utf-8"))
    if config.get("format", 0) > FORMAT_VERSION:
        raise InputError(f"{RATIONALE_FILE} format must be <= {FORMAT_VERSION}; got "
                         f"{config['format']} (upgrade depthlens)")
    scorer = nn.Linear(config["dim"], 1)
    scorer.load_state_dict(load_file(str(path / SCORER_FILE)))
    model = RationaleModel(load_directory(path / GENERATOR_DIR, str(path / GENERATOR_DIR)),
                           load_directory(path / ENCODER_DIR, str(path / ENCODER_DIR)), scorer,
                           lam1=config["lam1"], lam2=config["lam2"], erasure=config["erasure"],
                           samples=config.get("samples", 1),
                           seed=config["seed"], history=config.get("history"))
    for module in model.modules():
        for p in module.parameters():
            p.requires_grad_(False)
    model.train(False)
    return model
