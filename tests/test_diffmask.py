"""DiffMask (seed 003): Hard Concrete gates, vote product, probes, fitting, save/load, search."""
import argparse
import math

import numpy as np
import pytest
import torch

import depthlens
import depthlens.methods.diffmask  # noqa: F401  (registers the method)
from depthlens.data import load
from depthlens.diffmask import DiffMaskProbe, add_fit_diffmask_parser, fit, gates, training
from depthlens.diffmask.probes import gated_forward
from depthlens.diffmask.search import exact_search, non_amortized, preserved
from depthlens.diffmask.toy import QUERY, ToyAdapter, ToyModel, toy_data
from depthlens.diffmask.training import new_probe, random_mask_kl, warm_up_baselines
from depthlens.training import encode_dataset
from depthlens.errors import InputError

TEXTS = ["a gorgeous , witty movie .", "bad", "the film is not good at all"]


@pytest.fixture(scope="module")
def data():
    return load("sst2:train:24")


@pytest.fixture(scope="module")
def fitted(bert_adapter, data):
    return fit(bert_adapter, data, "input", epochs=1, batch_size=8, lr=1e-2, progress=False)


# ----------------------------------------------------------------- gates
def test_hard_concrete_support_and_point_mass_at_zero_only():
    logits = torch.tensor([-2.0, 0.0, 2.0]).repeat(20000, 1)
    z = gates.sample(logits, generator=torch.Generator().manual_seed(0))
    assert z.min() >= 0 and z.max() < 1          # support [0, 1): no mass at 1 (r = 1)
    zero = (z == 0).float().mean(0)
    assert (zero > 0.01).all()                    # a point mass at exactly 0
    expected_open = gates.log_prob_open(logits[0]).exp()
    np.testing.assert_allclose(1 - zero, expected_open, atol=0.015)
    assert ((z > 0) & (z < 1)).float().mean() > 0.3  # continuous part in between


def test_hard_concrete_reparameterised_gradient_matches_finite_difference():
    g = torch.zeros(50000, requires_grad=True)
    gates.sample(g, generator=torch.Generator().manual_seed(1)).mean().backward()
    pathwise = float(g.grad.sum())
    eps = 1e-2
    means = [float(gates.sample(torch.full((50000,), v), generator=torch.Generator().manual_seed(1))
                   .mean()) for v in (-eps, eps)]
    assert pathwise > 0
    assert pathwise == pytest.approx((means[1] - means[0]) / (2 * eps), rel=0.02)


def test_vote_product_and_cumulative_keep_probability():
    votes = torch.tensor([[[1.0, 0.5], [0.0, 0.5], [0.9, 1.0]]])   # (B=1, L+1=3, T=2)
    z = gates.vote_product(votes)
    np.testing.assert_allclose(z[0], [[1.0, 0.5], [0.0, 0.25], [0.0, 0.25]])
    logits = torch.randn(2, 4, 5)
    per_layer = gates.keep_probability(logits, cumulative=False)
    np.testing.assert_allclose(gates.keep_probability(logits, cumulative=True),
                               torch.cumprod(per_layer, 1), rtol=1e-5)


def test_bad_hard_concrete_parameters_raise():
    with pytest.raises(InputError, match="l < 0"):
        gates.sample(torch.zeros(2), low=0.1)


# ----------------------------------------------------------------- probes
def test_all_ones_gates_leave_the_output_unchanged(bert_adapter):
    batch = bert_adapter.encode(TEXTS)
    with torch.no_grad():
        ref = bert_adapter.forward(batch).logits
        ones = torch.ones(batch.input_ids.shape)
        for layer in [None, 0, 1, 2]:
            width = (bert_adapter.word_embeddings().embedding_dim if layer is None
                     else bert_adapter.model.config.hidden_size)
            out = gated_forward(bert_adapter, batch, {layer: (ones, torch.randn(width))})
            torch.testing.assert_close(out, ref)


def test_zero_gates_replace_by_the_baseline(bert_adapter):
    batch = bert_adapter.encode(TEXTS[:1])
    b = torch.randn(bert_adapter.word_embeddings().embedding_dim)
    with torch.no_grad():
        out = gated_forward(bert_adapter, batch, {None: (torch.zeros(batch.input_ids.shape), b)})
        embeds = b.expand(*batch.input_ids.shape, -1)
        torch.testing.assert_close(out, bert_adapter.forward(batch, inputs_embeds=embeds).logits)


