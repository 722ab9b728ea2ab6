"""Fit a masked-LM head on a (frozen) encoder, and fill in ``[MASK]`` with it.

The head is the family's standard one (for BERT: dense + GELU + LayerNorm +
decoder), its decoder initialised from the word embeddings, trained by masked
LM (15% of the tokens; 80% -> [MASK], 10% -> a random token, 10% kept) on the
sentences of some datasets. It is saved as ``mlm_head.safetensors`` so that
``HFAdapter`` loads it next to a classifier (``mlm_logits``).
"""
from __future__ import annotations

import itertools
import random
import time
from pathlib import Path
from typing import Any

import torch
from torch import nn
from tqdm.auto import tqdm

from ..errors import InputError, ModelCapabilityError
from .adapter import ModelAdapter
from .huggingface import MLM_HEAD_FILE, HFAdapter, mlm_head_of, new_mlm_head, save_mlm_head

MASK_RATE = 0.15
HELDOUT = 500        # sentences kept aside to report held-out masked-token accuracy
MAX_LENGTH = 64


class MaskedLM(nn.Module):
    """An encoder (a HF ``*Model``) with an MLM head on its last hidden states."""

    def __init__(self, encoder: nn.Module, head: nn.Module, tokenizer):
        super().__init__()
        self.encoder, self.head, self.tokenizer = encoder, head, tokenizer

    @classmethod
    def from_pretrained(cls, path: str | Path, new_head: bool = False) -> "MaskedLM":
        """Encoder and tokenizer of ``path`` with its MLM head, or a fresh one if ``new_head``."""
        from transformers import AutoModel, AutoTokenizer

        from ..training import quiet_transformers

        with quiet_transformers():
            encoder = AutoModel.from_pretrained(str(path), attn_implementation="eager").eval()
            head = None if new_head else load_mlm_head(path, encoder.config)
        if head is None and not new_head:
            raise ModelCapabilityError(f"checkpoint {str(path)!r} has no MLM head; fit one with "
                                       f"`depthlens fit-lm-head --model {path}`")
        return cls(encoder, head or init_head(encoder), AutoTokenizer.from_pretrained(str(path)))

    def states(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        """Last hidden states (B, T, D)."""
        return self.encoder(input_ids=input_ids, attention_mask=attention_mask).last_hidden_state

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        """Vocabulary logits (B, T, V)."""
        return self.head(self.states(input_ids, attention_mask))


def load_mlm_head(path: str | Path, config) -> nn.Module | None:
    """The MLM head stored with a checkpoint: a fitted ``mlm_head.safetensors``, else the
    head of a ``*ForMaskedLM`` checkpoint, else None."""
    from safetensors.torch import load_file
    from transformers import AutoModelForMaskedLM

    path = Path(path)
    if (path / MLM_HEAD_FILE).is_file():
        head = new_mlm_head(config)
        head.load_state_dict(load_file(str(path / MLM_HEAD_FILE)))
        return head.eval()
    if any(a.endswith("ForMaskedLM") for a in getattr(config, "architectures", None) or []):
        return mlm_head_of(AutoModelForMaskedLM.from_pretrained(str(path))).eval()
    return None


def init_head(encoder: nn.Module) -> nn.Module:
    """A new head for ``encoder``'s family whose decoder is a copy of the word embeddings."""
    head = new_mlm_head(encoder.config)
    emb = encoder.get_input_embeddings().weight
    decoders = [m for m in head.modules() if isinstance(m, nn.Linear) and m.weight.shape == emb.shape]
    with torch.no_grad():
        decoders[-1].weight.copy_(emb)
        decoders[-1].bias.zero_()
    return head


def mask_tokens(ids: torch.Tensor, special: torch.Tensor, mask_id: int, vocab: int,
                gen: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
    """BERT masking of ids (B, T); ``special`` (B, T) bool marks [CLS]/[SEP]/padding.

    Returns the corrupted ids (B, T) and labels (B, T): the original id at the
    chosen positions (at least one per row), -100 elsewhere.
    """
    chosen = (torch.rand(ids.shape, generator=gen) < MASK_RATE) & ~special
    scores = torch.rand(ids.shape, generator=gen).masked_fill(special, -1.0)
    chosen[torch.arange(len(ids)), scores.argmax(1)] |= ~chosen.any(1)
    labels = ids.masked_fill(~chosen, -100)
    action = torch.rand(ids.shape, generator=gen)
    inputs = ids.masked_fill(chosen & (action < 0.8), mask_id)
    swap = chosen & (action >= 0.8) & (action < 0.9)
    inputs[swap] = torch.randint(vocab, ids.shape, generator=gen)[swap]
    return inputs, labels


def _sentences(data_specs: list[str]) -> list[str]:
    """Distinct texts (and pair texts) of the datasets, in first-seen order."""
    from ..data import load

    if not data_specs:
        raise InputError("data_specs must name at least one dataset (e.g. sst2:train); got none")
    seen: dict[str, None] = {}
    for spec in data_specs:
        for ex in load(spec).examples:
            for text in (ex.text, ex.pair):
                if text and text.strip():
                    seen.setdefault(text, None)
    return list(seen)


class _Corpus:
    """Tokenised sentences served as masked batches."""

    def __init__(self, tokenizer, texts: list[str]):
        self.rows = tokenizer(texts, truncation=True, max_length=MAX_LENGTH)["input_ids"] if texts else []
        self.tok = tokenizer
        self.special = set(tokenizer.all_special_ids)

    @property
    def lengths(self) -> list[int]:
        return [len(r) for r in self.rows]

    def batch(self, index: list[int], gen: torch.Generator):
        """Masked inputs (B, T), attention mask (B, T) and labels (B, T) of rows ``index``."""
        rows = [self.rows[i] for i in index]
        width = max(map(len, rows))
        ids = torch.tensor([r + [self.tok.pad_token_id] * (width - len(r)) for r in rows])
        attn = torch.tensor([[1] * len(r) + [0] * (width - len(r)) for r in rows])
        special = torch.tensor([[t in self.special for t in r] + [True] * (width - len(r))
                                for r in rows])
        inputs, labels = mask_tokens(ids, special, self.tok.mask_token_id, len(self.tok), gen)
        return inputs, attn, labels


def _masked_loss(mlm: MaskedLM, inputs, attn, labels) -> tuple[torch.Tensor, int]:
    """Cross-entropy at the masked positions and the number of correct top-1 predictions.

    The head runs on the masked positions only: (N, D) -> (N, V).
    """
    chosen = labels != -100
    logits = mlm.head(mlm.states(inputs, attn)[chosen])
    loss = nn.functional.cross_entropy(logits, labels[chosen])
    return loss, int((logits.argmax(-1) == labels[chosen]).sum())


@torch.no_grad()
def _evaluate(mlm: MaskedLM, corpus: _Corpus, seed: int, batch_size: int) -> dict[str, float]:
    """Mean masked-LM loss and top-1 accuracy on ``corpus`` (fixed masking)."""
    gen = torch.Generator().manual_seed(seed)
    total, correct, count = 0.0, 0, 0
    order = sorted(range(len(corpus.rows)), key=lambda i: corpus.lengths[i])
    for start in range(0, len(order), batch_size):
        inputs, attn, labels = corpus.batch(order[start:start + batch_size], gen)
        loss, right = _masked_loss(mlm, inputs, attn, labels)
        n = int((labels != -100).sum())
        total, correct, count = total + float(loss) * n, correct + right, count + n
    return {"heldout_loss": total / count, "heldout_accuracy": correct / count}


def _blocks(encoder: nn.Module) -> list[nn.Module]:
    """The transformer blocks of a HF encoder, bottom to top."""
    stack = getattr(encoder, "encoder", None) or getattr(encoder, "transformer")
    return list(stack.layer)


def _source(adapter_or_path) -> tuple[MaskedLM, HFAdapter | None]:
    """The MaskedLM to train (fresh head) and the classifier it belongs to (None for an encoder)."""
    from .huggingface import read_config

    if not isinstance(adapter_or_path, ModelAdapter):
        path = Path(adapter_or_path).expanduser()
        archs = read_config(path).get("architectures") or []
        if not archs:
            raise InputError(f"model must be a HuggingFace directory with config.json or a "
                             f"default model; got {str(path)!r}")
        if not any(a.endswith("ForSequenceClassification") for a in archs):
            return MaskedLM.from_pretrained(path, new_head=True), None
        adapter_or_path = HFAdapter.from_pretrained(path)
    if not isinstance(adapter_or_path, HFAdapter):
        raise ModelCapabilityError(f"MLM heads can be fitted on HuggingFace encoders only; "
                                   f"got {type(adapter_or_path).__name__}")
    base = adapter_or_path.model.base_model
    return MaskedLM(base, init_head(base), adapter_or_path.tokenizer), adapter_or_path


def _check_fit(steps: int, lr: float, encoder_lr: float, batch_size: int, unfreeze_top: int,
               layers: int) -> None:
    checks = [("steps must be >= 1", steps >= 1, steps), ("lr must be > 0", lr > 0, lr),
              ("encoder_lr must be > 0", encoder_lr > 0, encoder_lr),
              ("batch_size must be >= 1", batch_size >= 1, batch_size),
              (f"unfreeze_top must be in [0, {layers}]", 0 <= unfreeze_top <= layers, unfreeze_top)]
    for message, ok, value in checks:
        if not ok:
            raise InputError(f"{message}; got {value}")


def _in_place(mlm: MaskedLM, out_dir: Path, unfreeze_top: int) -> bool:
    """True if ``out_dir`` is an existing model directory that only needs the head file."""
    from .huggingface import read_config

    if not (out_dir.is_dir() and any(out_dir.iterdir())):
        return False
    config, ours = read_config(out_dir), mlm.encoder.config
    if config.get("hidden_size") != ours.hidden_size or config.get("vocab_size") != ours.vocab_size:
        raise InputError(f"out must be a new directory or the model's own directory; got "
                         f"{str(out_dir)!r}, which holds something else")
    if unfreeze_top:
        raise InputError(f"out must be a new directory when unfreeze_top > 0 (the encoder "
                         f"changes); got existing {str(out_dir)!r}")
    return True


def _write(mlm: MaskedLM, adapter: HFAdapter | None, out_dir: Path, in_place: bool) -> None:
    """Save the head: into the model's own directory (head file only), else as a new
    directory with the (possibly updated) encoder, tokenizer and head."""
    from ..training import save_directory

    if in_place:
        save_mlm_head(mlm.head, out_dir)
    elif adapter is not None:
        save_directory(out_dir, HFAdapter(adapter.model, adapter.tokenizer, name=adapter.name,
                                          supports_pairs=adapter.supports_pairs,
                                          mlm_head=mlm.head).save)
    else:
        def write(tmp: Path) -> None:
            mlm.encoder.save_pretrained(tmp)
            mlm.tokenizer.save_pretrained(tmp)
            save_mlm_head(mlm.head, tmp)

        save_directory(out_dir, write)


def _train(mlm: MaskedLM, corpus: _Corpus, optimizer, scheduler, steps: int, batch_size: int,
           seed: int, progress: bool) -> list[float]:
    """``steps`` masked-LM steps over length-bucketed batches (reshuffled each pass); the losses."""
    from ..training import length_batches

    gen = torch.Generator().manual_seed(seed)
    mlm.eval()  # no dropout: the frozen part must behave as at inference
    losses: list[float] = []
    with tqdm(total=steps, desc="fit MLM head", unit="step", disable=not progress) as bar:
        for epoch in itertools.count():
            order = length_batches(corpus.lengths, batch_size, random.Random(seed * 1009 + epoch))
            for index in order[:steps - len(losses)]:
                loss, _ = _masked_loss(mlm, *corpus.batch(index, gen))
                loss.backward()
                optimizer.step()
                scheduler.step()
                optimizer.zero_grad(set_to_none=True)
                losses.append(loss.item())
                bar.update(1)
                bar.set_postfix(loss=f"{sum(losses[-50:]) / len(losses[-50:]):.3f}")
            if len(losses) >= steps:
                break
    return losses


def fit_lm_head(adapter_or_path, data_specs: list[str], out_dir: str | Path, *,
                steps: int = 3000, lr: float = 1e-3, unfreeze_top: int = 0,
                encoder_lr: float = 5e-5, batch_size: int = 32, seed: int = 0,
                progress: bool = True) -> dict[str, Any]:
    """Train a fresh MLM head by masked LM on the sentences of ``data_specs``.

    ``adapter_or_path``: an HFAdapter, a default model name, or a HF directory
    (a classifier, or a bare encoder such as a ``BertModel``). The encoder is
    frozen except its top ``unfreeze_top`` blocks (trained at ``encoder_lr``;
    encoders only, since it would change a classifier's predictions). The
    head trains at ``lr`` with AdamW and a linear schedule for ``steps``
    batches of ``batch_size`` sentences (cut to 64 tokens).

    ``out_dir`` may be the model's own directory (only ``mlm_head.safetensors``
    is written) or a new one (the whole model, tokenizer and head, loadable by
    ``load_model`` for a classifier or by ``train``/``MaskedLM`` for an encoder).
    Returns steps, seconds, train_loss (mean of the last 100 steps) and the
    held-out masked-token loss and top-1 accuracy (500 sentences kept aside).
    """
    from ..training import decay_groups, linear_schedule, quiet_transformers
    from .defaults import DEFAULT_MODELS, ensure_default

    if isinstance(adapter_or_path, str) and adapter_or_path in DEFAULT_MODELS:
        if str(out_dir) == adapter_or_path:  # "into the model's own directory"
            out_dir = ensure_default(adapter_or_path)
        adapter_or_path = ensure_default(adapter_or_path)
    torch.manual_seed(seed)  # the head's initialisation
    mlm, adapter = _source(adapter_or_path)
    blocks = _blocks(mlm.encoder)
    _check_fit(steps, lr, encoder_lr, batch_size, unfreeze_top, len(blocks))
    if adapter is not None and unfreeze_top:
        raise InputError(f"unfreeze_top must be 0 for a classifier (it would change its "
                         f"predictions); got {unfreeze_top}")
    out_dir = Path(out_dir).expanduser()
    in_place = _in_place(mlm, out_dir, unfreeze_top)
    texts = _sentences(data_specs)
    random.Random(seed).shuffle(texts)
    held = HELDOUT if len(texts) >= 4 * HELDOUT else 0
    heldout, corpus = _Corpus(mlm.tokenizer, texts[:held]), _Corpus(mlm.tokenizer, texts[held:])
    top = [p for b in blocks[len(blocks) - unfreeze_top:] for p in b.named_parameters()]
    flags = {p: p.requires_grad for p in mlm.encoder.parameters()}
    for p in mlm.encoder.parameters():
        p.requires_grad_(False)
    for _, p in top:
        p.requires_grad_(True)
    groups = decay_groups(list(mlm.head.named_parameters()), 0.01)
    groups += [dict(g, lr=encoder_lr) for g in decay_groups(top, 0.01) if g["params"]]
    optimizer = torch.optim.AdamW(groups, lr=lr, fused=True)
    scheduler = linear_schedule(optimizer, steps, 0.06)
    start = time.perf_counter()
    try:
        losses = _train(mlm, corpus, optimizer, scheduler, steps, batch_size, seed, progress)
    finally:
        for p, flag in flags.items():
            p.requires_grad_(flag)
    report = {"steps": len(losses), "seconds": time.perf_counter() - start,
              "train_loss": sum(losses[-100:]) / len(losses[-100:]), "sentences": len(corpus.rows)}
    if held:
        report.update(_evaluate(mlm, heldout, seed, 64))
    with quiet_transformers():
        _write(mlm, adapter, out_dir, in_place)
    return dict(report, out_dir=str(out_dir))


def fill_mask(adapter_or_mlm, text: str, k: int = 5) -> list[tuple[str, float]]:
    """The ``k`` most probable tokens (and probabilities) for the one ``[MASK]`` in ``text``.

    ``adapter_or_mlm``: a ModelAdapter with an MLM head (the head reads the last
    layer's states), a MaskedLM, a default model name, or a directory.
    """
    from .huggingface import read_config
    from .loading import load_model

    if isinstance(adapter_or_mlm, (str, Path)):
        archs = read_config(adapter_or_mlm).get("architectures") or []
        if archs and not any(a.endswith("ForSequenceClassification") for a in archs):
            adapter_or_mlm = MaskedLM.from_pretrained(adapter_or_mlm)
        else:
            adapter_or_mlm = load_model(adapter_or_mlm)
    tok = adapter_or_mlm.tokenizer
    with torch.no_grad():
        if isinstance(adapter_or_mlm, ModelAdapter):
            batch = adapter_or_mlm.encode([text])
            ids = batch.input_ids
            states = adapter_or_mlm.forward(batch, output_states=True).states[-1]
            logits = adapter_or_mlm.mlm_logits(states)                    # (1, T, V)
        else:
            enc = tok([text], return_tensors="pt")
            ids = enc["input_ids"]
            logits = adapter_or_mlm(ids, enc["attention_mask"])           # (1, T, V)
    where = (ids[0] == tok.mask_token_id).nonzero().flatten().tolist()
    if len(where) != 1:
        raise InputError(f"text must contain exactly one {tok.mask_token}; got {len(where)}")
    probs, top = torch.softmax(logits[0, where[0]], -1).topk(k)
    return [(tok.convert_ids_to_tokens(int(i)), float(p)) for i, p in zip(top, probs)]
