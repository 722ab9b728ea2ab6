"""Token overlap by hand, word clouds, evaluate()/CLI plumbing, JSONL and Captum inputs."""
import json
import math

import numpy as np
import pytest
import torch

from depthlens.api import explain_many
from depthlens.errors import InputError, UnknownNameError
from depthlens.evaluation import evaluate, from_scores, results_table, save_results
from depthlens.cli import main as cli_main
from depthlens.evaluation.overlap import class_word_weights
from depthlens.explanation import ExplanationSet
from test_eval_support import TEXTS, additive, bert, one_thread  # noqa: F401 (fixtures)


@pytest.fixture(scope="module")
def by_class(additive):
    # predicted positive ("great") and negative ("awful") examples
    return [from_scores(additive, "great movie the", [3.0, 1.0, 0.5]),
            from_scores(additive, "great acting", [2.0, 1.0]),
            from_scores(additive, "awful movie the", [3.0, 2.0, 0.1]),
            from_scores(additive, "awful plot", [1.0, 0.5])]


def test_token_overlap_hand_computed(additive, by_class):
    # positive: great 5, acting 1, movie 1, the .5; negative: awful 4, movie 2, plot .5, the .1
    # shared in top-k: k=1: 0, k=2: 0, k=3: {movie} 1/3, k=4: {movie, the} 2/4
    res = evaluate(additive, by_class, ["token_overlap"], k_max=4)["token_overlap"]
    np.testing.assert_allclose(res.details["curve"], [0, 0, 1 / 3, 1 / 2])
    assert res.value == pytest.approx((1 / 3 + 1 / 2) / 4)
    assert res.details["shared_at_k_max"] == ["movie", "the"]
    assert not res.higher_is_better and res.range == (0.0, 1.0)


def test_token_overlap_undefined_for_an_all_zero_class(additive, by_class):
    flat = [from_scores(additive, e.text, [0.0] * len(e.scores[0])) if "awful" in e.text else e
            for e in by_class]
    res = evaluate(additive, flat, ["token_overlap"], k_max=4)["token_overlap"]
    assert math.isnan(res.value) and "negative" in res.details["undefined"]


def test_idf_weighting(by_class):
    corpus = ["the movie", "the plot", "the acting", "movie"]
    weights = dict(class_word_weights(by_class, corpus)["positive"])
    assert weights["great"] == pytest.approx(5 * (math.log(5) + 1))          # unseen word
    assert weights["the"] == pytest.approx(0.5 * (math.log(5 / 4) + 1))      # df 3 of N = 4
    with pytest.raises(InputError, match="at least 2 classes"):
        evaluate(None, by_class[:2], ["token_overlap"])


def test_word_clouds_and_curves_are_written_as_png(additive, by_class, tmp_path):
    res = evaluate(additive, by_class, ["token_overlap", "hiding"], out_dir=str(tmp_path),
                   random_orders=2)
    files = res["token_overlap"].details["figures"] + [res["hiding"].details["figure"]]
    assert sorted(p.split("/")[-1] for p in files) == [
        "hiding.png", "wordcloud_negative.png", "wordcloud_positive.png"]
    for path in files:
        with open(path, "rb") as f:
            assert f.read(8) == b"\x89PNG\r\n\x1a\n"


def test_jsonl_round_trip_results_json_and_cli(additive, tmp_path, capsys):
    exps = ExplanationSet(additive.oracle(TEXTS))
    path = tmp_path / "exps.jsonl"
    exps.save(path)
    direct = evaluate(additive, exps, ["comprehensiveness"])
    loaded = evaluate(additive, path, ["comprehensiveness"])
    assert direct["comprehensiveness"].value == loaded["comprehensiveness"].value
    res = evaluate(additive, exps, ["comprehensiveness", "kl_divergence"],
                   truth=[e.scores[0] for e in exps])
    save_results(res, tmp_path / "r.json")
    saved = json.loads((tmp_path / "r.json").read_text())
    assert saved["kl_divergence"]["range"] == [0.0, "inf"]
    assert "comprehensiveness" in results_table(res) and "higher" in results_table(res)
    with pytest.raises(UnknownNameError, match="hiding"):
        evaluate(additive, exps, ["hidding"])
    assert cli_main(["evaluate", "--model", "/nonexistent/model", "--explanations", str(path)]) == 1
    assert "error:" in capsys.readouterr().err
    assert cli_main(["evaluate", "--list"]) == 0
    assert "token_overlap" in capsys.readouterr().out


def test_captum_saliency_through_from_scores_equals_depthlens_gradient(bert):
    captum_attr = pytest.importorskip("captum.attr")
    ours = explain_many(bert, TEXTS[:2], "gradient")
    theirs = []
    for e in ours:
        batch = bert.encode([e.text])
        embeds = bert.embed(batch).detach().requires_grad_(True)
        saliency = captum_attr.Saliency(lambda x: bert.forward(batch, inputs_embeds=x).logits)
        grad = saliency.attribute(embeds, target=e.target.index)          # (1, T, D), |grad|
        theirs.append(from_scores(bert, e.text, grad[0].norm(dim=-1), target=e.target.index))
    np.testing.assert_allclose(theirs[0].scores, ours[0].scores, rtol=1e-5, atol=1e-7)
    a = evaluate(bert, ours, ["hiding", "comprehensiveness"], random_orders=0)
    b = evaluate(bert, theirs, ["hiding", "comprehensiveness"], random_orders=0)
    for name in a:
        assert a[name].value == pytest.approx(b[name].value, abs=1e-6)
    assert torch.get_num_threads() == 1