def test_running_average_of_eq_9(bert_adapter):
    batch = bert_adapter.encode(TEXTS)
    probe = new_probe(bert_adapter, batch, "hidden", seed=0)
    for scorer in probe.scorers:
        torch.nn.init.normal_(scorer.bilinear, std=0.1)
    with torch.no_grad():
        states = bert_adapter.forward(batch, output_states=True).states
        raw = [probe.scorers[l](h, h) for l, h in enumerate(states)]
        gamma = probe.gate_logits(states)
    torch.testing.assert_close(gamma[:, 0], raw[0])
    for l in range(1, 3):
        torch.testing.assert_close(gamma[:, l], (raw[l] + sum(raw[:l]) / l) / 2)


def test_explain_gives_layer_by_token_keep_probabilities(bert_adapter, fitted):
    exp = depthlens.explain(bert_adapter, TEXTS[0], "diffmask", probe=fitted)
    assert exp.layers == bert_adapter.layer_names
    assert exp.scores.shape == (3, len(exp.tokens))
    assert (exp.scores >= 0).all() and (exp.scores <= 1).all()
    assert (np.diff(exp.scores, axis=0) <= 1e-6).all()   # input gates: vote product shrinks
    assert exp.diagnostics["forward_passes"] == 1


def test_save_load_round_trip_and_probe_dir_param(bert_adapter, fitted, tmp_path):
    fitted.save(tmp_path / "probe")
    loaded = DiffMaskProbe.load(tmp_path / "probe")
    assert loaded.gate == "input" and loaded.dims == fitted.dims
    for key, value in fitted.state_dict().items():
        torch.testing.assert_close(loaded.state_dict()[key], value)
    assert loaded.info["history"] == fitted.info["history"]
    a = depthlens.explain(bert_adapter, TEXTS[2], "diffmask", probe=fitted)
    b = depthlens.explain(bert_adapter, TEXTS[2], "diffmask", probe=str(tmp_path / "probe"))
    np.testing.assert_allclose(a.scores, b.scores, rtol=1e-6)


def test_unfitted_probe_is_a_clear_error(bert_adapter, tmp_path):
    with pytest.raises(InputError, match="depthlens fit diffmask --model tiny-bert --data "
                                         "sst2:train --gate input --out DIR"):
        depthlens.explain(bert_adapter, TEXTS[0], "diffmask")
    with pytest.raises(InputError, match="has no diffmask.json"):
        depthlens.explain(bert_adapter, TEXTS[0], "diffmask", probe=str(tmp_path))
    states = bert_adapter.forward(bert_adapter.encode(TEXTS[:1]), output_states=True).states
    blank = DiffMaskProbe("input", [int(h.shape[-1]) for h in states], int(states[0].shape[-1]))
    with pytest.raises(InputError, match="never fitted"):
        depthlens.explain(bert_adapter, TEXTS[0], "diffmask", probe=blank)


def test_probe_of_another_model_is_rejected(fitted):
    toy = ToyAdapter(ToyModel())
    with pytest.raises(InputError, match="state widths"):
        depthlens.explain(toy, "1 2 | 1 3", "diffmask", probe=fitted)


# ---------------------------------------------------------------- fitting
def test_fit_freezes_the_model_and_learns_baselines(bert_adapter, data):
    before = {k: v.clone() for k, v in bert_adapter.model.state_dict().items()}
    probe = fit(bert_adapter, data, "hidden", epochs=1, batch_size=12, progress=False)
    for k, v in bert_adapter.model.state_dict().items():
        torch.testing.assert_close(v, before[k])
    assert not any(p.requires_grad for p in bert_adapter.model.parameters())
    assert len(probe.baselines) == 3 and probe.info["steps"] == 2
    assert all(math.isfinite(h["kl"]) for h in probe.info["history"])


def test_interrupted_fit_resumes_from_its_checkpoint(bert_adapter, data, tmp_path, monkeypatch):
    data = data.head(16)  # 2 steps per epoch
    settings = dict(epochs=2, batch_size=8, lr=1e-2, seed=3, checkpoint_every=1, progress=False)
    reference = fit(bert_adapter, data, "input", **settings)
    real, calls = training.lagrangian, []

    def crash_at_step_4(*args):
        calls.append(1)
        if len(calls) == 4:
            raise KeyboardInterrupt
        return real(*args)

    monkeypatch.setattr(training, "lagrangian", crash_at_step_4)
    with pytest.raises(KeyboardInterrupt):
        fit(bert_adapter, data, "input", out=tmp_path / "p", **settings)
    assert (tmp_path / ".p.checkpoint.pt").is_file()
    monkeypatch.setattr(training, "lagrangian", real)
    resumed = fit(bert_adapter, data, "input", out=tmp_path / "p", **settings)
    assert not (tmp_path / ".p.checkpoint.pt").exists()
    for key, value in reference.state_dict().items():
        torch.testing.assert_close(resumed.state_dict()[key], value)


