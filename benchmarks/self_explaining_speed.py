"""Cost of the span layer: forward time of encoder + span head vs the plain encoder.

Texts of N tokens (one-token words, the worst case for the number of spans),
batch B, no-grad forwards in eval mode. Plain and span-layer forwards are
timed alternately (--repeats pairs after one warm-up each) and the median of
the per-pair ratios is reported, which is robust to load from other jobs.
Also reports the number of span cells (B x N x W) with and without a cap.

    nice -n 10 python benchmarks/self_explaining_speed.py --encoder minilm --tokens 128 --width 16
"""
from __future__ import annotations

import argparse
import statistics
import time

import torch

from self_explaining_common import encoder_source


def paired(plain, span, repeats: int) -> tuple[float, float]:
    """(median seconds of ``plain()``, median ratio span() / plain()) over alternating calls."""
    plain(), span()
    base, ratios = [], []
    for _ in range(repeats):
        start = time.perf_counter()
        plain()
        middle = time.perf_counter()
        span()
        base.append(middle - start)
        ratios.append((time.perf_counter() - middle) / base[-1])
    return statistics.median(base), statistics.median(ratios)


def main() -> None:
    from depthlens.data import load
    from depthlens.self_explaining import make_self_explaining
    from depthlens.training import hf_classifier

    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--encoder", choices=["tiny", "minilm"], default="minilm")
    p.add_argument("--tokens", type=int, default=128)
    p.add_argument("--batch", type=int, default=8)
    p.add_argument("--width", type=int, nargs="+", default=[16, 0], help="0 = all spans")
    p.add_argument("--repeats", type=int, default=9)
    p.add_argument("--threads", type=int, default=2)
    args = p.parse_args()
    torch.set_num_threads(args.threads)
    plain = hf_classifier(encoder_source(args.encoder), load("sst2:dev:2"))
    words = "the movie was good and then bad".split()
    text = " ".join(words[i % len(words)] for i in range(args.tokens - 2))  # + [CLS], [SEP]
    batch = plain.encode([text] * args.batch)
    with torch.no_grad():
        for width in args.width:
            model = make_self_explaining(plain, max_width=width or None)
            base, ratio = paired(lambda: plain.forward(batch), lambda: model.forward(batch),
                                 args.repeats)
            cells = model.last.mask.numel()
            print(f"{args.encoder}: B={args.batch} N={batch.input_ids.shape[1]} tokens, width "
                  f"{width or 'all'}: plain {1000 * base:.0f} ms, span layer {ratio:.2f}x plain; "
                  f"B*N*W = {cells} span cells ({cells * model.last.spans.shape[-1] * 4 / 2**20:.0f}"
                  f" MiB per (B, N, W, D) float tensor)")


if __name__ == "__main__":
    main()
