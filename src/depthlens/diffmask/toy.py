"""The paper's toy task and model (sec. 4.1): are there more n than m in a digit sequence?

Texts are ``"n m | d1 ... dk"`` (:func:`depthlens.data.more_n_than_m`, k <= 10).
The model embeds every token (state 0, 64-d, so the layer-0 probe sees one
token alone); the feed-forward layer concatenates each position's embedding
with those of the query digits n and m and maps it through one hidden layer
to a 2-d output per position (state 1, the bottleneck whose attribution has a
known ground truth); a unidirectional GRU reads the digit positions only
(state 2, 0 at the query positions); a linear classifier reads its last state.
"""
from __future__ import annotations

import json
import re
from pathlib import Path

import torch
from torch import nn
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

from ..data import Dataset, Example, more_n_than_m
from ..errors import InputError
from ..models.adapter import Batch, ModelAdapter

VOCAB = [str(d) for d in range(10)] + ["|", "[PAD]"]
PAD_ID = VOCAB.index("[PAD]")
QUERY = 3           # positions 0, 1 hold n and m, position 2 the separator
MAX_DIGITS = 10
LABELS = ["not more", "more"]
CONFIG_FILE = "toy_model.json"
WEIGHTS_FILE = "model.safetensors"


class QueryFeedForward(nn.Sequential):
    """State 1: MLP([e(n); e(m); e(x_t)]) at every position t, (B, T, E) -> (B, T, bottleneck)."""

    def __init__(self, embed: int, hidden: int, bottleneck: int):
        super().__init__(nn.Linear(3 * embed, hidden), nn.Tanh(), nn.Linear(hidden, bottleneck))

    def forward(self, words: torch.Tensor) -> torch.Tensor:
        query = words[:, :2].reshape(words.shape[0], 1, -1).expand(-1, words.shape[1], -1)
        return super().forward(torch.cat([query, words], -1))


class DigitGRU(nn.Module):
    """State 2: a GRU over the digit positions.

    (B, T, 2), lengths (B,) -> (B, T, H), 0 at the query positions.
    """

    def __init__(self, dim: int, hidden: int):
        super().__init__()
        self.rnn = nn.GRU(dim, hidden, batch_first=True)

    def forward(self, x: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        digits = x[:, QUERY:]
        packed = pack_padded_sequence(digits, (lengths - QUERY).cpu(), batch_first=True,
                                      enforce_sorted=False)
        out, _ = pad_packed_sequence(self.rnn(packed)[0], batch_first=True,
                                     total_length=digits.shape[1])
        return torch.cat([out.new_zeros(x.shape[0], QUERY, out.shape[-1]), out], 1)


class ToyModel(nn.Module):
    """Embeddings (64) -> QueryFeedForward (hidden, 2) -> DigitGRU -> linear (2)."""

    def __init__(self, embed: int = 64, hidden: int = 64, bottleneck: int = 2, gru: int = 64):
        super().__init__()
        self.hparams = dict(embed=embed, hidden=hidden, bottleneck=bottleneck, gru=gru)
        self.embedding = nn.Embedding(len(VOCAB), embed, padding_idx=PAD_ID)
        self.embedded = nn.Identity()  # marks state 0
        self.feed_forward = QueryFeedForward(embed, hidden, bottleneck)
        self.gru = DigitGRU(bottleneck, gru)
        self.head = nn.Linear(gru, len(LABELS))

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor,
                inputs_embeds: torch.Tensor | None = None) -> torch.Tensor:
        """Logits (B, 2) from ids (B, T) or word embeddings (B, T, E)."""
        words = self.embedding(input_ids) if inputs_embeds is None else inputs_embeds
        lengths = attention_mask.sum(1)
        states = self.gru(self.feed_forward(self.embedded(words)), lengths)
        return self.head(states[torch.arange(states.shape[0]), lengths - 1])


class ToyTokenizer:
    """Whitespace tokenizer over VOCAB; no [MASK] or [UNK] token."""

    pad_token_id = PAD_ID
    mask_token_id = None
    unk_token_id = None


