"""How many Gauss-Legendre nodes IG needs per example, with and without the tolerance mode.

    python benchmarks/ig_tolerance.py MODEL N      # e.g. minilm-sst2 16 (first N SST-2 dev sentences)

Runs integrated_gradients (baseline [MASK], 50 steps) once plainly and once with
tolerance=0.01 and prints, from the explanations' diagnostics, the relative completeness error
(median, max, share within 1%), how many examples stopped at each node count, and the mean
backward rows per example (tolerance mode: the sum over its 8, 16, 32, ... retries). One thread.
"""
import sys
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).parent))
from bench_methods import load_adapter, load_texts  # noqa: E402

from depthlens.api import explain_many  # noqa: E402


def main() -> None:
    torch.set_num_threads(1)
    adapter, label = load_adapter(sys.argv[1])
    texts = load_texts(int(sys.argv[2]))
    for params in [{"steps": 50}, {"steps": 50, "tolerance": 0.01}]:
        exps = explain_many(adapter, texts, "integrated_gradients", baseline="mask", **params)
        rel = np.array([e.diagnostics["relative_delta"][0] for e in exps])
        steps = [e.diagnostics["steps"][0] for e in exps]
        bwd = np.mean([e.diagnostics["backward_passes"] for e in exps])
        print(label, params, "relative delta median %.4f max %.4f; share <= 1%%: %.2f"
              % (np.median(rel), rel.max(), (rel <= 0.01).mean()),
              "final steps", {s: steps.count(s) for s in sorted(set(steps))},
              "mean backward rows %.1f" % bwd)


if __name__ == "__main__":
    main()
