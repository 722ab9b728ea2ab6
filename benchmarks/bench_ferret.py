"""ERASER comprehensiveness / sufficiency (AOPC) against ferret's evaluators: values and speed.

    python benchmarks/bench_ferret.py [--model tiny-sst2] [--data sst2:dev:~50]
                                      [--methods gradient,integrated_gradients] [--threads 1]

For the same model and the same depthlens explanations it prints, per method:

* ferret   -- ``AOPC_Comprehensiveness_Evaluation`` + ``AOPC_Sufficiency_Evaluation``
  with ferret's defaults (top floor(p*n) tokens with a positive score for
  p = 10%..100%, a bin skipped when its rationale equals the previous one,
  tokens deleted from the id list, decoded to text and re-tokenised), one
  example at a time as ferret runs;
* matched  -- depthlens on exactly ferret's rationales (passed as token masks
  through ``spans=``), token ids deleted without re-tokenising; max |ours - ferret|;
* native   -- depthlens' own top-ceil(b*n) bins at ferret's p = 10%..100% and at the
  ERASER bins {1,5,10,20,50}%, one batched call for both metrics.

ferret is optional (not a depthlens dependency). Its top-level package imports its
explainers and dataset managers (datasets, shap, lime, thermostat, …); only
``ferret.evaluators`` is loaded here, so ``pip install --no-deps ferret-xai`` suffices.
"""
from __future__ import annotations

import argparse
import importlib
import importlib.util
import sys
import time
import types

import numpy as np
import torch

from depthlens.api import explain_many
from depthlens.data import load
from depthlens.evaluation.faithfulness import ERASER_BINS, faithfulness
from depthlens.evaluation.units import row_index
from depthlens.models.loading import load_model

FERRET_PERCENTAGES = tuple(np.arange(0.1, 1.1, 0.1))    # ferret's default removal thresholds


def import_ferret_evaluators():
    """(faithfulness_measures, utils_from_soft_to_discrete) modules, without ferret/__init__.py."""
    spec = importlib.util.find_spec("ferret")
    if spec is None or spec.submodule_search_locations is None:
        raise SystemExit("ferret is not installed: pip install --no-deps ferret-xai "
                         "(its evaluators need only numpy, scipy, scikit-learn, torch, "
                         "transformers and tqdm)")
    if "ferret" not in sys.modules:
        package = types.ModuleType("ferret")
        package.__path__ = list(spec.submodule_search_locations)
        sys.modules["ferret"] = package
    return (importlib.import_module("ferret.evaluators.faithfulness_measures"),
            importlib.import_module("ferret.evaluators.utils_from_soft_to_discrete"))


def ferret_rationales(scores: np.ndarray, select) -> list[np.ndarray | None]:
    """ferret's rationale per threshold (indices into the real tokens), None where it skips one.

    scores: (n,) scores of the real tokens. Mirrors the loop in ferret's
    ``compute_evaluation`` (same selection function, same de-duplication)."""
    out, last = [], None
    for p in FERRET_PERCENTAGES:
        top = select(scores, p, True)
        if top is not None and last is not None and set(top) == last:
            top = None
        if top is not None:
            last = set(top)
        out.append(None if top is None else np.asarray(top))
    return out


def matched(adapter, explanations, rationales) -> tuple[np.ndarray, np.ndarray]:
    """depthlens comprehensiveness and sufficiency (N,) on ferret's rationales: mean over the
    thresholds ferret keeps (NaN where it keeps none)."""
    comp, suff = [], []
    for j in range(len(FERRET_PERCENTAGES)):
        masks = []
        for e, per_threshold in zip(explanations, rationales):
            mask = np.zeros(len(e.tokens), dtype=bool)
            if per_threshold[j] is not None:
                mask[per_threshold[j] + 1] = True                 # +1: after [CLS]
            masks.append(mask)
        f = faithfulness(adapter, explanations, spans=masks, mode="delete")
        comp.append(f.comprehensiveness[:, 0])
        suff.append(f.sufficiency[:, 0])
    with np.errstate(all="ignore"):
        return np.nanmean(np.stack(comp, 1), 1), np.nanmean(np.stack(suff, 1), 1)


