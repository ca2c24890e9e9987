"""POST /v1/color-guided"""

from core.api import task_handler

handler = task_handler("color-guided")
