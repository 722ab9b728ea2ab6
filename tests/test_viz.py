"""Renderers on hand-built explanations (no model): escaping, sizes, files, atomic writes."""
from __future__ import annotations

import html
import re
from html.parser import HTMLParser
from pathlib import Path

import numpy as np
import pytest

from depthlens.errors import InputError
from depthlens.explanation import Explanation, Span, Target
from depthlens.viz import curves_png, heatmap_png, render_html, render_terminal, write_html
from depthlens.viz.colors import scale_rows
from depthlens.viz.html import _SCRIPT

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
SCRIPT = "<script>alert(1)</script>"
IMG = '"><img src=x onerror=alert(1)>'


def make(text: str, n_layers: int = 3, pair: str | None = None, seed: int = 0,
         signed: bool = True, **fields) -> Explanation:
    """Whitespace words; words longer than 6 characters become two tokens."""
    tokens, offsets, word_ids, seq_ids = ["[CLS]"], [(0, 0)], [None], [None]
    word = 0
    for seq, source in enumerate([text] + ([pair] if pair is not None else [])):
        for m in re.finditer(r"\S+", source):
            s, e = m.span()
            cuts = [(s, (s + e) // 2), ((s + e) // 2, e)] if e - s > 6 else [(s, e)]
            for a, b in cuts:
                tokens.append(source[a:b])
                offsets.append((a, b))
                word_ids.append(word)
                seq_ids.append(seq)
            word += 1
        tokens.append("[SEP]")
        offsets.append((0, 0))
        word_ids.append(None)
        seq_ids.append(None)
    scores = np.random.default_rng(seed).normal(size=(n_layers, len(tokens)))
    defaults = dict(layers=[f"layer_{i}" for i in range(n_layers)],
                    target=Target(1, "positive", 0.25), method="gradient", model="tiny",
                    probabilities=[0.75, 0.25], labels=["negative", "positive"])
    defaults.update(fields)
    return Explanation(text=text, tokens=tokens, offsets=offsets, word_ids=word_ids,
                       sequence_ids=seq_ids, scores=np.abs(scores) if not signed else scores,
                       pair=pair, **defaults)


def evil() -> Explanation:
    text = f"good {SCRIPT} film {IMG} ends & <b>bold</b>"
    return make(text, pair=f"pair {IMG}", model=SCRIPT, method=IMG,
                layers=[SCRIPT, IMG, "ok"], labels=[SCRIPT, IMG],
                target=Target(1, IMG, 0.5), params={IMG: SCRIPT},
                diagnostics={SCRIPT: [IMG]},
                spans=[Span(0, 4, 0.9, text=SCRIPT), Span(5, 13, 0.1, layer=1)])


class Tags(HTMLParser):
    """Collects every start tag, its attributes and script bodies."""

    def __init__(self) -> None:
        super().__init__()
        self.tags: list[tuple[str, dict]] = []
        self.scripts: list[str] = []
        self._in_script = False

    def handle_starttag(self, tag, attrs):
        self.tags.append((tag, dict(attrs)))
        self._in_script = tag == "script"

    def handle_endtag(self, tag):
        self._in_script = False

    def handle_data(self, data):
        if self._in_script:
            self.scripts.append(data)


def parse(page: str) -> Tags:
    parser = Tags()
    parser.feed(page)
    return parser


# ------------------------------------------------------------------- HTML
def test_html_escapes_untrusted_text():
    exp = evil()
    page = render_html([exp], title=SCRIPT)
    assert "<script>alert" not in page and "<img src=x" not in page
    assert html.escape(SCRIPT, quote=True) in page and html.escape(IMG, quote=True) in page
    tags = parse(page)
    assert [t for t, _ in tags.tags].count("script") == 1
    assert tags.scripts == [_SCRIPT] and "alert" not in _SCRIPT
    assert not [t for t, _ in tags.tags if t in ("img", "iframe", "object", "embed")]
    assert not [a for _, attrs in tags.tags for a in attrs if a.startswith("on")]
    for word in exp.words():
        assert html.escape(word.text, quote=True) in page


def test_html_references_no_urls():
    page = render_html([evil(), make("plain words here")])
    assert not re.search(r"https?://", page) and "src=" not in page.replace("src=x", "")
    assert "Content-Security-Policy" in page


def test_heatmap_rows_equal_layers_and_input_level_has_none():
    page = render_html([make("a wonderfully long sentence", n_layers=5)])
    tables = page.split('<table class="hm')[1:]
    assert len(tables) == 2  # word and subword views
    assert all(t.split("</table>")[0].count('class="hm-row"') == 5 for t in tables)
    assert '<table class="hm' not in render_html([make("one row", n_layers=1)])


def test_html_groups_same_text_and_shows_prediction():
    a = make("the same text", method="gradient")
    b = make("the same text", method="attention", signed=False, seed=1)
    page = render_html([a, b, make("another text")])
    assert page.count("<section>") == 2 and page.count('<article class="card">') == 3
    assert "predicted negative (p=0.750)" in page and "target <b>positive (p=0.250)</b>" in page


def test_long_input_stays_small_and_narrow():
    words = " ".join(f"word{i}" for i in range(600))
    page = render_html([make(words, n_layers=7)])
    assert len(page.encode()) < 2_000_000
    assert 'class="hm narrow"' in page and page.count('class="hm-row"') == 14
    assert 'title="word599: ' in page


def test_html_shows_metrics_per_card_escaped():
    page = render_html([make("good film"), make("bad film")], metrics=[
        {"hiding": (0.25, "lower is better"), SCRIPT: (None, IMG)}, {}])
    assert page.count("faithfulness on this input") == 1
    assert "<td>hiding</td><td>0.250</td><td>lower is better</td>" in page
    assert "<td>n/a</td>" in page and "<script>alert" not in page and "<img src=x" not in page
    with pytest.raises(InputError, match="one entry per explanation; got 1 for 2"):
        render_html([make("good film"), make("bad film")], metrics=[{}])


def test_cards_say_what_the_method_computes():
    import depthlens  # noqa: F401  (registers the methods)

    page = render_html([make("good film", method="occlusion"), make("bad film", method="mine")])
    assert '<h3>occlusion</h3><div class="sub">drop in the target score' in page
    assert '<h3>mine</h3><div class="meta">' in page


def test_legend_says_what_colours_mean_and_flags_all_zero_layers():
    signed = render_html([make("good film")])
    assert "red = positive score (for the target), blue = negative (against it)" in signed
    flat = make("good film", signed=False)
    flat.scores[-1, 1:] = 0.0  # gradients at the last layer: only [CLS] is non-zero
    page = render_html([flat])
    assert "darker = higher score" in page and "red = positive" not in page.split("<article")[1]
    assert 'showing <span class="showing">layer_1,' in page and page.count('class="rl on"') == 2
    assert "nothing to highlight" not in page
    flat.scores[:] = 0.0
    page = render_html([flat])
    assert page.count("all scores are 0: nothing to highlight") == 2  # word and subword views
    assert 'showing <span class="showing">layer_2,' in page


def test_report_explains_methods_and_metrics_and_marks_the_best(tmp_path):
    import json

    from depthlens.evaluation import MetricResult
    from depthlens.explanation import ExplanationSet
    from depthlens.viz.report import build_report

    run = tmp_path / "run"
    (run / "results").mkdir(parents=True)
    methods = ["gradient", "occlusion"]
    (run / "run.json").write_text(json.dumps({"model": SCRIPT, "data": "toy", "n": 1,
                                              "methods": methods, "metrics": []}))
    for method, (comp, suff) in zip(methods, [(0.4, 0.1), (0.2, -0.1)]):
        results = {"comprehensiveness": MetricResult("comprehensiveness", comp, [comp], (-1, 1),
                                                     True),
                   "sufficiency": MetricResult("sufficiency", suff, [suff], (-1, 1), False)}
        (run / "results" / f"{method}.json").write_text(
            json.dumps({k: r.to_dict() for k, r in results.items()}))
        ExplanationSet([make(f"good {IMG} film", method=method)]).save(
            run / "explanations" / f"{method}.jsonl")
    page = build_report(run).read_text()
    assert '<td class="best">0.400</td>' in page and '<td class="best">-0.100</td>' in page
    assert page.count('class="best"') == 2
    assert "<dt>occlusion</dt><dd>drop in the target score" in page
    assert "<dt>sufficiency</dt><dd>ERASER sufficiency" in page and "lower is better" in page
    assert "<script>alert" not in page and html.escape(SCRIPT) in page
    assert "<img src=x" not in (run / "examples.html").read_text()
    with pytest.raises(InputError, match="not a depthlens run directory"):
        build_report(tmp_path)


def test_write_html_atomic(tmp_path, monkeypatch):
    target = tmp_path / "page.html"
    assert write_html(target, [make("hello there")]) == target
    before = target.read_text(encoding="utf-8")

    def broken(self, data, *args, **kwargs):
        with open(self, "w", encoding="utf-8") as f:
            f.write(data[:10])
        raise OSError("disk full")

    monkeypatch.setattr(Path, "write_text", broken)
    with pytest.raises(OSError):
        write_html(target, [make("other text")])
    assert sorted(p.name for p in tmp_path.iterdir()) == ["page.html"]
    assert target.read_text(encoding="utf-8") == before


# --------------------------------------------------------------- terminal
def test_terminal_plain_lists_top_word_with_score():
    exp = make("a truly remarkable and moving film", n_layers=4)
    out = render_terminal(exp, color=False)
    word, score = exp.top_words(1)[0]
    assert "\x1b" not in out
    assert re.search(rf"1\. {re.escape(word)} +{re.escape(f'{score:+.4f}')}", out)
    assert "target positive (p=0.250) | predicted negative (p=0.750)" in out.splitlines()[0]
    block = out.split("top 3 words per layer:\n")[1].splitlines()
    assert len(block) == 4 and block[-1].startswith(">")


def test_terminal_colour_modes_and_control_characters():
    exp = make("bad \x1b[2J text \x07 here", n_layers=1)
    assert "\x1b[48;2;" in render_terminal(exp, color="truecolor")
    assert "\x1b[48;5;" in render_terminal(exp, color="256")
    plain = render_terminal(exp, color=False, level="token")
    assert "\x1b" not in plain and "\x07" not in plain and "per layer" not in plain
    with pytest.raises(InputError):
        render_terminal(exp, level="char")
    with pytest.raises(InputError):
        render_terminal(exp, color="16")


def test_terminal_wraps_and_shows_pair():
    exp = make(" ".join(["lengthy"] * 40), pair="second sentence")
    lines = render_terminal(exp, color=False, width=40).splitlines()
    assert "pair:" in lines and "second sentence" in lines
    text = lines[3:lines.index("pair:")]
    assert len(text) > 1 and all(len(line) <= 40 for line in text)


# ------------------------------------------------------------------ colour
def test_scale_rows_per_row_and_sign():
    scaled, row_max, signed = scale_rows(np.array([[1.0, -2.0], [0.0, 0.0], [np.nan, 4.0]]))
    assert signed and row_max.tolist() == [2.0, 0.0, 4.0]
    assert scaled.tolist() == [[0.5, -1.0], [0.0, 0.0], [0.0, 1.0]]
    assert not scale_rows(np.array([[0.0, 3.0]]))[2]


# ------------------------------------------------------------------- PNGs
def test_pngs_written(tmp_path):
    short = make("costs $5 and $x$ under_score words", n_layers=3)
    long = make(" ".join(f"w{i}" for i in range(200)), n_layers=2, signed=False)
    for i, (exp, level) in enumerate([(short, "word"), (short, "token"), (long, "word")]):
        path = heatmap_png(exp, tmp_path / f"h{i}.png", level=level)
        assert path.read_bytes()[:8] == PNG_MAGIC
    curves = {"gradient": ([0, 0.5, 1], [0.9, 0.5, 0.1]), "$random$": ([0, 1], [0.9, 0.8])}
    path = curves_png(curves, tmp_path / "c.png", "fraction hidden", "probability", "hiding")
    assert path.stat().st_size > 1000 and path.read_bytes()[:8] == PNG_MAGIC
    assert sorted(p.name for p in tmp_path.iterdir()) == ["c.png", "h0.png", "h1.png", "h2.png"]


def test_curves_reject_bad_input(tmp_path):
    with pytest.raises(InputError):
        curves_png({}, tmp_path / "c.png", "x", "y", "t")
    with pytest.raises(InputError):
        curves_png({"a": ([0, 1], [1])}, tmp_path / "c.png", "x", "y", "t")


def test_png_atomic(tmp_path, monkeypatch):
    from matplotlib.figure import Figure

    def broken(self, fname, **kwargs):
        Path(fname).write_bytes(PNG_MAGIC)
        raise RuntimeError("renderer died")

    monkeypatch.setattr(Figure, "savefig", broken)
    with pytest.raises(RuntimeError):
        heatmap_png(make("some words"), tmp_path / "h.png")
    assert list(tmp_path.iterdir()) == []
