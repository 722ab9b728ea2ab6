"""Seq2seq LSTM with attention for the "reverse a sequence" toy task (Guan et al., 2019).

Source texts are whitespace-separated symbols of a small word-level vocabulary
(``s0 s1 ...``); the gold output is the reversed source followed by [EOS].
:class:`Seq2SeqAdapter` presents the output at one decoder step, teacher-forced
on the gold prefix, as a classifier over the vocabulary, so attribution
methods apply unchanged (``adapter.at_step(t)`` or ``forward_step``). States
0..L are the source embeddings and the encoder layers.
"""
from __future__ import annotations

import copy
import random
import re
from pathlib import Path
from typing import Sequence

import torch
import torch.nn.functional as F
from torch import nn

from ..errors import InputError, ModelCapabilityError
from .adapter import Batch, ForwardOutput, ModelAdapter, _check_texts
from .hooks import Edit
from .small import (MAX_POSITIONS, Embeddings, RecurrentBlock, check_int, read_weights,
                    write_checkpoint)

SEQ2SEQ_ARCH = "seq2seq_lstm"
SPECIALS = ("[PAD]", "[UNK]", "[MASK]", "[BOS]", "[EOS]")


class SymbolVocab:
    """Word-level vocabulary: the specials, then the symbols; token i has id i."""

    pad_token_id, unk_token_id, mask_token_id, bos_token_id, eos_token_id = range(len(SPECIALS))

    def __init__(self, symbols: Sequence[str]):
        self.tokens = [*SPECIALS, *symbols]
        self._ids = {t: i for i, t in enumerate(self.tokens)}
        if len(self._ids) != len(self.tokens) or any(not s or s.split() != [s] for s in symbols):
            raise InputError(f"symbols must be distinct non-special words without spaces; "
                             f"got {list(symbols)!r}")

    @classmethod
    def of_size(cls, n: int) -> "SymbolVocab":
        """Symbols s0 .. s{n-1}."""
        return cls([f"s{i}" for i in range(n)])

    @property
    def symbols(self) -> list[str]:
        return self.tokens[len(SPECIALS):]

    def __len__(self) -> int:
        return len(self.tokens)

    def __contains__(self, token: str) -> bool:
        return token in self._ids

    def convert_ids_to_tokens(self, ids: Sequence[int]) -> list[str]:
        return [self.tokens[i] for i in ids]

    def convert_tokens_to_ids(self, tokens: Sequence[str]) -> list[int]:
        return [self._ids.get(t, self.unk_token_id) for t in tokens]


