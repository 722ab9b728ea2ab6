"""Hiding/Revealing engine: hand-computed curves on the additive model, AUC, batching, erasure."""
import math

import numpy as np
import pytest
import torch

from depthlens.erasure import erase
from depthlens.errors import InputError
from depthlens.evaluation import evaluate, from_scores, game_curves
from depthlens.evaluation.erasure_curves import auc, token_counts
from depthlens.evaluation.toy import tiny_bert
from test_eval_support import TEXTS, WEIGHTS, additive, bert, one_thread  # noqa: F401 (fixtures)


def sigmoid(x):
    return 1 / (1 + math.exp(-x))


def test_auc_hand_computed_three_points():
    assert auc([0, 0.5, 1], [1, 0.5, 0]) == pytest.approx(0.5)
    assert auc([0, 0.5, 1], [1, 1, 0]) == pytest.approx(0.75)
    # normalised by the width of the fraction range
    assert auc([0.2, 0.4, 0.6], [1, 1, 0]) == pytest.approx(0.75)
    np.testing.assert_allclose(auc([0, 0.5, 1], np.array([[1, 0.5, 0], [0, 0, 1]])), [0.5, 0.25])


def test_token_counts_are_ceil_of_fraction_of_real_tokens():
    np.testing.assert_array_equal(token_counts(np.array([3, 10]), np.array([0, 0.01, 0.5, 1])),
                                  [[0, 1, 2, 3], [0, 1, 5, 10]])


def test_hiding_and_revealing_curves_hand_computed(additive):
    # "good bad the": logit 1.5; oracle ranks good (2) > the (0.5) > bad (-1)
    exp = from_scores(additive, "good bad the", [0, 2.0, -1.0, 0.5, 0])
    run = game_curves(additive, [exp], fractions=[0, 0.5, 1], orders=("explanation",))
    hide = run.curves[("hide", "explanation")].probability[0]
    reveal = run.curves[("reveal", "explanation")].probability[0]
    # k = 0, ceil(1.5) = 2, 3 tokens hidden / revealed
    np.testing.assert_allclose(hide, [sigmoid(1.5), sigmoid(-1.0), 0.5], atol=1e-6)
    np.testing.assert_allclose(reveal, [0.5, sigmoid(2.5), sigmoid(1.5)], atol=1e-6)
    np.testing.assert_allclose(run.curves[("hide", "explanation")].correct[0], [1, 0, 0])
    assert run.full_probability[0] == pytest.approx(sigmoid(1.5), abs=1e-6)


def test_oracle_beats_random_beats_anti_oracle(additive):
    oracle, anti = additive.oracle(TEXTS), additive.oracle(TEXTS, sign=-1.0)
    for score in ("probability", "accuracy"):
        good = evaluate(additive, oracle, ["hiding", "revealing"], score=score)
        bad = evaluate(additive, anti, ["hiding", "revealing"], score=score)
        hide, reveal = good["hiding"], good["revealing"]
        assert hide.value < hide.details[f"random_auc_{score}"] < bad["hiding"].value
        assert reveal.value > reveal.details[f"random_auc_{score}"] > bad["revealing"].value
        assert hide.range == (0.0, 1.0) and not hide.higher_is_better and reveal.higher_is_better


def test_accuracy_is_measured_against_gold_labels_when_given(additive):
    exps = additive.oracle(TEXTS[:2])             # predicted: positive, negative
    flipped = evaluate(additive, exps, ["hiding"], labels=["negative", "positive"],
                       fractions=[0, 1], random_orders=0)["hiding"]
    curve = flipped.details["curves"]["explanation"]
    assert curve["accuracy"][0] == 0.0            # unperturbed predictions are both "wrong"


def test_batched_equals_one_by_one_and_duplicates_are_forwarded_once(bert):
    from depthlens.api import explain_many

    exps = explain_many(bert, TEXTS, "gradient")
    for mode, drop in (("mask", True), ("delete", False)):
        kw = dict(fractions=[0, 0.3, 0.7, 1], orders=("explanation", "random"),
                  random_orders=3, mode=mode, drop_attention=drop)
        together = game_curves(bert, exps, batch_size=7, **kw)
        for i, e in enumerate(exps):
            alone = game_curves(bert, [e], **kw)
            for key, curve in alone.curves.items():
                np.testing.assert_allclose(together.curves[key].probability[i],
                                           curve.probability[0], atol=1e-5)
    # f = 0 of hiding and f = 1 of revealing are the unperturbed input under every order
    # (and f = 1 of hiding the fully erased one): forwarded once
    cost = together.cost
    assert cost["forward_inputs"] < cost["perturbed_inputs"]
    assert cost["forward_batches"] == math.ceil(cost["forward_inputs"] / 7)


