"""Cost of decoding every layer (seed 002) as a ratio to one forward+backward, in CPU time.

    python benchmarks/decoded_saliency_speed.py --model minilm-sst2 --n 32

Times, on the length buckets of bench_methods.py (first --n SST-2 dev sentences, one thread,
process CPU time so that other jobs on a shared machine do not count, best of --repeats,
runs interleaved): the lower bound (one batched forward+backward), our gradcam (all L+1
layers from one backward), Captum's LayerGradCam looped over the L+1 layers (one
forward+backward each; on (B, T, D) states it averages the gradients over D, so it is timed
only) and LayerGradientXActivation on all layers in one call (eq. 1 after a sum over D and a
ReLU, checked against ours), decoded_gradcam
(decodes only the positions with alpha != 0) and a reference that decodes every position
(the same result, checked), and decoded_gradcam with precision='bfloat16' (the MLM head in
bfloat16; its deviation from float32 is printed). Prints the multiply-accumulate count per token of each part
from the model's sizes and the measured share of positions with alpha = 0.
"""
from __future__ import annotations

import argparse
import time

import torch

from bench_methods import buckets, captum_forward, load_texts, lower_bound


def decode_every_position(adapter, batch, target, tau: int = 3) -> torch.Tensor:
    """decoded_gradcam scores (B, L+1, T) decoding all B*T positions of every layer."""
    from depthlens.methods.base import real_token_mask
    from depthlens.methods.gradcam import (decode_columns, first_occurrence, keep_top_tau,
                                           layer_scores)

    alphas, states = layer_scores(adapter, batch, target, "gradcam")
    candidates, owner = first_occurrence(batch)
    b, t = batch.input_ids.shape
    ids = batch.input_ids.repeat_interleave(t, 0)                         # (B*T, T)
    rows = []
    with torch.no_grad():
        for r, h in enumerate(states):
            d = keep_top_tau(decode_columns(adapter, h.reshape(b * t, -1), ids),
                             candidates.repeat_interleave(t, 0), tau).reshape(b, t, t)
            s = torch.einsum("bji,bj->bi", d, alphas[:, r])
            rows.append(s.gather(1, owner) * real_token_mask(batch))
    return torch.stack(rows, 1)


def captum_layers(adapter, groups, looped: bool) -> list[torch.Tensor]:
    """Captum over all buckets: LayerGradCam once per layer (``looped``), else eq. 1 rows
    (B, L+1, T) from LayerGradientXActivation on all layers at once."""
    from captum import attr

    out = []
    for batch, target in groups:
        forward, layers = captum_forward(adapter, batch, False), adapter.layer_modules()
        embeds = adapter.embed(batch).detach()
        if looped:
            out += [attr.LayerGradCam(forward, layer).attribute(embeds, target=target)
                    for layer in layers]
        else:
            per_layer = attr.LayerGradientXActivation(forward, layers).attribute(embeds,
                                                                                 target=target)
            out.append(torch.stack([torch.relu(a.sum(-1)) for a in per_layer], 1).detach())
    return out


def cpu_best(runs: dict, repeats: int) -> dict:
    """Least process CPU seconds of each named run over ``repeats`` interleaved rounds."""
    best = {name: float("inf") for name in runs}
    for _ in range(repeats):
        for name, fn in runs.items():
            start = time.process_time()
            fn()
            best[name] = min(best[name], time.process_time() - start)
    return best


def bfloat16_deviation(adapter, groups, decoded_gradcam) -> str:
    """How far precision='bfloat16' scores are from float32 ones: the largest error relative to
    each (example, layer) row's max |score|, and how often the top-scored token is the same."""
    errors, same_top, rows = [], 0, 0
    for batch, target in groups:
        exact = decoded_gradcam(adapter, batch, target).scores
        fast = decoded_gradcam(adapter, batch, target, precision="bfloat16").scores
        peak = exact.abs().amax(-1)
        live = peak > 0
        errors.append(((fast - exact).abs().amax(-1)[live] / peak[live]))
        same_top += int((fast.argmax(-1) == exact.argmax(-1))[live].sum())
        rows += int(live.sum())
    errors = torch.cat(errors)
    return (f"\nbfloat16 vs float32 over {rows} non-zero (example, layer) rows: error / row max "
            f"|score| median {errors.median():.4f}, max {errors.max():.4f}; same top token in "
            f"{same_top / rows:.3f} of the rows")


