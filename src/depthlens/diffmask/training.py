"""Fitting DiffMask probes (sec. 3.3) on a frozen model, amortised over a dataset.

Each step runs one no-grad forward for the states and the output distribution
y, draws a depth l uniformly from 0..L for every example, samples a
reparameterised mask at that depth from the probe's Hard Concrete gates and
re-runs the model with it (y_hat). The Lagrangian (eq. 6)

    mean_i [ L0_i + lambda_{l_i} (KL(y_i || y_hat_i) - m) ]

is minimised over the probe (scorers and baselines) with Lookahead RMSprop
(appendix C) and maximised over one non-negative multiplier per depth with
RMSprop (gradient ascent, clipped to [0, MAX_MULTIPLIER]). L0_i is the
expected fraction of kept positions (eq. 7 divided by the length). The
analysed model's parameters never receive gradients.

With ``out`` a checkpoint ``.<out>.checkpoint.pt`` is written every
``checkpoint_every`` steps and at the end of every epoch; a rerun with the same
settings resumes from it (same batches, same noise).
"""
from __future__ import annotations

import math
import random
import time
from pathlib import Path
from typing import Any, Sequence

import torch
from torch import nn
from tqdm.auto import tqdm

from ..errors import InputError
from ..io import atomic_path
from ..models.adapter import Batch, ModelAdapter
from ..training import checkpoint_path, encode_dataset, length_batches, save_directory
from .probes import GATES, SCORERS, DiffMaskProbe

MAX_MULTIPLIER = 200.0
CALIBRATION_EXAMPLES = 256


class Lookahead:
    """Lookahead (Zhang et al. 2019) around ``inner``: every ``k`` steps the slow weights
    move ``alpha`` of the way to the fast weights, which restart from them."""

    def __init__(self, inner: torch.optim.Optimizer, k: int = 5, alpha: float = 0.5):
        self.inner, self.k, self.alpha, self.count = inner, k, alpha, 0
        self.slow = [[p.detach().clone() for p in g["params"]] for g in inner.param_groups]

    def zero_grad(self) -> None:
        self.inner.zero_grad(set_to_none=True)

    @torch.no_grad()
    def step(self) -> None:
        self.inner.step()
        self.count += 1
        if self.count % self.k:
            return
        for group, slow in zip(self.inner.param_groups, self.slow):
            for fast, weights in zip(group["params"], slow):
                weights.add_(fast - weights, alpha=self.alpha)
                fast.copy_(weights)

    def state_dict(self) -> dict[str, Any]:
        return {"inner": self.inner.state_dict(), "slow": self.slow, "count": self.count}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.inner.load_state_dict(state["inner"])
        for mine, saved in zip(self.slow, state["slow"]):
            for weights, value in zip(mine, saved):
                weights.copy_(value)
        self.count = state["count"]


def _check_settings(gate: str, epochs: int, batch_size: int, lr: float, multiplier_lr: float,
                    margin: float, max_steps: int | None, checkpoint_every: int,
                    baseline_warmup_steps: int = 0, baseline_warmup_keep: float = 0.5,
                    baseline_warmup_lr: float | None = None) -> None:
    """InputError naming the first bad setting."""
    checks = [(f"gate must be one of {', '.join(GATES)}", gate in GATES, gate),
              ("epochs must be >= 1", epochs >= 1, epochs),
              ("batch_size must be >= 1", batch_size >= 1, batch_size),
              ("lr must be > 0", lr > 0, lr), ("multiplier_lr must be > 0", multiplier_lr > 0,
                                               multiplier_lr),
              ("margin must be >= 0", margin >= 0, margin),
              ("max_steps must be >= 1 or None", max_steps is None or max_steps >= 1, max_steps),
              ("checkpoint_every must be >= 0", checkpoint_every >= 0, checkpoint_every),
              ("baseline_warmup_steps must be >= 0", baseline_warmup_steps >= 0,
               baseline_warmup_steps),
              ("baseline_warmup_keep must be in [0, 1)", 0 <= baseline_warmup_keep < 1,
               baseline_warmup_keep),
              ("baseline_warmup_lr must be > 0 or None",
               baseline_warmup_lr is None or baseline_warmup_lr > 0, baseline_warmup_lr)]
    for message, ok, value in checks:
        if not ok:
            raise InputError(f"{message}; got {value!r}")


