"""The local web explorer: a FastAPI app around depthlens.explain_many.

Safe by default: binds 127.0.0.1 (see cli), caps request size and text length,
models are chosen by name from those loaded at start (no path ever comes from a
request), and every piece of user text reaches the page only through the
escaped report HTML (shown in a sandboxed iframe) or JSON.
Explanations run in worker threads, one at a time per model (hooks are
per-model state), so the event loop stays free.
"""
from __future__ import annotations

import math
import threading
from dataclasses import dataclass, field
from typing import Any

from fastapi import FastAPI, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import HTMLResponse, JSONResponse

from ..api import explain_many, load_model
from ..errors import DepthlensError
from ..evaluation import FAITHFULNESS_METRICS, evaluate
from ..explanation import Explanation
from ..models.adapter import ModelAdapter
from ..registry import METHODS
from ..viz.html import InputMetrics, render_html
from ..viz.units import shown_layer
from .page import index_page

MAX_TEXT_CHARS = 2000
MAX_BODY_BYTES = 32_000
MAX_METHODS = 6
MAX_MODELS = 4


@dataclass
class ExplorerState:
    """Models kept in memory, each with the lock that serialises its use."""

    models: dict[str, ModelAdapter]
    locks: dict[str, threading.Lock] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.locks = {name: threading.Lock() for name in self.models}


def create_app(models: list[str] | dict[str, ModelAdapter], max_text_chars: int = MAX_TEXT_CHARS,
               max_body_bytes: int = MAX_BODY_BYTES):
    """Build the app. ``models``: names/paths to load now, or ready adapters by name."""
    if not isinstance(models, dict):
        models = {name: load_model(name) for name in models}
    state = ExplorerState(models)
    app = FastAPI(title="depthlens explorer", docs_url=None, redoc_url=None, openapi_url=None)

    def error(status: int, message: str) -> JSONResponse:
        return JSONResponse({"error": message}, status_code=status)

    @app.middleware("http")
    async def cap_body(request: Request, call_next):
        declared = request.headers.get("content-length")
        if declared and declared.isdigit() and int(declared) > max_body_bytes:
            return error(413, f"request body must be at most {max_body_bytes} bytes; "
                              f"got {declared}. Shorten the text.")
        return await call_next(request)

    @app.get("/", response_class=HTMLResponse)
    async def index() -> str:
        return index_page({n: m.supports_pairs for n, m in state.models.items()},
                          {e.name: e.summary for e in METHODS.entries()}, max_text_chars)

    @app.get("/api/models")
    async def list_models() -> dict[str, Any]:
        return {"models": [{"name": n, "labels": m.labels, "layers": m.layer_names,
                            "pairs": m.supports_pairs} for n, m in state.models.items()]}

    @app.get("/api/methods")
    async def list_methods() -> dict[str, Any]:
        return {"methods": [{"name": e.name, "summary": e.summary, "params": e.describe_params()}
                            for e in METHODS.entries()]}

    @app.post("/api/explain")
    async def explain(request: Request):
        body = await request.body()
        if len(body) > max_body_bytes:
            return error(413, f"request body must be at most {max_body_bytes} bytes; "
                              f"got {len(body)}. Shorten the text.")
        try:
            job = parse_request(await request.json(), state, max_text_chars)
        except ValueError as err:  # also JSON decode errors
            return error(400, str(err))
        try:
            return await run_in_threadpool(run_job, state, job)
        except DepthlensError as err:
            return error(400, str(err))

    return app


@dataclass
class Job:
    models: list[str]
    text: str
    pair: str | None
    methods: list[str]
    target: str | None
    layer: str | None
    metrics: bool = False


def parse_request(data: Any, state: ExplorerState, max_chars: int) -> Job:
    """Validate a request body; raise ValueError with a message for the user."""
    if not isinstance(data, dict):
        raise ValueError("request must be a JSON object")
    text, pair = data.get("text"), data.get("pair") or None
    if not isinstance(text, str) or not text.strip():
        raise ValueError("text is empty; type a sentence to explain")
    for name, value in (("text", text), ("pair", pair)):
        if value is not None and (not isinstance(value, str) or len(value) > max_chars):
            raise ValueError(f"{name} must be a string of at most {max_chars} characters; "
                             f"got {len(value) if isinstance(value, str) else type(value).__name__}")
    models = data.get("models") or [data.get("model") or next(iter(state.models))]
    if not isinstance(models, list) or len(models) > MAX_MODELS:
        raise ValueError(f"models must be a list of at most {MAX_MODELS} names")
    for model in models:
        if model not in state.models:
            raise ValueError(f"model must be one of {', '.join(state.models)}; got {model!r}")
    models = list(dict.fromkeys(models))  # each model once, in the order asked
    methods = data.get("methods") or ["gradient"]
    if not isinstance(methods, list) or len(methods) > MAX_METHODS:
        raise ValueError(f"methods must be a list of at most {MAX_METHODS} names")
    unknown = [m for m in methods if m not in METHODS.names()]
    if unknown:
        raise ValueError(f"unknown method {unknown[0]!r}; choose one of {', '.join(METHODS.names())}")
    target = data.get("target") or None
    layer = data.get("layer") or None
    metrics = data.get("metrics", False)
    if not isinstance(metrics, bool):
        raise ValueError(f"metrics must be true or false; got {metrics!r}")
    return Job(models, text, pair, methods, None if target is None else str(target),
               None if layer is None else str(layer), metrics)


def run_job(state: ExplorerState, job: Job) -> dict[str, Any]:
    """Explain the text with every requested model and method; returns JSON-ready results
    and one page with all of them, ordered method by method so that the models' cards of
    one method sit next to each other."""
    results, failures = [], {}  # (method index, explanation, its metrics or None)
    for model in job.models:
        adapter = state.models[model]
        with state.locks[model]:
            for rank, method in enumerate(job.methods):
                params = ({"layer": job.layer}
                          if job.layer and "layer" in METHODS.get(method).params else {})
                try:
                    found = explain_many(adapter, [job.text], method,
                                         pairs=None if job.pair is None else [job.pair],
                                         targets=job.target, **params)
                except DepthlensError as err:
                    failures[method if len(job.models) == 1 else f"{model}/{method}"] = str(err)
                    continue
                scores = input_metrics(adapter, found) if job.metrics else [None] * len(found)
                results += [(rank, exp, m) for exp, m in zip(found, scores)]
    if not results:
        raise DepthlensError("; ".join(f"{k}: {v}" for k, v in failures.items()))
    results.sort(key=lambda r: r[0])  # stable: models keep their order within a method
    explanations = [exp for _, exp, _ in results]
    metrics = [m for _, _, m in results] if job.metrics else None
    title = f"depthlens: {', '.join(job.models)}"
    return {"explanations": [e.to_dict() for e in explanations], "failures": failures,
            "metrics": metrics, "html": render_html(explanations, title=title, metrics=metrics)}


def input_metrics(adapter: ModelAdapter, explanations: list[Explanation]) -> list[InputMetrics]:
    """The faithfulness metrics of each explanation on its own input, tokens ranked by the
    layer its page shows first (:func:`shown_layer`).

    Hiding/Revealing score the target probability (accuracy of one example is 0 or 1).
    Returns one {metric: (value or None when undefined, direction)} per explanation.
    """
    out = []
    for exp in explanations:
        results = evaluate(adapter, [exp], FAITHFULNESS_METRICS, score="probability",
                           layer=shown_layer(exp))
        out.append({name: (None if math.isnan(r.value) else r.value, r.direction)
                    for name, r in results.items()})
    return out
