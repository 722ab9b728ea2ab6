"""`depthlens benchmark`: method/metric parameters, the random baseline computed once, resuming."""
import json

import pytest

from depthlens.benchmark import format_table, run_benchmark
from depthlens.cli import parse_method_params
from depthlens.errors import InputError

DATA = "sst2_trees:dev:3"


def test_random_baseline_once_params_applied_and_resume(bert_checkpoint, tmp_path):
    out = tmp_path / "run"
    kw = dict(metrics=["hiding", "comprehensiveness", "token_f1"], progress=False,
              method_params={"occlusion": {"window": "2"}},
              metric_params={"random_orders": "3", "bins": "0.1,0.5"})
    table = run_benchmark(str(bert_checkpoint), DATA, ["gradient", "occlusion"], out, **kw)
    first, second = table["gradient"]["hiding"]["details"], table["occlusion"]["hiding"]["details"]
    assert first["random_orders"] == 3 and "random_auc_accuracy" in first
    assert second["random_orders"] == 0 and "random_auc_accuracy" not in second
    assert table["gradient"]["comprehensiveness"]["details"]["bins"] == [0.1, 0.5]
    occlusion = [json.loads(line) for line in (out / "explanations/occlusion.jsonl").open()]
    assert all(e["params"]["window"] == 2 for e in occlusion)
    assert "random order" in format_table(table)

    (out / "results/occlusion.json").unlink()
    stamp = (out / "explanations/occlusion.jsonl").stat().st_mtime_ns
    again = run_benchmark(str(bert_checkpoint), DATA, ["gradient", "occlusion"], out, **kw)
    assert (out / "explanations/occlusion.jsonl").stat().st_mtime_ns == stamp
    assert again["occlusion"]["hiding"]["value"] == table["occlusion"]["hiding"]["value"]


@pytest.mark.parametrize("kw, message", [
    ({"metric_params": {"k": "3"}}, "not taken by any of the metrics"),
    ({"method_params": {"lime": {"n_samples": "8"}}}, "not in --methods"),
])
def test_bad_benchmark_params(bert_checkpoint, tmp_path, kw, message):
    with pytest.raises(InputError, match=message):
        run_benchmark(str(bert_checkpoint), DATA, ["gradient"], tmp_path / "run",
                      metrics=["hiding"], progress=False, **kw)


def test_parse_method_params():
    assert parse_method_params(["lime.n_samples=100", "lime.seed=1", "occlusion.window=2"]) == {
        "lime": {"n_samples": "100", "seed": "1"}, "occlusion": {"window": "2"}}
    with pytest.raises(InputError, match="method.key=value"):
        parse_method_params(["n_samples=100"])


def test_cli_layer_games_can_be_skipped(bert_checkpoint, tmp_path, capsys):
    from depthlens.cli import main

    base = ["benchmark", "--model", str(bert_checkpoint), "--data", DATA, "--methods",
            "attention", "--metrics", "hiding", "--param", "random_orders=1"]
    main(base + ["--out", str(tmp_path / "skip"), "--no-layer-games"])
    assert not (tmp_path / "skip/results/attention.layers.json").exists()
    main(base + ["--out", str(tmp_path / "all")])
    rows = json.loads((tmp_path / "all/results/attention.layers.json").read_text())
    assert len(rows["hiding"]) == len(rows["layers"]) > 1
    assert "report:" in capsys.readouterr().out