class Seq2SeqLSTM(nn.Module):
    """Encoder: embeddings + L single-layer (bi)LSTMs, states (B, T, D).

    Decoder: an LSTMCell fed [previous token; previous attentional state];
    bilinear attention whose keys are the encoder states plus a convolution of
    the previous step's attention weights (location-aware, Chorowski et al.
    2015: this makes the step-by-step leftward shift easy to learn); attentional
    state h~ = tanh(W [context; h]) (B, D); logits W_o h~ (B, V).
    """

    def __init__(self, vocab_size: int, dim: int = 64, layers: int = 1, bidirectional: bool = True,
                 dropout: float = 0.0, pad_id: int = SymbolVocab.pad_token_id):
        super().__init__()
        self.hparams = dict(vocab_size=vocab_size, dim=dim, layers=layers,
                            bidirectional=bidirectional, dropout=dropout, pad_id=pad_id)
        self.embeddings = Embeddings(vocab_size, dim, dropout, pad_id)
        self.blocks = nn.ModuleList(RecurrentBlock(nn.LSTM, dim, bidirectional, dropout)
                                    for _ in range(layers))
        # A table of its own: hooks on state 0 must see only the source.
        self.decoder_embeddings = nn.Embedding(vocab_size, dim)
        self.decoder = nn.LSTMCell(2 * dim, dim)
        self.score = nn.Linear(dim, dim, bias=False)
        self.location = nn.Conv1d(1, dim, 3, padding=1, bias=False)
        self.combine = nn.Linear(2 * dim, dim)
        self.output = nn.Linear(dim, vocab_size)

    def encode(self, input_ids: torch.Tensor, attention_mask: torch.Tensor,
               inputs_embeds: torch.Tensor | None = None) -> torch.Tensor:
        """Top encoder states (B, T, D), from ids or source token embeddings."""
        x = self.embeddings(self.embeddings.word(input_ids) if inputs_embeds is None
                            else inputs_embeds)
        mask = attention_mask.bool()
        for block in self.blocks:
            x, _ = block(x, mask)
        return x

    def start(self, memory: torch.Tensor) -> tuple[torch.Tensor, ...]:
        """Initial carry, all zeros: h, c, attentional state (B, D), attention weights (B, T)."""
        zeros = memory.new_zeros(memory.shape[0], memory.shape[2])
        return zeros, zeros, zeros, memory.new_zeros(memory.shape[:2])

    def step(self, memory: torch.Tensor, mask: torch.Tensor, tokens: torch.Tensor,
             carry: tuple[torch.Tensor, ...]) -> tuple[torch.Tensor, tuple[torch.Tensor, ...]]:
        """One decoder step from previous tokens (B,): (logits (B, V), new carry)."""
        h, c, state, weights = carry
        h, c = self.decoder(torch.cat([self.decoder_embeddings(tokens), state], -1), (h, c))
        keys = memory + self.location(weights[:, None]).transpose(1, 2)        # (B, T, D)
        scores = (keys @ self.score(h)[:, :, None])[..., 0]
        weights = scores.masked_fill(~mask.bool(), float("-inf")).softmax(-1)   # (B, T)
        context = (weights[:, None, :] @ memory)[:, 0]                         # (B, D)
        state = torch.tanh(self.combine(torch.cat([context, h], -1)))
        return self.output(state), (h, c, state, weights)

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor,
                decoder_inputs: torch.Tensor, inputs_embeds: torch.Tensor | None = None
                ) -> tuple[torch.Tensor, torch.Tensor]:
        """Teacher forcing on decoder_inputs (B, S): logits (B, S, V), attentional states
        (B, S, D)."""
        memory = self.encode(input_ids, attention_mask, inputs_embeds)
        carry = self.start(memory)
        logits, states = [], []
        for s in range(decoder_inputs.shape[1]):
            out, carry = self.step(memory, attention_mask, decoder_inputs[:, s], carry)
            logits.append(out)
            states.append(carry[2])
        return torch.stack(logits, 1), torch.stack(states, 1)


