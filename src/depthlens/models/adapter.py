"""ModelAdapter: the only interface methods use to reach into a model.

Layer numbering is flat: state 0 is the embedding output, states 1..L are the
outputs of the L blocks (transformer layers, RNN layers, conv layers).
Subclasses provide the modules whose outputs are those states, the word
embedding module and how to run the model; this base class provides encoding,
hidden-state capture, layer editing and gradients through hooks that live only
inside context managers.
"""
from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from typing import Sequence

import torch
from torch import nn

from ..errors import InputError, ModelCapabilityError
from .hooks import Edit, layer_hooks


@dataclass
class Batch:
    """Encoded texts (and optional pairs), padded on the right.

    input_ids, attention_mask, token_type_ids: (B, T) long tensors.
    position_ids: (B, T) explicit position ids, or None for the model's default
    (set only on batches whose erased tokens were removed, see :func:`depthlens.erasure.erase`).
    tokens/offsets/word_ids/sequence_ids: per example, one entry per real
    (non-pad) token; word ids are global across text and pair.
    """

    texts: list[str]
    pairs: list[str] | None
    input_ids: torch.Tensor
    attention_mask: torch.Tensor
    token_type_ids: torch.Tensor | None
    tokens: list[list[str]]
    offsets: list[list[tuple[int, int]]]
    word_ids: list[list[int | None]]
    sequence_ids: list[list[int | None]]
    warnings: list[list[str]] = field(default_factory=list)
    position_ids: torch.Tensor | None = None

    def __len__(self) -> int:
        return len(self.texts)

    @property
    def lengths(self) -> list[int]:
        return [len(t) for t in self.tokens]

    @property
    def special_mask(self) -> torch.Tensor:
        """(B, T) bool: True at special tokens ([CLS], [SEP]) and padding."""
        mask = torch.ones_like(self.input_ids, dtype=torch.bool)
        for i, wids in enumerate(self.word_ids):
            mask[i, :len(wids)] = torch.tensor([w is None for w in wids], dtype=torch.bool)
        return mask

    def select(self, index: Sequence[int]) -> "Batch":
        """The sub-batch of examples ``index`` (padding trimmed to the longest)."""
        index = list(index)
        width = max(len(self.tokens[i]) for i in index)
        pick = lambda xs: [xs[i] for i in index]  # noqa: E731
        return Batch(
            texts=pick(self.texts), pairs=pick(self.pairs) if self.pairs else None,
            input_ids=self.input_ids[index, :width],
            attention_mask=self.attention_mask[index, :width],
            token_type_ids=None if self.token_type_ids is None else self.token_type_ids[index, :width],
            tokens=pick(self.tokens), offsets=pick(self.offsets), word_ids=pick(self.word_ids),
            sequence_ids=pick(self.sequence_ids),
            warnings=pick(self.warnings) if self.warnings else [],
            position_ids=None if self.position_ids is None else self.position_ids[index, :width],
        )

    def repeat(self, n: int) -> "Batch":
        """Each example repeated n times consecutively (for steps/perturbations)."""
        index = [i for i in range(len(self)) for _ in range(n)]
        return self.select(index)


@dataclass
class ForwardOutput:
    """logits: (B, C). states: L+1 tensors (B, T, D) when requested.
    attentions: L tensors (B, H, T, T) when requested."""

    logits: torch.Tensor
    states: list[torch.Tensor] = field(default_factory=list)
    attentions: list[torch.Tensor] = field(default_factory=list)


@dataclass
class AttentionParts:
    """Per block l: probs (B, H, T, T) and value vectors already mapped by the
    output projection, f(x) = (x W_V + b_V) W_O per head: (B, H, T, D)."""

    probs: list[torch.Tensor]
    values: list[torch.Tensor]


