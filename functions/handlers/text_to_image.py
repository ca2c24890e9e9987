"""POST /v1/text-to-image"""

from core.api import task_handler

handler = task_handler("text-to-image")