def test_fit_rejects_bad_settings(bert_adapter, data, tmp_path):
    with pytest.raises(InputError, match="gate must be one of input, hidden"):
        fit(bert_adapter, data, "output")
    with pytest.raises(InputError, match="margin must be >= 0"):
        fit(bert_adapter, data, margin=-1.0)
    (tmp_path / "x").write_text("")
    with pytest.raises(InputError, match="new or empty directory"):
        fit(bert_adapter, data, out=tmp_path)


def test_cli_hook_fits_and_saves(bert_checkpoint, tmp_path, capsys):
    parser = argparse.ArgumentParser()
    add_fit_diffmask_parser(parser.add_subparsers())
    args = parser.parse_args(["diffmask", "--model", str(bert_checkpoint), "--data",
                              "sst2:train:8", "--gate", "hidden", "--out", str(tmp_path / "p"),
                              "--max-steps", "1", "--batch-size", "8"])
    args.handler(args)
    assert "fitted diffmask hidden gates" in capsys.readouterr().out
    assert DiffMaskProbe.load(tmp_path / "p").gate == "hidden"


# -------------------------------------------------------------- references
def test_exact_search_finds_the_smallest_preserving_sets(bert_adapter):
    batch = bert_adapter.encode(["not a good movie"])
    b = torch.zeros(bert_adapter.word_embeddings().embedding_dim)
    (result,) = exact_search(bert_adapter, batch, b, margin=1e-4)
    real = (~batch.special_mask[0]).nonzero()[:, 0]
    with torch.no_grad():
        logp = bert_adapter.forward(batch).logits.log_softmax(-1)[0]
        sizes = []
        for code in range(2 ** len(real)):
            keep = batch.special_mask.clone()
            keep[0, real[[j for j in range(len(real)) if code >> j & 1]]] = True
            logq = gated_forward(bert_adapter, batch, {None: (keep.float(), b)}).log_softmax(-1)
            if preserved(logp, logq, 1e-4)[0]:
                sizes.append(int(keep[0, real].sum()))
    assert result.size == min(sizes) and len(result.optima) == sizes.count(min(sizes))
    assert result.evaluated <= 2 ** len(real)
    with pytest.raises(InputError, match="at most 2 real tokens"):
        exact_search(bert_adapter, batch, b, max_positions=2)


def test_non_amortized_gates_keep_specials_and_shapes(bert_adapter):
    batch = bert_adapter.encode(TEXTS)
    b = torch.zeros(bert_adapter.model.config.hidden_size)
    result = non_amortized(bert_adapter, batch, b, layer=1, steps=5)
    assert result.keep.shape == batch.input_ids.shape
    assert (result.keep[batch.special_mask] == 1).all()
    assert result.preserved.shape == (3,)


# --------------------------------------------------------------------- toy
def test_toy_task_and_model():
    train, dev = toy_data(200, seed=1)
    assert len(train) == 180 and len(dev) == 20
    ex = train[0]
    digits = ex.text.split()[QUERY:]
    assert 1 <= len(digits) <= 10 and len(ex.meta["hidden_truth"]) == QUERY + len(digits)
    adapter = ToyAdapter(ToyModel())
    batch = adapter.encode([e.text for e in train.examples[:8]])
    out = adapter.forward(batch, output_states=True)
    assert [h.shape[-1] for h in out.states] == [64, 2, 64]
    # the GRU reads digit positions only: gating the query's feed-forward states changes nothing
    z = torch.ones(batch.input_ids.shape)
    z[:, :QUERY] = 0
    with torch.no_grad():
        torch.testing.assert_close(gated_forward(adapter, batch, {1: (z, torch.randn(2))}),
                                   out.logits)
    with pytest.raises(InputError, match="must look like"):
        adapter.encode(["1 2 3 4"])


def test_fit_only_chosen_layers(bert_adapter, data):
    probe = fit(bert_adapter, data, "hidden", layers=[1], max_steps=1, batch_size=8,
                progress=False)
    assert probe.info["settings"]["layers"] == [1]
    untouched = torch.zeros_like(probe.scorers[2].bilinear)
    torch.testing.assert_close(probe.scorers[2].bilinear, untouched)
    with pytest.raises(InputError, match="layers must be a non-empty list"):
        fit(bert_adapter, data, "hidden", layers=[5])


