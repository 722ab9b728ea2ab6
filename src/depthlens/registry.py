"""One small registry for methods and metrics: a dict plus a decorator.

A registered method is a function ``fn(adapter, batch, target, **params) -> Attribution``.
Its keyword-only parameters (with defaults and annotations) are its public
parameters: ``depthlens methods`` lists them and unknown ones are rejected.
"""
from __future__ import annotations

import inspect
from dataclasses import dataclass
from typing import Any, Callable

from .errors import InputError, UnknownNameError


@dataclass(frozen=True)
class Entry:
    name: str
    fn: Callable
    summary: str
    kind: str

    @property
    def params(self) -> dict[str, inspect.Parameter]:
        """Keyword-only parameters of the function, by name."""
        sig = inspect.signature(self.fn)
        return {n: p for n, p in sig.parameters.items() if p.kind is p.KEYWORD_ONLY}

    def describe_params(self) -> str:
        parts = []
        for name, p in self.params.items():
            default = "" if p.default is p.empty else f"={p.default!r}"
            parts.append(f"{name}{default}")
        return ", ".join(parts)

    def check_params(self, params: dict[str, Any]) -> dict[str, Any]:
        """Reject unknown parameter names and coerce CLI strings to the default's type."""
        known = self.params
        out = {}
        for key, value in params.items():
            if key not in known:
                raise InputError(
                    f"unknown parameter {key!r} for {self.kind} {self.name!r}; "
                    f"valid parameters: {', '.join(known) or '(none)'}"
                )
            out[key] = coerce(value, known[key].default, key)
        return out


def coerce(value: Any, default: Any, key: str) -> Any:
    """Convert a string given on the command line to the type of ``default``."""
    if not isinstance(value, str) or default is inspect.Parameter.empty or default is None:
        return value
    try:
        if isinstance(default, bool):
            if value.lower() in {"1", "true", "yes"}:
                return True
            if value.lower() in {"0", "false", "no"}:
                return False
            raise ValueError(value)
        if isinstance(default, int):
            return int(value)
        if isinstance(default, float):
            return float(value)
    except ValueError:
        raise InputError(
            f"parameter {key!r} must be a {type(default).__name__}; got {value!r}"
        ) from None
    return value


class Registry:
    def __init__(self, kind: str):
        self.kind = kind
        self._entries: dict[str, Entry] = {}

    def register(self, name: str, summary: str) -> Callable:
        def decorate(fn: Callable) -> Callable:
            if name in self._entries:
                raise RuntimeError(f"{self.kind} {name!r} registered twice")
            self._entries[name] = Entry(name, fn, summary, self.kind)
            return fn

        return decorate

    def get(self, name: str) -> Entry:
        if name not in self._entries:
            raise UnknownNameError(self.kind, name, list(self._entries),
                                   "run `depthlens methods` to see them")
        return self._entries[name]

    def names(self) -> list[str]:
        return sorted(self._entries)

    def entries(self) -> list[Entry]:
        return [self._entries[n] for n in self.names()]


METHODS = Registry("method")
METRICS = Registry("metric")
