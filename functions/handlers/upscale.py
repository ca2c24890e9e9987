"""POST /v1/upscale"""

from core.api import task_handler

handler = task_handler("upscale")
