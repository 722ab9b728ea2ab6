"""Scores by layer and part of speech (evaluation.by_pos) and its report figure."""
import numpy as np
import pytest

from depthlens.errors import ModelCapabilityError
from depthlens.evaluation.by_pos import scores_by_pos, spacy_tags
from fixtures_explanations import word_explanation


def explanation(words, scores):
    return word_explanation(words, scores, layers=["embeddings", "layer 1"], method="m")


def test_means_by_tag_hand_computed():
    tags = {"good": "ADJ", "bad": "ADJ", "film": "NOUN", "the": "DET"}
    a = explanation(["the", "good", "film"], [[1, 2, 4], [0, -3, 3]])
    b = explanation(["bad", "film"], [[2, 1], [0, 0]])
    layers, found, means, counts = scores_by_pos([a, b], lambda ws: [tags[w] for w in ws])
    assert layers == ["embeddings", "layer 1"] and found == ["ADJ", "NOUN", "DET"]
    assert counts.tolist() == [2, 2, 1]
    # each row scaled by its max |score| first: a -> [.25 .5 1], [0 -1 1]; b -> [1 .5], [0 0]
    np.testing.assert_allclose(means, [[0.75, 0.75, 0.25], [-0.5, 0.5, 0.0]])
    _, found, _, _ = scores_by_pos([a, b], lambda ws: [tags[w] for w in ws], min_words=2)
    assert found == ["ADJ", "NOUN"]


def test_spacy_tags_align_with_the_given_words():
    assert spacy_tags(["a", "gorgeous", ",", "witty", "movie", "."]) == [
        "DET", "ADJ", "PUNCT", "ADJ", "NOUN", "PUNCT"]


def test_report_says_how_to_get_the_figures_without_a_tagger(tmp_path):
    from depthlens.explanation import ExplanationSet
    from depthlens.viz.report import _pos_figures

    (tmp_path / "explanations").mkdir()
    ExplanationSet([explanation(["a", "film"], [[1, 2], [2, 1]])]).save(
        tmp_path / "explanations" / "m.jsonl")

    def missing(words):
        raise ModelCapabilityError('install it with pip install "depthlens[pos]"')

    assert 'depthlens[pos]' in _pos_figures(tmp_path, ["m"], tagger=missing)
    assert _pos_figures(tmp_path, ["m"], tagger=lambda ws: ["X"] * len(ws)) == ""
    assert (tmp_path / "figures" / "m" / "score_by_layer_and_pos.png").stat().st_size > 1000