class Seq2SeqAdapter(ModelAdapter):
    """The reversal model as a classifier of the output at decoder step ``step``.

    labels are the vocabulary tokens (logits are (B, V)); the gold output at
    step t of an example with n tokens is its token n-1-t, or [EOS] at t = n.
    The teacher-forced prefix is read from ``batch.tokens``, so methods that
    replace input ids or embeddings still condition on the gold prefix.
    """

    supports_pairs = False

    def __init__(self, model: Seq2SeqLSTM, vocab: SymbolVocab, name: str = "", step: int = 0):
        self.model = model.eval()
        self.tokenizer = vocab
        self.labels = list(vocab.tokens)
        self.name = name or "seq2seq-reverse"
        self.max_length = MAX_POSITIONS
        self.step = step
        for p in self.model.parameters():
            p.requires_grad_(False)

    @classmethod
    def from_config(cls, path: Path, config: dict, name: str) -> "Seq2SeqAdapter":
        """Rebuild from a parsed ``depthlens_model.json`` and the weights in ``path``."""
        model = Seq2SeqLSTM(**config["hyperparameters"])
        read_weights(path, model)
        return cls(model, SymbolVocab(config["symbols"]), name=name)

    def save(self, directory) -> None:
        """Write config (with the symbols) and weights for ``load_model(directory)``."""
        directory = Path(directory)
        directory.mkdir(parents=True, exist_ok=True)
        write_checkpoint(directory, self.model, {
            "arch": SEQ2SEQ_ARCH, "hyperparameters": self.model.hparams,
            "symbols": self.tokenizer.symbols, "supports_pairs": False})

    def layer_modules(self) -> list[nn.Module]:
        return [self.model.embeddings, *self.model.blocks]

    def word_embeddings(self) -> nn.Embedding:
        return self.model.embeddings.word

    # ------------------------------------------------------------ encoding
    def encode(self, texts: Sequence[str], pairs: Sequence[str] | None = None,
               truncate: bool = False) -> Batch:
        """Whitespace words as tokens (unknown ones read as [UNK], with a warning); no specials."""
        texts = list(texts)
        _check_texts(texts, "text")
        if pairs is not None:
            raise InputError(f"model {self.name!r} takes single texts, not pairs; "
                             f"drop the pair (--pair)")
        vocab = self.tokenizer
        tokens, offsets, warnings = [], [], []
        for i, text in enumerate(texts):
            words = list(re.finditer(r"\S+", text))
            notes = []
            if len(words) > self.max_length:
                if not truncate:
                    raise InputError(
                        f"text {i} is {len(words)} tokens; model {self.name!r} takes at most "
                        f"{self.max_length}; shorten it or pass truncate=True (--truncate)")
                notes.append(f"truncated from {len(words)} to {self.max_length} tokens")
                words = words[:self.max_length]
            unknown = sorted({m.group() for m in words} - set(vocab.tokens))
            if unknown:
                notes.append(f"unknown symbols read as [UNK]: {', '.join(unknown)}")
            tokens.append([m.group() if m.group() in vocab else SPECIALS[vocab.unk_token_id]
                           for m in words])
            offsets.append([m.span() for m in words])
            warnings.append(notes)
        width = max(map(len, tokens))
        input_ids = torch.full((len(texts), width), vocab.pad_token_id, dtype=torch.long)
        attention_mask = torch.zeros((len(texts), width), dtype=torch.long)
        for i, toks in enumerate(tokens):
            input_ids[i, :len(toks)] = torch.tensor(vocab.convert_tokens_to_ids(toks))
            attention_mask[i, :len(toks)] = 1
        return Batch(texts=texts, pairs=None, input_ids=input_ids, attention_mask=attention_mask,
                     token_type_ids=None, tokens=tokens, offsets=offsets,
                     word_ids=[list(range(len(t))) for t in tokens],
                     sequence_ids=[[0] * len(t) for t in tokens], warnings=warnings)

    def gold(self, batch: Batch) -> torch.Tensor:
        """(B, T+1) gold outputs: each example's tokens reversed, then [EOS], then [PAD]."""
        vocab = self.tokenizer
        out = torch.full((len(batch), max(batch.lengths) + 1), vocab.pad_token_id, dtype=torch.long)
        for i, toks in enumerate(batch.tokens):
            out[i, :len(toks) + 1] = torch.tensor(
                vocab.convert_tokens_to_ids(toks[::-1]) + [vocab.eos_token_id])
        return out

    def gold_targets(self, batch: Batch, step: int) -> torch.Tensor:
        """(B,) the gold output id at ``step`` (teacher-forcing target)."""
        self._check_step(batch, step)
        return self.gold(batch)[:, step]

    # --------------------------------------------------------------- running
    def at_step(self, step: int) -> "Seq2SeqAdapter":
        """A view of this adapter (same model) whose logits are the output at ``step``."""
        check_int("step", step, 0)
        view = copy.copy(self)
        view.step = step
        return view

    def forward_step(self, batch: Batch, step: int, inputs_embeds: torch.Tensor | None = None,
                     edits: dict[int, Edit] | None = None,
                     output_states: bool = False) -> ForwardOutput:
        """ForwardOutput whose logits (B, V) are the output distribution at ``step``."""
        return self.at_step(step).forward(batch, inputs_embeds=inputs_embeds, edits=edits,
                                          output_states=output_states)

    def decoder_state(self, batch: Batch, step: int,
                      inputs_embeds: torch.Tensor | None = None) -> torch.Tensor:
        """(B, D) attentional decoder state h~ at ``step`` (the vector the output layer reads)."""
        return self._run(batch, step, inputs_embeds)[1]

    def _check_step(self, batch: Batch, step: int) -> None:
        check_int("step", step, 0)
        if step > min(batch.lengths):
            raise InputError(f"step must be in [0, {min(batch.lengths)}] (the shortest text's "
                             f"length; the last step predicts [EOS]); got {step}")

    def _run(self, batch: Batch, step: int, inputs_embeds) -> tuple[torch.Tensor, torch.Tensor]:
        """Logits (B, V) and attentional state (B, D) at ``step`` on the gold prefix."""
        self._check_step(batch, step)
        gold = self.gold(batch)
        bos = torch.full((len(batch), 1), self.tokenizer.bos_token_id, dtype=torch.long)
        decoder_inputs = torch.cat([bos, gold[:, :step]], 1)
        logits, states = self.model(batch.input_ids, batch.attention_mask, decoder_inputs,
                                    inputs_embeds)
        return logits[:, -1], states[:, -1]

    def _logits(self, batch: Batch, inputs_embeds, output_attentions):
        if output_attentions:
            raise ModelCapabilityError(f"model {self.name!r} has no self-attention; use an "
                                       f"attention-free method such as gradient")
        return self._run(batch, self.step, inputs_embeds)[0], []

    @torch.no_grad()
    def generate(self, batch: Batch) -> list[str]:
        """Greedy decoding, at most (longest text + 1) steps: one output text per example."""
        model, vocab = self.model, self.tokenizer
        memory = model.encode(batch.input_ids, batch.attention_mask)
        carry = model.start(memory)
        tokens = torch.full((len(batch),), vocab.bos_token_id, dtype=torch.long)
        outputs = []
        for _ in range(max(batch.lengths) + 1):
            logits, carry = model.step(memory, batch.attention_mask, tokens, carry)
            tokens = logits.argmax(-1)
            outputs.append(tokens)
        texts = []
        for ids in torch.stack(outputs, 1).tolist():
            ids = ids[:ids.index(vocab.eos_token_id)] if vocab.eos_token_id in ids else ids
            texts.append(" ".join(vocab.convert_ids_to_tokens(ids)))
        return texts


