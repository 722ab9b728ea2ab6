"""Built-in small models: LSTM, GRU, CNN, Transformer classifiers and the seq2seq reversal LSTM."""
import random

import pytest
import torch

from depthlens.errors import InputError, ModelCapabilityError, UnknownNameError
from depthlens.models.hooks import count_hooks
from depthlens.models.loading import SMALL_MODEL_FILE, load_directory
from depthlens.models.seq2seq import Seq2SeqAdapter, train_seq2seq_reverse
from depthlens.models.small import SMALL_ARCHS, build_small

LABELS = ["negative", "positive"]
TEXTS = ["a gorgeous, witty, seductive movie.", "dull", "it is not a bad film at all , really"]


@pytest.fixture(scope="module", autouse=True)
def one_thread():
    """The machine is shared: one intra-op thread is several times faster under load."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope="module", params=SMALL_ARCHS)
def adapter(request):
    return build_small(request.param, LABELS, dim=32, layers=2, heads=4, seed=1)


def test_states_are_embeddings_plus_one_per_layer(adapter):
    batch = adapter.encode(TEXTS)
    out = adapter.forward(batch, output_states=True)
    assert adapter.num_layers == 2 and len(out.states) == 3
    for state in out.states:
        assert state.shape == (*batch.input_ids.shape, 32)
    assert out.logits.shape == (3, 2)


def test_batched_equals_one_by_one(adapter):
    batch = adapter.encode(TEXTS)
    together = adapter.forward(batch, output_states=True)
    for i in range(len(TEXTS)):
        alone = adapter.forward(adapter.encode([TEXTS[i]]), output_states=True)
        torch.testing.assert_close(together.logits[i], alone.logits[0], atol=1e-5, rtol=1e-5)
        n = batch.lengths[i]
        for s_all, s_one in zip(together.states, alone.states):
            torch.testing.assert_close(s_all[i, :n], s_one[0], atol=1e-5, rtol=1e-5)


def test_identity_edit_changes_nothing_and_zero_edit_does(adapter):
    batch = adapter.encode(TEXTS)
    base = adapter.forward(batch).logits
    for layer in range(adapter.num_layers + 1):
        torch.testing.assert_close(adapter.forward(batch, edits={layer: lambda h: h}).logits, base)
    assert not torch.allclose(adapter.forward(batch, edits={1: torch.zeros_like}).logits, base)


def test_edit_is_seen_by_later_layers(adapter):
    batch = adapter.encode(TEXTS[:1])
    ref = adapter.forward(batch, output_states=True)
    out = adapter.forward(batch, edits={1: lambda h: h * 0.5 + 1.0}, output_states=True)
    torch.testing.assert_close(out.states[0], ref.states[0])
    assert not torch.allclose(out.states[2], ref.states[2])


def test_forward_from_embeddings_equals_forward_from_ids(adapter):
    batch = adapter.encode(TEXTS)
    torch.testing.assert_close(adapter.forward(batch, inputs_embeds=adapter.embed(batch)).logits,
                               adapter.forward(batch).logits)


def test_gradients_of_every_layer_from_one_backward(adapter):
    batch = adapter.encode(TEXTS)
    embeds = adapter.embed(batch).requires_grad_(True)
    out = adapter.forward(batch, inputs_embeds=embeds, output_states=True)
    grads = torch.autograd.grad(out.logits[:, 1].sum(), [embeds, *out.states])
    real = batch.attention_mask.bool()
    for g in grads:
        assert g.shape == embeds.shape
        assert all(g[i, real[i]].abs().sum() > 0 for i in range(len(batch)))


def test_save_and_load_round_trip(adapter, tmp_path):
    adapter.save(tmp_path)
    assert (tmp_path / SMALL_MODEL_FILE).is_file()
    loaded = load_directory(tmp_path, name="mine")
    batch = adapter.encode(TEXTS)
    assert loaded.name == "mine" and loaded.labels == LABELS and loaded.num_layers == 2
    torch.testing.assert_close(loaded.forward(loaded.encode(TEXTS)).logits,
                               adapter.forward(batch).logits, atol=0, rtol=0)
    assert not list(tmp_path.glob("*.tmp"))


def test_no_hooks_left_after_an_exception(adapter):
    batch = adapter.encode(TEXTS)

    def boom(_h):
        raise RuntimeError("boom")

    assert count_hooks(adapter.model) == 0
    with pytest.raises(RuntimeError, match="boom"):
        adapter.forward(batch, edits={1: boom}, output_states=True)
    assert count_hooks(adapter.model) == 0


def test_attention_only_on_the_transformer(adapter):
    batch = adapter.encode(TEXTS)
    if adapter.arch != "transformer":
        with pytest.raises(ModelCapabilityError, match="no attention"):
            adapter.attention_parts(batch)
        with pytest.raises(ModelCapabilityError, match="no attention"):
            adapter.forward(batch, output_attentions=True)
        return
    out = adapter.forward(batch, output_attentions=True)
    real = batch.attention_mask.bool()
    assert len(out.attentions) == 2
    for probs in out.attentions:
        assert probs.shape == (3, 4, *batch.input_ids.shape[1:], batch.input_ids.shape[1])
        torch.testing.assert_close(probs.sum(-1), torch.ones_like(probs[..., 0]))
        assert (probs * ~real[:, None, None, :]).abs().max() == 0
    parts = adapter.attention_parts(batch)
    b, t = batch.input_ids.shape
    assert [p.shape for p in parts.values] == [(b, 4, t, 32)] * 2
    for p, q in zip(parts.probs, out.attentions):
        torch.testing.assert_close(p, q)


def test_attention_values_sum_over_heads_to_the_output_projection():
    adapter = build_small("transformer", LABELS, dim=32, heads=4)
    batch = adapter.encode(TEXTS[:1])
    parts = adapter.attention_parts(batch)
    block = adapter.model.blocks[0]
    x = adapter.forward(batch, output_states=True).states[0]
    full = block.value(x) @ block.output.weight.T           # (x W_V + b_V) W_O, all heads
    torch.testing.assert_close(parts.values[0].sum(1), full, atol=1e-5, rtol=1e-5)


def test_pairs_use_token_types_in_the_transformer(tmp_path):
    adapter = build_small("transformer", LABELS, dim=32, supports_pairs=True)
    batch = adapter.encode(["a cat sat"], pairs=["a dog ran"])
    assert batch.token_type_ids[0].tolist().count(1) > 0
    flipped = adapter.forward(batch).logits
    batch.token_type_ids = torch.zeros_like(batch.token_type_ids)
    assert not torch.allclose(adapter.forward(batch).logits, flipped)
    adapter.save(tmp_path)
    assert load_directory(tmp_path, name="pairs").supports_pairs


def test_rnn_takes_single_texts_by_default():
    with pytest.raises(InputError, match="single texts"):
        build_small("gru", LABELS, dim=16).encode(["a"], pairs=["b"])


def test_bad_arguments_raise_input_errors():
    with pytest.raises(UnknownNameError,
                       match="unknown architecture 'rnn'; choose one of: cnn, gru, lstm"):
        build_small("rnn", LABELS)
    with pytest.raises(InputError, match="dim must be divisible by heads"):
        build_small("transformer", LABELS, dim=30, heads=4)
    with pytest.raises(InputError, match="dim must be even"):
        build_small("lstm", LABELS, dim=33)
    with pytest.raises(InputError, match="labels must be a list of at least 2"):
        build_small("cnn", ["only"])
    with pytest.raises(InputError, match="layers must be an integer >= 1"):
        build_small("cnn", LABELS, layers=0)


def test_same_seed_same_weights():
    a, b = (build_small("cnn", LABELS, dim=16, seed=3) for _ in range(2))
    batch = a.encode(TEXTS)
    torch.testing.assert_close(a.forward(batch).logits, b.forward(batch).logits, atol=0, rtol=0)


def test_lstm_fits_a_separable_toy():
    rng = random.Random(0)
    filler = "the a movie film plot was is really quite rather acting story very".split()
    texts, labels = [], []
    for i in range(200):
        words = rng.sample(filler, rng.randint(2, 6))
        words.insert(rng.randint(0, len(words)), "good" if i % 2 else "bad")
        texts.append(" ".join(words))
        labels.append(i % 2)
    adapter = build_small("lstm", LABELS, dim=32, layers=1, seed=0)
    batch, target = adapter.encode(texts), torch.tensor(labels)
    params = list(adapter.model.parameters())
    for p in params:
        p.requires_grad_(True)
    optimizer = torch.optim.Adam(params, lr=1e-2)
    adapter.model.train()
    for _ in range(5):
        for index in torch.randperm(200, generator=torch.Generator().manual_seed(0)).split(25):
            sub = batch.select(index.tolist())
            loss = torch.nn.functional.cross_entropy(adapter.forward(sub).logits, target[index])
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
    adapter.model.eval()
    accuracy = (adapter.predict_proba(batch).argmax(-1) == target).float().mean()
    assert accuracy >= 0.95


# ---------------------------------------------------------------- seq2seq
@pytest.fixture(scope="module")
def reverser():
    adapter, exact = train_seq2seq_reverse(seed=0)
    return adapter, exact


def test_seq2seq_learns_to_reverse(reverser):
    adapter, exact = reverser
    assert exact >= 0.99
    batch = adapter.encode(["s1 s2 s3 s4 s5 s6", "s9 s9 s0 s7 s3"])
    assert adapter.generate(batch) == ["s6 s5 s4 s3 s2 s1", "s3 s7 s0 s9 s9"]


def test_seq2seq_step_logits_states_and_gold(reverser):
    adapter, _ = reverser
    batch = adapter.encode(["s1 s2 s3 s4 s5 s6", "s9 s9 s0 s7 s3"])
    for step in range(6):
        out = adapter.forward_step(batch, step, output_states=True)
        assert out.logits.shape == (2, len(adapter.labels))
        assert out.logits.argmax(-1).tolist() == adapter.gold_targets(batch, step).tolist()
        assert len(out.states) == adapter.num_layers + 1
        assert all(s.shape == (2, 6, 64) for s in out.states)
    assert adapter.labels[int(adapter.gold_targets(batch, 5)[1])] == "[EOS]"
    with pytest.raises(InputError, match="step must be in \\[0, 5\\]"):
        adapter.forward_step(batch, 6)
    view = adapter.at_step(2)
    torch.testing.assert_close(view.forward(batch).logits, adapter.forward_step(batch, 2).logits)
    assert adapter.step == 0


def test_seq2seq_batched_equals_one_by_one(reverser):
    adapter, _ = reverser
    texts = ["s1 s2 s3 s4 s5 s6 s7 s8", "s9 s9 s0"]
    batch = adapter.encode(texts)
    together = adapter.forward_step(batch, 2).logits
    for i, text in enumerate(texts):
        alone = adapter.forward_step(adapter.encode([text]), 2).logits[0]
        torch.testing.assert_close(together[i], alone, atol=1e-5, rtol=1e-5)


def test_seq2seq_decoder_state_edits_and_gradients(reverser):
    adapter, _ = reverser
    batch = adapter.encode(["s1 s2 s3 s4 s5"])
    embeds = adapter.embed(batch).requires_grad_(True)
    state = adapter.decoder_state(batch, 1, inputs_embeds=embeds)
    assert state.shape == (1, 64)
    (grad,) = torch.autograd.grad(state.sum(), embeds)
    assert grad.shape == embeds.shape and grad.abs().sum() > 0
    base = adapter.forward_step(batch, 1).logits
    zeroed = adapter.forward_step(batch, 1, edits={1: torch.zeros_like}).logits
    assert not torch.allclose(zeroed, base)
    torch.testing.assert_close(adapter.forward_step(batch, 1, edits={0: lambda h: h}).logits, base)


def test_seq2seq_encode_save_and_load(reverser, tmp_path):
    adapter, _ = reverser
    batch = adapter.encode(["s1  s2 zz"])
    assert batch.tokens == [["s1", "s2", "[UNK]"]]
    assert batch.offsets == [[(0, 2), (4, 6), (7, 9)]] and batch.word_ids == [[0, 1, 2]]
    assert "zz" in batch.warnings[0][0]
    with pytest.raises(InputError, match="single texts"):
        adapter.encode(["s1"], pairs=["s2"])
    adapter.save(tmp_path)
    loaded = load_directory(tmp_path, name="rev")
    assert isinstance(loaded, Seq2SeqAdapter) and loaded.labels == adapter.labels
    torch.testing.assert_close(loaded.forward_step(batch, 3).logits,
                               adapter.forward_step(batch, 3).logits, atol=0, rtol=0)
