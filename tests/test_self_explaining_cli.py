"""Self-explaining models through training, load_model and the CLI (tiny built-in encoders)."""
from __future__ import annotations

import pytest

from depthlens.cli import main
from depthlens.models.huggingface import HFAdapter
from depthlens.models.loading import SELF_EXPLAINING_FILE, load_model
from depthlens.models.small import build_small
from depthlens.self_explaining import SelfExplainingAdapter, make_self_explaining
from depthlens.training import run_train, train_classifier
from test_training import LABELS, tiny_adapter, toy_dataset

TEXT = "a gorgeous , witty film that is dull"


def mean_sum_alpha_squared(model: SelfExplainingAdapter, texts: list[str]) -> float:
    out = model.span_weights(model.encode(texts))
    return float((out.alpha ** 2).sum((1, 2)).mean())


def test_cli_train_self_explaining_then_load_and_explain_prints_spans(tmp_path, capsys):
    out = str(tmp_path / "se-cnn")
    assert main(["train", "--model", "cnn", "--data", "sst2:train:32", "--out", out,
                 "--epochs", "1", "--batch-size", "16", "--self-explaining", "--lambda", "0.5",
                 "--max-span-width", "3"]) == 0
    assert "trained self-explaining cnn" in capsys.readouterr().out
    model = load_model(out)
    assert isinstance(model, SelfExplainingAdapter)
    assert (model.lam, model.head.sic.max_width, model.labels) == (0.5, 3, LABELS)

    assert main(["explain", "--model", out, "--method", "self_explaining", "--text", TEXT,
                 "--param", "top_k=4", "--no-color"]) == 0
    printed = capsys.readouterr().out.split("top spans:\n")[1].splitlines()[:4]
    weights = [float(line.split()[1]) for line in printed]
    spans = [line.split('"')[1] for line in printed]
    assert weights == sorted(weights, reverse=True) and all(0 < w <= 1 for w in weights)
    assert all(s in TEXT and len(s.split()) <= 3 for s in spans)


def test_training_adds_the_sharpness_term(tmp_path):
    """Same seed and data, only lambda differs: the eq. 7 term makes alpha sharper."""
    data = toy_dataset(64)
    texts = [ex.text for ex in data.examples]
    sharpness = {}
    for lam in (0.0, 10.0):
        encoder = build_small("cnn", LABELS, dim=16, layers=1, seed=0)
        model = make_self_explaining(encoder, lam=lam, max_width=3, seed=0)
        train_classifier(model, data, tmp_path / f"lam{lam}", epochs=2, lr=1e-2, batch_size=16,
                         progress=False)
        sharpness[lam] = mean_sum_alpha_squared(model, texts)
    assert sharpness[10.0] > 1.5 * sharpness[0.0]


def test_run_train_self_explaining_on_hf_directory(tmp_path):
    tiny_adapter().save(tmp_path / "encoder")
    run_train(str(tmp_path / "encoder"), "sst2:train:16", str(tmp_path / "se"), epochs=1,
              batch_size=8, progress=False, self_explaining=True, lam=0.1)
    model = load_model(str(tmp_path / "se"))
    assert isinstance(model, SelfExplainingAdapter) and isinstance(model.encoder, HFAdapter)
    assert model.head.sic.max_width is None and model.lam == 0.1


@pytest.mark.parametrize("args, message", [
    (["--lambda", "1"], "need --self-explaining"),
    (["--max-span-width", "2"], "need --self-explaining"),
    (["--regularizer", "entropy"], "need --self-explaining"),
    (["--self-explaining", "--lambda", "-1"], "lambda must be a number >= 0"),
    (["--self-explaining", "--max-span-width", "0"], "max_width must be None"),
    (["--self-explaining", "--regularizer", "l1"], "regularizer must be one of square, entropy"),
])
def test_cli_train_bad_flag_combinations_exit_1(args, message, tmp_path, capsys):
    code = main(["train", "--model", "cnn", "--data", "sst2:train:8",
                 "--out", str(tmp_path / "m"), *args])
    err = capsys.readouterr().err
    assert code == 1 and message in err and len(err.strip().splitlines()) == 1
    assert not (tmp_path / "m").exists()


def test_cli_train_refuses_an_already_self_explaining_model(tmp_path, capsys):
    encoder = build_small("lstm", LABELS, dim=8, layers=1, seed=0)
    make_self_explaining(encoder, seed=0).save(tmp_path / "se")
    assert (tmp_path / "se" / SELF_EXPLAINING_FILE).is_file()
    code = main(["train", "--model", str(tmp_path / "se"), "--data", "sst2:train:8",
                 "--out", str(tmp_path / "m"), "--self-explaining"])
    err = capsys.readouterr().err
    assert code == 1 and "already self-explaining" in err and "encoder" in err