def macs_per_token(config) -> dict:
    """Multiply-accumulates per token: encoder forward, forward+backward (~3x), one decode."""
    d, ff, layers, vocab = (config.hidden_size, config.intermediate_size,
                            config.num_hidden_layers, config.vocab_size)
    forward = layers * (4 * d * d + 2 * d * ff)
    return {"forward": forward, "forward+backward": 3 * forward,
            "decode one state (dense + vocabulary projection)": d * d + d * vocab,
            f"decode all {layers + 1} states": (layers + 1) * (d * d + d * vocab)}


def main() -> None:
    from depthlens import load_model
    from depthlens.methods.gradcam import decoded_gradcam, gradcam, layer_scores

    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--model", default="minilm-sst2")
    p.add_argument("--n", type=int, default=32)
    p.add_argument("--repeats", type=int, default=3)
    args = p.parse_args()
    torch.set_num_threads(1)
    adapter = load_model(args.model)
    groups = buckets(adapter, load_texts(args.n))
    zero = total = 0
    for batch, target in groups:
        alphas, _ = layer_scores(adapter, batch, target, "gradcam")
        real = batch.attention_mask.bool()[:, None, :].expand_as(alphas)
        zero, total = zero + int(((alphas == 0) & real).sum()), total + int(real.sum())
        diff = (decoded_gradcam(adapter, batch, target).scores
                - decode_every_position(adapter, batch, target)).abs().max()
        if diff > 1e-5:
            raise SystemExit(f"decoded_gradcam differs from the all-positions reference: {diff}")
    for (batch, target), theirs in zip(groups, captum_layers(adapter, groups, looped=False)):
        diff = (gradcam(adapter, batch, target).scores - theirs).abs().max()
        if diff > 1e-4:
            raise SystemExit(f"gradcam differs from Captum LayerGradientXActivation: {diff}")
    runs = {
        "lower bound (one forward+backward)": lambda: lower_bound(adapter, groups),
        "gradcam, all layers (ours, one backward)":
            lambda: [gradcam(adapter, b, t) for b, t in groups],
        "Captum LayerGradCam looped over the layers":
            lambda: captum_layers(adapter, groups, looped=True),
        "Captum LayerGradientXActivation, all layers in one call":
            lambda: captum_layers(adapter, groups, looped=False),
        "decoded_gradcam (only alpha != 0 decoded)":
            lambda: [decoded_gradcam(adapter, b, t) for b, t in groups],
        "decoded_gradcam, precision=bfloat16":
            lambda: [decoded_gradcam(adapter, b, t, precision="bfloat16") for b, t in groups],
        "reference: decode every position":
            lambda: [decode_every_position(adapter, b, t) for b, t in groups],
    }
    best = cpu_best(runs, args.repeats)
    bound = best["lower bound (one forward+backward)"]
    tokens = sum(int(b.attention_mask.sum()) for b, _ in groups)
    print(f"model {args.model}; {args.n} SST-2 dev sentences ({tokens} tokens) in length buckets; "
          f"1 thread; process CPU time, best of {args.repeats}\n")
    print("| run | CPU ms/example | x lower bound |\n|---|---|---|")
    for name, seconds in best.items():
        print(f"| {name} | {seconds / args.n * 1e3:.2f} | {seconds / bound:.2f} |")
    print(bfloat16_deviation(adapter, groups, decoded_gradcam))
    print(f"\nalpha = 0 (nothing to decode) at {zero}/{total} = {zero / total:.2f} of the "
          f"(layer, position) pairs")
    print("multiply-accumulates per token: " + ", ".join(
        f"{k} {v / 1e6:.1f}M" for k, v in macs_per_token(adapter.model.config).items()))


if __name__ == "__main__":
    main()