class ModelAdapter(ABC):
    """Uniform access to a classifier. Subclasses fill the abstract members."""

    name: str
    model: nn.Module
    tokenizer: object
    labels: list[str]
    max_length: int
    supports_pairs: bool = True

    # ------------------------------------------------------------ subclass API
    @abstractmethod
    def layer_modules(self) -> list[nn.Module]:
        """L+1 modules whose outputs are states 0..L (output tensor or tuple)."""

    @abstractmethod
    def word_embeddings(self) -> nn.Embedding:
        """The token embedding table; attributions to the input are w.r.t. its output."""

    @abstractmethod
    def _logits(self, batch: Batch, inputs_embeds: torch.Tensor | None,
                output_attentions: bool) -> tuple[torch.Tensor, list[torch.Tensor]]:
        """Run the model: logits (B, C) and attentions (L x (B, H, T, T)) if asked."""

    @abstractmethod
    def save(self, directory) -> None:
        """Write everything ``depthlens.load_model(directory)`` needs to restore this model."""

    def auxiliary_loss(self) -> torch.Tensor | None:
        """An extra training loss of the last forward (scalar) that training adds to the
        cross-entropy, or None (plain classifiers; self-explaining models override it)."""
        return None

    def attention_parts(self, batch: Batch) -> AttentionParts:
        raise ModelCapabilityError(
            f"model {self.name!r} has no attention; use an attention-free method such as gradient"
        )

    def mlm_logits(self, states: torch.Tensor) -> torch.Tensor:
        """Project hidden states (B, T, D) to vocabulary logits (B, T, V) with the MLM head."""
        raise ModelCapabilityError(
            f"model {self.name!r} has no MLM head; fit one with "
            f"`depthlens fit-lm-head --model {self.name} --data sst2:train`"
        )

    @property
    def has_mlm_head(self) -> bool:
        return False

    @property
    def first_position_id(self) -> int | None:
        """Position id of the first token if the model takes explicit absolute position ids
        (then a token no other token attends to can be removed without changing the output),
        else None."""
        return None

    # --------------------------------------------------------------- derived
    @property
    def num_layers(self) -> int:
        """L, the number of blocks; there are L+1 states."""
        return len(self.layer_modules()) - 1

    @property
    def layer_names(self) -> list[str]:
        return ["embeddings"] + [f"layer {i}" for i in range(1, self.num_layers + 1)]

    @property
    def special_ids(self) -> dict[str, int]:
        """Token ids usable as replacements: mask, pad, unk."""
        tok = self.tokenizer
        ids = {"mask": tok.mask_token_id, "pad": tok.pad_token_id, "unk": tok.unk_token_id}
        return {k: v for k, v in ids.items() if v is not None}

    def label_index(self, label: int | str) -> int:
        """Resolve a label name or index; clear error when out of range."""
        if isinstance(label, str) and label.lstrip("-").isdigit():
            label = int(label)
        if isinstance(label, int):
            if not 0 <= label < len(self.labels):
                raise InputError(
                    f"label index must be in [0, {len(self.labels) - 1}] for model {self.name!r}; "
                    f"got {label} (labels: {', '.join(self.labels)})"
                )
            return label
        lowered = [name.lower() for name in self.labels]
        if label.lower() not in lowered:
            raise InputError(
                f"label must be one of {', '.join(self.labels)} for model {self.name!r}; got {label!r}"
            )
        return lowered.index(label.lower())

    # ------------------------------------------------------------- encoding
    def encode(self, texts: Sequence[str], pairs: Sequence[str] | None = None,
               truncate: bool = False) -> Batch:
        """Tokenise texts (and pairs) with character offsets and global word ids.

        Texts longer than ``max_length`` tokens are an error unless
        ``truncate=True``, which cuts them and records a warning per example.
        """
        texts = list(texts)
        _check_texts(texts, "text")
        if pairs is not None:
            pairs = list(pairs)
            if not self.supports_pairs:
                raise InputError(
                    f"model {self.name!r} takes single texts, not pairs; drop the pair (--pair)"
                )
            if len(pairs) != len(texts):
                raise InputError(f"pairs must match texts one to one; got {len(pairs)} pairs "
                                 f"for {len(texts)} texts")
            _check_texts(pairs, "pair")
        args = (texts, pairs) if pairs is not None else (texts,)
        full = self.tokenizer(*args, add_special_tokens=True)
        warnings: list[list[str]] = [[] for _ in texts]
        too_long = [i for i, ids in enumerate(full["input_ids"]) if len(ids) > self.max_length]
        if too_long and not truncate:
            i = too_long[0]
            raise InputError(
                f"text {i} is {len(full['input_ids'][i])} tokens; model {self.name!r} takes at most "
                f"{self.max_length}; shorten it or pass truncate=True (--truncate)"
            )
        for i in too_long:
            warnings[i].append(
                f"truncated from {len(full['input_ids'][i])} to {self.max_length} tokens")
        limit = {"truncation": True, "max_length": self.max_length} if too_long else {}
        enc = self.tokenizer(*args, add_special_tokens=True, return_offsets_mapping=True,
                             padding=True, return_tensors="pt", **limit)
        tokens, offsets, word_ids, seq_ids = [], [], [], []
        for i in range(len(texts)):
            n = int(enc["attention_mask"][i].sum())
            ids = enc["input_ids"][i, :n].tolist()
            tokens.append(self.tokenizer.convert_ids_to_tokens(ids))
            seqs = enc.sequence_ids(i)[:n]
            raw = enc.word_ids(i)[:n]
            first_pair_word = 1 + max((w for w, s in zip(raw, seqs) if s == 0 and w is not None),
                                      default=-1)
            word_ids.append([None if w is None else w + (first_pair_word if s == 1 else 0)
                             for w, s in zip(raw, seqs)])
            seq_ids.append(list(seqs))
            offsets.append([(0, 0) if w is None else (int(a), int(b))
                            for (a, b), w in zip(enc["offset_mapping"][i, :n].tolist(), raw)])
        return Batch(
            texts=texts, pairs=pairs, input_ids=enc["input_ids"],
            attention_mask=enc["attention_mask"], token_type_ids=enc.get("token_type_ids"),
            tokens=tokens, offsets=offsets, word_ids=word_ids, sequence_ids=seq_ids,
            warnings=warnings,
        )

    # --------------------------------------------------------------- running
    def embed(self, batch: Batch) -> torch.Tensor:
        """Token embeddings of the batch, (B, T, D) (before positions/LayerNorm)."""
        return self.word_embeddings()(batch.input_ids)

    def forward(self, batch: Batch, inputs_embeds: torch.Tensor | None = None,
                edits: dict[int, Edit] | None = None, output_states: bool = False,
                output_attentions: bool = False) -> ForwardOutput:
        """One forward pass from ids or from token embeddings (B, T, D).

        ``edits[l]`` maps state l (B, T, D) to a replacement that the rest of
        the network consumes (gating, erasure, DiffMask). With
        ``output_states`` the L+1 states are returned, in the autograd graph,
        so one backward gives gradients for every layer.
        """
        modules = self.layer_modules()
        if edits:
            bad = [l for l in edits if not 0 <= l < len(modules)]
            if bad:
                raise InputError(f"layer must be in [0, {len(modules) - 1}]; got {bad[0]}")
        with layer_hooks(modules, edits, capture=output_states) as states:
            logits, attentions = self._logits(batch, inputs_embeds, output_attentions)
        return ForwardOutput(logits=logits, states=list(states) if output_states else [],
                             attentions=attentions)

    @torch.no_grad()
    def predict_proba(self, batch: Batch) -> torch.Tensor:
        """Class probabilities (B, C)."""
        return torch.softmax(self.forward(batch).logits, dim=-1)


def _check_texts(texts: list[str], what: str) -> None:
    if not texts:
        raise InputError(f"at least one {what} is needed; got none")
    for i, t in enumerate(texts):
        if not isinstance(t, str):
            raise InputError(f"{what} {i} must be a string; got {type(t).__name__}")
        if not t.strip():
            raise InputError(f"{what} {i} is empty or whitespace only; give some words to explain")
