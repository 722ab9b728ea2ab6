"""ModelAdapter properties on tiny random models of every HF family."""
import pytest
import torch

from conftest import tiny_adapter
from depthlens.errors import InputError
from depthlens.models.hooks import count_hooks

FAMILIES = ["bert", "roberta", "distilbert", "electra"]
TEXTS = ["a gorgeous, witty, seductive movie.", "dull", "it is not a bad film at all , really"]


@pytest.fixture(scope="module", params=FAMILIES)
def adapter(request):
    return tiny_adapter(request.param)


def test_states_equal_models_own_hidden_states(adapter):
    batch = adapter.encode(TEXTS)
    out = adapter.forward(batch, output_states=True)
    kwargs = dict(input_ids=batch.input_ids, attention_mask=batch.attention_mask,
                  output_hidden_states=True)
    if adapter.family != "distilbert":
        kwargs["token_type_ids"] = batch.token_type_ids
    ref = adapter.model(**kwargs)
    assert len(out.states) == adapter.num_layers + 1 == len(ref.hidden_states)
    for ours, theirs in zip(out.states, ref.hidden_states):
        torch.testing.assert_close(ours, theirs)
    torch.testing.assert_close(out.logits, ref.logits)


def test_identity_edit_changes_nothing_and_zero_edit_does(adapter):
    batch = adapter.encode(TEXTS)
    base = adapter.forward(batch).logits
    for layer in range(adapter.num_layers + 1):
        same = adapter.forward(batch, edits={layer: lambda h: h}).logits
        torch.testing.assert_close(same, base)
    changed = adapter.forward(batch, edits={1: torch.zeros_like}).logits
    assert not torch.allclose(changed, base)


def test_edit_is_seen_by_later_layers(adapter):
    batch = adapter.encode(TEXTS[:1])
    out = adapter.forward(batch, edits={1: lambda h: h * 0.5}, output_states=True)
    ref = adapter.forward(batch, output_states=True)
    torch.testing.assert_close(out.states[0], ref.states[0])
    assert not torch.allclose(out.states[2], ref.states[2])


def test_forward_from_embeddings_equals_forward_from_ids(adapter):
    batch = adapter.encode(TEXTS)
    torch.testing.assert_close(adapter.forward(batch, inputs_embeds=adapter.embed(batch)).logits,
                               adapter.forward(batch).logits)


def test_batched_equals_one_by_one(adapter):
    together = adapter.forward(adapter.encode(TEXTS)).logits
    alone = torch.cat([adapter.forward(adapter.encode([t])).logits for t in TEXTS])
    torch.testing.assert_close(together, alone, atol=1e-5, rtol=1e-5)


def test_gradients_of_all_layers_from_one_backward(adapter):
    batch = adapter.encode(TEXTS)
    out = adapter.forward(batch, output_states=True)
    grads = torch.autograd.grad(out.logits[:, 0].sum(), out.states)
    assert all(g.shape == s.shape and g.abs().sum() > 0 for g, s in zip(grads, out.states))


def test_no_hooks_left_after_exception(adapter):
    before = count_hooks(adapter.model)

    def boom(h):
        raise RuntimeError("boom")

    with pytest.raises(RuntimeError):
        adapter.forward(adapter.encode(TEXTS), edits={1: boom}, output_states=True)
    assert count_hooks(adapter.model) == before


def test_attention_parts(adapter):
    batch = adapter.encode(TEXTS)
    parts = adapter.attention_parts(batch)
    assert len(parts.probs) == len(parts.values) == adapter.num_layers
    b, t = batch.input_ids.shape
    assert parts.probs[0].shape[-2:] == (t, t)
    assert parts.values[0].shape[:1] + parts.values[0].shape[2:3] == (b, t)
    torch.testing.assert_close(parts.probs[0].sum(-1), torch.ones(parts.probs[0].shape[:-1]))


def test_pair_encoding_has_offsets_into_each_text():
    adapter = tiny_adapter("bert")
    batch = adapter.encode(["The cat sat ."], ["A cat is sitting ."])
    tokens, offsets, seqs = batch.tokens[0], batch.offsets[0], batch.sequence_ids[0]
    for tok, (s, e), seq in zip(tokens, offsets, seqs):
        if seq is None:
            continue
        source = "The cat sat ." if seq == 0 else "A cat is sitting ."
        assert source[s:e].lower() == tok.replace("##", "")
    words = [w for w in batch.word_ids[0] if w is not None]
    assert words == sorted(words) and len(set(words)) == 9


def test_bad_text_inputs():
    adapter = tiny_adapter("bert")
    with pytest.raises(InputError, match="empty or whitespace"):
        adapter.encode(["  \n"])
    with pytest.raises(InputError, match="at most 512"):
        adapter.encode(["word " * 600])
    batch = adapter.encode(["word " * 600], truncate=True)
    assert batch.lengths[0] == 512 and "truncated" in batch.warnings[0][0]
    with pytest.raises(InputError, match="label index must be in"):
        adapter.label_index(5)
    with pytest.raises(InputError, match="label must be one of"):
        adapter.label_index("positive")
    assert adapter.label_index("LABEL1") == 1
