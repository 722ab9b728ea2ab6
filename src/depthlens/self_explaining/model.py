"""A self-explaining classifier: any encoder adapter + SIC + interpretation layer.

:class:`SelfExplainingAdapter` wraps an encoder ModelAdapter (HFAdapter,
built-in LSTM/CNN/Transformer): the encoder runs as usual, its last state
(B, T, D) feeds a :class:`~depthlens.self_explaining.sic.SpanHead`, and the
head's logits are the model's logits (the encoder's own classification head is
ignored). Layers, embeddings and attention are the encoder's, so every
attribution method works on the wrapped model too.

Training adds ``adapter.auxiliary_loss()`` (lambda times the sharpness penalty
of the last forward) to the cross-entropy. A saved model is a directory with
``depthlens_self_explaining.json``, ``span_head.safetensors`` and the encoder in
``encoder/``; :func:`load_self_explaining` restores it.
"""
from __future__ import annotations

import json
from pathlib import Path

import torch
from torch import nn

from ..errors import InputError
from ..models.adapter import AttentionParts, Batch, ModelAdapter
from ..models.hooks import layer_hooks
from ..models.loading import SELF_EXPLAINING_FILE
from .sic import REGULARIZERS, SpanHead, SpanOutput, WordLayout, sharpness_penalty

HEAD_FILE = "span_head.safetensors"
ENCODER_DIR = "encoder"
FORMAT_VERSION = 1


class SelfExplainingModel(nn.Module):
    """The trainable whole: ``encoder`` (the wrapped adapter's model) and ``head``."""

    def __init__(self, encoder: nn.Module, head: SpanHead):
        super().__init__()
        self.encoder = encoder
        self.head = head


class SelfExplainingAdapter(ModelAdapter):
    """A ModelAdapter whose logits come from the span head on top of ``encoder``'s last state.

    settings: ``max_width`` (words per span, None = all spans), ``uniform``
    (AvgSelf-Explaining), ``lam`` and ``regularizer`` (the training penalty).
    After every forward, ``last`` holds the :class:`SpanOutput` and ``layout``
    the :class:`WordLayout` of that batch.
    """

    def __init__(self, encoder: ModelAdapter, head: SpanHead, *, lam: float = 1.0,
                 regularizer: str = "square", name: str = ""):
        check_settings(head.sic.max_width, lam, regularizer)
        self.encoder = encoder
        self.model = SelfExplainingModel(encoder.model, head).eval()
        self.tokenizer = encoder.tokenizer
        self.labels = list(encoder.labels)
        self.max_length = encoder.max_length
        self.supports_pairs = encoder.supports_pairs
        self.name = name or f"self-explaining {encoder.name}"
        self.lam = float(lam)
        self.regularizer = regularizer
        self.last: SpanOutput | None = None
        self.layout: WordLayout | None = None
        for p in head.parameters():
            p.requires_grad_(False)

    @property
    def head(self) -> SpanHead:
        return self.model.head

    # ------------------------------------------------------------ delegation
    def layer_modules(self) -> list[nn.Module]:
        return self.encoder.layer_modules()

    def word_embeddings(self) -> nn.Embedding:
        return self.encoder.word_embeddings()

    def attention_parts(self, batch: Batch) -> AttentionParts:
        return self.encoder.attention_parts(batch)

    @property
    def has_mlm_head(self) -> bool:
        return self.encoder.has_mlm_head

    def mlm_logits(self, states: torch.Tensor) -> torch.Tensor:
        return self.encoder.mlm_logits(states)

    # --------------------------------------------------------------- running
    def _logits(self, batch: Batch, inputs_embeds, output_attentions):
        """Encoder forward with its last state captured, then the span head: logits (B, C)."""
        with layer_hooks(self.encoder.layer_modules()[-1:]) as captured:
            encoded = self.encoder.forward(batch, inputs_embeds=inputs_embeds,
                                           output_attentions=output_attentions)
        self.layout = WordLayout.of(batch)
        self.last = self.head(captured[0], self.layout)
        return self.last.logits, encoded.attentions

    def auxiliary_loss(self) -> torch.Tensor:
        """lam x mean sharpness penalty of the last forward (scalar, in its autograd graph).

        Add it to the cross-entropy of the same forward. With the 'square'
        regularizer it is -lam x mean sum alpha^2, so it is negative; it is 0
        for AvgSelf-Explaining, whose alpha has no parameters.
        """
        if self.last is None:
            raise InputError("auxiliary_loss needs a forward pass first; call forward(batch)")
        if self.head.uniform or self.lam == 0:
            return self.last.logits.new_zeros(())
        return self.lam * sharpness_penalty(self.last.alpha, self.last.mask,
                                            self.regularizer).mean()

    @torch.no_grad()
    def span_weights(self, batch: Batch) -> SpanOutput:
        """One no-grad forward; the span weights etc. of ``batch`` (see :class:`SpanOutput`)."""
        self.forward(batch)
        return self.last

    # ------------------------------------------------------------------ save
    def save(self, directory) -> None:
        """Write the encoder to ``encoder/``, the head weights and the JSON config (last)."""
        from safetensors.torch import save_file

        from ..io import atomic_path, atomic_write_text

        directory = Path(directory)
        directory.mkdir(parents=True, exist_ok=True)
        self.encoder.save(directory / ENCODER_DIR)
        state = {k: v.detach().contiguous() for k, v in self.head.state_dict().items()}
        with atomic_path(directory / HEAD_FILE) as tmp:
            save_file(state, str(tmp))
        config = {"format": FORMAT_VERSION, "labels": self.labels, "dim": head_dim(self.head),
                  "max_width": self.head.sic.max_width, "uniform": self.head.uniform,
                  "dropout": self.head.dropout.p, "lam": self.lam,
                  "regularizer": self.regularizer}
        atomic_write_text(directory / SELF_EXPLAINING_FILE, json.dumps(config, indent=2) + "\n")


