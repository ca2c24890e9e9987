"""POST /v1/verify: the content credentials (C2PA) of an image."""

from core.api import verify_image as handler

__all__ = ["handler"]
