"""Attribution methods; importing this package registers them all."""
from . import gradcam, gradient  # noqa: F401
