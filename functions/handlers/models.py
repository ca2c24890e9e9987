"""GET /v1/models: the models this deployment serves, their tasks, limits and lifecycle."""

from core.api import list_models as handler

__all__ = ["handler"]
