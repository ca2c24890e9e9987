"""POST /v1/images/generations (the OpenAI Images API)"""

from core.openai_images import generations as handler

__all__ = ["handler"]
