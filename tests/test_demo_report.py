"""`depthlens demo`, `depthlens report` and `depthlens pick` end to end on a saved tiny checkpoint."""
import json
import os
import subprocess
import sys

import pytest

from depthlens.demo import DEMO_METHODS
from fixtures_models import lively_bert


def run_cli(*args):
    return subprocess.run([sys.executable, "-m", "depthlens.cli", *args], capture_output=True,
                          text=True, env=dict(os.environ), timeout=600)


@pytest.fixture(scope="module")
def lively_checkpoint(tmp_path_factory):
    """A saved random BERT whose predictions vary with the input (token overlap needs 2 classes)."""
    path = tmp_path_factory.mktemp("lively-ckpt")
    lively_bert(seed=1).save(path)
    return path


def test_demo_runs_every_method_and_writes_a_report(lively_checkpoint, tmp_path):
    out = tmp_path / "demo"
    r = run_cli("demo", "--model", str(lively_checkpoint), "--out", str(out), "--n", "6")
    assert r.returncode == 0, r.stderr
    assert f"report: {(out / 'report.html').resolve()}" in r.stdout
    # the random checkpoint has no MLM head: only decoded_gradcam is skipped, with the fix
    assert "skipping decoded_gradcam" in r.stderr and "fit-lm-head" in r.stderr
    ran = [m for m in DEMO_METHODS if m != "decoded_gradcam"]
    assert json.loads((out / "run.json").read_text())["methods"] == ran
    table = r.stdout.splitlines()
    for method in ran:
        assert any(line.split()[:1] == [method] for line in table), method
    page = (out / "report.html").read_text()
    for caption in ("all methods: token overlap", "hiding by layer", "revealing by layer",
                    "SP-LIME: 5 examples", "wordcloud", "gradcam: score by layer and pos"):
        assert caption in page, caption
    assert (out / "figures" / "attention_norm" / "score_by_layer_and_pos.png").stat().st_size
    assert not (out / "figures" / "gradient" / "score_by_layer_and_pos.png").exists()
    layers = json.loads((out / "results" / "gradcam.layers.json").read_text())
    assert layers["layers"] == ["embeddings", "layer 1", "layer 2"]
    assert len(layers["hiding"]) == 3 and all(0 <= v <= 1 for v in layers["revealing"])
    assert not (out / "results" / "gradient.layers.json").exists()  # one row: no layer figure

    stamp = (out / "report.html").stat().st_mtime_ns
    again = run_cli("report", str(out))
    assert again.returncode == 0 and (out / "report.html").stat().st_mtime_ns != stamp

    pick = run_cli("pick", "--explanations", str(out / "explanations" / "lime.jsonl"),
                   "--budget", "2")
    assert pick.returncode == 0, pick.stderr
    assert pick.stdout.startswith("1. [") and "\n2. [" in pick.stdout


def test_report_and_pick_bad_input_exit_1_without_traceback(tmp_path):
    r = run_cli("report", str(tmp_path))
    assert r.returncode == 1 and "no run.json" in r.stderr and "Traceback" not in r.stderr
    empty = tmp_path / "e.jsonl"
    empty.write_text("")
    r = run_cli("pick", "--explanations", str(empty), "--budget", "2")
    assert r.returncode == 1 and "budget must be" in r.stderr and "Traceback" not in r.stderr
