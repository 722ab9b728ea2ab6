"""`depthlens demo`: explain a handful of SST-2 dev sentences, evaluate, and write a report."""
from __future__ import annotations

from pathlib import Path

from .benchmark import format_table, run_benchmark
from .registry import METHODS
from .viz.report import build_report

DEMO_METHODS = ("gradient", "integrated_gradients", "occlusion", "attention_norm", "gradcam",
                "decoded_gradcam")
DEMO_METRICS = ("hiding", "revealing", "comprehensiveness", "sufficiency", "token_f1")


def run_demo(model: str = "tiny-sst2", out_dir: Path = Path("depthlens-demo"), n: int = 24) -> Path:
    """Build/load ``model``, explain ``n`` SST-2 dev sentences (with phrase-level rationales)
    with several methods, evaluate them and write ``out_dir/report.html``."""
    from .api import load_model

    adapter = load_model(model)
    methods = [m for m in DEMO_METHODS if m in METHODS.names()
               and (m != "decoded_gradcam" or adapter.has_mlm_head)]
    table = run_benchmark(model, f"sst2_trees:dev:~{n}", methods, out_dir, DEMO_METRICS)
    print(format_table(table))
    report = build_report(out_dir)
    print(f"report: {report.resolve()}")
    return report
