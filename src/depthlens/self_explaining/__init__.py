"""Self-explaining models (Sun et al. 2021): a span layer on top of any encoder adapter.

    from depthlens.self_explaining import make_self_explaining, load_self_explaining
    model = make_self_explaining(encoder_adapter, lam=1.0, max_width=16)

The model's explanation is its own span weights alpha: the ``self_explaining``
method returns the top spans and token coverage scores.
"""
from .model import (SELF_EXPLAINING_FILE, SelfExplainingAdapter, load_self_explaining,
                    make_self_explaining)
from .sic import SICLayer, SpanHead, SpanOutput, WordLayout, sharpness_penalty

__all__ = [
    "SELF_EXPLAINING_FILE",
    "SICLayer",
    "SelfExplainingAdapter",
    "SpanHead",
    "SpanOutput",
    "WordLayout",
    "load_self_explaining",
    "make_self_explaining",
    "sharpness_penalty",
]
