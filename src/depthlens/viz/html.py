"""Explanations as one self-contained HTML page (inline CSS and JS, no external assets).

Every string taken from an explanation goes through :func:`html.escape`; the
only script is the fixed :data:`_SCRIPT`, which reads nothing but our own
attributes, and a Content-Security-Policy allows that script alone and no
network access. Colours follow :mod:`depthlens.viz.colors`: each layer row is
scaled by its own max |score|.
"""
from __future__ import annotations

import base64
import hashlib
import html
import json
from pathlib import Path
from typing import Any, Iterable, Sequence

import numpy as np

from ..errors import InputError
from ..explanation import Explanation
from ..io import atomic_write_text
from ..registry import METHODS
from .colors import gradient, hex_color, ink, rgb, scale_rows
from .units import (Unit, mismatch, ranked, segments, sequences, shown_layer, target_text,
                    units)

InputMetrics = dict[str, tuple[float | None, str]]  # metric -> (value or None, "higher is better")
NARROW_AT = 150  # heatmaps with more columns get narrow cells without a header row
TOP_SPANS = 10

_CSS = """
body{font:14px/1.45 system-ui,sans-serif;margin:1.5em;color:#222;background:#fafafa}
h1{font-size:1.4em}h2{font-size:1.1em;margin:1.6em 0 .3em}
.note,.meta,.sub{color:#555;font-size:.9em}
.quote{border-left:3px solid #ccc;padding-left:.6em;color:#444;white-space:pre-wrap}
.cards{display:grid;grid-template-columns:repeat(auto-fit,minmax(min(100%,400px),1fr));gap:1em}
.card{background:#fff;border:1px solid #ddd;border-radius:6px;padding:.8em 1em;min-width:0;
 position:relative}
.card h3{margin:0 0 .2em;font-size:1.05em}
.warn{color:#b2182b;font-weight:600}
.card>input{position:absolute;opacity:0}
.card>label{display:inline-block;border:1px solid #bbb;border-radius:4px;padding:0 .5em;
 margin:.4em .3em .2em 0;cursor:pointer;font-size:.85em}
.card>input:checked+label{background:#333;color:#fff;border-color:#333}
.v-t,.lv-t:checked~.v-w{display:none}.lv-t:checked~.v-t{display:block}
.txt{white-space:pre-wrap;line-height:1.9;margin:.4em 0}
.txt span[data-i]{border-radius:3px;padding:1px 0}
.seq{font-size:.8em;color:#777;margin-right:.4em}
.legend{display:inline-block;width:9em;height:.8em;vertical-align:middle;border:1px solid #ccc}
.hm-wrap{overflow-x:auto;max-width:100%;margin:.5em 0;border:1px solid #eee}
table.hm{border-collapse:collapse;font-size:.75em}
table.hm td{min-width:1.3em;height:1.3em;padding:0;border:1px solid #fff}
table.hm.narrow td{min-width:4px;width:4px;border:0}
table.hm th.rl{position:sticky;left:0;background:#fff;text-align:right;padding:0 .5em;
 white-space:nowrap;font-weight:normal;z-index:1}
table.hm tr.hm-row>th.rl{cursor:pointer}
table.hm th.rl.on{font-weight:700}
table.hm th.ch{writing-mode:vertical-rl;transform:rotate(180deg);max-height:9em;overflow:hidden;
 text-overflow:ellipsis;white-space:nowrap;font-weight:normal;padding:2px 0}
table.spans{border-collapse:collapse;font-size:.9em}table.spans td,table.spans th{padding:1px 8px;
 text-align:left;border-bottom:1px solid #eee}
details{margin-top:.5em}pre{white-space:pre-wrap;font-size:.85em;margin:.2em 0}
"""

_SCRIPT = """
document.addEventListener('click', function (ev) {
  var th = ev.target.closest('table.hm tr.hm-row > th');
  if (!th) return;
  var view = th.closest('.view'), cells = th.parentNode.querySelectorAll('td');
  view.querySelectorAll('.txt span[data-i]').forEach(function (s) {
    var c = cells[Number(s.dataset.i)];
    if (c) { s.style.cssText = c.style.cssText; s.title = c.title; }
  });
  view.querySelectorAll('th.rl.on').forEach(function (t) { t.classList.remove('on'); });
  th.classList.add('on');
  view.querySelector('.showing').textContent = th.textContent + ', max |score| ' + th.dataset.max;
});
"""

_CSP = ("default-src 'none'; style-src 'unsafe-inline'; script-src 'sha256-"
        + base64.b64encode(hashlib.sha256(_SCRIPT.encode()).digest()).decode() + "'")