# ------------------------------------------- baseline warm-up, frozen baselines, MLP scorer
@pytest.fixture(scope="module")
def toy():
    """An untrained toy model whose head is scaled up, so that masking changes its output."""
    torch.manual_seed(0)
    model = ToyModel()
    with torch.no_grad():
        model.head.weight.mul_(100)
    return ToyAdapter(model), toy_data(120, seed=2)[0]


def test_baseline_warmup_lowers_the_kl_of_random_masks(toy):
    adapter, train = toy
    batch = adapter.encode(train.texts)
    probe = new_probe(adapter, batch, "input", seed=0)
    with torch.no_grad():
        probe.baselines[0].add_(2.0)   # a harmful start: far from every word embedding
    scorers = {k: v.clone() for k, v in probe.scorers.state_dict().items()}
    depths = torch.tensor([0])

    def kl():  # the same masks before and after
        with torch.no_grad():
            masks = torch.Generator().manual_seed(5)
            return float(random_mask_kl(probe, adapter, batch, 0.3, masks, depths).mean())

    before = kl()
    report = warm_up_baselines(probe, adapter, batch, steps=20, keep=0.3, lr=0.05, batch_size=32,
                               depths=depths, seed=0)
    assert kl() < 0.5 * before
    assert report["steps"] == 20 and math.isfinite(report["kl_last"])
    for key, value in probe.scorers.state_dict().items():   # the gates are untouched
        torch.testing.assert_close(value, scorers[key])


def test_fit_warms_up_then_freezes_the_baseline(toy):
    adapter, train = toy
    options = dict(baseline_warmup_steps=10, baseline_warmup_keep=0.2, baseline_warmup_lr=0.05)
    probe = fit(adapter, train, "input", epochs=1, batch_size=32, lr=1e-2, progress=False,
                freeze_baselines=True, **options)
    batch, _ = encode_dataset(adapter, train, 128)
    reference = new_probe(adapter, batch, "input", seed=0)
    initial = reference.baselines[0].detach().clone()
    warm_up_baselines(reference, adapter, batch, 10, 0.2, 0.05, 32, torch.arange(3), seed=0)
    # frozen during the gate fit: exactly the warmed-up value, which moved from the mean
    torch.testing.assert_close(probe.baselines[0], reference.baselines[0])
    assert not torch.allclose(probe.baselines[0], initial)
    settings = probe.info["settings"]
    assert settings["baseline_warmup"] == {"steps": 10, "keep": 0.2, "lr": 0.05}
    assert settings["freeze_baselines"] and probe.info["baseline_warmup"]["steps"] == 10
    plain = fit(adapter, train, "input", max_steps=1, batch_size=32, progress=False)
    assert "baseline_warmup" not in plain.info and not {"baseline_warmup", "freeze_baselines",
                                                        "scorer"} & set(plain.info["settings"])
    with pytest.raises(InputError, match="baseline_warmup_keep must be in"):
        fit(adapter, train, baseline_warmup_steps=1, baseline_warmup_keep=1.0)


def test_mlp_scorer_starts_open_and_round_trips(toy, tmp_path):
    adapter, train = toy
    batch = adapter.encode(train.texts[:16])
    with torch.no_grad():
        states = adapter.forward(batch, output_states=True).states
    probe = new_probe(adapter, batch, "input", seed=0, scorer="mlp")
    assert probe.scorer == "mlp" and hasattr(probe.scorers[1], "hidden")
    with torch.no_grad():
        keep = probe.keep_probability(probe.gate_logits(states))
    assert keep.shape == (16, 3, batch.input_ids.shape[1]) and (keep[:, 0] > 0.9).all()
    fitted = fit(adapter, train, "input", scorer="mlp", max_steps=2, batch_size=32, lr=1e-2,
                 progress=False)
    fitted.save(tmp_path / "p")
    loaded = DiffMaskProbe.load(tmp_path / "p")
    assert loaded.scorer == "mlp" and fitted.info["settings"]["scorer"] == "mlp"
    with torch.no_grad():
        torch.testing.assert_close(loaded.gate_logits(states), fitted.gate_logits(states))
    with pytest.raises(InputError, match="scorer must be one of bilinear, mlp"):
        DiffMaskProbe("input", [64, 2, 64], 64, scorer="linear")
