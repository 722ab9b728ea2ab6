"""The information-based measure (Guan et al., 2019): how much of each word a state keeps.

For a state s = Phi(x) (a layer of any adapter, its [CLS] or pooled vector, one
position, or a seq2seq decoder state) we learn per-word Gaussian noise scales
sigma_i that keep Phi(x + eps) close to s while maximising the words' entropy;
H(X~_i | s) (nats) is the information of word i that s discards.

- :func:`fit_information`: every sentence of a batch and every layer (or
  decoder step) in one batched, converging optimisation.
- :func:`corpus_information`: corpus-level MI(X; S) = H(X) - H(X | S).
- :func:`word_attributes`: A_i, A_c and r_ic for a concept (a set of words).
The registered method ``information`` (depthlens.methods.information) wraps
:func:`fit_information` for the explain pipeline.
"""
from .core import VIEWS, InformationFit, fit_information
from .corpus import CorpusInformation, concept_embeddings, corpus_information, word_attributes
from .fit import FitSettings, NoiseFit, NoiseProblem, evaluate_loss, fit_noise
from .gaussian import attribute_terms, embedding_spread, gaussian_entropy

__all__ = [
    "VIEWS", "CorpusInformation", "FitSettings", "InformationFit", "NoiseFit", "NoiseProblem",
    "attribute_terms", "concept_embeddings", "corpus_information", "embedding_spread",
    "evaluate_loss", "fit_information", "fit_noise", "gaussian_entropy", "word_attributes",
]
