"""Speed of the information measure: batched + converging vs the original procedure.

    nice -n 10 python benchmarks/bench_information.py [--model tiny-sst2] [--n 8] \
        [--reference-pairs 6]

Reference (re-implemented from the authors' Interpreter.py): ONE sentence and
ONE layer per run, sigma = cap * sigmoid(rho) with rho ~ N(0, 1) initially,
one noise draw per step, torch Adam (lr 0.01) for a fixed 5,000 steps, keeping
the parameters of the lowest single-draw loss seen. It optimises the same loss
(depthlens.information.fit.row_losses) as depthlens. depthlens: all ``--n``
sentences and all layers in one ``fit_information`` call with its defaults.

Both results are scored with one yardstick, the Monte-Carlo loss with 64
fresh draws per row (``evaluate_loss``), on the (sentence, layer) pairs the
reference ran on. Reports wall time per (sentence, layer), the speed-up and the
loss ratio (depthlens / reference; <= 1 means depthlens reached an equal or
lower loss), and writes a JSON file. Times are CPU seconds of this
single-threaded process (time.process_time), so other jobs sharing the
machine do not distort the ratio.
"""
from __future__ import annotations

import argparse
import time

import torch

from depthlens.api import load_model
from depthlens.data import load
from depthlens.information import FitSettings, evaluate_loss, fit_information
from depthlens.information.fit import NoiseStreams, row_losses
from depthlens.information.targets import layer_problem

from information_common import single_thread, write_results

REFERENCE_STEPS, REFERENCE_LR, MAX_NOISE = 5000, 0.01, 10.0


def reference_fit(problem, lam: float, seed: int) -> torch.Tensor:
    """The original procedure on a one-row problem: log sigma (1, T, 1)."""
    gen = torch.Generator().manual_seed(seed)
    rho = torch.nn.Parameter(torch.randn(1, problem.embeds.shape[1], 1, generator=gen))
    optimizer = torch.optim.Adam([rho], lr=REFERENCE_LR)
    streams = NoiseStreams(problem.keys, problem.lengths, tuple(problem.embeds.shape[1:]), 1)
    rows = torch.zeros(1, dtype=torch.long)
    best, best_rho = float("inf"), rho.detach().clone()
    for _ in range(REFERENCE_STEPS):
        optimizer.zero_grad()
        loss = row_losses(problem, rows, rho, streams.draw(rows), lam).sum()
        loss.backward()
        optimizer.step()
        if loss.item() < best:
            best, best_rho = loss.item(), rho.detach().clone()
    return torch.log(problem.sigma_max) + torch.nn.functional.logsigmoid(best_rho)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="tiny-sst2")
    parser.add_argument("--n", type=int, default=8, help="sentences fitted by depthlens")
    parser.add_argument("--reference-pairs", type=int, default=6,
                        help="(sentence, layer) pairs run with the reference procedure")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    single_thread()
    adapter = load_model(args.model)
    texts = load("sst2:dev").sample(args.n, seed=args.seed).texts
    batch = adapter.encode(texts, truncate=True)
    layers = list(range(adapter.num_layers + 1))
    settings = FitSettings()

    tic = time.process_time()
    fit = fit_information(adapter, batch, layers, max_noise=MAX_NOISE, seed=args.seed,
                          settings=settings)
    ours_seconds = (time.process_time() - tic) / (len(texts) * len(layers))

    pairs = [(i % len(texts), layers[(i * 7 + 3) % len(layers)])
             for i in range(args.reference_pairs)]
    ref_seconds, ref_loss, our_loss = [], [], []
    for i, l in pairs:
        problem = layer_problem(adapter, batch.select([i]), [l], "tokens", MAX_NOISE, False,
                                args.seed)
        tic = time.process_time()
        log_sigma = reference_fit(problem, settings.lam, args.seed + i)
        ref_seconds.append(time.process_time() - tic)
        n = batch.lengths[i]
        ours = fit.log_sigma[i, layers.index(l), :n]
        ref_loss.append(float(evaluate_loss(problem, log_sigma, settings.lam)[0]))
        our_loss.append(float(evaluate_loss(problem, ours[None], settings.lam)[0]))
        print(f"sentence {i} ({n} tokens) layer {l}: reference {ref_seconds[-1]:.1f} CPU s "
              f"loss {ref_loss[-1]:.4f} | depthlens loss {our_loss[-1]:.4f}", flush=True)
    reference = sum(ref_seconds) / len(ref_seconds)
    results = {
        "model": args.model, "sentences": len(texts), "layers": len(layers),
        "depthlens_seconds_per_pair": ours_seconds, "reference_seconds_per_pair": reference,
        "speedup": reference / ours_seconds,
        "depthlens_steps": {"mean": float(fit.steps.float().mean()), "max": int(fit.steps.max())},
        "loss_depthlens": sum(our_loss) / len(our_loss),
        "loss_reference": sum(ref_loss) / len(ref_loss),
        "pairs": [{"sentence": i, "layer": l, "reference": r, "depthlens": o}
                  for (i, l), r, o in zip(pairs, ref_loss, our_loss)],
    }
    results["loss_ratio"] = results["loss_depthlens"] / results["loss_reference"]
    print(f"CPU seconds per (sentence, layer): depthlens {ours_seconds:.2f} s (Adam steps mean "
          f"{results['depthlens_steps']['mean']:.0f}), reference {reference:.1f} s: "
          f"speed-up {results['speedup']:.1f}x; mean loss depthlens "
          f"{results['loss_depthlens']:.4f} "
          f"vs reference {results['loss_reference']:.4f} (ratio {results['loss_ratio']:.3f})")
    print("wrote", write_results(f"speed-{args.model}", results))


if __name__ == "__main__":
    main()
