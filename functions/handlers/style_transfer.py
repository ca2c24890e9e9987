"""POST /v1/style-transfer"""

from core.api import task_handler

handler = task_handler("style-transfer")
