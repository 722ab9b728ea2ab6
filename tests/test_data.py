"""Tests of depthlens.data against the offline copies in shared/data (see its README)."""
from __future__ import annotations

import os
import sys
import types
from collections import Counter
from pathlib import Path

import pytest

from depthlens import data
from depthlens.data import paths
from depthlens.data.sentiment import clean_agnews
from depthlens.data.text import unescape_sentence
from depthlens.errors import DataNotFoundError, InputError, UnknownNameError

DEFAULT_DATA = Path(__file__).resolve().parents[1] / ".." / "shared" / "data"
DATA = Path(os.environ.get("DEPTHLENS_DATA", DEFAULT_DATA))
needs_data = pytest.mark.skipif(not (DATA / "README.md").exists(), reason=f"no data at {DATA}")


@pytest.fixture(autouse=True)
def data_env(monkeypatch):
    monkeypatch.setenv("DEPTHLENS_DATA", str(DATA))


def squash(text: str) -> str:
    return "".join(text.split())


@needs_data
@pytest.mark.parametrize(
    "spec, counts",
    [
        ("sst2:train", [3310, 3610]),
        ("sst2:dev", [428, 444]),
        ("sst2:test", [912, 909]),
        ("sst5:train", [1092, 2218, 1624, 2322, 1288]),
        ("sst5:dev", [139, 289, 229, 279, 165]),
        ("sst5:test", [279, 633, 389, 510, 399]),
        ("sst2_trees:dev", [428, 444]),
        ("sst5_trees:dev", [139, 289, 229, 279, 165]),
        ("mr:all", [5331, 5331]),
        ("agnews:test", [1900] * 4),
        ("snli:dev", [3329, 3235, 3278]),
        ("snli:test", [3368, 3219, 3237]),
        ("eraser_movies:test", [100, 100]),
        ("eraser_movies:val", [25, 25]),
    ],
)
def test_split_sizes_and_label_counts(spec, counts):
    ds = data.load(spec)
    assert (ds.name, ds.split) == tuple(spec.split(":"))
    assert len(ds.labels) == len(counts)
    assert Counter(ds.targets) == dict(enumerate(counts))
    assert all(isinstance(t, str) and t for t in ds.texts)


@needs_data
def test_sst_unescaped():
    texts = data.load("sst5:train").texts
    joined = "\n".join(texts)
    assert "-lrb-" not in joined and "-rrb-" not in joined and "\\/" not in joined and "\\*" not in joined
    assert "writer/director" in joined and "(" in joined
    assert not any(t != t.strip(" ") for t in texts)
    assert unescape_sentence("a -lrb- writer\\/director -rrb- ,\u00a0b") == "a ( writer/director ) ,\u00a0b"


@needs_data
def test_mr_latin1_and_nel_kept_inside_lines():
    ds = data.load("mr:all")
    assert len(ds) == 10662
    assert ds.targets[:5331] == [0] * 5331 and ds.targets[5331:] == [1] * 5331
    assert sum(t.count("\x85") for t in ds.texts) == 23
    assert any("é" in t for t in ds.texts)
    assert ds[0].text == "simplistic , silly and tedious ."


@needs_data
def test_agnews_cleaned():
    ds = data.load("agnews:test")
    joined = "\n".join(ds.texts)
    for leftover in (" #39;", "&lt;", "&gt;", "&amp;", "\\"):
        assert leftover not in joined
    assert ds[0].text.startswith("Fears for T N pension after talks. Unions representing")
    assert ds.labels == ["World", "Sports", "Business", "Sci/Tech"] and ds[0].label == 2
    assert clean_agnews("it #39;s &lt;b&gt; social\\network, the  #36;10 deal") == "it's <b> social network, the $10 deal"


@needs_data
def test_snli_pairs_and_explanations():
    dev = data.load("snli:dev")
    first = dev[0]
    assert first.text == "Two women are embracing while holding to go packages ."
    assert first.pair.startswith("The sisters are hugging goodbye") and not first.pair.endswith(" ")
    assert dev.labels[first.label] == "neutral"
    assert first.meta["explanations"] == ["the to go packages may not be from lunch ."]
    assert {len(ex.meta["explanations"]) for ex in data.load("snli:test:50")} == {3}


