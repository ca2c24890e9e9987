"""POST /v1/erase-object"""

from core.api import task_handler

handler = task_handler("erase-object")
