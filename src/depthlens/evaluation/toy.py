"""A model whose true attributions are known: the additive classifier.

``AdditiveAdapter(weights)`` scores a text as logit(positive) = sum of the
weights of its attended words (special tokens weigh 0), logit(negative) = 0.
Erasing a word removes exactly its weight (whatever the erasure mode, since
[MASK]/[PAD]/[UNK] weigh 0 and masked-out positions are not summed), so
comprehensiveness, sufficiency and hiding curves can be computed by hand and
the oracle explanation (each word's weight, signed towards the target) is
the best possible ranking. :func:`word_tokenizer` builds the fast tokenizer
it uses, also handy for tiny random HuggingFace models in tests.
"""
from __future__ import annotations

from typing import Mapping, Sequence

import torch
from torch import nn

from ..errors import InputError, ModelCapabilityError
from ..explanation import ExplanationSet
from ..models.adapter import Batch, ModelAdapter
from .external import from_scores

SPECIALS = ("[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]")


def word_tokenizer(words: Sequence[str], max_length: int = 512):
    """A BERT-style fast tokenizer with one id per (lower-cased) word of ``words``.

    Ids 0-4 are [PAD] [UNK] [CLS] [SEP] [MASK]; texts are split like BERT
    (whitespace and punctuation); pairs are '[CLS] a [SEP] b [SEP]'.
    """
    from tokenizers import Tokenizer, models, normalizers, pre_tokenizers, processors
    from transformers import PreTrainedTokenizerFast

    vocab = {t: i for i, t in enumerate(SPECIALS)}
    for w in words:
        vocab.setdefault(w.lower(), len(vocab))
    tok = Tokenizer(models.WordLevel(vocab, unk_token="[UNK]"))
    tok.normalizer = normalizers.Lowercase()
    tok.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    tok.post_processor = processors.TemplateProcessing(
        single="[CLS] $A [SEP]", pair="[CLS] $A [SEP] $B:1 [SEP]:1",
        special_tokens=[("[CLS]", vocab["[CLS]"]), ("[SEP]", vocab["[SEP]"])])
    return PreTrainedTokenizerFast(tokenizer_object=tok, pad_token="[PAD]", unk_token="[UNK]",
                                   cls_token="[CLS]", sep_token="[SEP]", mask_token="[MASK]",
                                   model_max_length=max_length)


class _Additive(nn.Module):
    def __init__(self, n_vocab: int):
        super().__init__()
        self.embeddings = nn.Embedding(n_vocab, 1)
        self.block = nn.Identity()


class AdditiveAdapter(ModelAdapter):
    """Binary classifier: logit(positive) = sum of attended word weights (unknown words: 0)."""

    def __init__(self, weights: Mapping[str, float], labels: Sequence[str] = ("negative", "positive"),
                 name: str = "additive-toy"):
        if len(labels) != 2:
            raise InputError(f"labels must name 2 classes; got {list(labels)}")
        self.tokenizer = word_tokenizer(list(weights))
        self.model = _Additive(len(self.tokenizer)).eval()
        table = torch.zeros(len(self.tokenizer), 1)
        for word, w in weights.items():
            table[self.tokenizer.convert_tokens_to_ids(word.lower()), 0] = float(w)
        self.model.embeddings.weight.data.copy_(table)
        self.model.requires_grad_(False)
        self.labels, self.name, self.max_length = list(labels), name, 512

    def layer_modules(self) -> list[nn.Module]:
        return [self.model.embeddings, self.model.block]

    def word_embeddings(self) -> nn.Embedding:
        return self.model.embeddings

    def _logits(self, batch: Batch, inputs_embeds, output_attentions):
        x = self.model.embeddings(batch.input_ids) if inputs_embeds is None else inputs_embeds
        total = (self.model.block(x)[..., 0] * batch.attention_mask).sum(1)   # (B,)
        return torch.stack([torch.zeros_like(total), total], dim=1), []

    def save(self, directory) -> None:
        raise ModelCapabilityError("the additive toy model is built in code and cannot be saved")

    def word_weights(self, batch: Batch) -> torch.Tensor:
        """(B, T) weight of each token (0 at special tokens and padding)."""
        return self.model.embeddings(batch.input_ids)[..., 0] * batch.attention_mask

    def oracle(self, texts: Sequence[str], sign: float = 1.0) -> ExplanationSet:
        """The true attributions of the predicted class (weight, signed towards it) times
        ``sign`` (-1 gives the anti-oracle, the worst ranking)."""
        out = ExplanationSet()
        for text in texts:
            batch = self.encode([text])
            target = int(self.predict_proba(batch)[0].argmax())
            toward = 1.0 if target == 1 else -1.0
            out.append(from_scores(self, text, sign * toward * self.word_weights(batch)[0],
                                   target=target, method="oracle" if sign > 0 else "anti-oracle"))
        return out


def tiny_bert(words: Sequence[str], seed: int = 0, hidden: int = 16, layers: int = 2,
              heads: int = 2, max_length: int = 64, init_range: float = 0.3):
    """A randomly initialised BERT classifier (2 labels) over :func:`word_tokenizer`'s vocabulary,
    wrapped in an HFAdapter: for tests and benchmarks (no download). ``init_range`` (std of
    the weights) is larger than BERT's 0.02 so that outputs depend visibly on the input."""
    from transformers import BertConfig, BertForSequenceClassification

    from ..models.huggingface import HFAdapter

    tokenizer = word_tokenizer(words, max_length=max_length)
    config = BertConfig(vocab_size=len(tokenizer), hidden_size=hidden, num_hidden_layers=layers,
                        num_attention_heads=heads, intermediate_size=2 * hidden,
                        max_position_embeddings=max_length, num_labels=2,
                        id2label={0: "negative", 1: "positive"},
                        label2id={"negative": 0, "positive": 1}, initializer_range=init_range)
    config._attn_implementation = "eager"
    with torch.random.fork_rng():
        torch.manual_seed(seed)
        model = BertForSequenceClassification(config)
    return HFAdapter(model, tokenizer, name=f"tiny-bert-{seed}")
