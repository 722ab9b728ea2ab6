"""The web explorer: API contract, safety caps, escaping, a real browser and a load test."""
import asyncio
import os
import socket
import threading
import time
from contextlib import contextmanager
from pathlib import Path

import pytest

from browser import chromium
from conftest import minilm_tokenizer, tiny_hf_model
from depthlens.app.server import create_app
from depthlens.explanation import ExplanationSet

XSS = ['<script>alert(1)</script>', '"><img src=x onerror=alert(1)>']
# e.g. "minilm-sst2,tiny-sst2": the browser and load tests serve these real models instead of
# the tiny random one (the browser test screenshots each)
REAL_MODELS = os.environ.get("DEPTHLENS_EXPLORER_MODELS", "")


@pytest.fixture(scope="module")
def single_adapter():
    """A second tiny model (other weights) that takes single texts only."""
    from depthlens.models.huggingface import HFAdapter

    return HFAdapter(tiny_hf_model(seed=1), minilm_tokenizer(), name="tiny-single",
                     supports_pairs=False)


@pytest.fixture(scope="module")
def app(bert_adapter, single_adapter):
    return create_app({"tiny": bert_adapter, "single": single_adapter})


@pytest.fixture(scope="module")
def client(app):
    from fastapi.testclient import TestClient

    return TestClient(app)


def test_explain_returns_explanations_and_page(client):
    r = client.post("/api/explain", json={"text": "a gorgeous , witty movie .",
                                          "methods": ["gradient", "gradcam"], "layer": "all"})
    assert r.status_code == 200, r.text
    data = r.json()
    assert [e["method"] for e in data["explanations"]] == ["gradient", "gradcam"]
    assert len(data["explanations"][0]["scores"]) == 3  # layer=all: embeddings + 2 blocks
    assert "gorgeous" in data["html"] and "http://" not in data["html"]


def test_same_scores_as_the_python_api(client, bert_adapter):
    import numpy as np

    import depthlens

    r = client.post("/api/explain", json={"text": "dull and slow", "methods": ["gradient"]})
    ours = depthlens.explain(bert_adapter, "dull and slow", "gradient")
    np.testing.assert_allclose(r.json()["explanations"][0]["scores"], ours.scores, rtol=1e-6)


@pytest.mark.parametrize("body, status, message", [
    ({"text": "   "}, 400, "text is empty"),
    ({"text": "x" * 2001}, 400, "at most 2000 characters"),
    ({"text": "ok", "model": "../../etc/passwd"}, 400, "model must be one of tiny"),
    ({"text": "ok", "methods": ["nope"]}, 400, "unknown method 'nope'"),
    ({"text": "ok", "target": "9"}, 400, "label index must be in [0, 1]"),
])
def test_bad_requests_get_clear_messages(client, body, status, message):
    r = client.post("/api/explain", json=body)
    assert r.status_code == status and message in r.json()["error"]


def test_model_selection_between_loaded_models(client):
    texts = {m: client.post("/api/explain", json={"text": "dull and slow", "model": m}).json()
             for m in ("tiny", "single")}
    assert texts["tiny"]["explanations"][0]["model"] == "tiny-bert"
    assert texts["single"]["explanations"][0]["model"] == "tiny-single"
    scores = {m: texts[m]["explanations"][0]["scores"] for m in texts}
    assert scores["tiny"] != scores["single"]


def test_several_models_side_by_side(client):
    body = {"text": "dull and slow", "methods": ["gradient", "attention"]}
    data = client.post("/api/explain", json={**body, "models": ["tiny", "single"]}).json()
    assert [(e["model"], e["method"]) for e in data["explanations"]] == [
        ("tiny-bert", "gradient"), ("tiny-single", "gradient"),
        ("tiny-bert", "attention"), ("tiny-single", "attention")]  # a method's cards adjacent
    alone = client.post("/api/explain", json={**body, "model": "single"}).json()
    assert data["explanations"][1]["scores"] == alone["explanations"][0]["scores"]
    assert data["explanations"][3]["scores"] == alone["explanations"][1]["scores"]
    assert data["html"].count("<h2>Text") == 1  # one sentence, four cards under it
    assert "model <b>tiny-bert</b>" in data["html"] and "model <b>tiny-single</b>" in data["html"]
    rated = client.post("/api/explain", json={**body, "models": ["tiny", "single"],
                                              "metrics": True}).json()["metrics"]
    single = client.post("/api/explain", json={**body, "model": "single",
                                               "metrics": True}).json()["metrics"]
    assert len(rated) == 4 and rated[1] == single[0] and rated[3] == single[1]
    pair = client.post("/api/explain", json={**body, "pair": "fast", "models": ["tiny", "single"]})
    assert pair.status_code == 200 and "single/gradient" in pair.json()["failures"]
    assert {e["model"] for e in pair.json()["explanations"]} == {"tiny-bert"}
    r = client.post("/api/explain", json={**body, "models": ["tiny"] * 5})
    assert r.status_code == 400 and "at most 4 names" in r.json()["error"]
    r = client.post("/api/explain", json={**body, "models": ["tiny", "/etc"]})
    assert r.status_code == 400 and "model must be one of" in r.json()["error"]


