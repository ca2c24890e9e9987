"""The serverless-imagegen client: ``Client`` for Python, ``imagegen`` on the command line."""

from .api import ApiError, Client

__all__ = ["ApiError", "Client"]
