"""The Python API and the CLI end to end on a saved tiny checkpoint; every bad input."""
import json
import os
import subprocess
import sys

import numpy as np
import pytest

import depthlens
from depthlens.errors import InputError, UnknownNameError

TEXTS = ["a gorgeous , witty , seductive movie .", "bad", "not bad at all , if you ask me ."]


def test_gradient_batched_equals_one_by_one_and_padding_invariant(bert_adapter):
    together = depthlens.explain_many(bert_adapter, TEXTS, "gradient", batch_size=3)
    for text, exp in zip(TEXTS, together):
        alone = depthlens.explain(bert_adapter, text, "gradient")
        assert alone.tokens == exp.tokens
        np.testing.assert_allclose(alone.scores, exp.scores, rtol=1e-5, atol=1e-6)
        assert exp.scores.shape == (1, len(exp.tokens))
        assert exp.diagnostics["forward_passes"] == 1


def test_gradient_all_layers_rows_and_target(bert_adapter):
    exp = depthlens.explain(bert_adapter, TEXTS[0], "gradient", layer="all", target="label0")
    assert exp.layers == ["embeddings", "layer 1", "layer 2"]
    assert exp.scores.shape == (3, len(exp.tokens)) and (exp.scores >= 0).all()
    assert exp.target.index == 0 and exp.target.name == "label0"
    assert abs(sum(exp.probabilities) - 1) < 1e-6


def test_gradient_matches_autograd_by_hand(bert_adapter):
    import torch

    exp = depthlens.explain(bert_adapter, TEXTS[0], "gradient", norm="l1", target=1)
    batch = bert_adapter.encode([TEXTS[0]])
    emb = bert_adapter.embed(batch).detach().requires_grad_(True)
    logit = bert_adapter.forward(batch, inputs_embeds=emb).logits[0, 1]
    (grad,) = torch.autograd.grad(logit, emb)
    np.testing.assert_allclose(exp.scores[0], grad[0].abs().sum(-1).numpy(), rtol=1e-5)


def test_load_checkpoint_directory(bert_checkpoint):
    adapter = depthlens.load_model(str(bert_checkpoint))
    assert adapter.labels == ["label0", "label1"] and adapter.num_layers == 2


def test_api_bad_inputs(bert_adapter, tmp_path):
    with pytest.raises(UnknownNameError, match="unknown method 'gradient_magic'; choose one of"):
        depthlens.explain(bert_adapter, "fine", "gradient_magic")
    with pytest.raises(InputError, match="unknown parameter 'steps' for method 'gradient'"):
        depthlens.explain(bert_adapter, "fine", "gradient", steps=3)
    with pytest.raises(InputError, match="norm must be one of"):
        depthlens.explain(bert_adapter, "fine", "gradient", norm="l7")
    with pytest.raises(InputError, match="layer must be in"):
        depthlens.explain(bert_adapter, "fine", "gradient", layer=9)
    with pytest.raises(UnknownNameError, match="unknown model 'no-such-model'"):
        depthlens.load_model("no-such-model")
    with pytest.raises(InputError, match="holds no model"):
        depthlens.load_model(str(tmp_path))


def test_non_classifier_checkpoint_is_rejected(tmp_path):
    from transformers import BertConfig, BertForMaskedLM

    BertForMaskedLM(BertConfig(hidden_size=32, num_hidden_layers=1, num_attention_heads=2,
                               intermediate_size=37)).save_pretrained(tmp_path)
    with pytest.raises(InputError, match="not a sequence classifier.*depthlens train"):
        depthlens.load_model(str(tmp_path))


def run_cli(*args):
    env = dict(os.environ)
    return subprocess.run([sys.executable, "-m", "depthlens.cli", *args], capture_output=True,
                          text=True, env=env, timeout=300)


def test_cli_explain_writes_files(bert_checkpoint, tmp_path):
    out = tmp_path / "e.json"
    r = run_cli("explain", "--model", str(bert_checkpoint), "--method", "gradient",
                "--text", "a gorgeous, witty, seductive movie.", "--layer", "all",
                "--out", str(out), "--no-color")
    assert r.returncode == 0, r.stderr
    assert "gorgeous" in r.stdout
    data = json.loads(out.read_text())
    assert data["method"] == "gradient" and len(data["scores"]) == 3
    html = tmp_path / "e.html"
    assert run_cli("explain", "--model", str(bert_checkpoint), "--text", "<b>x</b>",
                   "--out", str(html)).returncode == 0
    assert "<b>x</b>" not in html.read_text()


@pytest.mark.parametrize("args, message", [
    (["--text", "   "], "empty or whitespace only"),
    (["--text", "word " * 600], "at most 512"),
    (["--text", "fine", "--target", "7"], "label index must be in [0, 1]"),
    (["--text", "fine", "--target", "happy"], "label must be one of label0, label1"),
    (["--text", "fine", "--method", "nope"], "unknown method 'nope'"),
    (["--text", "fine", "--param", "steps=3"], "unknown parameter 'steps'"),
    (["--text", "fine", "--param", "norm"], "--param must look like key=value"),
    (["--text", "fine", "--out", "x.pdf"], "--out must end in"),
])
def test_cli_bad_inputs_exit_1_without_traceback(bert_checkpoint, args, message):
    r = run_cli("explain", "--model", str(bert_checkpoint), *args)
    assert r.returncode == 1
    assert message in r.stderr and "Traceback" not in r.stderr
    assert len(r.stderr.strip().splitlines()) == 1


def test_cli_unknown_model_and_pair_for_single_text_model(tmp_path, bert_adapter):
    r = run_cli("explain", "--model", "nope-model", "--text", "fine")
    assert r.returncode == 1 and "unknown model 'nope-model'" in r.stderr
    bert_adapter.supports_pairs = False
    try:
        bert_adapter.save(tmp_path)
    finally:
        bert_adapter.supports_pairs = True
    r = run_cli("explain", "--model", str(tmp_path), "--text", "fine", "--pair", "ok")
    assert r.returncode == 1 and "takes single texts, not pairs" in r.stderr
    r = run_cli("explain", "--model", str(tmp_path), "--bogus")
    assert r.returncode == 1 and "Traceback" not in r.stderr


def test_cli_methods_lists_parameters():
    r = run_cli("methods")
    assert r.returncode == 0 and "gradient" in r.stdout and "norm='l2'" in r.stdout