def test_all_layers_in_one_pass_equal_one_layer_at_a_time(bert):
    from depthlens.api import explain_many

    exps = explain_many(bert, TEXTS, "gradcam")
    rows = range(len(exps[0].layers))
    kw = dict(fractions=[0, 0.3, 0.7, 1], random_orders=2)
    together = game_curves(bert, exps, layers=rows, **kw)
    assert ("hide", "random") in together.curves and ("hide", "explanation") not in together.curves
    for r in rows:
        alone = game_curves(bert, exps, layer=r, **kw)
        for game in ("hide", "reveal"):
            np.testing.assert_allclose(together.curves[(game, f"explanation@{r}")].probability,
                                       alone.curves[(game, "explanation")].probability, atol=1e-5)
            np.testing.assert_allclose(together.curves[(game, "random")].probability,
                                       alone.curves[(game, "random")].probability, atol=1e-5)
    assert together.cost["forward_inputs"] < sum(
        game_curves(bert, exps, layer=r, **kw).cost["forward_inputs"] for r in rows)


def test_drop_attention_mask_equals_deletion_without_position_embeddings():
    adapter = tiny_bert(sorted(WEIGHTS), seed=1)
    adapter.model.bert.embeddings.position_embeddings.weight.data.zero_()
    batch = adapter.encode(["good movie and bad plot", "the acting great"])
    hide = torch.zeros_like(batch.input_ids, dtype=torch.bool)
    hide[0, [2, 4]] = True
    hide[1, 1] = True
    deleted = adapter.predict_proba(erase(adapter, batch, hide, "delete"))
    masked = adapter.predict_proba(erase(adapter, batch, hide, "mask", drop_attention=True))
    torch.testing.assert_close(masked, deleted, atol=1e-5, rtol=0)


def test_dropped_tokens_ids_do_not_matter_with_position_embeddings(bert):
    # with position embeddings deletion shifts positions; what holds is that a token
    # removed from attention no longer influences the prediction, whatever its id
    batch = bert.encode(["good movie and bad plot"])
    hide = torch.zeros_like(batch.input_ids, dtype=torch.bool)
    hide[0, [1, 3]] = True
    outs = [bert.predict_proba(erase(bert, batch, hide, m, drop_attention=True))
            for m in ("mask", "pad", "unk")]
    torch.testing.assert_close(outs[0], outs[1], atol=1e-6, rtol=0)
    torch.testing.assert_close(outs[0], outs[2], atol=1e-6, rtol=0)
    attended = bert.predict_proba(erase(bert, batch, hide, "mask"))
    assert (outs[0] - attended).abs().max() > 1e-3


@pytest.mark.parametrize("family", ["bert", "roberta", "distilbert", "electra"])
def test_unattended_tokens_are_removed_with_the_same_output(family):
    from conftest import tiny_adapter
    from depthlens.erasure import removes_tokens

    adapter = tiny_adapter(family)
    torch.manual_seed(0)
    for weight in adapter.model.parameters():   # larger weights: outputs that vary visibly
        if weight.dim() > 1:
            weight.data.normal_(0, 0.3)
    batch = adapter.encode(["good movie and bad plot", "the acting great"])
    hide = torch.zeros_like(batch.input_ids, dtype=torch.bool)
    hide[0, [1, 3, 4]] = True
    hide[1, 2] = True
    removed = erase(adapter, batch, hide, "mask", drop_attention=True)
    assert removes_tokens(adapter, "mask", True)
    assert removed.input_ids.shape[1] == batch.input_ids.shape[1] - 3
    assert removed.tokens[0] == [t for j, t in enumerate(batch.tokens[0]) if j not in (1, 3, 4)]
    # reference: the tokens kept in place as [MASK] with no attention to them
    in_place = dict(batch.__dict__, input_ids=batch.input_ids.masked_fill(hide, 103),
                    attention_mask=batch.attention_mask.masked_fill(hide, 0))
    reference = adapter.predict_proba(type(batch)(**in_place))
    torch.testing.assert_close(adapter.predict_proba(removed), reference, atol=1e-6, rtol=0)
    shifted = erase(adapter, batch, hide, "delete")   # deletion renumbers the positions
    assert (adapter.predict_proba(shifted) - reference).abs().max() > 1e-4


def test_errors_on_bad_input(additive):
    exp = from_scores(additive, "good bad the", [2.0, -1.0, 0.5])   # real tokens only
    with pytest.raises(InputError, match="fractions"):
        evaluate(additive, [exp], ["hiding"], fractions=[0, 1.5])
    with pytest.raises(InputError, match="tokenises"):
        evaluate(tiny_bert(["good"]), [exp], ["hiding"])           # "bad" -> [UNK]
    with pytest.raises(InputError, match="not taken"):
        evaluate(additive, [exp], ["hiding"], rationales=[[(0, 4)]])
    with pytest.raises(InputError, match="scores must have"):
        from_scores(additive, "good bad the", [1.0, 2.0])


def test_layer_rows_chosen_by_index_name_or_cli_string(bert):
    from depthlens.api import explain_many

    exps = explain_many(bert, TEXTS[:3], "gradient", layer="all")    # rows: embeddings, layer 1, 2
    values = [evaluate(bert, exps, ["comprehensiveness"], layer=layer)["comprehensiveness"].value
              for layer in (None, -1, 2, "2", "layer 2")]
    assert max(values) - min(values) == 0.0
    first = evaluate(bert, exps, ["comprehensiveness"], layer="embeddings")["comprehensiveness"]
    assert first.value != values[0]
    with pytest.raises(InputError, match="layer must be one of"):
        evaluate(bert, exps, ["comprehensiveness"], layer="layer 7")
