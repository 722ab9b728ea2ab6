"""Explanation: aggregation, lossless JSON/JSONL round trips, validation."""
import numpy as np
import pytest

from depthlens.errors import InputError
from depthlens.explanation import Explanation, ExplanationSet, Span, Target


def make(scores=None, seed=None):
    text = "a gorgeous movie"
    tokens = ["[CLS]", "a", "gorgeous", "mo", "##vie", "[SEP]"]
    offsets = [(0, 0), (0, 1), (2, 10), (11, 13), (13, 16), (0, 0)]
    word_ids = [None, 0, 1, 2, 2, None]
    seqs = [None, 0, 0, 0, 0, None]
    if scores is None:
        scores = np.array([[0, 1, 2, 3, 4, 0], [0, 0.1, 1 / 3, 0.5, -0.25, 0]], dtype=float)
    return Explanation(text=text, tokens=tokens, offsets=offsets, word_ids=word_ids,
                       sequence_ids=seqs, scores=scores, layers=["layer 1", "layer 2"],
                       target=Target(1, "positive", 0.875), method="gradient", model="m",
                       params={"norm": "l2"}, diagnostics={"forward_passes": 1}, seed=seed,
                       probabilities=[0.125, 0.875], labels=["negative", "positive"],
                       spans=[Span(2, 16, 0.5, "gorgeous movie")])


def test_word_aggregation():
    words, scores = make().word_scores()
    assert [w.text for w in words] == ["a", "gorgeous", "movie"]
    np.testing.assert_allclose(scores[0], [1, 2, 7])
    _, means = make().word_scores("mean")
    np.testing.assert_allclose(means[1], [0.1, 1 / 3, 0.125])
    assert make().top_words(1, layer=0) == [("movie", 7.0)]


def test_span_aggregation():
    exp = make()
    np.testing.assert_allclose(exp.span_score(2, 13), [2 + 3, 1 / 3 + 0.5])  # "##vie" starts at 13
    np.testing.assert_allclose(exp.span_score(2, 14), [2 + 3 + 4, 1 / 3 + 0.5 - 0.25])
    np.testing.assert_allclose(exp.span_score(0, 1, "max"), [1, 0.1])
    with pytest.raises(InputError, match="covers no token"):
        exp.span_score(100, 120)
    with pytest.raises(InputError, match="aggregate must be one of"):
        exp.span_score(0, 5, "median")


def test_json_round_trip_is_lossless(tmp_path):
    exp = make(seed=7)
    path = tmp_path / "e.json"
    exp.save(path)
    back = Explanation.load(path)
    assert back.to_dict() == exp.to_dict()
    np.testing.assert_array_equal(back.scores, exp.scores)  # bit-exact floats
    assert back.spans[0] == exp.spans[0] and back.seed == 7 and back.predicted.name == "positive"


def test_jsonl_round_trip(tmp_path):
    items = ExplanationSet([make(), make(seed=3)])
    items.save(tmp_path / "x.jsonl")
    back = ExplanationSet.load(tmp_path / "x.jsonl")
    assert [e.to_dict() for e in back] == [e.to_dict() for e in items]
    assert not list(tmp_path.glob("*.tmp"))


def test_bad_files_and_shapes(tmp_path):
    with pytest.raises(ValueError, match="scores must have shape"):
        make(scores=np.zeros((2, 3)))
    (tmp_path / "bad.jsonl").write_text('{"x": 1}\n')
    with pytest.raises(InputError, match="bad.jsonl:1 is not a depthlens explanation"):
        ExplanationSet.load(tmp_path / "bad.jsonl")
    with pytest.raises(InputError, match="does not exist"):
        Explanation.load(tmp_path / "missing.json")
    with pytest.raises(InputError, match="layer must be"):
        make().token_scores(5)
