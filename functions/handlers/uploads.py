"""POST /v1/uploads: a presigned POST form for an input image."""

from core.api import create_upload as handler

__all__ = ["handler"]
