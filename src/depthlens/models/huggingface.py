"""Adapter for HuggingFace encoder classifiers: BERT (incl. MiniLM), RoBERTa, DistilBERT, ELECTRA.

A checkpoint directory may carry ``mlm_head.safetensors`` (written by
depthlens): the weights of the family's MLM head, loaded next to the
classifier so layer states can be decoded to the vocabulary.
"""
from __future__ import annotations

import json
from pathlib import Path

import torch
from torch import nn

from ..errors import InputError, ModelCapabilityError
from .adapter import AttentionParts, Batch, ModelAdapter
from .hooks import layer_hooks

MLM_HEAD_FILE = "mlm_head.safetensors"
FAMILIES = ("bert", "roberta", "distilbert", "electra")


class DistilBertMLMHead(nn.Module):
    """DistilBERT's MLM head as one module: transform, GELU, LayerNorm, projector."""

    def __init__(self, mlm_model: nn.Module):
        super().__init__()
        self.vocab_transform = mlm_model.vocab_transform
        self.activation = mlm_model.activation
        self.vocab_layer_norm = mlm_model.vocab_layer_norm
        self.vocab_projector = mlm_model.vocab_projector

    def forward(self, states: torch.Tensor) -> torch.Tensor:
        x = self.vocab_layer_norm(self.activation(self.vocab_transform(states)))
        return self.vocab_projector(x)


class ElectraMLMHead(nn.Module):
    """ELECTRA generator head: predictions transform + LM projection."""

    def __init__(self, mlm_model: nn.Module):
        super().__init__()
        self.generator_predictions = mlm_model.generator_predictions
        self.generator_lm_head = mlm_model.generator_lm_head

    def forward(self, states: torch.Tensor) -> torch.Tensor:
        return self.generator_lm_head(self.generator_predictions(states))


def mlm_head_of(mlm_model: nn.Module) -> nn.Module:
    """The head module of a ``*ForMaskedLM`` model: maps (B, T, D) states to (B, T, V) logits."""
    family = mlm_model.config.model_type
    if family == "bert":
        return mlm_model.cls
    if family == "roberta":
        return mlm_model.lm_head
    if family == "distilbert":
        return DistilBertMLMHead(mlm_model)
    if family == "electra":
        return ElectraMLMHead(mlm_model)
    raise ModelCapabilityError(f"MLM heads are supported for {', '.join(FAMILIES)}; got {family!r}")


def new_mlm_head(config) -> nn.Module:
    """A freshly initialised MLM head for ``config``'s family (weights to be loaded or trained)."""
    from transformers import AutoModelForMaskedLM

    cfg = config.__class__.from_dict(config.to_dict())
    cfg.tie_word_embeddings = False
    return mlm_head_of(AutoModelForMaskedLM.from_config(cfg))


def save_mlm_head(head: nn.Module, directory: str | Path) -> None:
    """Write the head's weights (untied copies) atomically into ``directory``."""
    from safetensors.torch import save_file

    from ..io import atomic_path

    state = {k: v.detach().clone().contiguous() for k, v in head.state_dict().items()}
    with atomic_path(Path(directory) / MLM_HEAD_FILE) as tmp:
        save_file(state, str(tmp))


