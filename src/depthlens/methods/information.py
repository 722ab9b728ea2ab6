"""The information-based measure (seed 000, Guan et al. 2019) as the method ``information``.

Rows are layers (or seq2seq decoder steps); a token's score is H(X~_i | s), the
information of the token that the state discards, in nats (``view='kept'``:
the information kept, sum_d log(sigma_max / sigma_i) >= 0). The computation
lives in :mod:`depthlens.information`; this module only registers it.
The pipeline's class target is ignored: the measure is label-free.
"""
from __future__ import annotations

import torch

from ..errors import InputError
from ..information import FitSettings, fit_information
from ..models.adapter import Batch, ModelAdapter
from ..registry import METHODS
from .base import Attribution, resolve_layers
from .batching import rows_per_chunk


@METHODS.register("information",
                  "per-word information discarded by each layer, H(X_i|s) in nats (learned noise)")
def information(adapter: ModelAdapter, batch: Batch, target: torch.Tensor, *,
                layer: str | None = None, target_state: str = "tokens", view: str = "discarded",
                lam: float = 0.1, max_noise: float = 10.0, per_dimension: bool = False,
                n_samples: int = 4, lr: float = 0.1, max_steps: int = 1000, tol: float = 0.005,
                window: int = 25, seed: int = 0, internal_batch_size: int = 0,
                memory_mb: int = 1024) -> Attribution:
    """H(X~_i | s) per token, (B, R, T), for the layers in ``layer`` (default: the last;
    'all': states 0..L), all layers and sentences learned in one optimisation.

    target_state: 'tokens' (whole layer), 'cls' (position 0), 'mean' (pooled),
    an integer position, or 'decoder' (seq2seq models: one row per output step;
    steps past a text's end score 0). lam weighs the entropy term; max_noise caps
    sigma in standard deviations of the embedding table; per_dimension learns
    one sigma per embedding dimension. Optimisation: Adam (lr), n_samples noise
    draws per step, stop when the window-mean loss changes by < tol (relative)
    or after max_steps. per_example diagnostics, one entry per row:
    sentence_entropy H(X | s) = sum_i H(X~_i | s), steps, final_loss.
    """
    if layer == "input":
        raise InputError("layer must be 'all', an integer or a comma-separated list of "
                         f"integers in [0, {adapter.num_layers}] for information; got 'input'")
    layers = None if target_state == "decoder" and layer is None else (
        resolve_layers(adapter, layer) or [adapter.num_layers])
    width = batch.input_ids.shape[1]
    chunk = rows_per_chunk(adapter, width, internal_batch_size, memory_mb, backward=True)
    settings = FitSettings(lam=lam, n_samples=n_samples, lr=lr, max_steps=max_steps, tol=tol,
                           window=window, per_dimension=per_dimension,
                           chunk_rows=max(1, chunk // max(1, n_samples)))
    fit = fit_information(adapter, batch, layers, target_state=target_state, max_noise=max_noise,
                          seed=seed, settings=settings)
    scores = fit.view(view)
    sentence = fit.sentence_entropy()
    per_example = []
    for i in range(len(batch)):
        ok = fit.valid[i]
        passes = int(fit.total_steps[i].sum()) * n_samples
        per_example.append({
            "sentence_entropy": [float(h) if v else None for h, v in zip(sentence[i], ok)],
            "steps": [int(s) if v else None for s, v in zip(fit.steps[i], ok)],
            "final_loss": [float(x) if v else None for x, v in zip(fit.loss[i], ok)],
            "forward_passes": passes, "backward_passes": passes,
        })
    return Attribution(scores, fit.rows, {"view": view}, per_example)
