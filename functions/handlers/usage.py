"""GET /v1/usage: the calling key's team's requests, images and USD per day and per model."""

from core.api import get_usage as handler

__all__ = ["handler"]
