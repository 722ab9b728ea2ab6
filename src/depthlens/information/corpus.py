"""Corpus-level mutual information and word attributes from the learned Gaussians."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Sequence

import numpy as np
import torch
from tqdm.auto import tqdm

from ..errors import InputError
from ..models.adapter import ModelAdapter
from .core import InformationFit, fit_information
from .fit import FitSettings
from .gaussian import HALF_LOG_2PI_E, attribute_terms


@dataclass
class CorpusInformation:
    """MI(X; S) = H(X) - H(X | S) per explained layer, per token and per sentence (nats).

    h_x_token: H(X_i), the entropy of a diagonal Gaussian fitted to the corpus'
    token embeddings (all non-padding tokens); conditional_token (R,): mean
    H(X~_i | s) over all tokens; mi_token = h_x_token - conditional_token.
    conditional_sentence / mi_sentence (R,): the same summed over each
    sentence's tokens, averaged over sentences. tokens, entropy, kept: per
    sentence its tokens and (R, n) arrays of H(X~_i | s) and of kept
    information, for further analysis. Both entropies are Gaussian
    approximations: only differences between layers or models on the same
    corpus are meaningful (H(X) is the same constant for all of them).
    """

    rows: list[str]
    h_x_token: float
    conditional_token: np.ndarray
    mi_token: np.ndarray
    conditional_sentence: np.ndarray
    mi_sentence: np.ndarray
    tokens: list[list[str]] = field(default_factory=list)
    entropy: list[np.ndarray] = field(default_factory=list)
    kept: list[np.ndarray] = field(default_factory=list)
    steps: list[np.ndarray] = field(default_factory=list)


def corpus_information(adapter: ModelAdapter, texts: Sequence[str], layers: list[int], *,
                       target_state: str | int = "tokens", batch_size: int = 16,
                       max_noise: float = 10.0, seed: int = 0, settings: FitSettings | None = None,
                       truncate: bool = True, progress: bool = False) -> CorpusInformation:
    """Fit every text for every layer in ``layers`` (buckets of ``batch_size`` texts of
    similar length, each bucket one optimisation) and aggregate to corpus level."""
    if isinstance(texts, str) or not texts:
        raise InputError("texts must be a non-empty list of strings; got "
                         f"{type(texts).__name__ if isinstance(texts, str) else 'an empty list'}")
    if not isinstance(batch_size, int) or batch_size < 1:
        raise InputError(f"batch_size must be an integer >= 1; got {batch_size!r}")
    batch = adapter.encode(list(texts), truncate=truncate)
    order = sorted(range(len(texts)), key=lambda i: batch.lengths[i])
    entropy, kept, steps = [None] * len(texts), [None] * len(texts), [None] * len(texts)
    embeds = []
    buckets = [order[i:i + batch_size] for i in range(0, len(order), batch_size)]
    for index in tqdm(buckets, desc="information", disable=not progress, unit="batch"):
        sub = batch.select(index)
        fit = fit_information(adapter, sub, layers, target_state=target_state,
                              max_noise=max_noise, seed=seed, settings=settings)
        h, k = fit.entropy().numpy(), fit.kept().numpy()
        for j, i in enumerate(index):
            n = sub.lengths[j]
            entropy[i], kept[i], steps[i] = h[j, :, :n], k[j, :, :n], fit.steps[j].numpy()
            embeds.append(fit.embeds[j, :n])
        rows = fit.rows
    tokens = torch.cat(embeds)
    h_x = float((0.5 * torch.log(tokens.var(0).clamp(min=1e-30))).sum() + tokens.shape[1] *
                HALF_LOG_2PI_E)
    total = np.concatenate(entropy, axis=1)
    per_sentence = np.stack([e.sum(1) for e in entropy])                  # (N, R)
    lengths = np.array([e.shape[1] for e in entropy])
    return CorpusInformation(
        rows=rows, h_x_token=h_x, conditional_token=total.mean(1), mi_token=h_x - total.mean(1),
        conditional_sentence=per_sentence.mean(0),
        mi_sentence=(lengths[:, None] * h_x - per_sentence).mean(0),
        tokens=[batch.tokens[i] for i in range(len(texts))], entropy=entropy, kept=kept,
        steps=steps)


def concept_embeddings(adapter: ModelAdapter, words: Sequence[str]) -> torch.Tensor:
    """Word embeddings (n, D) of the concept words that are one token of the model's vocabulary
    (e.g. sentiment_lexicon() positives); words split into several tokens are skipped."""
    tokenizer = adapter.tokenizer
    ids = []
    for word in words:
        pieces = (tokenizer.tokenize(word) if hasattr(tokenizer, "tokenize") else [word])
        if len(pieces) == 1:
            found = tokenizer.convert_tokens_to_ids(pieces)[0]
            if found != adapter.special_ids.get("unk"):
                ids.append(found)
    if not ids:
        raise InputError(f"concept words must include at least one single-token word of model "
                         f"{adapter.name!r}; got {list(words)[:5]!r}...")
    table = adapter.word_embeddings().weight.detach()
    return table[torch.tensor(sorted(set(ids)))]


def word_attributes(fit: InformationFit, concept: torch.Tensor,
                    reference: torch.Tensor) -> dict[str, torch.Tensor]:
    """A_i, A_c and r_ic = A_i - A_c for every token of a fit, each (B, R, T).

    concept: (n_c, D) embeddings of the concept's words (:func:`concept_embeddings`);
    reference: (n, D) embeddings of the random words X_i (e.g. the whole
    embedding table). See :func:`depthlens.information.gaussian.attribute_terms`.
    Unperturbed positions get NaN.
    """
    x = fit.embeds[:, None].expand(-1, len(fit.rows), -1, -1)
    terms = attribute_terms(x, fit.log_sigma.clamp(min=-1e4), reference.float(), concept.float())
    return {k: torch.where(fit.perturbed, v, torch.tensor(float("nan"))) for k, v in terms.items()}
