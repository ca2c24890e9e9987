"""POST /v1/search-replace"""

from core.api import task_handler

handler = task_handler("search-replace")
