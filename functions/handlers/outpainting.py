"""POST /v1/outpainting"""

from core.api import task_handler

handler = task_handler("outpainting")
