"""POST /v1/inpainting"""

from core.api import task_handler

handler = task_handler("inpainting")