@needs_data
def test_sst_trees_dev():
    trees = data.load_sst_trees("dev")
    assert len(trees) == 1101
    assert Counter(t.label for t in trees) == {0: 139, 1: 289, 2: 229, 3: 279, 4: 165}
    assert sum(len(t.phrases) for t in trees) == 41447
    assert all(t.phrases[-1] == (0, len(t.tokens), t.label) for t in trees)
    assert not any("-LRB-" in tok or "-RRB-" in tok for t in trees for tok in t.tokens)
    # Same sentences as stsa.fine.dev, in another order.
    from_trees = Counter(" ".join(t.tokens).lower() for t in trees)
    assert from_trees == Counter(data.load("sst5:dev").texts)


def test_parse_tree_and_reference():
    tree = data.parse_tree("(3 (2 It) (4 (2 -LRB-) (4 (4 great) (2 fun))))")
    assert tree.tokens == ["It", "(", "great", "fun"] and tree.label == 3
    assert sorted(tree.phrases) == sorted(
        [(0, 1, 2), (1, 2, 2), (2, 3, 4), (3, 4, 2), (2, 4, 4), (1, 4, 4), (0, 4, 3)]
    )
    assert data.token_sentiment_reference(tree) == [0, 1, 1, 1]
    assert data.token_sentiment_reference(tree, max_phrase_len=2) == [0, 0, 1, 1]
    assert data.token_sentiment_reference(data.parse_tree("(3 (1 no) (3 (2 a) (3 fan)))"), strong=False) == [1, 1, 1]
    for bad in ("(3 (2 It)", "(2 a))", "(x a)"):
        with pytest.raises(InputError):
            data.parse_tree(bad)


@needs_data
def test_sst_tree_dataset_meta():
    ds = data.sst_tree_dataset("dev", binary=True)
    assert len(ds) == 872 and ds.labels == ["negative", "positive"]
    for ex in ds:
        tokens = ex.meta["tokens"]
        assert ex.text.split(" ") == tokens
        assert [ex.text[s:e] for s, e in ex.meta["char_spans"]] == tokens
        assert len(ex.meta["rationale"]) == len(tokens) and set(ex.meta["rationale"]) <= {0, 1}
    assert sum(map(sum, (ex.meta["rationale"] for ex in ds))) > 0


@needs_data
@pytest.mark.parametrize("split, n_docs", [("test", 200), ("val", 50)])
def test_eraser_alignment(split, n_docs):
    ds = data.load(f"eraser_movies:{split}")
    assert len(ds) == n_docs
    non_empty = aligned = 0
    for ex in ds:
        assert "\n" in ex.text and ex.text == ex.text.lower()
        for ev in ex.meta["evidences"]:
            if not squash(ev["text"]):
                assert ev["char_span"] is None
                continue
            non_empty += 1
            if ev["char_span"] is not None:
                aligned += 1
                start, end = ev["char_span"]
                assert squash(ex.text[start:end]) == squash(ev["text"])
        assert ex.meta["rationale_spans"] == [ev["char_span"] for ev in ex.meta["evidences"] if ev["char_span"]]
    print(f"eraser {split}: aligned {aligned}/{non_empty} non-empty spans")
    assert aligned / non_empty >= 0.98
    if split == "test":
        assert non_empty == 2164 - 36


def test_align_span_prefers_nearest_match():
    doc = "it is good .\nreally good .\nvery good"
    assert data.align_span(doc, "good .", near=0) == (6, 12)
    assert data.align_span(doc, "good .", near=20) == (20, 26)
    assert data.align_span(doc, "does n't", near=0) is None
    assert data.align_span("it doesn't", "does n't") == (3, 10)


