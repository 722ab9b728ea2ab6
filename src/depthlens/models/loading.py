"""Turn a model name or a checkpoint directory into a ModelAdapter (cached in memory)."""
from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from ..errors import InputError, UnknownNameError
from .adapter import ModelAdapter

SMALL_MODEL_FILE = "depthlens_model.json"
SELF_EXPLAINING_FILE = "depthlens_self_explaining.json"


def load_model(name_or_path: str | Path | ModelAdapter) -> ModelAdapter:
    """A default model name (built on first use), a local checkpoint directory, or a hub id.

    Local directories may hold a HuggingFace classifier (config.json), a
    built-in depthlens model (depthlens_model.json) or a self-explaining model
    (depthlens_self_explaining.json).
    """
    if isinstance(name_or_path, ModelAdapter):
        return name_or_path
    return _load(str(name_or_path))


@lru_cache(maxsize=8)
def _load(name: str) -> ModelAdapter:
    from .defaults import DEFAULT_MODELS, ensure_default

    if name in DEFAULT_MODELS:
        return load_directory(ensure_default(name), name=name)
    path = Path(name).expanduser()
    if path.is_dir():
        return load_directory(path, name=name)
    if path.exists():
        raise InputError(f"model must be a name or a checkpoint directory; {name!r} is a file")
    hint = "or give a local checkpoint directory (config.json + weights)"
    if "/" in name and not name.startswith((".", "/")):
        try:
            from .huggingface import HFAdapter

            return HFAdapter.from_pretrained(name, name=name)
        except OSError:
            hint = f"the hub id {name!r} could not be loaded (offline?); " + hint
    raise UnknownNameError("model", name, list(DEFAULT_MODELS), hint)


def load_directory(path: Path, name: str) -> ModelAdapter:
    """Load a checkpoint directory written by depthlens or HuggingFace."""
    if (path / SELF_EXPLAINING_FILE).is_file():
        from ..self_explaining.model import load_self_explaining

        return load_self_explaining(path, name=name)
    if (path / SMALL_MODEL_FILE).is_file():
        from .small import load_small

        return load_small(path, name=name)
    if (path / "config.json").is_file():
        from .huggingface import HFAdapter

        return HFAdapter.from_pretrained(path, name=name)
    raise InputError(
        f"directory {str(path)!r} holds no model: expected config.json (HuggingFace), "
        f"{SMALL_MODEL_FILE} (depthlens built-in model) or {SELF_EXPLAINING_FILE} "
        f"(self-explaining model)"
    )