def render_html(explanations: Iterable[Explanation] | Explanation,
                title: str = "depthlens explanations",
                metrics: Sequence[InputMetrics] | None = None) -> str:
    """One page for many explanations; those of the same text (and pair) share a heading.

    metrics: optional, one {metric name: (value, direction)} per explanation,
    shown in its card (e.g. faithfulness of that explanation on its input).
    """
    if isinstance(explanations, Explanation):
        explanations = [explanations]
    explanations = list(explanations)
    per_card = list(metrics) if metrics is not None else [{}] * len(explanations)
    if len(per_card) != len(explanations):
        raise InputError(f"metrics must give one entry per explanation; got {len(per_card)} "
                         f"for {len(explanations)}")
    groups: dict[tuple[str, str | None], list[tuple[Explanation, InputMetrics]]] = {}
    for exp, scores in zip(explanations, per_card):
        groups.setdefault((exp.text, exp.pair), []).append((exp, scores))
    body, card = [], 0
    for n, ((text, pair), members) in enumerate(groups.items(), 1):
        quote = _e(_shorten(text))
        if pair is not None:
            quote += "<br><i>pair:</i> " + _e(_shorten(pair))
        body.append(f'<section><h2>Text {n}</h2><p class="quote">{quote}</p><div class="cards">')
        for exp, scores in members:
            card += 1
            body.append(_card(exp, card, scores))
        body.append("</div></section>")
    if not groups:
        body.append('<p class="note">No explanations.</p>')
    note = ("Each card is one explanation method: the stronger a word's colour, the more that "
            "method says the word drove the prediction of the target class. Red = positive score "
            "(supports the target), blue = negative (speaks against it); methods whose scores "
            "are never negative use white-to-red. Each layer row is scaled by its own max "
            "|score|, so colours compare words within a layer, not across methods or layers; "
            "hover for exact scores. The grid under a card shows every layer (rows) for "
            "layer-resolved methods: click a row to colour the text by that layer.")
    return (f'<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
            f'<meta http-equiv="Content-Security-Policy" content="{_CSP}">'
            f'<meta name="viewport" content="width=device-width,initial-scale=1">'
            f"<title>{_e(title)}</title><style>{_CSS}</style></head>\n<body><h1>{_e(title)}</h1>"
            f'<p class="note">{note}</p>\n' + "\n".join(body)
            + f"\n<script>{_SCRIPT}</script></body></html>\n")


def write_html(path: str | Path, explanations: Iterable[Explanation] | Explanation,
               title: str = "depthlens explanations") -> Path:
    """Render and write the page atomically; returns ``path``."""
    atomic_write_text(path, render_html(explanations, title))
    return Path(path)


def _card(exp: Explanation, n: int, metrics: InputMetrics) -> str:
    meta = [f"model <b>{_e(exp.model or '(unnamed)')}</b>",
            f"target <b>{_e(target_text(exp.target))}</b>"]
    predicted = mismatch(exp)
    if predicted is not None:
        meta.append(f'<span class="warn">predicted {_e(target_text(predicted))}</span>')
    elif exp.predicted is not None:
        meta.append("predicted = target")
    return (f'<article class="card"><h3>{_e(exp.method)}</h3>{_summary(exp.method)}'
            '<div class="meta">'
            + " &middot; ".join(meta) + "</div>"
            f'<input type="radio" class="lv-w" name="lv{n}" id="lv{n}w" checked>'
            f'<label for="lv{n}w">words</label>'
            f'<input type="radio" class="lv-t" name="lv{n}" id="lv{n}t">'
            f'<label for="lv{n}t">subwords</label>'
            + _view(exp, "word", "v-w") + _view(exp, "token", "v-t")
            + _metrics(exp, metrics) + _spans(exp) + _details(exp) + "</article>")


def _summary(method: str) -> str:
    """The registered method's one-line summary, if it is a registered method."""
    if method not in METHODS.names():
        return ""
    return f'<div class="sub">{_e(METHODS.get(method).summary)}</div>'


def _metrics(exp: Explanation, metrics: InputMetrics) -> str:
    """A small table of this explanation's metric values (scores of its shown layer)."""
    if not metrics:
        return ""
    rows = "".join(f"<tr><td>{_e(name)}</td><td>{'n/a' if value is None else f'{value:.3f}'}"
                   f"</td><td>{_e(direction)}</td></tr>"
                   for name, (value, direction) in metrics.items())
    layer = _e(exp.layers[shown_layer(exp)])
    return (f'<details open><summary>faithfulness on this input ({layer} scores)'
            f'</summary><table class="spans"><tr><th>metric</th><th>value</th><th>better</th></tr>'
            f"{rows}</table></details>")