# ------------------------------------------------------------------ toy task
def reverse_exact_match(adapter: Seq2SeqAdapter, batch: Batch) -> float:
    """Fraction of examples whose greedy output is exactly the reversed input."""
    outputs = adapter.generate(batch)
    return sum(out.split() == toks[::-1] for out, toks in zip(outputs, batch.tokens)) / len(batch)


def train_seq2seq_reverse(n_train: int = 5000, seed: int = 0, epochs: int = 30,
                          vocab_size: int = 20, length: tuple[int, int] = (5, 10), *,
                          dim: int = 64, heldout: int = 500, batch_size: int = 64,
                          lr: float = 3e-3, target: float = 0.99) -> tuple[Seq2SeqAdapter, float]:
    """Train the reversal model on seeded random symbol sequences.

    Sequence lengths are uniform in ``length`` (inclusive). Training stops at
    the first epoch whose exact match on ``heldout`` fresh sequences reaches
    ``target`` (or after ``epochs``). Returns (adapter, held-out exact match).
    """
    for what, value in (("n_train", n_train), ("epochs", epochs), ("vocab_size", vocab_size),
                        ("heldout", heldout), ("batch_size", batch_size), ("dim", dim)):
        check_int(what, value, 1)
    if dim % 2:
        raise InputError(f"dim must be even (bidirectional encoder); got {dim}")
    if not (len(length) == 2 and 1 <= length[0] <= length[1]):
        raise InputError(f"length must be (min, max) with 1 <= min <= max; got {length!r}")
    rng = random.Random(seed)
    vocab = SymbolVocab.of_size(vocab_size)
    texts = [" ".join(rng.choices(vocab.symbols, k=rng.randint(*length)))
             for _ in range(n_train + heldout)]
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = Seq2SeqLSTM(len(vocab), dim=dim)
        adapter = Seq2SeqAdapter(model, vocab, name=f"seq2seq-reverse-{vocab_size}")
        train, test = adapter.encode(texts[:n_train]), adapter.encode(texts[n_train:])
        params = list(model.parameters())
        optimizer = torch.optim.Adam(params, lr=lr)
        accuracy = 0.0
        for _ in range(epochs):
            model.train()
            for p in params:
                p.requires_grad_(True)
            for index in torch.randperm(n_train).split(batch_size):
                sub = train.select(index.tolist())
                gold = adapter.gold(sub)
                bos = torch.full((len(sub), 1), vocab.bos_token_id, dtype=torch.long)
                logits, _ = model(sub.input_ids, sub.attention_mask,
                                  torch.cat([bos, gold[:, :-1]], 1))
                loss = F.cross_entropy(logits.flatten(0, 1), gold.flatten(),
                                       ignore_index=vocab.pad_token_id)
                optimizer.zero_grad()
                loss.backward()
                optimizer.step()
            model.eval()
            for p in params:
                p.requires_grad_(False)
            accuracy = reverse_exact_match(adapter, test)
            if accuracy >= target:
                break
    return adapter, accuracy

