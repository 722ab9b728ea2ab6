"""Attribution methods; importing this package registers them all."""
from . import gradient  # noqa: F401
