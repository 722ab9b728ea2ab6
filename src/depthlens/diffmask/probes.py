"""DiffMask probes (appendix A): per-layer bilinear gate scorers, learned baselines, gated runs.

Gate kinds:
  'input'  (sec. 3.1): layer l votes on every input token from (x, h^(l)) with
           x = state 0; the mask at depth l is the product of the votes of
           layers 0..l (eq. 2); masked tokens' word embeddings are replaced by
           one learned baseline b (eq. 1).
  'hidden' (sec. 3.2): layer l votes on its own states from h^(l) alone (x is
           replaced by h^(l) in eq. 8); masked states of layer l are replaced
           by a layer-specific learned baseline b^(l) and the model is re-run
           from there (eq. 3).

Shapes: B examples, T tokens, L+1 states (state 0 = embedding output), D_l
the width of state l, E the word-embedding width.
"""
from __future__ import annotations

import json
from functools import lru_cache
from pathlib import Path

import torch
from torch import nn

from ..errors import InputError
from ..models.adapter import Batch, ModelAdapter
from . import gates

GATES = ("input", "hidden")
SCORERS = ("bilinear", "mlp")
MLP_HIDDEN = 32   # hidden units of the "mlp" scorer, as in the authors' release
PROBE_FILE = "diffmask.json"
WEIGHTS_FILE = "probe.safetensors"
FORMAT_VERSION = 1
INIT_LOGIT = 3.0  # initial gate location: P(open) = sigmoid(3 + 0.32) = 0.97