@needs_data
@pytest.mark.parametrize("split, n_sents, n_words", [("dev", 2001, 25147), ("test", 2077, 25094)])
def test_ud(split, n_sents, n_words):
    sents = data.load_ud(split)
    assert len(sents) == n_sents and sum(len(s.words) for s in sents) == n_words
    for s in sents:
        assert len(s.words) == len(s.upos) == len(s.heads) == len(s.deprel)
        assert all(0 <= h <= len(s.words) for h in s.heads) and s.heads.count(0) == 1
    with pytest.raises(UnknownNameError, match="dev, test"):
        data.load_ud("train")


@needs_data
def test_lama():
    assert data.relations() == ["P106", "P108", "P19", "P20", "P27", "P413", "date_of_birth", "place_of_death"]
    assert len(data.load_lama("P19")) == 944 and len(data.load_lama("date_of_birth")) == 1825
    facts = data.load_lama()
    assert len(facts) == 944 + 953 + 966 + 958 + 383 + 952 + 1825 + 766
    assert all("[MASK]" in f["masked_sentence"] for f in facts)
    assert not any("%C3" in f["sub_label"] for f in facts)
    first = data.load_lama("P19", use_template=True)[0]
    assert first["masked_sentence"] == f"{first['sub_label']} was born in [MASK] ."
    with pytest.raises(UnknownNameError, match="P19"):
        data.load_lama("P999")


@needs_data
def test_lexicons():
    lex = data.sentiment_lexicon()
    assert len(lex) == 2006 + 4783 - 2 * 3
    assert lex["good"] == 1 and lex["bad"] == -1 and "envious" not in lex
    assert not any(w.startswith(";") for w in lex)
    assert isinstance(data.vader_lexicon(), dict)


def test_missing_data_lists_every_place(monkeypatch, tmp_path):
    empty, work = tmp_path / "empty", tmp_path / "a" / "b"
    empty.mkdir()
    work.mkdir(parents=True)
    monkeypatch.setenv("DEPTHLENS_DATA", str(empty))
    monkeypatch.setenv("DEPTHLENS_CACHE", str(tmp_path / "cache"))
    monkeypatch.setattr(paths, "PACKAGE_DATA_DIR", tmp_path / "repo" / ".." / "shared" / "data")
    monkeypatch.chdir(work)
    monkeypatch.setitem(sys.modules, "datasets", None)  # as if not installed

    def no_hub(*args):
        raise AssertionError("the hub must not be tried without `datasets`")

    monkeypatch.setattr(paths, "_hub_rows", no_hub)
    with pytest.raises(DataNotFoundError) as info:
        data.load("sst2:dev")
    message = str(info.value)
    for place in (empty, tmp_path / "a" / "shared" / "data", tmp_path / "shared" / "data", tmp_path / "cache" / "data"):
        assert str(place.resolve()) in message
    assert "stanfordnlp/sst2" in message and "not installed" in message
    assert "DEPTHLENS_DATA=/path/to/shared/data" in message
    with pytest.raises(DataNotFoundError, match="no Hugging Face fallback"):
        data.relations()


def _no_local_data(monkeypatch, tmp_path):
    monkeypatch.setenv("DEPTHLENS_DATA", str(tmp_path))
    monkeypatch.setenv("DEPTHLENS_CACHE", str(tmp_path))
    monkeypatch.setattr(paths, "PACKAGE_DATA_DIR", tmp_path)
    monkeypatch.chdir(tmp_path)


