"""Attribution methods; importing this package registers them all."""
from . import (attention, gradcam, gradient, integrated_gradients, lime,  # noqa: F401
               perturbation, shap)
from .lime import lime_submodular_pick  # noqa: F401
