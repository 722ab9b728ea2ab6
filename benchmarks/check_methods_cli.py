"""Check that every attribution baseline works from the API and the CLI, on a single-text model
and on a text pair.

    python benchmarks/check_methods_cli.py [--model minilm-sst2] [--pair-model DIR]
                                           [--methods gradient,occlusion,...]

For each method (and ``--layer all`` for the methods that take ``layer``) and each of
(--model, one text) and (--pair-model, text + pair): ``depthlens.explain`` must return finite
(rows x tokens) scores covering both sequences of a pair, and ``depthlens explain ... --out
FILE.json`` (the CLI entry point, in process) must exit 0 and save the same scores. A pair
given to the single-text model must exit 1 with a one-line error. Without ``--pair-model``
a seeded random 2-layer BERT that accepts pairs (3 labels, the MiniLM tokenizer) is saved to a
temporary directory. Prints one line per check and exits 1 if any failed.
"""
from __future__ import annotations

import argparse
import contextlib
import io
import sys
import tempfile
from pathlib import Path

import numpy as np
import torch

BASELINES = ["gradient", "grad_x_input", "smoothgrad", "integrated_gradients", "gradient_shap",
             "occlusion", "dimension_erasure", "lime", "kernel_shap", "shapley_sampling",
             "attention", "attention_rollout", "attention_norm"]
TEXT = "a gorgeous, witty, seductive movie."
PAIR = ("A man is playing a guitar on stage.", "Someone is making music.")


def random_pair_model(directory: Path) -> str:
    """Save a seeded random 2-layer BERT classifier that accepts pairs; returns its path."""
    from transformers import AutoModelForSequenceClassification, AutoTokenizer, BertConfig

    from depthlens.io import cache_dir
    from depthlens.models.defaults import _minilm_source
    from depthlens.models.huggingface import HFAdapter

    torch.manual_seed(0)
    config = BertConfig(hidden_size=64, num_hidden_layers=2, num_attention_heads=4,
                        intermediate_size=128, num_labels=3,
                        id2label={0: "entailment", 1: "neutral", 2: "contradiction"},
                        label2id={"entailment": 0, "neutral": 1, "contradiction": 2})
    model = AutoModelForSequenceClassification.from_config(config, attn_implementation="eager")
    built = cache_dir() / "models" / "minilm-sst2"
    tokenizer = AutoTokenizer.from_pretrained(built if built.is_dir() else _minilm_source())
    HFAdapter(model, tokenizer, supports_pairs=True).save(directory)
    return str(directory)


def run_cli(argv: list[str]) -> tuple[int, str]:
    """``depthlens`` in process: (exit code, stderr)."""
    from depthlens.cli import main

    err = io.StringIO()
    with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(err):
        code = main(argv)
    return code, err.getvalue()


def check(model: str, method: str, layer: str | None, text: str, pair: str | None,
          out: Path) -> str:
    """'' if the API and the CLI agree and look right, else what went wrong."""
    from depthlens.api import explain
    from depthlens.explanation import Explanation

    params = {} if layer is None else {"layer": layer}
    exp = explain(model, text, method, pair=pair, **params)
    if exp.scores.shape[1] != len(exp.tokens) or not np.isfinite(exp.scores).all():
        return f"API scores {exp.scores.shape} for {len(exp.tokens)} tokens or not finite"
    if pair is not None and 1 not in exp.sequence_ids:
        return "API explanation has no token of the pair"
    argv = ["explain", "--model", model, "--method", method, "--text", text, "--out", str(out)]
    argv += ["--pair", pair] if pair is not None else []
    argv += ["--layer", layer] if layer is not None else []
    code, err = run_cli(argv)
    if code != 0:
        return f"CLI exit {code}: {err.strip()}"
    saved = Explanation.load(out)
    if saved.scores.shape != exp.scores.shape or not np.allclose(saved.scores, exp.scores,
                                                                 rtol=1e-4, atol=1e-6):
        return "CLI scores differ from the API's"
    return ""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", default="minilm-sst2")
    parser.add_argument("--pair-model", default="")
    parser.add_argument("--methods", default=",".join(BASELINES))
    args = parser.parse_args()
    from depthlens.registry import METHODS

    failures = 0
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "exp.json"
        pair_model = args.pair_model or random_pair_model(Path(tmp) / "pair-model")
        code, err = run_cli(["explain", "--model", args.model, "--text", TEXT, "--pair", "x"])
        ok = code == 1 and err.count("\n") == 1
        failures += not ok
        print(f"{'ok' if ok else 'FAIL'}  pair on {args.model}: exit {code}: {err.strip()}")
        for method in args.methods.split(","):
            layers = [None, "all"] if "layer" in METHODS.get(method).params else [None]
            for layer in layers:
                for model, text, pair in [(args.model, TEXT, None), (pair_model, *PAIR)]:
                    problem = check(model, method, layer, text, pair, out)
                    failures += bool(problem)
                    label = "pair model" if pair else args.model
                    print(f"{'FAIL' if problem else 'ok'}  {method:<22} layer={layer or '-':<4} "
                          f"{label:<12} API+CLI {problem}", flush=True)
    print(f"{failures} failure(s)")
    sys.exit(1 if failures else 0)


if __name__ == "__main__":
    main()
