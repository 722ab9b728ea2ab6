"""Attribution methods; importing this package registers them all."""
from . import (attention, bottleneck, diffmask, gradcam, gradient, information,  # noqa: F401
               integrated_gradients, lime, perturbation, self_explaining, shap)
from .lime import lime_submodular_pick  # noqa: F401
