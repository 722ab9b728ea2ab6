"""Errors raised on bad user input or missing model capabilities.

Every message reads "X must be Y; got Z" and, where there is one, names the fix.
The CLI prints ``str(error)`` on one line and exits with code 1.
"""


class DepthlensError(Exception):
    """Base class of every error depthlens raises on purpose."""


class InputError(DepthlensError, ValueError):
    """Bad text, label, parameter or file given by the user."""


class UnknownNameError(InputError):
    """An unknown model, method, metric or dataset name."""

    def __init__(self, kind: str, name: str, known: list[str], hint: str = ""):
        listing = ", ".join(sorted(known)) or "(none)"
        message = f"unknown {kind} {name!r}; choose one of: {listing}"
        super().__init__(message + (f". {hint}" if hint else ""))


class ModelCapabilityError(DepthlensError):
    """The model lacks a part a method needs (e.g. an MLM head, attention)."""


class DataNotFoundError(DepthlensError, FileNotFoundError):
    """A dataset was not found in any of the places looked in."""