class HFAdapter(ModelAdapter):
    """A ``*ForSequenceClassification`` model and its fast tokenizer."""

    def __init__(self, model: nn.Module, tokenizer, name: str = "", supports_pairs: bool = True,
                 mlm_head: nn.Module | None = None):
        family = model.config.model_type
        if family not in FAMILIES:
            raise InputError(f"model family must be one of {', '.join(FAMILIES)}; got {family!r}")
        self.model = model.eval()
        self.tokenizer = tokenizer
        self.name = name or getattr(model.config, "_name_or_path", family)
        self.family = family
        id2label = model.config.id2label
        self.labels = [str(id2label[i]) for i in range(len(id2label))]
        limit = getattr(model.config, "max_position_embeddings", 512)
        if family == "roberta":
            limit -= 2  # positions start after the padding index
        self.max_length = min(limit, getattr(tokenizer, "model_max_length", limit) or limit)
        self.supports_pairs = supports_pairs
        self._mlm_head = mlm_head.eval() if mlm_head is not None else None
        for p in self.model.parameters():
            p.requires_grad_(False)

    @classmethod
    def from_pretrained(cls, path: str | Path, name: str = "") -> "HFAdapter":
        """Load a local (or hub, when online) classifier checkpoint."""
        from transformers import AutoConfig, AutoModelForSequenceClassification, AutoTokenizer
        from transformers.utils import logging as hf_logging

        hf_logging.disable_progress_bar()  # depthlens reports its own progress, not weight loading
        hf_logging.set_verbosity_error()
        path = str(path)
        config = AutoConfig.from_pretrained(path)
        archs = getattr(config, "architectures", None) or []
        if not any(a.endswith("ForSequenceClassification") for a in archs):
            raise InputError(
                f"checkpoint {path!r} is not a sequence classifier (architectures: "
                f"{', '.join(archs) or 'none'}); fine-tune it first with "
                f"`depthlens train --model {path} --data sst2:train --out DIR`"
            )
        model = AutoModelForSequenceClassification.from_pretrained(path, attn_implementation="eager")
        tokenizer = AutoTokenizer.from_pretrained(path, use_fast=True)
        head = None
        head_file = Path(path) / MLM_HEAD_FILE
        if head_file.is_file():
            from safetensors.torch import load_file

            head = new_mlm_head(model.config)
            head.load_state_dict(load_file(str(head_file)))
        pairs = getattr(config, "depthlens_pairs", True)
        return cls(model, tokenizer, name=name or path, supports_pairs=pairs, mlm_head=head)

    def save(self, directory: str | Path) -> None:
        """Write model, tokenizer and MLM head so ``load_model(directory)`` restores them."""
        directory = Path(directory)
        directory.mkdir(parents=True, exist_ok=True)
        self.model.config.depthlens_pairs = self.supports_pairs
        self.model.save_pretrained(directory)
        self.tokenizer.save_pretrained(directory)
        if self._mlm_head is not None:
            save_mlm_head(self._mlm_head, directory)

    # ---------------------------------------------------------------- parts
    @property
    def _base(self) -> nn.Module:
        return self.model.base_model

    def _blocks(self) -> list[nn.Module]:
        base = self._base
        return list(base.transformer.layer if self.family == "distilbert" else base.encoder.layer)

    def layer_modules(self) -> list[nn.Module]:
        return [self._base.embeddings, *self._blocks()]

    def word_embeddings(self) -> nn.Embedding:
        return self.model.get_input_embeddings()

    def _logits(self, batch: Batch, inputs_embeds, output_attentions):
        kwargs = {"attention_mask": batch.attention_mask, "output_attentions": output_attentions}
        if batch.token_type_ids is not None and self.family != "distilbert":
            kwargs["token_type_ids"] = batch.token_type_ids
        if batch.position_ids is not None:
            kwargs["position_ids"] = batch.position_ids
        if inputs_embeds is None:
            kwargs["input_ids"] = batch.input_ids
        else:
            kwargs["inputs_embeds"] = inputs_embeds
        out = self.model(**kwargs)
        return out.logits, list(out.attentions) if output_attentions else []

    @property
    def first_position_id(self) -> int | None:
        config = self.model.config
        if getattr(config, "position_embedding_type", "absolute") != "absolute":
            return None
        return config.pad_token_id + 1 if self.family == "roberta" else 0

    # ------------------------------------------------------------ attention
    def _value_and_output(self, block: nn.Module) -> tuple[nn.Linear, nn.Linear]:
        if self.family == "distilbert":
            return block.attention.v_lin, block.attention.out_lin
        return block.attention.self.value, block.attention.output.dense

    def attention_parts(self, batch: Batch) -> AttentionParts:
        """Attention probabilities and transformed value vectors f(x) of every block."""
        pairs = [self._value_and_output(b) for b in self._blocks()]
        heads = self.model.config.num_attention_heads
        with torch.no_grad(), layer_hooks([v for v, _ in pairs]) as values:
            _, probs = self._logits(batch, None, output_attentions=True)
        transformed = []
        for v, (_, out) in zip(values, pairs):
            b, t, d = v.shape
            v = v.view(b, t, heads, d // heads)                       # (B, T, H, dh)
            w = out.weight.view(out.weight.shape[0], heads, d // heads)  # (D, H, dh)
            transformed.append(torch.einsum("bthk,ehk->bhte", v, w))  # (B, H, T, D)
        return AttentionParts(probs=probs, values=transformed)

    # -------------------------------------------------------------- MLM head
    @property
    def has_mlm_head(self) -> bool:
        return self._mlm_head is not None

    def mlm_logits(self, states: torch.Tensor) -> torch.Tensor:
        if self._mlm_head is None:
            return super().mlm_logits(states)
        return self._mlm_head(states)


def read_config(path: str | Path) -> dict:
    """The raw config.json of a checkpoint directory ({} when absent)."""
    f = Path(path) / "config.json"
    return json.loads(f.read_text()) if f.is_file() else {}
