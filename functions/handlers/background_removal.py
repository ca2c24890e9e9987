"""POST /v1/background-removal"""

from core.api import task_handler

handler = task_handler("background-removal")
