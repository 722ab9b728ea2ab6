"""`depthlens demo`: explain a handful of SST-2 dev sentences, evaluate, and write a report."""
from __future__ import annotations

import sys
from pathlib import Path

from .benchmark import format_table, run_benchmark
from .errors import ModelCapabilityError

# every baseline (issue 3) and both Grad-CAM variants, side by side
DEMO_METHODS = ("gradient", "grad_x_input", "smoothgrad", "integrated_gradients", "gradient_shap",
                "occlusion", "dimension_erasure", "lime", "kernel_shap", "shapley_sampling",
                "attention", "attention_rollout", "attention_norm", "gradcam", "decoded_gradcam")
# fewer samples than the methods' defaults keep the demo to a few minutes on 2 cores
DEMO_PARAMS = {"integrated_gradients": {"steps": 20}, "lime": {"n_samples": 100},
               "kernel_shap": {"n_samples": 100}, "shapley_sampling": {"n_permutations": 10}}
DEMO_METRICS = ("hiding", "revealing", "comprehensiveness", "sufficiency", "token_f1",
                "token_overlap")


def run_demo(model: str = "tiny-sst2", out_dir: Path = Path("depthlens-demo"), n: int = 24) -> Path:
    """Build/load ``model``, explain ``n`` SST-2 dev sentences (with phrase-level rationales)
    with every baseline and Grad-CAM, evaluate them and write ``out_dir/report.html``.
    Methods the model cannot run (e.g. attention on an LSTM) are skipped with a note."""
    from .api import explain, load_model
    from .viz.report import build_report

    adapter = load_model(model)
    methods = []
    for method in DEMO_METHODS:
        try:
            explain(adapter, "a fine movie .", method, **DEMO_PARAMS.get(method, {}))
        except ModelCapabilityError as err:
            print(f"skipping {method}: {err}", file=sys.stderr)
            continue
        methods.append(method)
    params = {m: p for m, p in DEMO_PARAMS.items() if m in methods}
    table = run_benchmark(model, f"sst2_trees:dev:~{n}", methods, out_dir, DEMO_METRICS,
                          method_params=params)
    print(format_table(table, color=sys.stdout.isatty()))
    report = build_report(out_dir)
    print(f"report: {report.resolve()}")
    return report
