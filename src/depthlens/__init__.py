"""depthlens: explain NLP models layer by layer.

    >>> import depthlens
    >>> model = depthlens.load_model("tiny-sst2")
    >>> exp = depthlens.explain(model, "a gorgeous, witty movie.", method="gradient", layer="all")
    >>> exp.scores.shape          # (layers, tokens)
"""
from .api import explain, explain_many, load_model
from .errors import DepthlensError, InputError, ModelCapabilityError
from .explanation import Explanation, ExplanationSet, Span, Target
from .registry import METHODS


def evaluate(model, explanations, metrics=("hiding", "revealing", "comprehensiveness",
                                            "sufficiency"), **params):
    """Run evaluation metrics on explanations; see :func:`depthlens.evaluation.evaluate`."""
    from .evaluation import evaluate as run

    return run(model, explanations, metrics, **params)


def methods() -> list[str]:
    """Names of the registered attribution methods."""
    return METHODS.names()


__all__ = ["load_model", "explain", "explain_many", "evaluate", "methods", "Explanation", "ExplanationSet",
           "Span", "Target", "DepthlensError", "InputError", "ModelCapabilityError"]
__version__ = "0.1.0"
