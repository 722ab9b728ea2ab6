"""Attribution methods; importing this package registers them all."""
from . import (attention, diffmask, gradcam, gradient, integrated_gradients,  # noqa: F401
               lime, perturbation, shap)
from .lime import lime_submodular_pick  # noqa: F401