class StandardisedScorer(nn.Module):
    """A gate scorer of one layer, (a (B, T, Da), h (B, T, Dh)) -> scores (B, T).

    a and h are first standardised per dimension and divided by sqrt(D) (fixed
    statistics, set by :meth:`calibrate`), so both have unit typical norm and
    one learning rate suits every layer and model. Subclasses score the
    standardised inputs in :meth:`score` and start with every gate open
    (score ~ INIT_LOGIT).
    """

    def __init__(self, dim_a: int, dim_h: int):
        super().__init__()
        for name, dim in (("a", dim_a), ("h", dim_h)):
            self.register_buffer(f"{name}_mean", torch.zeros(dim))
            self.register_buffer(f"{name}_scale", torch.full((dim,), dim ** -0.5))

    @torch.no_grad()
    def calibrate(self, a: torch.Tensor, h: torch.Tensor) -> None:
        """Set the statistics from (N, Da) and (N, Dh) example states."""
        for name, x in (("a", a), ("h", h)):
            getattr(self, f"{name}_mean").copy_(x.mean(0))
            getattr(self, f"{name}_scale").copy_(1 / (x.std(0).clamp(min=1e-4) * x.shape[1] ** 0.5))

    def forward(self, a: torch.Tensor, h: torch.Tensor) -> torch.Tensor:
        return self.score((a - self.a_mean) * self.a_scale, (h - self.h_mean) * self.h_scale)

    def score(self, a: torch.Tensor, h: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError


class BilinearScorer(StandardisedScorer):
    """Eq. 8 for one layer: gamma_hat_i = a_i^T W1 h_i + W2 [a_i; h_i] + c.

    An affine change of the inputs keeps the score a bilinear + linear +
    constant function of the raw states, i.e. eq. 8 reparameterised. W1 starts
    at zero and W2 near zero, so every gate starts open (c = INIT_LOGIT). For a
    fixed a the score is affine in h: it cannot select a middle range of h.
    """

    def __init__(self, dim_a: int, dim_h: int):
        super().__init__(dim_a, dim_h)
        self.bilinear = nn.Parameter(torch.zeros(dim_a, dim_h))
        self.linear = nn.Linear(dim_a + dim_h, 1)
        nn.init.normal_(self.linear.weight, std=0.01)
        nn.init.constant_(self.linear.bias, INIT_LOGIT)

    def score(self, a: torch.Tensor, h: torch.Tensor) -> torch.Tensor:
        quadratic = torch.einsum("btd,de,bte->bt", a, self.bilinear, h)
        return quadratic + self.linear(torch.cat([a, h], -1))[..., 0]


class MLPScorer(StandardisedScorer):
    """gamma_hat_i = w^T tanh(W [a_i; h_i] + d) + c, MLP_HIDDEN tanh units.

    The gate of the authors' release (``MLPMaxGate``, without its weight
    normalisation and output squashing) instead of eq. 8: non-linear in h for
    a fixed a. W has PyTorch's default init, w starts near zero and c at
    INIT_LOGIT, so every gate starts open.
    """

    def __init__(self, dim_a: int, dim_h: int):
        super().__init__(dim_a, dim_h)
        self.hidden = nn.Linear(dim_a + dim_h, MLP_HIDDEN)
        self.out = nn.Linear(MLP_HIDDEN, 1)
        nn.init.normal_(self.out.weight, std=0.01)
        nn.init.constant_(self.out.bias, INIT_LOGIT)

    def score(self, a: torch.Tensor, h: torch.Tensor) -> torch.Tensor:
        return self.out(torch.tanh(self.hidden(torch.cat([a, h], -1))))[..., 0]


class DiffMaskProbe(nn.Module):
    """The interpreter g(.; phi) and the baselines of one gate kind for one model.

    dims: widths D_0..D_L of the L+1 states; embed_dim: E; scorer: 'bilinear'
    (eq. 8, :class:`BilinearScorer`) or 'mlp' (:class:`MLPScorer`). Call
    :meth:`calibrate` once with example states before fitting.
    """

    def __init__(self, gate: str, dims: list[int], embed_dim: int, model: str = "",
                 scorer: str = "bilinear"):
        super().__init__()
        if gate not in GATES:
            raise InputError(f"gate must be one of {', '.join(GATES)}; got {gate!r}")
        if scorer not in SCORERS:
            raise InputError(f"scorer must be one of {', '.join(SCORERS)}; got {scorer!r}")
        self.gate, self.dims, self.embed_dim, self.model = gate, list(dims), embed_dim, model
        self.scorer = scorer
        kind = BilinearScorer if scorer == "bilinear" else MLPScorer
        self.scorers = nn.ModuleList(kind(dims[0] if gate == "input" else d, d) for d in dims)
        widths = [embed_dim] if gate == "input" else dims
        self.baselines = nn.ParameterList(nn.Parameter(torch.zeros(w)) for w in widths)
        self.info: dict = {}

    @property
    def num_states(self) -> int:
        return len(self.dims)

    @property
    def fitted(self) -> bool:
        """True once :func:`depthlens.diffmask.fit` has trained it (or it was loaded)."""
        return bool(self.info.get("steps"))

    # ------------------------------------------------------------ scoring
    def _inputs(self, states: list[torch.Tensor]) -> list[tuple[torch.Tensor, torch.Tensor]]:
        """(a, h) of every layer's scorer: a = state 0 for input gates, state l for hidden."""
        return [(states[0] if self.gate == "input" else h, h) for h in states]

    @torch.no_grad()
    def calibrate(self, states: list[torch.Tensor], mask: torch.Tensor) -> None:
        """Set every scorer's input statistics from the real positions of mask (B, T)."""
        real = mask.bool()
        for scorer, (a, h) in zip(self.scorers, self._inputs(states)):
            scorer.calibrate(a[real], h[real])

    def check_states(self, states: list[torch.Tensor], adapter: ModelAdapter) -> None:
        """InputError unless the model's states have the widths this probe was fitted on."""
        dims = [int(h.shape[-1]) for h in states]
        if dims != self.dims:
            raise InputError(
                f"the probe's model must have state widths {self.dims}; got {dims} from model "
                f"{adapter.name!r} (this probe was fitted on {self.model!r})")

    def gate_logits(self, states: list[torch.Tensor]) -> torch.Tensor:
        """Gate locations gamma (B, L+1, T) from the L+1 states (B, T, D_l).

        Eq. 9: layer l >= 1 averages its own score with the mean of the scores
        of the layers below it, gamma^(l) = (gamma_hat^(l) + mean_{k<l} gamma_hat^(k)) / 2.
        """
        raw = torch.stack([scorer(a, h) for scorer, (a, h) in zip(self.scorers,
                                                                  self._inputs(states))], dim=1)
        count = torch.arange(1, raw.shape[1], dtype=raw.dtype, device=raw.device)[None, :, None]
        below = torch.cumsum(raw, dim=1)[:, :-1] / count
        return torch.cat([raw[:, :1], (raw[:, 1:] + below) / 2], dim=1)

    def keep_probability(self, logits: torch.Tensor) -> torch.Tensor:
        """(B, L+1, T): P(z != 0) of the vote product (input gates) or of gate l (hidden)."""
        return gates.keep_probability(logits, cumulative=self.gate == "input")

    # ------------------------------------------------------------ masking
    def sample_mask(self, logits: torch.Tensor, layer: torch.Tensor,
                    generator: torch.Generator | None = None) -> torch.Tensor:
        """A reparameterised mask z (B, T) of each example at its depth ``layer`` (B,) long."""
        rows = torch.arange(logits.shape[0])
        if self.gate == "input":
            return gates.vote_product(gates.sample(logits, generator=generator))[rows, layer]
        return gates.sample(logits[rows, layer], generator=generator)

    def expected_l0(self, logits: torch.Tensor, layer: torch.Tensor,
                    attention_mask: torch.Tensor) -> torch.Tensor:
        """Eq. 7 divided by the length: the expected fraction of positions kept, (B,)."""
        keep = self.keep_probability(logits)[torch.arange(logits.shape[0]), layer]
        real = attention_mask.to(keep.dtype)
        return (keep * real).sum(1) / real.sum(1)

    def gated_logits(self, adapter: ModelAdapter, batch: Batch, z: torch.Tensor,
                     layer: torch.Tensor) -> torch.Tensor:
        """Logits (B, C) of the model re-run with mask z (B, T) applied at each example's depth.

        Input gates blend the word embeddings with b (eq. 1); hidden gates blend
        state ``layer[i]`` of example i with b^(layer[i]) (eq. 3).
        """
        if self.gate == "input":
            return gated_forward(adapter, batch, {None: (z, self.baselines[0])})
        ones = torch.ones_like(z)
        chosen = {int(l): (torch.where((layer == l)[:, None], z, ones), self.baselines[int(l)])
                  for l in layer.unique()}
        return gated_forward(adapter, batch, chosen)

    # ---------------------------------------------------------- save/load
    def save(self, directory: str | Path) -> None:
        """Write weights then ``diffmask.json`` (whose presence marks a complete probe)."""
        from safetensors.torch import save_file

        from ..io import atomic_path, atomic_write_text

        directory = Path(directory)
        directory.mkdir(parents=True, exist_ok=True)
        state = {k: v.detach().contiguous() for k, v in self.state_dict().items()}
        with atomic_path(directory / WEIGHTS_FILE) as tmp:
            save_file(state, str(tmp))
        config = {"format": FORMAT_VERSION, "gate": self.gate, "dims": self.dims,
                  "embed_dim": self.embed_dim, "model": self.model, "scorer": self.scorer,
                  "info": self.info}
        atomic_write_text(directory / PROBE_FILE, json.dumps(config, indent=2, default=str) + "\n")

    @classmethod
    def load(cls, directory: str | Path) -> "DiffMaskProbe":
        """Restore a probe written by :meth:`save`."""
        from safetensors.torch import load_file

        directory = Path(directory).expanduser()
        config_file = directory / PROBE_FILE
        if not config_file.is_file():
            raise InputError(f"probe must be a directory written by `depthlens fit diffmask`; "
                             f"got {str(directory)!r}, which has no {PROBE_FILE}")
        config = json.loads(config_file.read_text(encoding="utf-8"))
        if config.get("format", 0) > FORMAT_VERSION:
            raise InputError(f"{PROBE_FILE} format must be <= {FORMAT_VERSION}; got "
                             f"{config['format']} (upgrade depthlens)")
        probe = cls(config["gate"], config["dims"], config["embed_dim"], config["model"],
                    config.get("scorer", "bilinear"))
        probe.load_state_dict(load_file(str(directory / WEIGHTS_FILE)))
        probe.info = config.get("info", {})
        return probe.eval().requires_grad_(False)


def load_probe(path: str | Path) -> DiffMaskProbe:
    """A probe directory, loaded once per process (reloaded if its files change)."""
    resolved = Path(path).expanduser().resolve()
    config = resolved / PROBE_FILE
    stamp = config.stat().st_mtime_ns if config.is_file() else -1
    return _load_cached(str(resolved), stamp)


@lru_cache(maxsize=8)
def _load_cached(path: str, stamp: int) -> DiffMaskProbe:
    return DiffMaskProbe.load(path)


def blend(x: torch.Tensor, z: torch.Tensor, baseline: torch.Tensor) -> torch.Tensor:
    """Eqs. 1 and 3: z x + (1 - z) b for x (B, T, D), z (B, T), b (D,)."""
    z = z[..., None].to(x.dtype)
    return z * x + (1 - z) * baseline


def gated_forward(adapter: ModelAdapter, batch: Batch,
                  masks: dict[int | None, tuple[torch.Tensor, torch.Tensor]]) -> torch.Tensor:
    """Logits (B, C) with masks applied: ``masks[l] = (z (B, T), b (D_l,))``, l None = input.

    Padding positions are never replaced.
    """
    pad = ~batch.attention_mask.bool()
    masks = {l: (z.masked_fill(pad, 1.0), b) for l, (z, b) in masks.items()}
    embeds = None
    if None in masks:
        z, b = masks.pop(None)
        embeds = blend(adapter.embed(batch), z, b)
    edits = {l: (lambda h, z=z, b=b: blend(h, z, b)) for l, (z, b) in masks.items()}
    return adapter.forward(batch, inputs_embeds=embeds, edits=edits).logits


def state_dims(adapter: ModelAdapter, batch: Batch) -> list[int]:
    """Widths D_0..D_L of the model's states, from one no-grad forward of ``batch``."""
    with torch.no_grad():
        return [int(h.shape[-1]) for h in adapter.forward(batch, output_states=True).states]

