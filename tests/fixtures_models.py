"""Models for the method tests: a tiny random BERT with non-trivial outputs and an additive toy.

Imported by tests/test_methods_*.py (plain module next to conftest.py).
"""
from __future__ import annotations

import torch
from torch import nn

from conftest import minilm_tokenizer, tiny_hf_model
from depthlens.models.adapter import Batch, ModelAdapter
from depthlens.models.huggingface import HFAdapter

TEXTS = ["a gorgeous , witty , seductive movie .", "the film is bad",
         "an utterly unwatchable mess of a picture , sadly", "fine"]


def lively_bert(seed: int = 0) -> HFAdapter:
    """tiny_hf_model('bert') with matrices redrawn at std 0.3, so logits depend on the
    input (the default 0.02 initialisation gives near-constant outputs)."""
    model = tiny_hf_model("bert", seed=seed)
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in model.parameters():
            if p.dim() == 2:
                p.copy_(torch.randn(p.shape, generator=gen) * 0.3)
    return HFAdapter(model, minilm_tokenizer(), name=f"lively-bert-{seed}")


class AdditiveModel(nn.Module):
    """logits[c] = sum over attended positions of weight[token, c] (linear in the embeddings)."""

    def __init__(self, vocab: int, classes: int = 2, seed: int = 0):
        super().__init__()
        gen = torch.Generator().manual_seed(seed)
        self.embeddings = nn.Embedding(vocab, classes)
        with torch.no_grad():
            self.embeddings.weight.copy_(torch.randn(vocab, classes, generator=gen))
        self.embedding_out = nn.Identity()
        self.block = nn.Identity()


class AdditiveAdapter(ModelAdapter):
    """An adapter whose target logit is a sum of per-token weights; [MASK] weighs 0.

    Its 'embedding' of a token is its row of class weights (D = number of classes).
    """

    def __init__(self, classes: int = 2, seed: int = 0):
        self.tokenizer = minilm_tokenizer()
        self.model = AdditiveModel(len(self.tokenizer), classes, seed)
        with torch.no_grad():
            self.model.embeddings.weight[self.tokenizer.mask_token_id] = 0
        self.name = "additive"
        self.labels = [f"label{i}" for i in range(classes)]
        self.max_length = 128

    def layer_modules(self) -> list[nn.Module]:
        return [self.model.embedding_out, self.model.block]

    def word_embeddings(self) -> nn.Embedding:
        return self.model.embeddings

    def _logits(self, batch: Batch, inputs_embeds, output_attentions):
        x = self.model.embeddings(batch.input_ids) if inputs_embeds is None else inputs_embeds
        x = self.model.block(self.model.embedding_out(x))
        return (x * batch.attention_mask[..., None]).sum(1), []

    def save(self, directory) -> None:
        raise NotImplementedError("the additive test model is not saved")

    def weight(self, batch: Batch, i: int, target: int) -> torch.Tensor:
        """Per-token weights (T,) of example i for class ``target``."""
        return self.model.embeddings.weight[batch.input_ids[i], target].detach()
