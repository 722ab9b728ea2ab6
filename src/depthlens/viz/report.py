"""`depthlens report RUN_DIR`: one self-contained HTML report of a benchmark run.

The report shows the metric table (with ranges and directions), Hiding and
Revealing curves of all methods against the random order in one figure each,
the token-overlap curves of all methods, the AUC of every layer of the
layer-resolved methods, their mean score by layer and part of speech (with
``depthlens[pos]`` installed), the SP-LIME pick of examples (when LIME ran), every
PNG the evaluation wrote (curves, word clouds), and links to a page of
example explanations (all methods side by side). Figures are embedded as
data: URIs, so the page is a single file; all text is escaped.
"""
from __future__ import annotations

import base64
import html
import json
import math
from functools import lru_cache
from pathlib import Path

from ..errors import InputError, ModelCapabilityError
from ..explanation import ExplanationSet
from ..io import atomic_write_text
from ..registry import METHODS, METRICS
from .html import write_html
from .plots import curves_png, matrix_png

EXAMPLES = 8
POS_TAGS = 10  # most frequent tags shown in the by-POS figures
GAMES = ("hiding", "revealing")
BEST = ' class="best"'
_CSS = """body{font:15px/1.5 system-ui,sans-serif;margin:2em auto;max-width:1100px;color:#222;
padding:0 1em}table{border-collapse:collapse;margin:1em 0}td,th{padding:4px 10px;
border-bottom:1px solid #ddd;text-align:right}td:first-child,th:first-child{text-align:left}
th{background:#f3f3f3}img{max-width:100%;border:1px solid #eee;margin:.5em 0}
.figs{display:grid;grid-template-columns:repeat(auto-fit,minmax(420px,1fr));gap:1em}
.note{color:#555}td.best{font-weight:700}dt{font-weight:600}dd{margin:0 0 .4em 1.5em;color:#444}
code{background:#f3f3f3;padding:0 .3em}"""


def build_report(run_dir: str | Path, examples: int = EXAMPLES) -> Path:
    """Write RUN_DIR/report.html (and examples.html, figures/*_all.png); returns the report path."""
    from .. import evaluation  # noqa: F401  (registers the metrics the glossary describes)

    run = Path(run_dir)
    manifest_file = run / "run.json"
    if not manifest_file.is_file():
        raise InputError(f"{str(run)!r} is not a depthlens run directory (no run.json); "
                         f"create one with `depthlens benchmark --out {run}`")
    manifest = json.loads(manifest_file.read_text())
    results = {m: json.loads((run / "results" / f"{m}.json").read_text())
               for m in manifest["methods"] if (run / "results" / f"{m}.json").is_file()}
    explanations = ExplanationSet()
    for method in manifest["methods"]:
        f = run / "explanations" / f"{method}.jsonl"
        if f.is_file():
            explanations.extend(ExplanationSet.load(f)[:examples])
    examples_page = write_html(run / "examples.html", _by_text(explanations),
                               title=f"{manifest['model']} on {manifest['data']}: examples")
    figures = [_game_figure(run, game, results) for game in GAMES]
    figures += [_overlap_figure(run, results)]
    figures += [_layer_figure(run, game, manifest["methods"]) for game in GAMES]
    figures = [f for f in figures if f is not None]
    pos_note = _pos_figures(run, manifest["methods"])
    figures += sorted(p for p in (run / "figures").glob("*/*.png"))
    page = _page(manifest, results, figures, examples_page.name, _sp_lime(run) + pos_note)
    out = run / "report.html"
    atomic_write_text(out, page)
    return out


def _by_text(explanations: ExplanationSet) -> list:
    """Order explanations so that all methods of one text are adjacent."""
    order = {}
    for e in explanations:
        order.setdefault((e.text, e.pair), []).append(e)
    return [e for group in order.values() for e in group]


def _game_figure(run: Path, game: str, results: dict) -> Path | None:
    curves = {}
    for method, res in results.items():
        if game in res:
            c = res[game]["details"]["curves"]
            curves[method] = (c["explanation"]["fractions"], c["explanation"]["accuracy"])
            if "random" in c and "random order" not in curves:
                curves["random order"] = (c["random"]["fractions"], c["random"]["accuracy"])
    if not curves:
        return None
    return curves_png(curves, run / "figures" / f"{game}_all.png",
                      xlabel="fraction of tokens " + ("hidden" if game == "hiding" else "revealed"),
                      ylabel="accuracy", title=f"{game.capitalize()} game")


