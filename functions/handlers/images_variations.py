"""POST /v1/images/variations (the OpenAI Images API, a multipart form)"""

from core.openai_images import variations as handler

__all__ = ["handler"]