def head_dim(head: SpanHead) -> int:
    return head.output.in_features


def check_settings(max_width, lam, regularizer) -> None:
    """InputError unless max_width is None or an int >= 1, lam >= 0, regularizer known."""
    if max_width is not None and (isinstance(max_width, bool) or not isinstance(max_width, int)
                                  or max_width < 1):
        raise InputError(f"max_width must be None (all spans) or an integer >= 1; got {max_width!r}")
    if not isinstance(lam, (int, float)) or isinstance(lam, bool) or not lam >= 0:
        raise InputError(f"lambda must be a number >= 0; got {lam!r}")
    if regularizer not in REGULARIZERS:
        raise InputError(f"regularizer must be one of {', '.join(REGULARIZERS)}; "
                         f"got {regularizer!r}")


def make_self_explaining(encoder: ModelAdapter, *, lam: float = 1.0,
                         max_width: int | None = None, regularizer: str = "square",
                         uniform: bool = False, dropout: float = 0.1, seed: int = 0,
                         name: str = "") -> SelfExplainingAdapter:
    """Put a freshly initialised (seeded) span head on ``encoder`` (its labels are kept).

    The head's width D is the encoder's last-state width, read from one
    forward pass on a short text.
    """
    check_settings(max_width, lam, regularizer)
    if isinstance(encoder, SelfExplainingAdapter):
        raise InputError(f"model {encoder.name!r} is already self-explaining; wrap a plain encoder")
    with torch.no_grad(), layer_hooks(encoder.layer_modules()[-1:]) as captured:
        encoder.forward(encoder.encode(["a"]))
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        head = SpanHead(captured[0].shape[-1], len(encoder.labels), max_width, uniform, dropout)
    return SelfExplainingAdapter(encoder, head, lam=lam, regularizer=regularizer, name=name)


def load_self_explaining(path, name: str = "") -> SelfExplainingAdapter:
    """Restore a model written by :meth:`SelfExplainingAdapter.save`."""
    from safetensors.torch import load_file

    from ..models.loading import load_directory

    path = Path(path)
    config = json.loads((path / SELF_EXPLAINING_FILE).read_text(encoding="utf-8"))
    if config.get("format", 0) > FORMAT_VERSION:
        raise InputError(f"{SELF_EXPLAINING_FILE} format must be <= {FORMAT_VERSION}; got "
                         f"{config['format']} (upgrade depthlens)")
    if not (path / HEAD_FILE).is_file():
        raise InputError(f"directory {str(path)!r} must hold {HEAD_FILE}; it is missing")
    encoder = load_directory(path / ENCODER_DIR, name=str(path / ENCODER_DIR))
    head = SpanHead(config["dim"], len(config["labels"]), config["max_width"], config["uniform"],
                    config["dropout"])
    head.load_state_dict(load_file(str(path / HEAD_FILE)))
    return SelfExplainingAdapter(encoder, head, lam=config["lam"],
                                 regularizer=config["regularizer"], name=name or str(path))