def _overlap_figure(run: Path, results: dict) -> Path | None:
    """Token overlap across classes against k for every method that has it."""
    curves = {m: (list(range(1, len(r["token_overlap"]["details"]["curve"]) + 1)),
                  r["token_overlap"]["details"]["curve"])
              for m, r in results.items() if "token_overlap" in r}
    if not curves:
        return None
    return curves_png(curves, run / "figures" / "token_overlap_all.png",
                      xlabel="k (top-k words of each predicted class)",
                      ylabel="fraction of top-k words shared", title="Token overlap across classes")


def _layer_figure(run: Path, game: str, methods: list[str]) -> Path | None:
    """AUC of ``game`` when ranking by each layer's row, for the layer-resolved methods."""
    found = {}
    for method in methods:
        f = run / "results" / f"{method}.layers.json"
        data = json.loads(f.read_text()) if f.is_file() else {}
        if data.get(game):
            found[method] = (data["layers"], data[game])
    if not found:
        return None
    # place every row at its depth (attention has no embeddings row, Grad-CAM does)
    depth = max((layers for layers, _ in found.values()), key=len)
    curves = {m: ([depth.index(name) for name in layers], values)
              for m, (layers, values) in found.items() if set(layers) <= set(depth)}
    return curves_png(curves, run / "figures" / f"{game}_by_layer.png",
                      xlabel=f"layer ({', '.join(f'{i} = {n}' for i, n in enumerate(depth[:2]))}, ...)",
                      ylabel=f"{game} AUC (accuracy)", title=f"{game.capitalize()} AUC by layer")


def _pos_figures(run: Path, methods: list[str], tagger=None) -> str:
    """figures/<method>/score_by_layer_and_pos.png for each layer-resolved method; returns
    '' or a note saying how to get them when no POS tagger is installed."""
    from ..evaluation.by_pos import scores_by_pos, spacy_tags

    tag_text = lru_cache(maxsize=None)(lambda words: (tagger or spacy_tags)(list(words)))

    def tags(words: list[str]) -> list[str]:  # each text is tagged once for all methods
        return tag_text(tuple(words))

    for method in methods:
        f = run / "explanations" / f"{method}.jsonl"
        explanations = list(ExplanationSet.load(f)) if f.is_file() else []
        if not explanations or len(explanations[0].layers) < 2:
            continue
        try:
            layers, found, means, counts = scores_by_pos(explanations, tags)
        except ModelCapabilityError as err:
            return f'<p class="note">No score-by-POS figures: {html.escape(str(err))}.</p>'
        if found:
            keep = slice(0, POS_TAGS)
            matrix_png(means[:, keep], layers,
                       [f"{t} ({n})" for t, n in zip(found[keep], counts[keep])],
                       run / "figures" / method / "score_by_layer_and_pos.png",
                       title=f"{method}: mean word score by layer and POS tag (tag: word count)",
                       label="score / row max |score|, mean")
    return ""


SP_LIME_BUDGET = 5


def _sp_lime(run: Path) -> str:
    """HTML list of the SP-LIME pick over the run's LIME explanations ('' without LIME)."""
    from ..methods.lime import lime_submodular_pick

    f = run / "explanations" / "lime.jsonl"
    if not f.is_file():
        return ""
    explanations = list(ExplanationSet.load(f))
    items = []
    for i in lime_submodular_pick(explanations, min(SP_LIME_BUDGET, len(explanations))):
        words, scores = explanations[i].word_scores("sum")
        top = sorted(zip(words, scores[-1]), key=lambda ws: -abs(ws[1]))[:5]
        items.append(f"<li>{html.escape(explanations[i].text)}<br><small>"
                     + ", ".join(f"{html.escape(w.text)} {s:+.3f}" for w, s in top)
                     + "</small></li>")
    return (f"<h2>SP-LIME: {len(items)} examples that cover the most important words</h2>"
            f'<p class="note">Ribeiro et al.\'s submodular pick over the LIME explanations: '
            f"a global view of what the model relies on (`depthlens pick` on the CLI).</p>"
            f"<ol>{''.join(items)}</ol>")


