"""`depthlens demo`: explain a handful of SST-2 dev sentences and write an HTML page."""
from __future__ import annotations

import sys
from pathlib import Path

from .api import explain_many, load_model
from .explanation import ExplanationSet
from .registry import METHODS

DEMO_METHODS = (("gradient", {"layer": "all"}), ("integrated_gradients", {}),
                ("attention_norm", {}), ("occlusion", {}))


def run_demo(model: str = "minilm-sst2", out_dir: Path = Path("depthlens-demo"), n: int = 6) -> Path:
    """Build/load ``model``, explain ``n`` SST-2 dev sentences with several methods, write HTML."""
    from .data import load
    from .viz.html import write_html

    adapter = load_model(model)
    data = load(f"sst2:dev:{n}")
    explanations = ExplanationSet()
    for method, params in DEMO_METHODS:
        if method in METHODS.names():
            explanations.extend(explain_many(adapter, data.texts, method, progress=True, **params))
    correct = sum(e.predicted.index == ex.label for e, ex in
                  zip(explanations[:len(data)], data.examples))
    out_dir.mkdir(parents=True, exist_ok=True)
    explanations.save(out_dir / "explanations.jsonl")
    page = out_dir / "report.html"
    write_html(page, explanations, title=f"depthlens demo: {adapter.name} on SST-2 dev")
    print(f"{adapter.name}: {correct}/{len(data)} demo sentences classified correctly; "
          f"{len(explanations)} explanations", file=sys.stderr)
    print(f"report: {page.resolve()}")
    return page
