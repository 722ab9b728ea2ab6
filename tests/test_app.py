"""The web explorer: API contract, safety caps, escaping, a real browser and a load test."""
import asyncio
import os
import shutil
import socket
import threading
import time
from pathlib import Path

import pytest

from depthlens.app.server import create_app

XSS = ['<script>alert(1)</script>', '"><img src=x onerror=alert(1)>']


@pytest.fixture(scope="module")
def app(bert_adapter):
    return create_app({"tiny": bert_adapter})


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


@pytest.fixture(scope="module")
def server(app):
    import uvicorn

    port = free_port()
    srv = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=srv.run, daemon=True)
    thread.start()
    deadline = time.time() + 20
    while not srv.started and time.time() < deadline:
        time.sleep(0.05)
    yield f"http://127.0.0.1:{port}"
    srv.should_exit = True
    thread.join(timeout=10)


CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"


def test_browser_end_to_end(server, tmp_path):
    """Type a sentence (with hostile markup), wait for the heatmap, check words, screenshot."""
    from playwright.sync_api import sync_playwright

    if not Path(CHROMIUM).exists():
        pytest.fail("Debian chromium is required for the browser test: apt-get install chromium")
    dialogs = []
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=[
            "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
            "--disable-background-networking", "--disable-component-update", "--disable-sync"])
        page = browser.new_page()
        page.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
        page.goto(server)
        page.fill("#text", "a gorgeous , witty movie . " + XSS[0] + " " + XSS[1])
        page.click("button[type=submit]")
        page.wait_for_function("document.getElementById('status').textContent.includes('explanation')",
                               timeout=60000)
        frame = page.frame_locator("#result")
        frame.locator("table").first.wait_for(timeout=30000)
        body = frame.locator("body").inner_text()
        assert "gorgeous" in body and "witty" in body
        assert "<script>alert(1)</script>" in body  # shown as text, not run
        assert frame.locator("img").count() == 0
        shots = Path(os.environ.get("DEPTHLENS_SCREENSHOT_DIR", tmp_path))
        shots.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(shots / "explorer.png"), full_page=True)
        browser.close()
    assert (shots / "explorer.png").stat().st_size > 10_000
    assert dialogs == []


def test_load_50_concurrent_requests(server):
    """50 concurrent explain requests on loopback all succeed (time printed for the docs)."""
    import httpx

    async def run():
        async with httpx.AsyncClient(timeout=120) as c:
            jobs = [c.post(f"{server}/api/explain",
                           json={"text": f"sentence number {i} is rather good", "methods": ["gradient"]})
                    for i in range(50)]
            return await asyncio.gather(*jobs)

    start = time.perf_counter()
    responses = asyncio.run(run())
    seconds = time.perf_counter() - start
    assert [r.status_code for r in responses] == [200] * 50
    print(f"50 concurrent explain requests: {seconds:.2f} s")
    assert seconds < 60