def _page(manifest: dict, results: dict, figures: list[Path], examples_name: str,
          extra: str = "") -> str:
    e = html.escape
    metrics = list(dict.fromkeys(m for res in results.values() for m in res))
    head = "".join(f"<th>{e(m)}<br><small>{_direction(results, m)}</small></th>" for m in metrics)
    best = {m: _best(results, m) for m in metrics}
    rows = []
    for method, res in results.items():
        cells = "".join(f"<td{BEST if method in best[m] else ''}>{_value(res.get(m))}</td>"
                        for m in metrics)
        rows.append(f"<tr><td>{e(method)}</td>{cells}</tr>")
    first = next(iter(results.values()), {})
    if any(g in first for g in GAMES):
        cells = "".join(f"<td>{_num(first[m]['details'].get('random_auc_accuracy'))}</td>"
                        if m in GAMES and m in first else "<td></td>" for m in metrics)
        rows.append(f"<tr><td><i>random order</i></td>{cells}</tr>")
    imgs = "".join(f'<figure><img alt="{e(_caption(p))}" src="data:image/png;base64,'
                   f'{base64.b64encode(p.read_bytes()).decode()}"><figcaption>{e(_caption(p))}'
                   f"</figcaption></figure>" for p in figures)
    title = f"depthlens report: {manifest['model']} on {manifest['data']}"
    csp = "default-src 'none'; style-src 'unsafe-inline'; img-src data:"
    return (f'<!DOCTYPE html><html lang="en"><head><meta charset="utf-8">'
            f'<meta http-equiv="Content-Security-Policy" content="{csp}">'
            f"<title>{e(title)}</title><style>{_CSS}</style></head><body><h1>{e(title)}</h1>"
            f'<p class="note">How well does each explanation method find the words that model '
            f"{e(manifest['model'])} relies on, over {manifest['n']} examples of "
            f"{e(manifest['data'])}? Each method scores every token; the metrics below erase or "
            f"keep the top-scored tokens and watch the model's prediction.</p>"
            f'<p><a href="{e(examples_name)}">Example explanations, all methods side by side '
            f"&rarr;</a> (coloured words: what each method found important)</p>"
            f"<h2>Methods</h2>{_glossary(METHODS, manifest['methods'])}"
            f"<h2>Metrics</h2><table><tr><th>method</th>{head}</tr>{''.join(rows)}</table>"
            f'<p class="note">Bold: the best method for that metric (by its direction). '
            f"The random order row is the same game with tokens erased in random order (mean of "
            f"20 shuffles): a useful method beats it. Accuracy in Hiding and Revealing is against "
            f"the data set's gold labels (the Hiding curve at 0 is the model's plain accuracy)."
            f"</p>"
            f"{_glossary(METRICS, metrics)}{extra}"
            f"<h2>Figures</h2><div class=\"figs\">{imgs}</div></body></html>\n")


def _glossary(registry, names: list[str]) -> str:
    """A definition list of the registered ``names`` and their one-line summaries."""
    known = set(registry.names())
    return "<dl>" + "".join(f"<dt>{html.escape(n)}</dt><dd>{html.escape(registry.get(n).summary)}"
                            f"</dd>" for n in names if n in known) + "</dl>"


def _caption(figure: Path) -> str:
    """'all methods: hiding' for figures/hiding_all.png, 'layer-resolved methods: hiding by
    layer' for figures/hiding_by_layer.png, 'gradient: hiding' for figures/gradient/hiding.png."""
    if figure.parent.name == "figures" and figure.stem.endswith("_by_layer"):
        return f"layer-resolved methods: {figure.stem.replace('_', ' ')}"
    if figure.parent.name == "figures":
        return f"all methods: {figure.stem.removesuffix('_all').replace('_', ' ')}"
    return f"{figure.parent.name}: {figure.stem.replace('_', ' ')}"


def _best(results: dict, metric: str) -> set[str]:
    """The methods with the best value of ``metric`` (by its direction); empty if none."""
    values = {m: res[metric]["value"] for m, res in results.items()
              if metric in res and isinstance(res[metric].get("value"), (int, float))
              and math.isfinite(res[metric]["value"])}
    if len(values) < 2:
        return set()
    higher = next(r[metric] for r in results.values() if metric in r)["higher_is_better"]
    top = (max if higher else min)(values.values())
    return {m for m, v in values.items() if v == top}


def _direction(results: dict, metric: str) -> str:
    for res in results.values():
        if metric in res:
            lo, hi = res[metric]["range"]
            arrow = "higher" if res[metric]["higher_is_better"] else "lower"
            return html.escape(f"[{lo}, {hi}], {arrow} is better")
    return ""


def _value(result: dict | None) -> str:
    return "" if result is None else _num(result.get("value"))


def _num(x) -> str:
    return "" if x is None else f"{x:.3f}"