def retokenised(tokenizer, explanation, rationales) -> bool:
    """True if ferret's decode + re-tokenise changes the ids of one of its perturbed inputs
    (e.g. a word piece deleted from the middle of a word, or a lone '##' piece kept)."""
    ids = np.asarray(tokenizer(explanation.text, truncation=True)["input_ids"][1:-1])
    for top in rationales:
        if top is None:
            continue
        for kept in (np.delete(ids, top), ids[np.sort(top)]):
            if tokenizer(tokenizer.decode(kept.tolist()))["input_ids"][1:-1] != kept.tolist():
                return True
    return False


def timed(fn):
    """(fn(), CPU seconds of this process): less sensitive to other jobs than wall time."""
    start = time.process_time()
    out = fn()
    return out, time.process_time() - start


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--model", default="tiny-sst2")
    p.add_argument("--data", default="sst2:dev:~50")
    p.add_argument("--methods", default="gradient,integrated_gradients")
    p.add_argument("--threads", type=int, default=1)
    args = p.parse_args()
    torch.set_num_threads(args.threads)
    measures, soft_to_discrete = import_ferret_evaluators()
    from ferret.explainers.explanation import Explanation as FerretExplanation

    adapter = load_model(args.model)
    texts = load(args.data).texts
    comp_eval = measures.AOPC_Comprehensiveness_Evaluation(adapter.model, adapter.tokenizer)
    suff_eval = measures.AOPC_Sufficiency_Evaluation(adapter.model, adapter.tokenizer)
    print(f"model {args.model}, data {args.data} (N = {len(texts)}), "
          f"{torch.get_num_threads()} torch thread(s)")
    for method in args.methods.split(","):
        exps = list(explain_many(adapter, texts, method, truncate=True, progress=False))
        rows = [e.scores[row_index(e, None)] for e in exps]
        rationales = [ferret_rationales(row[1:-1], soft_to_discrete._get_id_tokens_percentage)
                      for row in rows]
        kept = np.array([any(r is not None for r in per) for per in rationales])
        fe = [FerretExplanation(e.text, e.tokens, row, method, e.target.index)
              for e, row in zip(exps, rows)]
        ferret_values, t_ferret = timed(lambda: np.array(
            [[comp_eval.compute_evaluation(x, target=x.target).score,
              suff_eval.compute_evaluation(x, target=x.target).score] for x in fe]))
        (comp, suff), t_matched = timed(lambda: matched(adapter, exps, rationales))
        native10, t_native10 = timed(lambda: faithfulness(adapter, exps, bins=FERRET_PERCENTAGES))
        eraser, t_eraser = timed(lambda: faithfulness(adapter, exps, bins=ERASER_BINS))
        diff = np.abs(np.stack([comp, suff], 1) - ferret_values)
        same_ids = kept & ~np.array([retokenised(adapter.tokenizer, e, r)
                                     for e, r in zip(exps, rationales)])
        n = len(exps)
        print(f"\n{method}: {kept.sum()} of {n} examples have a ferret rationale; for "
              f"{same_ids.sum()} of them ferret's decode + re-tokenise keeps every id")
        print(f"{'':34} {'comprehensiveness':>18} {'sufficiency':>12} {'CPU ms/ex':>11}")
        for name, c, s, t in [
                ("ferret (its defaults)", ferret_values[kept, 0], ferret_values[kept, 1], t_ferret),
                ("depthlens on ferret's rationales", comp[kept], suff[kept], t_matched),
                ("depthlens ceil bins 10..100%", native10.comprehensiveness.mean(1)[kept],
                 native10.sufficiency.mean(1)[kept], t_native10),
                ("depthlens ERASER bins", eraser.comprehensiveness.mean(1)[kept],
                 eraser.sufficiency.mean(1)[kept], t_eraser)]:
            print(f"{name:34} {c.mean():18.4f} {s.mean():12.4f} {1000 * t / n:11.2f}")
        for name, subset in (("same ids", same_ids), ("all", kept)):
            print(f"max |depthlens - ferret| on the same rationales, {name} "
                  f"({subset.sum()} examples): comprehensiveness {diff[subset, 0].max():.2e}, "
                  f"sufficiency {diff[subset, 1].max():.2e}")
        print(f"speed-up (ferret / depthlens ceil bins 10..100%, same bins, both metrics): "
              f"{t_ferret / t_native10:.1f}x; on ferret's rationales: {t_ferret / t_matched:.1f}x")


if __name__ == "__main__":
    main()
