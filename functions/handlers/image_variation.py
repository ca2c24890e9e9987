"""POST /v1/image-variation"""

from core.api import task_handler

handler = task_handler("image-variation")
