"""Peak memory of the span layer against the plain encoder, as the input grows.

For each length N and width cap W, one training step (forward + backward of the
cross-entropy, B texts of N one-token words) of the plain classifier and of the
self-explaining model on the same encoder. The extra peak resident memory of the step is
read from Linux's VmHWM after resetting it (/proc/self/clear_refs), so model loading does
not count; allocations above 16 KiB are mmap'ed (MALLOC_MMAP_THRESHOLD_, set by re-running
the script) so that freed memory leaves the process and each step is measured afresh. Checks that with a cap the span layer's memory grows as N x W, not N^2.

    nice -n 10 python benchmarks/self_explaining_memory.py --encoder minilm --tokens 64 128 256 512
"""
from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

import torch

from self_explaining_common import encoder_source


def resident_kib(field: str) -> int:
    line = next(l for l in Path("/proc/self/status").read_text().splitlines()
                if l.startswith(field + ":"))
    return int(line.split()[1])


def step_peak_mib(model, batch) -> float:
    """Extra peak resident memory (MiB) of one forward + backward of ``model`` on ``batch``."""
    labels = torch.zeros(len(batch), dtype=torch.long)
    Path("/proc/self/clear_refs").write_text("5")        # reset the high-water mark
    before = resident_kib("VmRSS")
    loss = torch.nn.functional.cross_entropy(model.forward(batch).logits, labels)
    loss.backward()
    peak = resident_kib("VmHWM") - before
    model.model.zero_grad(set_to_none=True)
    return peak / 1024


def main() -> None:
    if "MALLOC_MMAP_THRESHOLD_" not in os.environ:
        os.execve(sys.executable, [sys.executable, *sys.argv],
                  {**os.environ, "MALLOC_MMAP_THRESHOLD_": "16384"})
    from depthlens.data import load
    from depthlens.self_explaining import make_self_explaining
    from depthlens.training import hf_classifier

    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--encoder", choices=["tiny", "minilm"], default="minilm")
    p.add_argument("--tokens", type=int, nargs="+", default=[64, 128, 256, 512])
    p.add_argument("--batch", type=int, default=8)
    p.add_argument("--width", type=int, nargs="+", default=[16, 0], help="0 = all spans")
    args = p.parse_args()
    torch.set_num_threads(1)
    plain = hf_classifier(encoder_source(args.encoder), load("sst2:dev:2"))
    for p_ in plain.model.parameters():
        p_.requires_grad_(True)
    models = {"plain": plain}
    for width in args.width:
        models[f"span layer, width {width or 'all'}"] = make_self_explaining(
            plain, max_width=width or None)
    words = "the movie was good and then bad".split()
    print(f"| model | " + " | ".join(f"N = {n}" for n in args.tokens) + " |")
    print("|---|" + "---|" * len(args.tokens))
    rows = {}
    for name, model in models.items():
        model.model.train()
        peaks = []
        for n in args.tokens:
            text = " ".join(words[i % len(words)] for i in range(n - 2))  # + [CLS], [SEP]
            batch = model.encode([text] * args.batch, truncate=True)
            step_peak_mib(model, batch)                                   # warm-up
            peaks.append(step_peak_mib(model, batch))
        rows[name] = peaks
        print(f"| {name} | " + " | ".join(f"{m:.0f} MiB" for m in peaks) + " |")
    print(f"\nextra peak of one training step, B = {args.batch}, {args.encoder} encoder; "
          f"span layer minus plain:")
    for name, peaks in rows.items():
        if name != "plain":
            print(f"  {name}: " + ", ".join(f"N={n}: {a - b:.0f} MiB"
                                            for n, a, b in zip(args.tokens, peaks, rows["plain"])))


if __name__ == "__main__":
    main()
