"""POST /v1/images/edits (the OpenAI Images API, a multipart form)"""

from core.openai_images import edits as handler

__all__ = ["handler"]