def _view(exp: Explanation, level: str, cls: str) -> str:
    """Highlighted text at the last layer plus, for several layers, the heatmap."""
    shown, matrix = units(exp, level)
    scaled, row_max, signed = scale_rows(matrix)
    row = shown_layer(exp)
    cells = [[_cell(shown[i].label, matrix[r, i], scaled[r, i], signed) for i in range(len(shown))]
             for r in range(len(exp.layers))]
    parts = []
    for seq in sequences(exp):
        tag = "" if exp.pair is None else f'<span class="seq">{"pair" if seq else "text"}</span>'
        parts.append(tag + "".join(
            _e(t) if i is None else f'<span data-i="{i}" {cells[row][i]}>{_e(t)}</span>'
            for t, i in segments(exp, shown, seq)))
    text = "\n".join(parts)
    stops = ",".join(hex_color(c) for c in gradient(signed))
    ends = (("&minus;max", "+max", "red = positive score (for the target), blue = negative "
             "(against it)") if signed else ("0", "max", "darker = higher score"))
    empty = " (all scores are 0: nothing to highlight)" if row_max[row] == 0 else ""
    legend = (f'<div class="sub">{ends[0]} <span class="legend" style="background:'
              f'linear-gradient(90deg,{stops})"></span> {ends[1]} &middot; {ends[2]} &middot; '
              f'showing <span class="showing">{_e(exp.layers[row])}, max |score| '
              f"{row_max[row]:.4g}{empty}</span></div>")
    heatmap = _heatmap(exp, shown, cells, row_max, row) if len(exp.layers) > 1 else ""
    return f'<div class="view {cls}">{legend}<div class="txt">{text}</div>{heatmap}</div>'


def _heatmap(exp: Explanation, shown: list[Unit], cells: list[list[str]],
             row_max: np.ndarray, shown_row: int) -> str:
    """Rows = layers, columns = units; narrow cells without header for long inputs."""
    narrow = len(shown) > NARROW_AT
    head = "" if narrow else ('<thead><tr><th class="rl"></th>'
                              + "".join(f'<th class="ch">{_e(u.label)}</th>' for u in shown)
                              + "</tr></thead>")
    rows = [f'<tr class="hm-row"><th class="rl{" on" if r == shown_row else ""}" '
            f'data-max="{row_max[r]:.4g}" title="click: colour the text by this layer">'
            f'{_e(name)}</th>' + "".join(f"<td {c}></td>" for c in cells[r]) + "</tr>"
            for r, name in enumerate(exp.layers)]
    return (f'<div class="hm-wrap"><table class="hm{" narrow" if narrow else ""}">{head}'
            f'<tbody>{"".join(rows)}</tbody></table></div>')


def _cell(label: str, score: float, scaled: float, signed: bool) -> str:
    """The attributes shared by a heatmap cell and its highlighted text span."""
    bg = rgb(scaled, signed)
    return (f'style="background:{hex_color(bg)};color:{hex_color(ink(bg))}" '
            f'title="{_e(label)}: {score:+.4f}"')


def _spans(exp: Explanation) -> str:
    if not exp.spans:
        return ""
    rows = []
    for i in ranked(np.array([s.score for s in exp.spans], dtype=float), TOP_SPANS):
        s = exp.spans[i]
        text = s.text or ((exp.pair or "") if s.sequence == 1 else exp.text)[s.start:s.end]
        layer = exp.layers[s.layer] if -len(exp.layers) <= s.layer < len(exp.layers) else s.layer
        rows.append(f"<tr><td>{_e(text)}</td><td>{'pair' if s.sequence == 1 else 'text'} "
                    f"{s.start}-{s.end}</td><td>{_e(layer)}</td><td>{s.score:+.4f}</td></tr>")
    return ('<details open><summary>top spans</summary><table class="spans"><tr><th>span</th>'
            '<th>where</th><th>layer</th><th>score</th></tr>' + "".join(rows)
            + "</table></details>")


def _details(exp: Explanation) -> str:
    info = {"params": exp.params, "seed": exp.seed, "diagnostics": exp.diagnostics,
            "probabilities": dict(zip(exp.labels, exp.probabilities)) if exp.labels
            else exp.probabilities}
    return ("<details><summary>parameters &amp; diagnostics</summary>"
            + "".join(f"<div><b>{_e(k)}</b><pre>{_e(_json(v))}</pre></div>"
                      for k, v in info.items())
            + "</details>")


def _json(value: Any) -> str:
    return json.dumps(value, indent=1, ensure_ascii=False, default=str, sort_keys=True)


def _shorten(text: str, limit: int = 300) -> str:
    return text if len(text) <= limit else text[:limit] + "\u2026"


def _e(value: Any) -> str:
    return html.escape(str(value), quote=True)