def new_probe(adapter: ModelAdapter, batch: Batch, gate: str, seed: int,
              scorer: str = "bilinear") -> DiffMaskProbe:
    """A probe sized for ``adapter``, its scorer statistics and baselines set from ``batch``.

    Baselines start at the mean word embedding (input gates) or the mean state
    of each layer (hidden gates) over the batch's real positions.
    """
    with torch.no_grad():
        states = adapter.forward(batch, output_states=True).states
        embeds = adapter.embed(batch)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        probe = DiffMaskProbe(gate, [int(h.shape[-1]) for h in states], int(embeds.shape[-1]),
                              adapter.name, scorer)
    probe.calibrate(states, batch.attention_mask)
    real = batch.attention_mask.bool()
    with torch.no_grad():
        means = [embeds[real].mean(0)] if gate == "input" else [h[real].mean(0) for h in states]
        for baseline, mean in zip(probe.baselines, means):
            baseline.copy_(mean)
    return probe


def lagrangian(probe: DiffMaskProbe, adapter: ModelAdapter, batch: Batch,
               multipliers: torch.Tensor, margin: float, generator: torch.Generator,
               depths: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Eq. 6 on one batch: (loss (), KL (B,), expected kept fraction (B,)), loss in the graph.

    Each example's depth is drawn uniformly from ``depths`` (long tensor of layers).
    """
    with torch.no_grad():
        out = adapter.forward(batch, output_states=True)
        logp = out.logits.log_softmax(-1)
    logits = probe.gate_logits(out.states)
    layer = _draw_depths(depths, len(batch), generator)
    z = probe.sample_mask(logits, layer, generator)
    kl = _kl(logp, probe.gated_logits(adapter, batch, z, layer))
    kept = probe.expected_l0(logits, layer, batch.attention_mask)
    loss = (kept + multipliers[layer] * (kl - margin)).mean()
    return loss, kl.detach(), kept.detach()


def random_mask_kl(probe: DiffMaskProbe, adapter: ModelAdapter, batch: Batch, keep: float,
                   generator: torch.Generator, depths: torch.Tensor) -> torch.Tensor:
    """KL(y || y_hat) (B,) under random Bernoulli masks, in the graph of the baselines only.

    Every word position is kept with probability ``keep`` (special tokens and
    padding always), at a depth drawn uniformly from ``depths`` per example;
    dropped positions are replaced by the probe's baselines as in the fit.
    """
    with torch.no_grad():
        logp = adapter.forward(batch).logits.log_softmax(-1)
    layer = _draw_depths(depths, len(batch), generator)
    z = (torch.rand(batch.input_ids.shape, generator=generator) < keep).float()
    z = z.masked_fill(batch.special_mask, 1.0)
    return _kl(logp, probe.gated_logits(adapter, batch, z, layer))


def warm_up_baselines(probe: DiffMaskProbe, adapter: ModelAdapter, batch: Batch, steps: int,
                      keep: float, lr: float, batch_size: int, depths: torch.Tensor,
                      seed: int) -> dict[str, Any]:
    """Fit the probe's baselines alone (gates untouched) to minimise :func:`random_mask_kl`.

    ``steps`` RMSprop steps of rate ``lr`` on shuffled batches of ``batch``.
    In the fit proper a baseline only gets gradient through positions that
    are already dropped, and positions are only dropped once the baseline is
    harmless; this starts it from a value for which dropping words costs
    little KL (see docs/reproductions/diffmask.md, figure 3e). Returns the
    mean KL of the first and last 20 steps and the seconds taken.
    """
    tic = time.perf_counter()
    generator = torch.Generator().manual_seed(seed + 1)
    rng = random.Random(seed * 1009 - 1)
    optimizer = torch.optim.RMSprop(list(probe.baselines), lr=lr)
    order: list[list[int]] = []
    kls = []
    for _ in range(steps):
        order = order or length_batches(batch.lengths, batch_size, rng)
        kl = random_mask_kl(probe, adapter, batch.select(order.pop()), keep, generator,
                            depths).mean()
        optimizer.zero_grad()
        kl.backward()
        optimizer.step()
        kls.append(float(kl.detach()))
    optimizer.zero_grad()
    return {"steps": steps, "keep": keep, "kl_first": _mean(kls[:20]),
            "kl_last": _mean(kls[-20:]), "seconds": time.perf_counter() - tic}


def fit(adapter: ModelAdapter, dataset, gate: str = "input", *, out: str | Path | None = None,
        epochs: int = 3, batch_size: int = 32, lr: float = 3e-4, multiplier_lr: float = 0.1,
        margin: float = 0.1, layers: Sequence[int] | None = None, seed: int = 0,
        max_steps: int | None = None, max_length: int = 128, checkpoint_every: int = 200,
        baseline_warmup_steps: int = 0, baseline_warmup_keep: float = 0.5,
        baseline_warmup_lr: float | None = None, freeze_baselines: bool = False,
        scorer: str = "bilinear", progress: bool = True) -> DiffMaskProbe:
    """Fit a DiffMask probe of kind ``gate`` ('input' | 'hidden') for ``adapter`` on ``dataset``.

    ``margin`` is m, the tolerated KL(y || y_hat) in nats; ``lr`` the probe's
    learning rate, ``multiplier_lr`` the multipliers'. ``layers``: the depths
    trained (default all 0..L), e.g. [1] to fit only the gates of state 1
    (other rows of the fitted probe are then untrained). Texts are cut to
    ``max_length`` tokens. With ``out`` the probe is saved there (a new or
    empty directory) and training checkpoints/resumes as described above.

    ``baseline_warmup_steps`` > 0 first fits the baselines alone for that
    many steps (RMSprop of rate ``baseline_warmup_lr``, default ``lr``, on
    batches of ``batch_size``) on random masks keeping each word with
    probability ``baseline_warmup_keep`` (:func:`warm_up_baselines`); the
    gates are then trained from that baseline as usual. ``freeze_baselines``
    keeps the baselines fixed while the gates are trained (at their warmed-up
    value, or at the initial mean). ``scorer``: 'bilinear' (eq. 8) or 'mlp'
    (the authors' released gate, non-linear in the states;
    :class:`depthlens.diffmask.probes.MLPScorer`). With the defaults (no
    warm-up, trained baselines, bilinear) the fit is unchanged.

    Returns the probe in eval mode; ``probe.info`` holds the settings, the
    per-epoch history (mean KL, kept fraction, multipliers, seconds), the
    warm-up's report (if any) and the total time.
    """
    _check_settings(gate, epochs, batch_size, lr, multiplier_lr, margin, max_steps,
                    checkpoint_every, baseline_warmup_steps, baseline_warmup_keep,
                    baseline_warmup_lr)
    out_dir = Path(out) if out is not None else None
    if out_dir is not None and out_dir.exists() and (not out_dir.is_dir()
                                                     or any(out_dir.iterdir())):
        raise InputError(f"out must be a new or empty directory; got {str(out_dir)!r}, which "
                         f"exists (delete it or choose another)")
    batch, _ = encode_dataset(adapter, dataset, max_length)
    probe = new_probe(adapter, batch.select(range(min(len(batch), CALIBRATION_EXAMPLES))), gate,
                      seed, scorer)
    depths = _depths(layers, probe.num_states)
    multipliers = nn.Parameter(torch.ones(probe.num_states))
    ascent = torch.optim.RMSprop([multipliers], lr=multiplier_lr)
    generator = torch.Generator().manual_seed(seed)
    per_epoch = math.ceil(len(batch) / batch_size)
    total = min(epochs * per_epoch, max_steps or epochs * per_epoch)
    settings = {"gate": gate, "n": len(batch), "epochs": epochs, "batch_size": batch_size,
                "lr": lr, "multiplier_lr": multiplier_lr, "margin": margin, "seed": seed,
                "layers": depths.tolist(), "max_steps": max_steps, "max_length": max_length,
                "dims": probe.dims,
                "model": adapter.name}
    # recorded only when used, so that checkpoints of earlier versions still resume
    if baseline_warmup_steps:
        baseline_warmup_lr = baseline_warmup_lr or lr
        settings["baseline_warmup"] = {"steps": baseline_warmup_steps,
                                       "keep": baseline_warmup_keep, "lr": baseline_warmup_lr}
    if freeze_baselines:
        settings["freeze_baselines"] = True
    if scorer != "bilinear":
        settings["scorer"] = scorer
    ckpt = checkpoint_path(out_dir) if out_dir is not None else None
    step, history, warmup = 0, [], None
    state = _load_checkpoint(ckpt, settings)
    if state is None and baseline_warmup_steps:
        # before the Lookahead is built, so its slow weights start from the warmed baselines
        warmup = warm_up_baselines(probe, adapter, batch, baseline_warmup_steps,
                                   baseline_warmup_keep, baseline_warmup_lr, batch_size, depths,
                                   seed)
    probe.baselines.requires_grad_(not freeze_baselines)
    trained = probe.scorers.parameters() if freeze_baselines else probe.parameters()
    optimizer = Lookahead(torch.optim.RMSprop(trained, lr=lr))
    if state is not None:
        probe.load_state_dict(state["probe"])
        multipliers.data.copy_(state["multipliers"])
        optimizer.load_state_dict(state["optimizer"])
        ascent.load_state_dict(state["ascent"])
        generator.set_state(state["generator"])
        step, history, warmup = state["step"], state["history"], state.get("warmup")

    def save_checkpoint() -> None:
        if ckpt is not None:
            with atomic_path(ckpt) as tmp:
                torch.save({"settings": settings, "probe": probe.state_dict(),
                            "multipliers": multipliers.detach().clone(),
                            "optimizer": optimizer.state_dict(), "ascent": ascent.state_dict(),
                            "generator": generator.get_state(), "step": step,
                            "history": history, "warmup": warmup}, tmp)

    probe.train()
    bar = tqdm(total=total, initial=step, desc=f"diffmask {gate}", unit="step",
               disable=not progress)
    start = time.perf_counter()
    for epoch in range(step // per_epoch, epochs):
        if step >= total:
            break
        order = length_batches(batch.lengths, batch_size, random.Random(seed * 1009 + epoch))
        tic, kls, kepts = time.perf_counter(), [], []
        for index in order[step - epoch * per_epoch:]:
            if step >= total:
                break
            loss, kl, kept = lagrangian(probe, adapter, batch.select(index), multipliers, margin,
                                        generator, depths)
            optimizer.zero_grad()
            ascent.zero_grad(set_to_none=True)
            loss.backward()
            multipliers.grad.neg_()  # ascent on the multipliers
            optimizer.step()
            ascent.step()
            with torch.no_grad():
                multipliers.clamp_(0.0, MAX_MULTIPLIER)
            kls.append(float(kl.mean()))
            kepts.append(float(kept.mean()))
            step += 1
            bar.update(1)
            bar.set_postfix(epoch=epoch + 1, kl=f"{_mean(kls[-50:]):.3f}",
                            kept=f"{_mean(kepts[-50:]):.3f}")
            if checkpoint_every and step % checkpoint_every == 0:
                save_checkpoint()
        history.append({"epoch": epoch + 1, "steps": len(kls), "kl": _mean(kls),
                        "kept": _mean(kepts), "seconds": time.perf_counter() - tic,
                        "multipliers": [round(float(a), 4) for a in multipliers.detach()]})
        save_checkpoint()
    bar.close()
    probe.info = {"settings": settings, "history": history, "steps": step,
                  "seconds": time.perf_counter() - start}
    if warmup is not None:
        probe.info["baseline_warmup"] = warmup
    probe.eval().requires_grad_(False)
    if out_dir is not None:
        save_directory(out_dir, probe.save)
        ckpt.unlink(missing_ok=True)
    return probe


def _depths(layers: Sequence[int] | None, num_states: int) -> torch.Tensor:
    """The trained depths as a long tensor; InputError for a layer outside 0..L."""
    chosen = list(range(num_states)) if layers is None else sorted(set(layers))
    bad = [l for l in chosen if not (isinstance(l, int) and 0 <= l < num_states)]
    if bad or not chosen:
        raise InputError(f"layers must be a non-empty list of layers in [0, {num_states - 1}]; "
                         f"got {layers!r}")
    return torch.tensor(chosen, dtype=torch.long)


def _draw_depths(depths: torch.Tensor, n: int, generator: torch.Generator) -> torch.Tensor:
    """n depths (n,) drawn uniformly from ``depths``."""
    return depths[torch.randint(len(depths), (n,), generator=generator)]


def _kl(logp: torch.Tensor, logits: torch.Tensor) -> torch.Tensor:
    """KL(y || y_hat) (B,) from the reference log-probabilities and the masked run's logits."""
    logq = logits.log_softmax(-1)
    return (logp.exp() * (logp - logq)).sum(-1)


def _mean(values: list[float]) -> float:
    return sum(values) / len(values) if values else math.nan


def _load_checkpoint(path: Path | None, settings: dict[str, Any]) -> dict[str, Any] | None:
    """The checkpoint's state if it exists and was written with the same settings."""
    if path is None or not path.is_file():
        return None
    state = torch.load(path, map_location="cpu", weights_only=False)
    return state if state.get("settings") == settings else None


# ---------------------------------------------------------------------- CLI
def add_fit_diffmask_parser(subparsers) -> None:
    """Add ``diffmask`` to the subparsers of ``depthlens fit``."""
    s = subparsers.add_parser("diffmask", help="fit DiffMask probes (input or hidden gates)")
    s.add_argument("--model", required=True, help="default model name or checkpoint directory")
    s.add_argument("--data", required=True, help="dataset spec, e.g. sst2:train")
    s.add_argument("--gate", choices=GATES, default="input")
    s.add_argument("--out", required=True, help="new directory for the probe")
    s.add_argument("--epochs", type=int, default=3)
    s.add_argument("--batch-size", type=int, default=32)
    s.add_argument("--lr", type=float, default=3e-4)
    s.add_argument("--multiplier-lr", type=float, default=0.1)
    s.add_argument("--margin", type=float, default=0.1, help="tolerated KL(y || y_hat), nats")
    s.add_argument("--layers", help="comma-separated layers to fit (default: all)")
    s.add_argument("--seed", type=int, default=0)
    s.add_argument("--max-steps", type=int, default=None)
    s.add_argument("--max-length", type=int, default=128)
    s.add_argument("--checkpoint-every", type=int, default=200)
    s.add_argument("--baseline-warmup-steps", type=int, default=0,
                   help="first fit the baselines alone on random masks for this many steps")
    s.add_argument("--baseline-warmup-keep", type=float, default=0.5,
                   help="keep probability of each word in the warm-up's random masks")
    s.add_argument("--baseline-warmup-lr", type=float, default=None,
                   help="learning rate of the warm-up (default: --lr)")
    s.add_argument("--scorer", choices=SCORERS, default="bilinear",
                   help="gate scorer: eq. 8 (bilinear) or the authors' MLP")
    s.add_argument("--freeze-baselines", action="store_true",
                   help="keep the baselines fixed while the gates are trained")
    s.set_defaults(handler=fit_command)


def fit_command(args) -> None:
    """``depthlens fit diffmask``: load the model and data, fit, save, print one summary line."""
    from ..data import load
    from ..models.loading import load_model

    adapter = load_model(args.model)
    try:
        layers = None if args.layers is None else [int(x) for x in args.layers.split(",")]
    except ValueError:
        raise InputError(f"--layers must be comma-separated integers; got {args.layers!r}"
                         ) from None
    probe = fit(adapter, load(args.data), args.gate, out=args.out, epochs=args.epochs,
                batch_size=args.batch_size, lr=args.lr, multiplier_lr=args.multiplier_lr,
                margin=args.margin, layers=layers, seed=args.seed, max_steps=args.max_steps,
                max_length=args.max_length, checkpoint_every=args.checkpoint_every,
                baseline_warmup_steps=args.baseline_warmup_steps,
                baseline_warmup_keep=args.baseline_warmup_keep,
                baseline_warmup_lr=args.baseline_warmup_lr,
                freeze_baselines=args.freeze_baselines, scorer=args.scorer)
    last = probe.info["history"][-1] if probe.info["history"] else {}
    print(f"fitted diffmask {args.gate} gates for {args.model} on {args.data}: "
          f"KL {last.get('kl', math.nan):.4f}, kept {last.get('kept', math.nan):.3f}, "
          f"{probe.info['steps']} steps in {probe.info['seconds']:.0f}s -> {args.out}")