def test_text_pairs(client):
    body = {"text": "a man sleeps", "pair": "a person rests", "methods": ["gradient"]}
    data = client.post("/api/explain", json=body).json()
    assert data["explanations"][0]["pair"] == "a person rests"
    assert "<i>pair:</i> a person rests" in data["html"]
    r = client.post("/api/explain", json={**body, "model": "single"})
    assert r.status_code == 400 and "takes single texts" in r.json()["error"]
    page = client.get("/").text
    assert 'value="tiny" data-pairs="1"' in page and 'value="single" data-pairs="0"' in page
    assert '<label title="saliency: norm of d(target logit)' in page


def test_faithfulness_metrics_for_the_input(client):
    body = {"text": "a gorgeous , witty movie .", "methods": ["gradient", "occlusion"]}
    assert client.post("/api/explain", json=body).json()["metrics"] is None
    data = client.post("/api/explain", json={**body, "metrics": True}).json()
    assert len(data["metrics"]) == 2
    for per_input in data["metrics"]:
        assert list(per_input) == ["hiding", "revealing", "comprehensiveness", "sufficiency"]
        assert 0 <= per_input["hiding"][0] <= 1 and -1 <= per_input["sufficiency"][0] <= 1
        assert per_input["hiding"][1] == "lower is better"
    assert data["html"].count("faithfulness on this input") == 2
    r = client.post("/api/explain", json={**body, "metrics": "yes"})
    assert r.status_code == 400 and "metrics must be true or false" in r.json()["error"]


def test_metrics_rate_the_layer_the_page_shows(bert_adapter):
    import depthlens
    from depthlens.app.server import input_metrics
    from depthlens.evaluation import evaluate

    exp = depthlens.explain(bert_adapter, "a gorgeous , witty movie .", "gradient", layer="all")
    exp.scores[-1, 1:] = 0.0  # as gradients after the last block: non-zero at [CLS] only
    ours = input_metrics(bert_adapter, [exp])[0]["comprehensiveness"][0]
    shown = evaluate(bert_adapter, [exp], ["comprehensiveness"], layer=1)["comprehensiveness"]
    last = evaluate(bert_adapter, [exp], ["comprehensiveness"], layer=2)["comprehensiveness"]
    assert ours == pytest.approx(shown.value) and ours != pytest.approx(last.value)


def test_body_cap(client):
    r = client.post("/api/explain", content=b"{" + b" " * 40000 + b"}",
                    headers={"content-type": "application/json"})
    assert r.status_code == 413 and "at most" in r.json()["error"]


def test_user_text_is_escaped_in_the_page(client):
    r = client.post("/api/explain", json={"text": " ".join(XSS), "methods": ["gradient"]})
    page = r.json()["html"]
    assert "<script>alert" not in page and "<img src=x" not in page
    assert "onerror=alert" not in page.replace("onerror=alert(1)&gt;", "")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextmanager
def serving(app):
    """Run ``app`` with uvicorn on a free loopback port in a thread; yields its URL."""
    import uvicorn

    port = free_port()
    srv = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=srv.run, daemon=True)
    thread.start()
    deadline = time.time() + 20
    while not srv.started and time.time() < deadline:
        time.sleep(0.05)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        srv.should_exit = True
        thread.join(timeout=10)


@pytest.fixture(scope="module")
def server(app):
    with serving(app) as url:
        yield url


@pytest.fixture(scope="module")
def explorer_server(server):
    """The tiny test server, or one with the real models named in DEPTHLENS_EXPLORER_MODELS."""
    if not REAL_MODELS:
        yield server, ["tiny", "single"]
        return
    names = REAL_MODELS.split(",")
    with serving(create_app(names)) as url:
        yield url, names


