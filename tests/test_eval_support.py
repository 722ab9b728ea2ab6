"""Shared fixtures of the evaluation tests (imported by the test_eval_* modules).

The tests run single-threaded: on a CPU shared with other jobs, tiny models
are many times faster with one torch thread than with several.
"""
import pytest
import torch

from depthlens.evaluation.toy import AdditiveAdapter, tiny_bert

WEIGHTS = {"good": 2.0, "bad": -1.0, "the": 0.5, "great": 3.0, "awful": -3.0, "plot": -0.2,
           "acting": 0.3, "movie": 0.1, "boring": -1.5, "and": 0.05}
TEXTS = ["the movie and the acting great", "the plot boring and awful", "good movie , bad plot",
         "great great acting and boring plot", "awful acting and bad plot boring"]


@pytest.fixture(autouse=True, scope="module")
def one_thread():
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope="module")
def additive():
    return AdditiveAdapter(WEIGHTS)


@pytest.fixture(scope="module")
def bert():
    return tiny_bert(sorted(WEIGHTS), seed=0)