class ToyAdapter(ModelAdapter):
    """ModelAdapter of :class:`ToyModel`; encodes ``"n m | digits"`` texts itself."""

    supports_pairs = False

    def __init__(self, model: ToyModel, name: str = "toy-more-n-than-m"):
        self.model = model.eval()
        self.tokenizer = ToyTokenizer()
        self.labels = list(LABELS)
        self.name = name
        self.max_length = QUERY + MAX_DIGITS
        for p in self.model.parameters():
            p.requires_grad_(False)

    @property
    def layer_names(self) -> list[str]:
        return ["embeddings", "feed-forward", "gru"]

    def layer_modules(self) -> list[nn.Module]:
        return [self.model.embedded, self.model.feed_forward, self.model.gru]

    def word_embeddings(self) -> nn.Embedding:
        return self.model.embedding

    def _logits(self, batch: Batch, inputs_embeds, output_attentions):
        return self.model(batch.input_ids, batch.attention_mask, inputs_embeds), []

    def encode(self, texts, pairs=None, truncate: bool = False) -> Batch:
        """(B, T) ids of ``"n m | d1 ... dk"`` texts.

        The query (n, m, '|') is a side input, not part of the attributed
        sequence: its three positions are special tokens (word id None), like
        [CLS]; the digits are words 0..k-1.
        """
        texts = list(texts)
        if pairs is not None:
            raise InputError(f"model {self.name!r} takes single texts, not pairs; drop the pair")
        found = [[(m.group(), m.span()) for m in re.finditer(r"\S+", t)] for t in texts]
        warnings: list[list[str]] = [[] for _ in texts]
        for i, words in enumerate(found):
            tokens = [w for w, _ in words]
            if (len(tokens) <= QUERY or tokens[2] != "|"
                    or any(w not in VOCAB[:10] for w in tokens[:2] + tokens[QUERY:])):
                raise InputError(f"text {i} must look like 'n m | d1 d2 ...' (digits 0-9); "
                                 f"got {texts[i]!r}")
            if len(tokens) > self.max_length:
                if not truncate:
                    raise InputError(f"text {i} has {len(tokens) - QUERY} digits; model "
                                     f"{self.name!r} takes at most {MAX_DIGITS}; shorten it or "
                                     f"pass truncate=True")
                warnings[i].append(f"truncated from {len(tokens)} to {self.max_length} tokens")
                found[i] = words[:self.max_length]
        width = max(len(w) for w in found)
        ids = torch.full((len(texts), width), PAD_ID, dtype=torch.long)
        for i, words in enumerate(found):
            ids[i, :len(words)] = torch.tensor([VOCAB.index(w) for w, _ in words])
        word_ids = [[None] * QUERY + list(range(len(w) - QUERY)) for w in found]
        return Batch(texts=texts, pairs=None, input_ids=ids,
                     attention_mask=(ids != PAD_ID).long(), token_type_ids=None,
                     tokens=[[w for w, _ in words] for words in found],
                     offsets=[[s for _, s in words] for words in found], word_ids=word_ids,
                     sequence_ids=[[None if w is None else 0 for w in wids] for wids in word_ids],
                     warnings=warnings)

    def save(self, directory) -> None:
        """Write ``model.safetensors`` then ``toy_model.json``; :meth:`load` restores them."""
        from safetensors.torch import save_file

        from ..io import atomic_path, atomic_write_text

        directory = Path(directory)
        directory.mkdir(parents=True, exist_ok=True)
        state = {k: v.detach().contiguous() for k, v in self.model.state_dict().items()}
        with atomic_path(directory / WEIGHTS_FILE) as tmp:
            save_file(state, str(tmp))
        atomic_write_text(directory / CONFIG_FILE, json.dumps(self.model.hparams))

    @classmethod
    def load(cls, directory, name: str = "toy-more-n-than-m") -> "ToyAdapter":
        from ..models.small import read_weights

        directory = Path(directory)
        if not (directory / CONFIG_FILE).is_file():
            raise InputError(f"directory {str(directory)!r} must hold {CONFIG_FILE} (a toy model "
                             f"written by ToyAdapter.save); it is missing")
        model = ToyModel(**json.loads((directory / CONFIG_FILE).read_text()))
        read_weights(directory, model)
        return cls(model, name)


def toy_data(n_examples: int = 10_000, seed: int = 0, dev_fraction: float = 0.1
             ) -> tuple[Dataset, Dataset]:
    """The paper's 10k examples (1-10 digits), split into train and validation (10%).

    Example meta ``hidden_truth``: per token, 1.0 at digit positions holding n
    or m (the ground truth for attribution to the feed-forward states), else 0.
    """
    examples = []
    for i, toy in enumerate(more_n_than_m(n_examples, seed=seed, length=(1, MAX_DIGITS))):
        n, m = toy.meta["n"], toy.meta["m"]
        truth = [0.0] * QUERY + [float(d in (n, m)) for d in toy.meta["digits"]]
        examples.append(Example(text=toy.text, label=toy.label, id=str(i),
                                meta={"hidden_truth": truth, **toy.meta}))
    cut = n_examples - int(round(n_examples * dev_fraction))
    return (Dataset("more_n_than_m", "train", examples[:cut], list(LABELS)),
            Dataset("more_n_than_m", "dev", examples[cut:], list(LABELS)))


def train_toy(out: str | Path, seed: int = 0, epochs: int = 20, n_examples: int = 10_000,
              progress: bool = True) -> tuple[ToyAdapter, float]:
    """Train the toy model on :func:`toy_data` (Adam 1e-3, batch 64) and save it to ``out``.

    Returns the adapter and its validation accuracy.
    """
    from ..training import accuracy, train_classifier

    train, dev = toy_data(n_examples, seed)
    torch.manual_seed(seed)
    adapter = ToyAdapter(ToyModel())
    train_classifier(adapter, train, out, dev=dev, epochs=epochs, lr=1e-3, batch_size=64,
                     seed=seed, warmup=0.0, weight_decay=0.0, progress=progress)
    return adapter, accuracy(adapter, dev)