def test_browser_end_to_end(explorer_server, tmp_path):
    """Per model: type a sentence (with hostile markup) and a target, run the metrics,
    wait for the heatmap, check words, target and metrics, screenshot, download JSON and HTML."""
    import httpx

    url, models = explorer_server
    labels = {m["name"]: m["labels"] for m in httpx.get(f"{url}/api/models").json()["models"]}
    shots = Path(os.environ.get("DEPTHLENS_SCREENSHOT_DIR", tmp_path))
    shots.mkdir(parents=True, exist_ok=True)
    dialogs = []
    with chromium() as browser:
        page = browser.new_page(viewport={"width": 1600, "height": 1250})
        page.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
        page.goto(url)
        for model in models:
            choose_models(page, [model])
            page.fill("#text", "a gorgeous , witty movie . " + XSS[0] + " " + XSS[1])
            page.fill("#target", "1")
            page.check("#metrics")
            body = explain_in_browser(page, [model])
            assert "gorgeous" in body and "witty" in body
            assert "<script>alert(1)</script>" in body  # shown as text, not run
            assert page.frame_locator("#result").locator("img").count() == 0
            assert "faithfulness on this input" in body
            assert f"target {labels[model][1]} (p=" in body  # the typed target was sent
            page.screenshot(path=str(shots / f"explorer-{model}.png"))
            assert (shots / f"explorer-{model}.png").stat().st_size > 10_000
            with page.expect_download() as download:
                page.click("#dl-json")
            saved = ExplanationSet.load(download.value.path())
            assert saved and all(e.text.startswith("a gorgeous") for e in saved)
            with page.expect_download() as download:
                page.click("#dl-html")
            assert "gorgeous" in Path(download.value.path()).read_text()
        choose_models(page, models)  # every model side by side on the same sentence
        page.uncheck("#metrics")
        body = explain_in_browser(page, models)
        page.screenshot(path=str(shots / "explorer-side-by-side.png"))
        with page.expect_download() as download:
            page.click("#dl-json")
        shown = {e.model for e in ExplanationSet.load(download.value.path())}
        assert len(shown) == len(models) and all(f"model {m}" in body for m in shown)
    assert dialogs == []


def choose_models(page, models):
    """Tick exactly ``models`` in the explorer's model checkboxes."""
    for box in page.locator("input[name=model]").all():
        box.set_checked(box.get_attribute("value") in models)


def explain_in_browser(page, models) -> str:
    """Press Explain, wait for the page of ``models`` and its first heatmap; returns its text."""
    page.click("button[type=submit]")
    page.wait_for_function(
        "document.getElementById('status').textContent.includes('explanation')", timeout=120000)
    frame = page.frame_locator("#result")
    frame.locator("h1", has_text="depthlens: " + ", ".join(models)).wait_for(timeout=30000)
    frame.locator("table").first.wait_for(timeout=30000)
    return frame.locator("body").inner_text()


def test_browser_shows_the_length_cap(server):
    """A pasted text over the cap is not cut silently: counter and server say the limit."""
    with chromium() as browser:
        page = browser.new_page()
        page.goto(server)
        page.fill("#text", "word " * 401)
        assert "2005 / 2000 characters: too long" in page.inner_text("#counter")
        page.click("button[type=submit]")
        page.wait_for_function("document.getElementById('status').className === 'err'",
                               timeout=30000)
        assert "at most 2000 characters; got 2005" in page.inner_text("#status")


def test_load_50_concurrent_requests(explorer_server):
    """Per model: 50 concurrent explain requests on loopback all succeed (time printed)."""
    import httpx

    url, models = explorer_server

    async def run(model):
        async with httpx.AsyncClient(timeout=120) as c:
            jobs = [c.post(f"{url}/api/explain",
                           json={"text": f"sentence number {i} is rather good",
                                 "methods": ["gradient"], "model": model})
                    for i in range(50)]
            return await asyncio.gather(*jobs)

    for model in models:
        start = time.perf_counter()
        responses = asyncio.run(run(model))
        seconds = time.perf_counter() - start
        assert [r.status_code for r in responses] == [200] * 50
        print(f"{model}: 50 concurrent explain requests: {seconds:.2f} s")
        assert seconds < 60