def test_hub_fallback_converts_rows(monkeypatch, tmp_path):
    """With no local files and `datasets` importable, rows come from load_dataset."""

    class ClassLabel:
        def __init__(self, names):
            self.names = names

    class Rows(list):
        features = {"upos": types.SimpleNamespace(feature=ClassLabel(["NOUN", "VERB"])), "label": ClassLabel([])}

    hub = {
        "stanfordnlp/sst2": [{"idx": 0, "sentence": "a -lrb- fine -rrb- film ", "label": 1}],
        "universal_dependencies": [
            {"idx": "s1", "text": "Dogs bark", "tokens": ["Dogs", "bark"], "upos": [0, 1],
             "head": ["2", "0"], "deprel": ["nsubj", "root"]}
        ],
    }
    calls = []

    def load_dataset(name, config=None, split=None):
        calls.append((name, config, split))
        return Rows(hub[name])

    _no_local_data(monkeypatch, tmp_path)
    monkeypatch.setitem(sys.modules, "datasets", types.SimpleNamespace(ClassLabel=ClassLabel, load_dataset=load_dataset))
    ds = data.load("sst2:dev")
    assert (ds.texts, ds.targets) == (["a ( fine ) film"], [1])
    sent = data.load_ud("dev")[0]
    assert (sent.words, sent.upos, sent.heads) == (["Dogs", "bark"], ["NOUN", "VERB"], [2, 0])
    assert calls == [("stanfordnlp/sst2", None, "validation"), ("universal_dependencies", "en_ewt", "validation")]

    def offline(*args, **kwargs):
        raise ConnectionError("offline")

    monkeypatch.setitem(sys.modules, "datasets", types.SimpleNamespace(ClassLabel=ClassLabel, load_dataset=offline))
    with pytest.raises(DataNotFoundError, match="failed: offline"):
        data.load("sst2:dev")


@needs_data
def test_falls_through_to_next_directory(monkeypatch, tmp_path):
    monkeypatch.setenv("DEPTHLENS_DATA", str(tmp_path))
    monkeypatch.setattr(paths, "PACKAGE_DATA_DIR", DATA)
    assert paths.search_dirs()[0] == tmp_path.resolve()
    assert len(data.load("sst2:dev")) == 872


def test_unknown_names_and_bad_specs():
    with pytest.raises(UnknownNameError) as info:
        data.load("imdb:test")
    for name in data.DATASETS:
        assert name in str(info.value)
    with pytest.raises(UnknownNameError, match="dev, test, train"):
        data.load("sst2:validation")
    for bad in ("sst2", "sst2:dev:x", "sst2:dev:-1", ""):
        with pytest.raises(InputError):
            data.load(bad)


@needs_data
def test_head_and_sample():
    full = data.load("sst2:dev")
    assert data.load("sst2:dev:10").texts == full.texts[:10] == data.load("sst2:dev[:10]").texts
    assert full.head(3).texts == full.texts[:3]
    assert data.load("sst2:dev[10:25]").texts == full.texts[10:25]
    with pytest.raises(InputError, match="M < N"):
        data.load("sst2:dev[5:5]")
    assert full.sample(20, seed=1).texts == full.sample(20, seed=1).texts
    assert full.sample(20, seed=1).texts != full.sample(20, seed=2).texts
    assert len(full.sample(10_000)) == len(full)


def test_more_n_than_m():
    examples = data.more_n_than_m(500, seed=3)
    assert examples == data.more_n_than_m(500, seed=3)
    assert [e.text for e in examples] != [e.text for e in data.more_n_than_m(500, seed=4)]
    assert 0.3 < sum(e.label for e in examples) / len(examples) < 0.7
    for ex in examples:
        words = ex.text.split(" ")
        n, m, digits = ex.meta["n"], ex.meta["m"], ex.meta["digits"]
        assert words[:3] == [str(n), str(m), "|"] and words[3:] == list(map(str, digits))
        assert 10 <= len(digits) <= 20 and n != m
        assert ex.label == int(digits.count(n) > digits.count(m))
        assert len(ex.ground_truth) == len(words)
        assert ex.ground_truth[:3] == [1.0, 1.0, 0.0]
        assert [w for w, g in zip(words[3:], ex.ground_truth[3:]) if g] == [w for w in words[3:] if w in (str(n), str(m))]
    with pytest.raises(InputError):
        data.more_n_than_m(5, vocab_size=2)


def test_reverse_sequences():
    examples = data.reverse_sequences(50, seed=0)
    assert examples == data.reverse_sequences(50, seed=0)
    for ex in examples:
        src, tgt = ex.text.split(" "), ex.target.split(" ")
        assert tgt == src[::-1] and 5 <= len(src) <= 10 and ex.label == -1
        assert [src[i] for i in ex.meta["alignment"]] == tgt
        assert ex.ground_truth == [1.0] * len(src)
    with pytest.raises(InputError):
        data.reverse_sequences(5, length=(3, 2))
